"""SalesOrders v3: create, validation, list paging, expand, lines, ETag (visma-net.md sections
6, 9, 11, 14.4; SPEC S-40..S-50, S-60)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from reconcilers.clients.http import NotFoundError, RequestRejectedError
from reconcilers.clients.visma.models import DocumentLine, NewSalesOrder
from tests.visma.conftest import run, seed_basics

ORDER = {
    "type": "SO",
    "customer": {"id": "10001", "refNo": "PO-77", "order": "SV-abc"},
    "description": "Werkbon 2024-001",
    "note": "Kerkstraat 1, Amsterdam\nCv-ketel onderhouden",
    "orderLines": [
        {"inventoryId": "UUR", "quantity": 2, "warehouseId": "MAIN"},
        {"inventoryId": "KRAAN", "quantity": 1, "unitPrice": 99.5, "hasManualPrice": True,
         "warehouseId": "BUS1", "description": "Mengkraan keuken"},
    ],
}


def _create(raw, body=ORDER):
    return raw.post("/api/v3/SalesOrders", json=body)


# --- raw ---------------------------------------------------------------------------------

def test_create_answers_201_empty_body_and_location(emulators, raw):
    seed_basics(emulators)
    first, second = _create(raw), _create(raw)
    assert first.status_code == 201
    assert first.content == b""
    assert first.headers["Location"] == f"{emulators.url}/api/v3/SalesOrders/SO/000001"
    assert second.headers["Location"].endswith("/api/v3/SalesOrders/SO/000002")
    quote = _create(raw, {**ORDER, "type": "QT"})
    assert quote.headers["Location"].endswith("/api/v3/SalesOrders/QT/000001")


def test_stored_order_is_exactly_what_was_sent(emulators, raw):
    seed_basics(emulators)
    body = b'{"type":"SO","customer":{"id":"10001"},  "description":"Werkbon \\u00e9"}'
    response = raw.request("POST", "/api/v3/SalesOrders", content=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 201
    stored = emulators.call(emulators.visma.received_sales_orders)
    assert stored[0]["raw"] == body.decode()
    assert stored[0]["received"] == {"type": "SO", "customer": {"id": "10001"},
                                     "description": "Werkbon \u00e9"}


@pytest.mark.parametrize("change, code, prop", [
    ({"customer": {"id": "10002"}}, "1407-InvalidCustomerStatus", "customer.id"),
    ({"customer": {"id": "99999"}}, "0003-InvalidValue", "customer.id"),
    ({"type": "ZZ"}, "0003-InvalidValue", "type"),
    ({"orderLines": [{"inventoryId": "NOPE", "quantity": 1}]}, "1804-InventoryIdNotFound",
     "orderLines[0].inventoryId"),
    ({"orderLines": [{"inventoryId": "OUDJE", "quantity": 1}]}, "1804-InventoryIdNotFound",
     "orderLines[0].inventoryId"),
    ({"orderLines": [{"inventoryId": "UUR", "quantity": 1, "warehouseId": "XX"}]},
     "1802-InvalidWarehouseId", "orderLines[0].warehouseId"),
    ({"orderLines": [{"inventoryId": "UUR", "quantity": 1, "warehouseId": "OUD"}]},
     "1802-InvalidWarehouseId", "orderLines[0].warehouseId"),
    ({"description": "x" * 256}, "0002-InvalidLength", "description"),
    ({"note": "x" * 2049}, "0002-InvalidLength", "note"),
    ({"customer": {"id": "10001", "refNo": "r" * 41}}, "0002-InvalidLength", "customer.refNo"),
    ({"customer": {"id": "10001", "order": "o" * 41}}, "0002-InvalidLength", "customer.order"),
])
def test_validation_problem_details(emulators, raw, change, code, prop):
    seed_basics(emulators)
    response = _create(raw, {**ORDER, **change})
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400
    assert {"type", "title", "detail", "errors", "details"} <= set(body)
    assert prop in body["errors"]
    assert {"code": code, "property": prop} in [
        {"code": d["code"], "property": d["parameters"]["property"]} for d in body["details"]]
    assert emulators.call(emulators.visma.received_sales_orders) == []


def test_on_hold_customer_may_order(emulators, raw):
    seed_basics(emulators)
    assert _create(raw, {**ORDER, "customer": {"id": "10003"}}).status_code == 201


def test_list_wrapper_zero_based_paging_and_next_page(emulators, raw):
    seed_basics(emulators)
    for _ in range(5):
        _create(raw)
    first = raw.get("/api/v3/SalesOrders/SO", {"pageSize": 2, "pageIndex": 0}).json()
    assert set(first) == {"value", "nextPage", "totalCount"}
    assert first["totalCount"] == 5
    assert [o["orderId"] for o in first["value"]] == ["000001", "000002"]
    assert "pageIndex=1" in first["nextPage"]
    last = raw.get("/api/v3/SalesOrders/SO", {"pageSize": 2, "pageIndex": 2}).json()
    assert [o["orderId"] for o in last["value"]] == ["000005"]
    assert last["nextPage"] is None
    default = raw.get("/api/v3/SalesOrders").json()
    assert len(default["value"]) == 5 and default["nextPage"] is None
    row = default["value"][0]
    assert row["customerOrder"] == "SV-abc" and row["customerRefNo"] == "PO-77"
    assert row["description"] == "Werkbon 2024-001"
    assert "lines" not in row and "orderLines" not in row


@pytest.mark.parametrize("params", [{"pageSize": 0}, {"pageSize": 1001}, {"pageIndex": -1},
                                    {"orderBy": "nonsense"}, {"modifiedSince": "yesterday"}])
def test_list_out_of_range_is_problem_details(emulators, raw, params):
    response = raw.get("/api/v3/SalesOrders", params)
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400 and "title" in body


def test_list_filter_order_by_and_modified_since(emulators, raw):
    seed_basics(emulators)
    _create(raw, {**ORDER, "customer": {"id": "10001", "order": "SV-111"}})
    emulators.call(emulators.visma.clock.advance, 120)
    since = emulators.visma.clock.now().strftime("%Y-%m-%dT%H:%M:%S")
    emulators.call(emulators.visma.clock.advance, 1)
    _create(raw, {**ORDER, "customer": {"id": "10003", "order": "SV-222"}})

    def ids(params):
        return [o["orderId"] for o in raw.get("/api/v3/SalesOrders", params).json()["value"]]

    assert ids({"filter": "SV-222"}) == ["000002"]
    assert ids({"filter": "000001"}) == ["000001"]
    assert ids({"filter": "de vries"}) == ["000002"]  # customer name
    assert ids({"orderBy": "lastModified desc"}) == ["000002", "000001"]
    assert ids({"orderBy": "orderId asc"}) == ["000001", "000002"]
    assert ids({"modifiedSince": since}) == ["000002"]
    assert ids({"customerId": "10001"}) == ["000001"]


def test_single_get_expand_forms_and_etag(emulators, raw):
    seed_basics(emulators)
    _create(raw)
    bare = raw.get("/api/v3/SalesOrders/SO/000001")
    assert bare.status_code == 200
    assert bare.headers["ETag"]
    assert "note" not in bare.json() and "customer" not in bare.json()
    comma = raw.get("/api/v3/SalesOrders/SO/000001", {"expand": "Note,Customer"}).json()
    repeated = raw.get("/api/v3/SalesOrders/SO/000001",
                       [("expand", "Note"), ("expand", "Customer")]).json()
    assert comma == repeated
    assert comma["note"] == ORDER["note"]
    assert comma["customer"]["refNo"] == "PO-77" and comma["customer"]["order"] == "SV-abc"
    assert raw.get("/api/v3/SalesOrders/SO/000001", {"expand": "Bogus"}).status_code == 400
    missing = raw.get("/api/v3/SalesOrders/SO/999999")
    assert missing.status_code == 404 and missing.json()["status"] == 404


def test_lines_are_paged_with_prices(emulators, raw):
    seed_basics(emulators)
    _create(raw)
    page = raw.get("/api/v3/SalesOrders/SO/000001/lines").json()
    assert page["totalCount"] == 2 and page["nextPage"] is None
    uur, kraan = page["value"]
    assert (uur["inventory"]["id"], uur["quantity"], uur["unitPrice"], uur["hasManualPrice"]) \
        == ("UUR", 2, 62.5, False)
    assert (kraan["unitPrice"], kraan["hasManualPrice"], kraan["warehouseId"]) \
        == (99.5, True, "BUS1")
    second = raw.get("/api/v3/SalesOrders/SO/000001/lines", {"pageSize": 1, "pageIndex": 1})
    assert [line["lineId"] for line in second.json()["value"]] == [2]


def test_patch_and_delete_need_if_match(emulators, raw):
    seed_basics(emulators)
    _create(raw)
    path = "/api/v3/SalesOrders/SO/000001"
    tag = raw.get(path).headers["ETag"]
    assert raw.request("PATCH", path, json={"description": "x"}).status_code == 428
    stale = raw.request("PATCH", path, json={"description": "x"}, headers={"If-Match": '"0"'})
    assert stale.status_code == 412 and stale.json()["status"] == 412
    ok = raw.request("PATCH", path, json={"description": "Nieuw"}, headers={"If-Match": tag})
    assert ok.status_code == 202 and ok.headers["ETag"] != tag
    assert raw.get(path).json()["description"] == "Nieuw"
    assert raw.request("DELETE", path, headers={"If-Match": tag}).status_code == 412
    assert raw.request("DELETE", path, headers={"If-Match": ok.headers["ETag"]}).status_code \
        == 202
    assert raw.get(path).status_code == 404


# --- through the client ------------------------------------------------------------------

def _order(**changes):
    fields = dict(
        customer_number="10001", description="Werkbon 2024-002", note="Kerkstraat 1",
        reference="PO-9", marker="sv:tenant:wo-2",
        lines=[DocumentLine(item_number="UUR", quantity=Decimal("1.5"), warehouse="MAIN"),
               DocumentLine(item_number="KRAAN", quantity=Decimal("1"),
                            unit_price=Decimal("101.25"), warehouse="MAIN")],
    )
    fields.update(changes)
    return NewSalesOrder(**fields)


def test_client_creates_and_reads_back_an_order(emulators, make_client):
    seed_basics(emulators)

    async def scenario():
        async with make_client() as client:
            order_type, order_id = await client.create_sales_order(_order())
            return (order_type, order_id, await client.sales_order(order_type, order_id),
                    await client.sales_order_lines(order_type, order_id))

    order_type, order_id, order, lines = run(scenario())
    assert (order_type, order_id) == ("SO", "000001")
    assert order.description == "Werkbon 2024-002" and order.note == "Kerkstraat 1"
    assert order.reference == "PO-9" and order.marker == "sv:tenant:wo-2"
    assert order.etag
    assert [(line.item_number, line.quantity, line.unit_price, line.manual_price)
            for line in lines] == [("UUR", Decimal("1.5"), Decimal("62.5"), False),
                                   ("KRAAN", Decimal("1"), Decimal("101.25"), True)]
    sent = emulators.call(emulators.visma.received_sales_orders)[0]["received"]
    assert sent["customer"] == {"id": "10001", "refNo": "PO-9", "order": "sv:tenant:wo-2"}
    assert "unitPrice" not in sent["orderLines"][0]  # no price: Visma's price rules (S-42)
    assert sent["orderLines"][1]["hasManualPrice"] is True


def test_client_quote_and_lists(emulators, make_client):
    seed_basics(emulators)

    async def scenario():
        async with make_client() as client:
            await client.create_sales_order(_order(marker="m-1"))
            await client.create_sales_order(_order(order_type="QT", marker="m-2",
                                                   description="SIMON offerte"))
            so = await client.sales_orders("SO").all()
            qt = await client.sales_orders("QT", page_size=1).all()
            found = await client.find_sales_orders("m-2")
            return so, qt, found

    so, qt, found = run(scenario())
    assert [(o.order_type, o.order_id) for o in so] == [("SO", "000001")]
    assert [(o.order_type, o.description) for o in qt] == [("QT", "SIMON offerte")]
    assert [(o.order_type, o.marker) for o in found] == [("QT", "m-2")]


def test_client_pages_sales_orders_zero_based(emulators, make_client):
    seed_basics(emulators)
    for number in range(7):
        emulators.call(emulators.visma.add_sales_order,
                       {"type": "SO", "customer": {"id": "10001", "order": f"o{number}"}})

    async def scenario():
        async with make_client() as client:
            pages = client.sales_orders("SO", page_size=3)
            numbers = [[o.order_id for o in page.items] async for page in pages]
            return numbers, pages.total_count

    numbers, total = run(scenario())
    assert numbers == [["000001", "000002", "000003"], ["000004", "000005", "000006"],
                       ["000007"]]
    assert total == 7
    assert emulators.visma.stats.count("GET", "/api/v3/SalesOrders/{type}") == 3


def test_client_validation_error_keeps_code_and_property(emulators, make_client):
    seed_basics(emulators)
    bad = _order(lines=[DocumentLine(item_number="NOPE", quantity=Decimal(1))])

    async def scenario():
        async with make_client() as client:
            await client.create_sales_order(bad)

    with pytest.raises(RequestRejectedError) as caught:
        run(scenario())
    assert caught.value.status == 400
    assert caught.value.code == "1804-InventoryIdNotFound"
    assert caught.value.details[0]["property"] == "orderLines[0].inventoryId"
    assert emulators.visma.stats.count("POST", "/api/v3/SalesOrders") == 1


def test_client_missing_order_is_none_and_missing_lines_raise(emulators, make_client):
    seed_basics(emulators)

    async def scenario():
        async with make_client() as client:
            assert await client.sales_order("SO", "424242") is None
            await client.sales_order_lines("SO", "424242")

    with pytest.raises(NotFoundError):
        run(scenario())
