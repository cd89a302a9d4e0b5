"""Customers, inventory, warehouses and order types: the ERP list contract (visma-net.md
sections 4, 5, 9, 12, 14.2) over raw HTTP and through the client (SPEC S-10..S-15, S-31, S-71)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from emulators.visma import generate_visma_tenant
from tests.visma.conftest import run, seed_basics


def _seed_many(emulators, customers=25, items=40):
    emulators.call(generate_visma_tenant, emulators.visma, customers=customers, items=items,
                   seed=5, orders=0)


# --- raw wire shapes ---------------------------------------------------------------------

def test_customer_list_is_bare_array_with_metadata_and_rate_headers(emulators, raw):
    _seed_many(emulators)
    response = raw.get("/v1/customer", {"pageNumber": 1, "pageSize": 10})
    assert response.status_code == 200
    rows = response.json()
    assert isinstance(rows, list) and len(rows) == 10
    assert all(row["metadata"] == {"totalCount": 25, "maxPageSize": 1000} for row in rows)
    for header in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
                   "X-RateLimit-Policy"):
        assert header in response.headers
    assert response.headers["X-RateLimit-Policy"] == "4-fixed-window"
    first = rows[0]
    for field in ("internalId", "number", "name", "status", "mainAddress", "mainContact",
                  "lastModifiedDateTime", "createdDateTime"):
        assert field in first
    assert set(first["mainAddress"]["country"]) == {"id", "name"}


def test_page_number_is_one_based_and_pages_do_not_overlap(emulators, raw):
    _seed_many(emulators)
    pages = [raw.get("/v1/customer", {"pageNumber": n, "pageSize": 10}).json()
             for n in (1, 2, 3, 4)]
    numbers = [row["number"] for page in pages for row in page]
    assert [len(p) for p in pages] == [10, 10, 5, 0]
    assert len(set(numbers)) == 25
    assert raw.get("/v1/customer", {"pageNumber": 0}).status_code == 400


def test_page_size_is_clamped_to_max_page_size(emulators, raw):
    emulators.visma.max_page_size = 7
    _seed_many(emulators)
    rows = raw.get("/v1/customer", {"pageNumber": 1, "pageSize": 500}).json()
    assert len(rows) == 7
    assert rows[0]["metadata"] == {"totalCount": 25, "maxPageSize": 7}
    third = raw.get("/v1/customer", {"pageNumber": 4, "pageSize": 500}).json()
    assert len(third) == 4  # 25 = 7 + 7 + 7 + 4


@pytest.mark.parametrize("value", [
    "2020-01-01", "2020-01-01 10:00:00", "2020-01-01 10:00:00.123", "2020-01-01T10:00:00",
    "2020-01-01T10:00:00.123",
])
def test_all_documented_date_formats_are_accepted(emulators, raw, value):
    seed_basics(emulators)
    response = raw.get("/v1/customer", {"lastModifiedDateTime": value,
                                        "lastModifiedDateTimeCondition": ">="})
    assert response.status_code == 200
    assert len(response.json()) == 3


@pytest.mark.parametrize("params", [
    {"lastModifiedDateTime": "2020-01-01"},
    {"lastModifiedDateTimeCondition": ">="},
    {"lastModifiedDateTime": "2020-01-01", "lastModifiedDateTimeCondition": "=="},
    {"lastModifiedDateTime": "01-01-2020", "lastModifiedDateTimeCondition": ">"},
])
def test_bad_date_filters_answer_400_message(emulators, raw, params):
    response = raw.get("/v1/customer", params)
    assert response.status_code == 400
    assert set(response.json()) == {"message"}


def test_date_conditions(emulators, raw):
    seed_basics(emulators)
    emulators.call(emulators.visma.clock.advance, 600)
    middle = emulators.visma.clock.now() - timedelta(seconds=300)
    emulators.call(emulators.visma.update_customer, "10001", name="Jansen B.V.")
    bound = middle.strftime("%Y-%m-%dT%H:%M:%S")

    def numbers(condition):
        rows = raw.get("/v1/customer", {"lastModifiedDateTime": bound,
                                        "lastModifiedDateTimeCondition": condition}).json()
        return sorted(row["number"] for row in rows)

    assert numbers(">") == numbers(">=") == ["10001"]
    assert numbers("<") == numbers("<=") == ["10002", "10003"]


def test_status_filter_and_single_gets(emulators, raw):
    seed_basics(emulators)
    inactive = raw.get("/v1/customer", {"status": "Inactive"}).json()
    assert [row["number"] for row in inactive] == ["10002"]
    one = raw.get("/v1/customer/10001").json()
    assert one["name"] == "Jansen Installatietechniek B.V."
    assert "metadata" not in one
    by_id = raw.get(f"/v1/customer/internal/{one['internalId']}").json()
    assert by_id["number"] == "10001"
    missing = raw.get("/v1/customer/99999")
    assert missing.status_code == 404 and "message" in missing.json()
    assert raw.get("/v1/customer/internal/424242").status_code == 404


def test_inventory_types_repeated_key_and_status(emulators, raw):
    seed_basics(emulators)
    rows = raw.get("/v1/inventory", [("inventoryTypes", "LaborItem"),
                                     ("inventoryTypes", "ServiceItem"),
                                     ("expandAttachment", "false"), ("pageNumber", "1"),
                                     ("pageSize", "100")]).json()
    assert sorted(row["inventoryNumber"] for row in rows) == ["UUR", "VOORRIJ"]
    assert all(row["stockItem"] is False for row in rows)
    stock = raw.get("/v1/inventory", {"inventoryTypes": "FinishedGoodItem"}).json()
    assert [(r["inventoryNumber"], r["stockItem"]) for r in stock] == [("KRAAN", True)]
    inactive = raw.get("/v1/inventory", {"status": "Inactive"}).json()
    assert [r["inventoryNumber"] for r in inactive] == ["OUDJE"]
    item = raw.get("/v1/inventory/UUR").json()
    for field in ("inventoryId", "inventoryNumber", "status", "type", "description",
                  "defaultPrice", "baseUnit", "salesUnit", "stockItem", "lastModifiedDateTime"):
        assert field in item
    assert raw.get(f"/v1/inventory/internal/{item['inventoryId']}").json()["inventoryNumber"] \
        == "UUR"
    assert raw.get("/v1/inventory/NOPE").status_code == 404


def test_b64_ids_in_paths(emulators, raw):
    emulators.call(emulators.visma.add_item, "A/B 1", "Met slash")
    assert raw.get("/v1/inventory/b64(QS9CIDE)").json()["inventoryNumber"] == "A/B 1"


def test_warehouses_and_order_types(emulators, raw):
    seed_basics(emulators)
    warehouses = raw.get("/v1/warehouse").json()
    assert [w["warehouseID"] for w in warehouses] == ["MAIN", "BUS1", "OUD"]
    assert [w["warehouseID"] for w in raw.get("/v1/warehouse", {"active": "false"}).json()] \
        == ["OUD"]
    assert raw.get("/v1/warehouse/BUS1").json()["description"] == "Servicebus 1"
    assert raw.get("/v1/warehouse/NOPE").status_code == 404
    types = raw.get("/v1/salesordertype", {"pageNumber": 1, "pageSize": 10}).json()
    assert [t["orderType"] for t in types] == ["SO", "QT"]
    assert types[0]["metadata"]["totalCount"] == 2
    assert raw.get("/v1/salesordertype/QT").json()["behavior"] == "Quote"
    assert raw.get("/v1/salesordertype/XX").status_code == 404


def test_change_customer_cd_keeps_internal_id(emulators, raw):
    seed_basics(emulators)
    internal_id = raw.get("/v1/customer/10001").json()["internalId"]
    response = raw.post(f"/v1/customer/action/changeCustomerCd/{internal_id}",
                        json={"customerCd": "20001"})
    assert response.status_code == 200
    assert response.json()["actionResult"] == "Done"
    assert raw.get("/v1/customer/10001").status_code == 404
    assert raw.get("/v1/customer/20001").json()["internalId"] == internal_id


# --- through the client ------------------------------------------------------------------

def test_client_pages_through_all_customers_with_total_count(emulators, make_client):
    emulators.visma.max_page_size = 10
    _seed_many(emulators, customers=35)

    async def scenario():
        async with make_client() as client:
            pages = client.customers(page_size=1000)  # clamped to 10 by the server
            seen = []
            totals = []
            async for page in pages:
                seen += [c.internal_id for c in page.items]
                totals.append(pages.total_count)
            return seen, totals, pages.pages_read

    seen, totals, pages_read = run(scenario())
    assert len(seen) == len(set(seen)) == 35
    assert set(totals) == {35}
    assert pages_read == 4
    assert emulators.visma.stats.count("GET", "/v1/customer") == 4


def test_client_resumes_at_a_page(emulators, make_client):
    _seed_many(emulators, customers=30)

    async def scenario():
        async with make_client() as client:
            everything = await client.customers(page_size=10).all()
            rest = await client.customers(page_size=10, start_page=3).all()
            return everything, rest

    everything, rest = run(scenario())
    assert [c.number for c in rest] == [c.number for c in everything[20:]]


def test_client_incremental_customers_by_modified_date(emulators, make_client):
    seed_basics(emulators)
    emulators.call(emulators.visma.clock.advance, 600)
    watermark = emulators.visma.clock.now() - timedelta(seconds=60)
    emulators.call(emulators.visma.deactivate_customer, "10003")
    emulators.call(emulators.visma.renumber_customer, "10001", "30001")

    async def scenario():
        async with make_client() as client:
            return await client.customers(modified_since=watermark).all()

    changed = run(scenario())
    assert sorted((c.number, c.status) for c in changed) == [("10003", "Inactive"),
                                                             ("30001", "Active")]
    sent = emulators.visma.stats.count("GET", "/v1/customer")
    assert sent == 1


def test_client_maps_customer_fields(emulators, make_client):
    seed_basics(emulators)

    async def scenario():
        async with make_client() as client:
            return (await client.customer("10001"), await client.customer("nope"),
                    await client.customer_by_internal_id(2))

    customer, missing, by_id = run(scenario())
    assert missing is None
    assert customer.main_address.line1 == "Kerkstraat 1"
    assert customer.main_address.postal_code == "1011 AB"
    assert customer.main_address.country == "NL"
    assert customer.main_contact.email == "jan@jansen.example"
    assert customer.main_contact.phone1 == "020-1234567"
    assert customer.last_modified.tzinfo is not None
    assert by_id.number == "10002"


def test_client_inventory_defaults_to_non_stock_types(emulators, make_client):
    seed_basics(emulators)
    emulators.call(emulators.visma.update_item, "KRAAN", type="NonStockItem")

    async def scenario():
        async with make_client() as client:
            return (await client.inventory().all(), await client.item("UUR"),
                    await client.item("NOPE"))

    items, uur, missing = run(scenario())
    assert sorted(i.number for i in items) == ["KRAAN", "OUDJE", "UUR", "VOORRIJ"]
    assert all(not i.stock_item for i in items)
    assert uur.unit == "UUR" and float(uur.default_price) == 62.5
    assert missing is None


def test_deleted_records_disappear_from_scans(emulators, make_client):
    seed_basics(emulators)
    emulators.call(emulators.visma.delete_customer, "10002")
    emulators.call(emulators.visma.delete_item, "VOORRIJ")

    async def scenario():
        async with make_client() as client:
            return (await client.customers().all(), await client.customer("10002"),
                    await client.inventory().all())

    customers, gone, items = run(scenario())
    assert "10002" not in [c.number for c in customers]
    assert gone is None
    assert "VOORRIJ" not in [i.number for i in items]


def test_client_warehouses_and_order_types(emulators, make_client):
    seed_basics(emulators)

    async def scenario():
        async with make_client() as client:
            return (await client.warehouses(), await client.warehouse("BUS1"),
                    await client.warehouse("NOPE"), await client.sales_order_types())

    warehouses, bus1, missing, types = run(scenario())
    assert [(w.warehouse_id, w.active) for w in warehouses] == [
        ("MAIN", True), ("BUS1", True), ("OUD", False)]
    assert bus1.description == "Servicebus 1" and missing is None
    assert [(t.order_type, t.behavior) for t in types] == [("SO", "SalesOrder"),
                                                            ("QT", "Quote")]


def test_client_sends_utc_filter_format(emulators, make_client):
    """Filters go as UTC yyyy-MM-ddTHH:mm:ss: 12:30 in Amsterdam (CET) is 11:30 UTC, so a
    customer changed at 11:45 UTC is in, one changed at 11:15 UTC is out."""
    from datetime import UTC
    from zoneinfo import ZoneInfo

    from reconcilers.clients.visma.wire import filter_datetime

    def seed():
        visma = emulators.visma
        visma.add_customer("1", "In", modified=datetime(2025, 3, 1, 11, 45, tzinfo=UTC))
        visma.add_customer("2", "Out", modified=datetime(2025, 3, 1, 11, 15, tzinfo=UTC))

    emulators.call(seed)
    local = datetime(2025, 3, 1, 12, 30, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))
    assert filter_datetime(local) == "2025-03-01T11:30:00"

    async def scenario():
        async with make_client() as client:
            return await client.customers(modified_since=local).all()

    assert [c.name for c in run(scenario())] == ["In"]
