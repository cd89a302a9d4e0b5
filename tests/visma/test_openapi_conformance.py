"""The emulator answers, and the client asks, in the shapes of Visma's own OpenAPI descriptions
(../shared/api/openapi/, read in place, never copied).

Every response body the emulator gives on the endpoints the operator uses is validated against
the response schema published for that path, method and status; every request body the client
sends (as stored raw by the emulator) against the published request schema. OpenAPI 3.0
dialect, `$ref`s resolved inside the description, formats checked. One leniency, on requests
only: `date-time` also accepts the forms Visma documents for its ERP (`yyyy-MM-dd`,
`yyyy-MM-ddTHH:mm:ss`, ... visma-net.md section 3), as used for `documentDate`.
"""

from __future__ import annotations

import json
import os
import re
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import FormatChecker
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from emulators.visma import generate_visma_tenant
from reconcilers.clients.visma.models import (
    DocumentLine,
    NewCustomerInvoice,
    NewSalesOrder,
)
from tests.visma.conftest import run, seed_basics, token

ERP_FILE = "visma-erp-v1-2025-04-24.json"
V3_FILE = "visma-salesorders-v3-1.1.0.1279.json"


def _openapi_dir() -> Path:
    override = os.environ.get("SIMON_VISMA_SHARED")
    shared = Path(override) if override else Path(__file__).resolve().parents[2].parent / "shared"
    return shared / "api" / "openapi"


OPENAPI_DIR = _openapi_dir()
if not (OPENAPI_DIR / ERP_FILE).is_file() or not (OPENAPI_DIR / V3_FILE).is_file():
    message = (f"Visma's OpenAPI descriptions are not at {OPENAPI_DIR} (looked for {ERP_FILE} "
               f"and {V3_FILE}; set SIMON_VISMA_SHARED to the folder holding api/openapi/)")
    if os.environ.get("CI"):
        raise RuntimeError(message)
    pytest.skip(message, allow_module_level=True)


@cache
def _spec(name: str) -> dict[str, Any]:
    return json.loads((OPENAPI_DIR / name).read_text(encoding="utf-8"))


_LENIENT = FormatChecker()
_LENIENT.checkers = dict(oas30_format_checker.checkers)
_VISMA_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}:\d{2}(\.\d{1,7})?)?$")


@_LENIENT.checks("date-time", raises=ValueError)
def _visma_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    return bool(_VISMA_DATE.match(value)) or oas30_format_checker.conforms(value, "date-time")


def _validator(spec_name: str, schema: dict[str, Any], lenient: bool) -> OAS30Validator:
    wrapped = {**schema, "components": _spec(spec_name)["components"]}
    return OAS30Validator(wrapped, format_checker=_LENIENT if lenient else oas30_format_checker)


def _errors(validator: OAS30Validator, body: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '$'}: {e.message}"
            for e in validator.iter_errors(body)][:10]


def check_response(spec_name: str, path: str, method: str, response: httpx.Response) -> None:
    operation = _spec(spec_name)["paths"][path][method]
    declared = operation["responses"].get(str(response.status_code))
    assert declared is not None, f"{method.upper()} {path} answered undeclared " \
                                 f"{response.status_code}"
    schema = (declared.get("content") or {}).get("application/json", {}).get("schema")
    if schema is None:
        assert response.content == b"", f"{path} {response.status_code} has no body declared"
        return
    errors = _errors(_validator(spec_name, schema, lenient=False), response.json())
    assert not errors, f"{method.upper()} {path} {response.status_code}: {errors}"


def check_request(spec_name: str, path: str, method: str, body: Any) -> None:
    content = _spec(spec_name)["paths"][path][method]["requestBody"]["content"]
    schema = content["application/json"]["schema"]
    errors = _errors(_validator(spec_name, schema, lenient=True), body)
    assert not errors, f"request {method.upper()} {path}: {errors}"


