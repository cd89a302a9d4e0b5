"""A record Visma.net sends that cannot be read is that record's problem, over real HTTP: a
list page sets it aside (`Page.unreadable`) and goes on with its other rows; a single read
raises UnreadableRecordError naming the record."""

from __future__ import annotations

import pytest

from reconcilers.clients.http import UnreadableRecordError
from tests.visma.conftest import run, seed_basics


def _break(emulators, change) -> None:
    emulators.call(change)


def test_customer_page_sets_an_unreadable_row_aside(emulators, make_client):
    seed_basics(emulators)

    def seed():
        visma = emulators.visma
        broken = visma.add_customer("10050", "Kapot BV")
        broken["internalId"] = "abc"
        odd = visma.add_customer("10051", "Vreemd BV")
        odd["internalId"] = str(odd["internalId"])  # an id as a numeric string still reads
        odd["lastModifiedDateTime"] = "2025-01-14 10:00:00.1234567"
        odd["someFieldAddedLater"] = {"x": [1, None]}

    _break(emulators, seed)

    async def scenario():
        async with make_client() as client:
            pages = client.customers()
            read = [page async for page in pages]
            return read, pages

    read, pages = run(scenario())
    assert len(read) == 1
    page = read[0]
    assert [c.number for c in page.items] == ["10001", "10002", "10003", "10051"]
    assert page.items[-1].last_modified is not None
    assert [(p.table, p.record_id, p.label) for p in page.unreadable] == [
        ("customer", None, "customer 10050 Kapot BV")]
    assert page.unreadable[0].problems == ["internalId 'abc' is not a number"]
    assert pages.unreadable == page.unreadable and pages.items_read == 5


def test_single_customer_read_of_an_unusable_record_raises(emulators, make_client):
    def seed():
        dto = emulators.visma.add_customer("10060", "Zonder Nummer BV")
        dto["number"] = None
        return dto["internalId"]

    internal_id = emulators.call(seed)

    async def scenario():
        async with make_client() as client:
            await client.customer_by_internal_id(internal_id)

    with pytest.raises(UnreadableRecordError) as caught:
        run(scenario())
    assert caught.value.record_id == internal_id
    assert caught.value.label == "customer Zonder Nummer BV"
    assert caught.value.problems == ["number is missing"]


def test_single_item_read_of_an_unusable_record_raises(emulators, make_client):
    def seed():
        dto = emulators.visma.add_item("UUR", "Uurloon", type="LaborItem")
        dto["inventoryId"] = {"value": dto["inventoryId"]}
        return emulators.visma.company().items

    items = emulators.call(seed)
    inventory_id = next(iter(items))

    async def scenario():
        async with make_client() as client:
            await client.item_by_inventory_id(inventory_id)

    with pytest.raises(UnreadableRecordError) as caught:
        run(scenario())
    assert caught.value.label == "item UUR Uurloon" and caught.value.record_id is None


def _order(emulators):
    return emulators.call(emulators.visma.add_sales_order, {
        "type": "SO", "customer": {"id": "10001"},
        "orderLines": [{"inventoryId": "UUR", "quantity": 2, "warehouseId": "MAIN"}]})


def test_sales_order_lines_with_an_unreadable_line_raise(emulators, make_client):
    seed_basics(emulators)
    order = _order(emulators)
    _break(emulators, lambda: order.lines[0].update(lineId="one"))

    async def scenario():
        async with make_client() as client:
            return await client.sales_order_lines("SO", order.order_id)

    with pytest.raises(UnreadableRecordError) as caught:
        run(scenario())
    assert caught.value.label == f"sales order SO {order.order_id} line UUR"


def test_sales_order_page_sets_an_unreadable_row_aside(emulators, make_client):
    seed_basics(emulators)
    good, bad = _order(emulators), _order(emulators)
    _break(emulators, lambda: setattr(bad, "order_id", "  "))

    async def scenario():
        async with make_client() as client:
            return [page async for page in client.sales_orders("SO")]

    pages = run(scenario())
    assert [o.order_id for o in pages[0].items] == [good.order_id]
    assert [p.label for p in pages[0].unreadable] == ["sales order SO"]
