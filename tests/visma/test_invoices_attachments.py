"""Customer invoices (`/v2/customerinvoice`) and PDF attachments (visma-net.md sections 7, 8,
14.3, 14.5; SPEC S-40, S-47, S-48, S-49)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import httpx
import pytest

from reconcilers.clients.http import NotFoundError, RequestRejectedError
from reconcilers.clients.visma.models import DocumentLine, NewCustomerInvoice
from tests.visma.conftest import run, seed_basics

INVOICE = {
    "customerNumber": {"value": "10001"},
    "documentDate": {"value": "2025-01-27"},
    "customerRefNumber": {"value": "PO-1"},
    "externalReference": {"value": "sv:wo-1"},
    "invoiceText": {"value": "Werkbon 1"},
    "note": {"value": "Kerkstraat 1, Amsterdam"},
    "invoiceLines": [
        {"operation": "Insert", "inventoryNumber": {"value": "UUR"},
         "description": {"value": "Arbeid"}, "quantity": {"value": 2}},
        {"operation": "Insert", "inventoryNumber": {"value": "KRAAN"},
         "quantity": {"value": 1}, "unitPriceInCurrency": {"value": 80.0}},
    ],
}
PDF = b"%PDF-1.4\n% test\n" + bytes(range(256)) * 40


def test_invoice_create_location_and_read_back(emulators, raw):
    seed_basics(emulators)
    response = raw.post("/v2/customerinvoice", json=INVOICE)
    assert response.status_code == 201
    assert response.json() == {}  # the ERP spec declares an object; v3 creates answer empty
    reference = response.headers["Location"].rsplit("/", 1)[1]
    assert response.headers["Location"] == f"{emulators.url}/v1/customerinvoice/{reference}"
    dto = raw.get(f"/v1/customerinvoice/{reference}").json()
    assert dto["referenceNumber"] == reference
    assert dto["customer"]["number"] == "10001"
    assert dto["customerRefNumber"] == "PO-1" and dto["externalReference"] == "sv:wo-1"
    assert dto["invoiceText"] == "Werkbon 1" and dto["note"] == "Kerkstraat 1, Amsterdam"
    assert [(line["inventoryNumber"], line["quantity"], line["unitPriceInCurrency"])
            for line in dto["invoiceLines"]] == [("UUR", 2, 62.5), ("KRAAN", 1, 80.0)]
    assert dto["amount"] == 205.0
    stored = emulators.call(emulators.visma.received_invoices)
    assert stored[0]["received"] == INVOICE


@pytest.mark.parametrize("change", [
    {"customerNumber": {"value": "99999"}},
    {"customerNumber": {"value": "10002"}},  # Inactive
    {"invoiceLines": [{"operation": "Insert", "inventoryNumber": {"value": "NOPE"},
                       "quantity": {"value": 1}}]},
    {"invoiceLines": [{"operation": "Delete", "inventoryNumber": {"value": "UUR"}}]},
])
def test_invoice_rejections_are_400_message(emulators, raw, change):
    seed_basics(emulators)
    response = raw.post("/v2/customerinvoice", json={**INVOICE, **change})
    assert response.status_code == 400
    assert set(response.json()) == {"message"}
    assert emulators.call(emulators.visma.received_invoices) == []


def test_invoice_list_filters_by_external_reference(emulators, raw):
    seed_basics(emulators)
    raw.post("/v2/customerinvoice", json=INVOICE)
    raw.post("/v2/customerinvoice", json={**INVOICE, "externalReference": {"value": "other"}})
    rows = raw.get("/v1/customerinvoice", {"externalReference": "other"}).json()
    assert [r["externalReference"] for r in rows] == ["other"]
    assert rows[0]["metadata"]["totalCount"] == 1
    assert len(raw.get("/v1/customerinvoice", {"pageNumber": 1, "pageSize": 1}).json()) == 1
    assert raw.get("/v1/customerinvoice/000000").status_code == 404


def test_attachment_upload_201_guid_location_and_bytes(emulators, raw):
    seed_basics(emulators)
    emulators.call(emulators.visma.add_sales_order, {"type": "SO", "customer": {"id": "10001"}})
    response = raw.post("/v1/salesorder/orderType/SO/000001/attachment",
                        files={"v": ("werkbon.pdf", PDF, "application/pdf")})
    assert response.status_code == 201
    attachment_id = response.headers["Location"].rsplit("/", 1)[1]
    assert len(attachment_id) == 36 and attachment_id.count("-") == 4
    fetched = raw.get(f"/v1/attachment/{attachment_id}")
    assert fetched.status_code == 200 and fetched.content == PDF
    order = raw.get("/api/v3/SalesOrders/SO/000001", {"expand": "Attachments"}).json()
    assert order["attachments"] == [{"id": attachment_id, "name": "werkbon.pdf",
                                     "revision": 1}]
    again = raw.post("/v1/salesorder/orderType/SO/000001/attachment",
                     files={"v": ("werkbon.pdf", b"%PDF new", "application/pdf")})
    assert again.headers["Location"].endswith(attachment_id)  # a new revision, same file
    order = raw.get("/api/v3/SalesOrders/SO/000001", {"expand": "Attachments"}).json()
    assert order["attachments"][0]["revision"] == 2


def test_attachment_refusals(emulators, raw):
    seed_basics(emulators)
    reference = raw.post("/v2/customerinvoice", json=INVOICE).headers["Location"] \
        .rsplit("/", 1)[1]
    path = f"/v1/customerinvoice/{reference}/attachment"
    assert raw.post("/v1/customerinvoice/999/attachment",
                    files={"f": ("a.pdf", b"x")}).status_code == 404
    assert raw.post("/v1/salesorder/orderType/SO/999999/attachment",
                    files={"f": ("a.pdf", b"x")}).status_code == 404
    not_multipart = raw.post(path, json={"file": "x"})
    assert not_multipart.status_code == 400 and "message" in not_multipart.json()
    no_file = raw.post(path, data={"field": "value"}, files={"other": (None, "text")})
    assert no_file.status_code == 400
    too_big = raw.post(path, files={"f": ("big.pdf", b"0" * (25 * 1024 * 1024 + 1))})
    assert too_big.status_code == 400
    ok = raw.post(path, files={"f": ("a.pdf", b"%PDF")})
    assert ok.status_code == 201
    invoice = raw.get(f"/v1/customerinvoice/{reference}").json()
    assert [a["name"] for a in invoice["attachments"]] == ["a.pdf"]
    assert raw.get("/v1/attachment/00000000-0000-0000-0000-000000000000").status_code == 404


def test_client_invoice_flow_with_attachment(emulators, make_client):
    seed_basics(emulators)
    invoice = NewCustomerInvoice(
        customer_number="10001", document_date=date(2025, 1, 27), reference="PO-1",
        external_reference="sv:t1:wo-9", invoice_text="Werkbon 9", note="Kerkstraat 1",
        lines=[DocumentLine(item_number="UUR", quantity=Decimal("0.25")),
               DocumentLine(item_number="VOORRIJ", quantity=Decimal(1),
                            unit_price=Decimal("40"))],
    )

    async def scenario():
        async with make_client() as client:
            reference = await client.create_customer_invoice(invoice)
            found = await client.find_customer_invoice("sv:t1:wo-9")
            absent = await client.find_customer_invoice("sv:t1:wo-10")
            attachment_id = await client.attach_to_invoice(reference, "werkbon.pdf", PDF)
            content = await client.attachment(attachment_id)
            read = await client.customer_invoice(reference)
            return reference, found, absent, content, read, attachment_id

    reference, found, absent, content, read, attachment_id = run(scenario())
    assert found.reference_number == reference and absent is None
    assert content == PDF
    assert [a.id for a in read.attachments] == [attachment_id]
    assert (read.reference, read.invoice_text, read.note) == ("PO-1", "Werkbon 9",
                                                              "Kerkstraat 1")
    sent = emulators.call(emulators.visma.received_invoices)[0]["received"]
    assert sent["customerNumber"] == {"value": "10001"}
    assert sent["documentDate"] == {"value": "2025-01-27"}
    assert sent["invoiceLines"][0] == {"operation": "Insert",
                                       "inventoryNumber": {"value": "UUR"},
                                       "quantity": {"value": 0.25}}
    assert sent["invoiceLines"][1]["unitPriceInCurrency"] == {"value": 40.0}


def test_client_attach_to_sales_order(emulators, make_client):
    seed_basics(emulators)
    emulators.call(emulators.visma.add_sales_order, {"type": "SO", "customer": {"id": "10001"}})

    async def scenario():
        async with make_client() as client:
            attachment_id = await client.attach_to_sales_order("SO", "000001", "wo.pdf", PDF)
            order = await client.sales_order("SO", "000001", expand=["Attachments"])
            return attachment_id, order

    attachment_id, order = run(scenario())
    assert [(a.id, a.name) for a in order.attachments] == [(attachment_id, "wo.pdf")]
    stored = emulators.call(emulators.visma.attachment_list)
    assert stored[0]["document"] == ["salesorder", "SO", "000001"]
    assert stored[0]["contentType"] == "application/pdf" and stored[0]["size"] == len(PDF)


def test_client_invoice_errors(emulators, make_client):
    seed_basics(emulators)
    bad = NewCustomerInvoice(customer_number="99999")

    async def scenario():
        async with make_client() as client:
            try:
                await client.create_customer_invoice(bad)
            except RequestRejectedError as exc:
                rejected = exc
            try:
                await client.attach_to_invoice("nope", "a.pdf", b"x")
            except NotFoundError as exc:
                return rejected, exc

    rejected, missing = run(scenario())
    assert rejected.status == 400 and "99999" in rejected.message
    assert missing.status == 404
    assert emulators.visma.stats.count("POST", "/v2/customerinvoice") == 1


def test_inspection_api_over_http(emulators):
    base = emulators.url + "/_emulator/visma"
    assert httpx.post(base + "/customers", json=[
        {"number": "C1", "name": "Een", "mainAddress": {"addressLine1": "Dorpsstraat 1",
                                                        "city": "Delft", "country": "NL"}},
        {"number": "C2", "name": "Twee", "status": "OnHold"},
    ]).status_code == 201
    assert httpx.post(base + "/items", json={"inventoryNumber": "I1", "description": "Iets",
                                             "type": "ServiceItem"}).status_code == 201
    assert httpx.post(base + "/warehouses", json={"warehouseID": "W1"}).status_code == 201
    assert httpx.patch(base + "/customers/C1", json={"status": "Inactive"}).json()["status"] \
        == "Inactive"
    assert httpx.post(base + "/customers/C2/renumber", json={"number": "C3"}).json()[
        "number"] == "C3"
    assert httpx.patch(base + "/items/I1", json={"type": "FinishedGoodItem"}).json()[
        "stockItem"] is True
    assert httpx.delete(base + "/items/I1").status_code == 204
    assert httpx.delete(base + "/items/I1").status_code == 404
    summary = httpx.get(base + "/summary").json()
    assert (summary["customers"], summary["items"], summary["warehouses"]) == (2, 0, 1)
    assert httpx.get(base + "/salesorders").json() == []
    generated = httpx.post(base + "/generate?tenant=t-gen",
                           json={"customers": 20, "items": 10, "seed": 3}).json()
    assert generated["tenantId"] == "t-gen" and generated["customers"] == 20
    assert len(httpx.get(base + "/salesorders?tenant=t-gen").json()) == 6
    assert httpx.put(base + "/ratelimit", json={"limit": 3}).status_code == 204
    assert emulators.visma.rate_limit.limit == 3
