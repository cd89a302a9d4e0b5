"""S-60: Visma.net sales orders and quotes become Simon work orders, over real HTTP against
both emulators, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from reconcilers.loops.imports import (
    WAIT_ACTION,
    ImportResult,
    ImportsLoop,
    mark_kind,
    pending_kind,
)
from reconcilers.mirroring import OVERLAP
from reconcilers.store import LogTable, Severity
from reconcilers.store.records import parse_timestamp
from tests.fixtures.world import result_of
from tests.imports.conftest import JANSEN_ADDRESS, SO_ONLY, World, imports, spec_of

pytestmark = pytest.mark.anyio

LINES = [
    {"inventoryId": "UUR", "quantity": 2, "unitPrice": 62.5, "hasManualPrice": True},
    {"inventoryId": "KRAAN", "quantity": 1, "unitPrice": 99.5, "hasManualPrice": True,
     "description": "Mengkraan keuken"},
]


async def test_sales_order_with_the_filter_word_becomes_a_work_order(world: World) -> None:
    """S-60: reference, description and note, customer, main work address, lines."""
    await world.master_data()
    order_id = world.add_order(description="Cv-ketel onderhoud SIMON", ref_no="PO-77",
                               note="Sleutel ligt bij de buren.", lines=LINES)

    result = await world.import_orders()

    assert (result.imported, result.waiting, result.skipped) == (1, 0, 0)
    key = f"SO-{order_id}"
    work_order = world.simon_record("workorder", key)
    assert work_order is not None
    jansen = world.emulators.call(world.emulators.visma.customer, "10001").dto["internalId"]
    customer = world.simon_record("customer", str(jansen))
    location = world.simon_record("location", f"{jansen}/main")
    assert customer is not None and location is not None
    assert work_order["Reference"] == "PO-77"
    assert work_order["Description"] == "Cv-ketel onderhoud SIMON\n\nSleutel ligt bij de buren."
    assert work_order["CustomerId"] == customer["Id"]
    assert work_order["LocationId"] == location["Id"]
    assert work_order["Status"] == "Open" and not work_order["Archived"]

    items = sorted(world.used_items(work_order["Id"]), key=lambda r: r["Code"])
    uur = world.simon_record("item", str(
        world.emulators.call(world.emulators.visma.item, "UUR").dto["inventoryId"]))
    assert uur is not None
    assert [(i["Code"], i["ItemId"], Decimal(str(i["Quantity"])), i["Unit"],
             Decimal(str(i["Price"]))) for i in items] == [
        ("KRAAN", None, Decimal(1), "ST", Decimal("99.5")),   # a stock item: not in Simon
        ("UUR", uur["Id"], Decimal(2), "UUR", Decimal("62.5")),
    ]
    assert items[0]["Description"] == "Mengkraan keuken"
    assert items[1]["Description"] == "Arbeid (per uur)"
    assert result.used_items == 2

    recorded = await world.state.imported_orders.get(key)
    assert recorded is not None and recorded.simon_work_order_id == work_order["Id"]
    entries = await world.state.log.entries(table=LogTable.WORK_ORDER, key=key)
    assert {e.severity for e in entries} == {Severity.INFO}
    assert any("KRAAN" in e.message and "not in Simon" in e.message for e in entries)
    assert any("imported into Simon" in e.message for e in entries)


async def test_an_order_without_a_note_or_reference(world: World) -> None:
    await world.master_data()
    order_id = world.add_order(description="Storing SIMON")
    await world.import_orders()
    work_order = world.simon_record("workorder", f"SO-{order_id}")
    assert work_order is not None
    assert work_order["Description"] == "Storing SIMON"
    assert not work_order.get("Reference")


@pytest.mark.parametrize("word, description", [
    ("SIMON", "storing via simon inplannen"),
    ("simon", "Storing SIMON"),
    ("Werkbon", "Onderhoud WERKBONNEN 2025"),
])
async def test_the_filter_word_matches_case_insensitively(world: World, word: str,
                                                          description: str) -> None:
    await world.master_data()
    order_id = world.add_order(description=description)
    result = await world.import_orders(imports({"enabled": True, "filterWord": word}))
    assert result.imported == 1
    assert world.simon_record("workorder", f"SO-{order_id}") is not None


async def test_an_order_without_the_filter_word_is_not_imported(world: World) -> None:
    await world.master_data()
    world.add_order(description="Levering onderdelen")
    world.add_order(description="Onderhoud SIMON")
    result = await world.import_orders()
    assert (result.imported, result.skipped) == (1, 1)
    assert [w["ExtKey"] for w in world.work_orders()] == ["SO-000002"]


async def test_quotes_use_their_own_filter_word(world: World) -> None:
    """QT orders with the quote filter word; SO and QT each with their own word."""
    await world.master_data()
    quote = world.add_order(description="Offerte OFFERTE-SIMON badkamer", order_type="QT",
                            lines=LINES)
    world.add_order(description="Offerte keuken SIMON", order_type="QT")
    world.add_order(description="Onderhoud OFFERTE-SIMON")  # an SO, whose word is SIMON2
    settings = imports({"enabled": True, "filterWord": "SIMON2"},
                       {"enabled": True, "filterWord": "offerte-simon"})

    result = await world.import_orders(settings)

    assert result.imported == 1
    assert [w["ExtKey"] for w in world.work_orders()] == [f"QT-{quote}"]
    work_order = world.simon_record("workorder", f"QT-{quote}")
    assert work_order is not None
    assert world.used_items(work_order["Id"]) == []  # quotes: includeLines defaults to false


async def test_quotes_disabled_imports_no_quote(world: World) -> None:
    await world.master_data()
    world.add_order(description="Offerte SIMON", order_type="QT")
    before = world.emulators.visma.stats.count("GET", "/SalesOrders")
    result = await world.import_orders(SO_ONLY)
    assert result.imported == 0
    assert world.work_orders() == []
    # Only the SO list was read.
    assert world.emulators.visma.stats.count("GET", "/SalesOrders") - before == 1


async def test_nothing_enabled_reads_nothing(world: World) -> None:
    world.add_order(description="Onderhoud SIMON")
    before = world.emulators.visma.stats.count()
    result = await world.import_orders(imports())
    assert (result.imported, result.waiting, result.skipped) == (0, 0, 0)
    assert world.emulators.visma.stats.count() == before


async def test_each_order_is_imported_once(world: World) -> None:
    """S-60: a second pass imports nothing and writes nothing to Simon, also when the order
    changed, the marks were lost, or the whole store was lost (Simon's ExtKey holds)."""
    await world.master_data()
    order_id = world.add_order(lines=LINES)
    assert (await world.import_orders()).imported == 1
    writes = world.emulators.simon.writes

    again = await world.import_orders()
    assert (again.imported, again.waiting) == (0, 0)
    assert world.emulators.simon.writes == writes

    world.emulators.call(world.emulators.visma.company().sales_orders[("SO", order_id)]
                         .received.update, {"description": "Onderhoud SIMON (gewijzigd)"})
    await world.state.marks.clear()
    assert (await world.import_orders()).imported == 0
    assert world.emulators.simon.writes == writes

    # A store that forgot everything (another database): Simon's unique ExtKey finds the
    # work order and its lines instead of doubling them.
    forgetful = world.store.tenant("tenant-demo/restored")
    assert (await world.import_orders(state=forgetful)).imported == 1
    assert len(world.work_orders()) == 1
    work_order = world.work_orders()[0]
    assert len(world.used_items(work_order["Id"])) == 2
    assert world.emulators.simon.writes == writes
    restored = await forgetful.imported_orders.get(f"SO-{order_id}")
    assert restored is not None and restored.simon_work_order_id == work_order["Id"]


async def test_an_order_waits_for_its_customer_then_is_imported(world: World) -> None:
    """S-60: the customer is not in Simon yet -> a warning; the order waits and is imported
    after the next master-data pass, although the mark has moved past it meanwhile."""
    await world.master_data()
    world.add_customer("10003", "Nieuwe Klant B.V.",
                       {"addressLine1": "Nieuwstraat 5", "postalCode": "2011 AA",
                        "city": "Haarlem", "country": "NL"})
    waiting_id = world.add_order("10003", "Nieuwe cv-ketel SIMON", lines=LINES[:1])
    key = f"SO-{waiting_id}"

    first = await world.import_orders()

    assert (first.imported, first.waiting) == (0, 1)
    assert world.work_orders() == []
    assert not await world.state.imported_orders.is_imported(key)
    [warning] = await world.state.log.entries(Severity.WARNING, key=key)
    assert warning.table is LogTable.WORK_ORDER
    assert waiting_id in warning.message and "10003" in warning.message
    assert "not in Simon" in warning.message
    assert warning.action == WAIT_ACTION

    # Later orders move the mark past the waiting one; the waiting one is kept pending.
    world.emulators.visma.clock.advance((OVERLAP + timedelta(hours=1)).total_seconds())
    later_id = world.add_order("10001", "Onderhoud SIMON")
    second = await world.import_orders()
    assert (second.imported, second.waiting) == (1, 1)
    waiting_modified = world.emulators.visma.company().sales_orders[("SO", waiting_id)].modified
    mark = await world.state.marks.value(mark_kind("SO"))
    assert mark is not None and parse_timestamp(mark) - OVERLAP > waiting_modified
    assert await world.state.marks.value(pending_kind("SO")) == f'["{waiting_id}"]'
    assert len(await world.state.log.entries(Severity.WARNING, key=key)) == 1  # deduplicated

    await world.master_data()  # the customer arrives in Simon
    third = await world.import_orders()

    assert (third.imported, third.waiting) == (1, 0)
    assert sorted(w["ExtKey"] for w in world.work_orders()) == [key, f"SO-{later_id}"]
    work_order = world.simon_record("workorder", key)
    customer = world.simon_record("customer", str(
        world.emulators.call(world.emulators.visma.customer, "10003").dto["internalId"]))
    assert work_order is not None and customer is not None
    assert work_order["CustomerId"] == customer["Id"]
    assert len(world.used_items(work_order["Id"])) == 1
    assert await world.state.imported_orders.is_imported(key)
    assert await world.state.log.entries(Severity.WARNING, key=key,
                                         include_resolved=False) == []
    assert await world.state.marks.value(pending_kind("SO")) == "[]"
    assert (await world.import_orders()).imported == 0


async def test_an_order_waits_for_a_main_work_address(world: World) -> None:
    """A customer without an address has no main work address in Simon (S-11): its order
    waits, with a warning that says so."""
    await world.master_data()
    order_id = world.add_order("10004", "Storing SIMON")
    result = await world.import_orders()
    assert (result.imported, result.waiting) == (0, 1)
    [warning] = await world.state.log.entries(Severity.WARNING, key=f"SO-{order_id}")
    assert "main work address" in warning.message
    assert "address in Visma.net" in (warning.action or "")


async def test_a_lost_answer_makes_no_second_work_order(world: World) -> None:
    """S-4 / S-60: Simon made the work order (and a line) but the answers were lost."""
    await world.master_data()
    simon = world.emulators.simon
    simon.faults.add("lose_response", path="/simon/workorder/insert", nth=1)
    simon.faults.add("lose_response", path="/simon/useditem/insert", nth=1)
    order_id = world.add_order(lines=LINES)

    result = await world.import_orders()

    assert result.imported == 1
    [work_order] = world.work_orders()
    assert work_order["ExtKey"] == f"SO-{order_id}"
    assert simon.write_count("workorder", "insert") == 1
    assert len(world.used_items(work_order["Id"])) == 2
    assert simon.write_count("useditem", "insert") == 2
    assert (await world.import_orders()).imported == 0
    assert len(world.work_orders()) == 1


async def test_include_lines_false_makes_no_used_items(world: World) -> None:
    await world.master_data()
    order_id = world.add_order(lines=LINES)
    settings = imports({"enabled": True, "filterWord": "SIMON", "includeLines": False})
    result = await world.import_orders(settings)
    assert result.imported == 1
    work_order = world.simon_record("workorder", f"SO-{order_id}")
    assert work_order is not None
    assert world.used_items(work_order["Id"]) == []
    assert world.emulators.simon.write_count("useditem") == 0


async def test_the_runner_runs_the_imports_loop(world: World) -> None:
    await world.master_data()
    world.add_order()
    world.add_order(description="Zonder het woord")
    outcome = await world.run(spec_of(SO_ONLY)).run_loop(ImportsLoop())
    assert outcome.ok, outcome.error
    result = result_of(outcome, ImportResult)
    assert result.imported == 1
    assert result.waiting == 0
    assert result.skipped == 1


async def test_one_unusable_order_is_one_error_and_the_others_are_imported(
        world: World) -> None:
    """One order whose lines Visma.net sends in no usable form (a line id in words) is one
    error entry naming the order by type and number; an order whose customer is not in Simon
    yet waits with a warning (S-60); the others are imported and the pass completes."""
    await world.master_data()
    first = world.add_order(description="Eerste SIMON")
    broken = world.add_order(description="Kapot SIMON", lines=LINES)

    def spoil() -> None:
        order = world.emulators.visma.company().sales_orders[("SO", broken)]
        order.lines[0]["lineId"] = "een"

    world.emulators.call(spoil)
    world.add_customer("10077", "Nieuw Bedrijf", address=JANSEN_ADDRESS)
    waiting = world.add_order("10077", "Nieuwe klant SIMON")
    last = world.add_order(description="Laatste SIMON")

    outcome = await world.run(spec_of(SO_ONLY)).run_loop(ImportsLoop())

    assert outcome.ok, outcome.error
    result = result_of(outcome, ImportResult)
    assert (result.imported, result.failed, result.waiting) == (2, 1, 1)
    for order_id in (first, last):
        assert world.simon_record("workorder", f"SO-{order_id}") is not None
    errors = await world.state.log.entries(min_severity=Severity.ERROR,
                                           include_resolved=False)
    assert [e.key for e in errors] == [f"SO-{broken}"]
    assert f"Sales order {broken}" in errors[0].message and errors[0].action
    warnings = await world.state.log.entries(min_severity=Severity.WARNING,
                                             include_resolved=False, key=f"SO-{waiting}")
    assert [e.severity for e in warnings] == [Severity.WARNING]


async def test_a_lone_surrogate_in_an_order_reaches_simon_as_a_replacement(
        world: World) -> None:
    """A lone UTF-16 surrogate in an order's description, note and reference (an emoji cut
    in half): the work order arrives in Simon with U+FFFD in its place; the pass goes on."""
    await world.master_data()
    order_id = world.add_order(description="Lek \ud83d SIMON", note="Sleutel \udc00 buren",
                               ref_no="PO-\ud800")
    other = world.add_order(description="Gewoon SIMON")

    result = await world.import_orders()

    assert (result.imported, result.failed) == (2, 0)
    work_order = world.simon_record("workorder", f"SO-{order_id}")
    assert work_order is not None
    assert work_order["Description"] == "Lek \ufffd SIMON\n\nSleutel \ufffd buren"
    assert work_order["Reference"] == "PO-\ufffd"
    assert world.simon_record("workorder", f"SO-{other}") is not None