def test_validator_catches_a_wrong_shape():
    """The check itself can fail: a wrong type, an unknown v3 field, a null where not allowed."""
    with pytest.raises(AssertionError):
        check_request(V3_FILE, "/api/v3/SalesOrders", "post",
                      {"type": "SO", "customer": {"id": "1"}, "bogus": 1})
    with pytest.raises(AssertionError):
        check_request(ERP_FILE, "/v2/customerinvoice", "post",
                      {"customerNumber": {"value": 10001}})
    response = httpx.Response(200, json=[{"internalId": "not-a-number"}])
    with pytest.raises(AssertionError):
        check_response(ERP_FILE, "/v1/customer", "get", response)


@pytest.fixture
def company(emulators):
    seed_basics(emulators)
    emulators.call(generate_visma_tenant, emulators.visma, customers=300, items=120, seed=11)
    return emulators


def test_erp_master_data_responses(company, raw):
    erp = ERP_FILE
    check_response(erp, "/v1/customer", "get", raw.get("/v1/customer", {"pageSize": 1000}))
    customer = raw.get("/v1/customer/10001")
    check_response(erp, "/v1/customer/{customerCd}", "get", customer)
    check_response(erp, "/v1/customer/internal/{internalID}", "get",
                   raw.get(f"/v1/customer/internal/{customer.json()['internalId']}"))
    check_response(erp, "/v1/inventory", "get",
                   raw.get("/v1/inventory", [("inventoryTypes", "NonStockItem"),
                                             ("inventoryTypes", "LaborItem"),
                                             ("pageSize", "1000")]))
    check_response(erp, "/v1/inventory", "get", raw.get("/v1/inventory", {"pageSize": 1000}))
    item = raw.get("/v1/inventory/UUR")
    check_response(erp, "/v1/inventory/{inventoryNumber}", "get", item)
    check_response(erp, "/v1/inventory/internal/{inventoryId}", "get",
                   raw.get(f"/v1/inventory/internal/{item.json()['inventoryId']}"))
    check_response(erp, "/v1/warehouse", "get", raw.get("/v1/warehouse"))
    check_response(erp, "/v1/warehouse/{warehouseID}", "get", raw.get("/v1/warehouse/MAIN"))
    check_response(erp, "/v1/salesordertype", "get", raw.get("/v1/salesordertype"))
    check_response(erp, "/v1/salesordertype/{orderType}", "get",
                   raw.get("/v1/salesordertype/SO"))
    check_response(erp, "/v1/customer/action/changeCustomerCd/{internalId}", "post",
                   raw.post(f"/v1/customer/action/changeCustomerCd/"
                            f"{customer.json()['internalId']}", json={"customerCd": "19999"}))
    check_response(erp, "/v1/inventory", "get", raw.get("/v1/inventory", {"status": "Inactive"}))


def test_sales_order_responses_and_client_requests(company, raw, make_client):
    v3 = V3_FILE
    order = NewSalesOrder(
        customer_number="10001", description="Werkbon 7", note="Kerkstraat 1\nOnderhoud",
        reference="PO-1", marker="sv:t:wo-7",
        lines=[DocumentLine(item_number="UUR", quantity=Decimal("1.25"),
                            warehouse="MAIN", description="Arbeid"),
               DocumentLine(item_number="VOORRIJ", quantity=Decimal(1),
                            unit_price=Decimal("35.5"), warehouse="MAIN",
                            description="Voorrijkosten")],
    )

    async def scenario():
        async with make_client() as client:
            created = await client.create_sales_order(order)
            await client.create_sales_order(order.model_copy(update={"order_type": "QT"}))
            await client.attach_to_sales_order(*created, "werkbon.pdf", b"%PDF-1.4")
            return created

    order_type, order_id = run(scenario())
    for stored in company.call(company.visma.received_sales_orders):
        check_request(v3, "/api/v3/SalesOrders", "post", json.loads(stored["raw"]))

    base = "/api/v3/SalesOrders"
    check_response(v3, base, "get", raw.get(base))
    check_response(v3, base, "get", raw.get(base, {"pageSize": 2, "pageIndex": 1,
                                                   "orderBy": "lastModified asc"}))
    check_response(v3, base, "get", raw.get(base, {"pageSize": 0}))
    check_response(v3, base + "/{type}", "get", raw.get(base + "/SO", {"filter": "SIMON"}))
    single = base + "/{type}/{orderId}"
    check_response(v3, single, "get", raw.get(f"{base}/{order_type}/{order_id}"))
    check_response(v3, single, "get", raw.get(f"{base}/{order_type}/{order_id}",
                                              {"expand": "All"}))
    check_response(v3, single, "get", raw.get(f"{base}/{order_type}/{order_id}",
                                              [("expand", "Note"), ("expand", "Customer"),
                                               ("expand", "Attachments")]))
    check_response(v3, single, "get", raw.get(f"{base}/SO/999999"))
    lines = single + "/lines"
    check_response(v3, lines, "get", raw.get(f"{base}/{order_type}/{order_id}/lines"))
    check_response(v3, lines, "get", raw.get(f"{base}/SO/999999/lines"))
    check_response(v3, base, "post", raw.post(base, json={"type": "SO",
                                                          "customer": {"id": "10002"}}))
    check_response(v3, base, "post", raw.post(base, json={
        "type": "SO", "customer": {"id": "10001"},
        "orderLines": [{"inventoryId": "NOPE"}, {"inventoryId": "UUR", "warehouseId": "X"}]}))
    check_response(v3, single, "patch",
                   raw.request("PATCH", f"{base}/{order_type}/{order_id}", json={}))
    check_response(v3, single, "patch",
                   raw.request("PATCH", f"{base}/{order_type}/{order_id}", json={},
                               headers={"If-Match": '"stale"'}))
    created = raw.post(base, json={"type": "SO", "customer": {"id": "10001"}})
    check_response(v3, base, "post", created)
    check_response(v3, base, "get", httpx.get(raw.base + base))  # 401, no body declared
    erp_only = token(company, scope="vismanet_erp_service_api:read")
    check_response(v3, single, "get", httpx.get(  # 403, no body declared
        f"{raw.base}{base}/SO/000001", headers={"Authorization": f"Bearer {erp_only}"}))


def test_invoice_responses_and_client_requests(company, raw, make_client):
    erp = ERP_FILE
    invoice = NewCustomerInvoice(
        customer_number="10001", document_date=date(2025, 1, 27), reference="PO-1",
        external_reference="sv:t:wo-8", invoice_text="Werkbon 8", note="Kerkstraat 1",
        lines=[DocumentLine(item_number="UUR", quantity=Decimal("2"),
                            description="Arbeid"),
               DocumentLine(item_number="VOORRIJ", quantity=Decimal(1),
                            unit_price=Decimal("35"), warehouse="MAIN")],
    )

    async def scenario():
        async with make_client() as client:
            reference = await client.create_customer_invoice(invoice)
            await client.attach_to_invoice(reference, "werkbon.pdf", b"%PDF-1.4")
            return reference

    reference = run(scenario())
    for stored in company.call(company.visma.received_invoices):
        body = json.loads(stored["raw"])
        check_request(erp, "/v2/customerinvoice", "post", body)
        # An invoice line has no warehouse: a line that carries one goes without it.
        assert body["invoiceLines"][1] == {
            "operation": "Insert", "inventoryNumber": {"value": "VOORRIJ"},
            "quantity": {"value": 1.0}, "unitPriceInCurrency": {"value": 35.0}}
    check_response(erp, "/v1/customerinvoice", "get", raw.get("/v1/customerinvoice"))
    check_response(erp, "/v1/customerinvoice", "get",
                   raw.get("/v1/customerinvoice", {"externalReference": "sv:t:wo-8"}))
    check_response(erp, "/v1/customerinvoice/{invoiceNumber}", "get",
                   raw.get(f"/v1/customerinvoice/{reference}"))
    check_response(erp, "/v2/customerinvoice", "post",
                   raw.post("/v2/customerinvoice", json={"customerNumber": {"value": "10001"}}))
    check_response(erp, "/v1/customerinvoice/{invoiceNumber}/attachment", "post",
                   raw.post(f"/v1/customerinvoice/{reference}/attachment",
                            files={"f": ("b.pdf", b"%PDF")}))
