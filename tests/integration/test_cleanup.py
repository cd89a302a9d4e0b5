"""Cleanup over real HTTP (SPEC S-30 to S-32): Simon follows what Visma.net deleted or no
longer mirrors, never removes what is in use, and never trusts an incomplete scan."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from reconcilers.loops.cleanup import CleanupLoop, CleanupResult
from reconcilers.loops.masterdata import MasterDataLoop, MasterDataResult
from reconcilers.resource.status import VismaIntegrationStatus
from reconcilers.runtime.runner import LoopOutcome, TenantRun
from reconcilers.runtime.status import build_status
from reconcilers.store import LinkKind, LogTable, Severity
from reconcilers.store.records import utc_now
from tests.fixtures.emulators import FAST
from tests.fixtures.proxy import Received, Rewrite
from tests.fixtures.world import World, result_of

pytestmark = pytest.mark.anyio

KERKSTRAAT = {"addressLine1": "Kerkstraat 12 A", "postalCode": "1011 AB", "city": "Amsterdam",
              "country": "NL"}
POSTBUS = {"addressLine1": "Postbus 100", "postalCode": "1000 AA", "city": "Amsterdam",
           "country": "NL"}


async def masterdata(run: TenantRun) -> MasterDataResult:
    outcome = await run.run_loop(MasterDataLoop())
    assert outcome.ok, outcome.error
    return result_of(outcome, MasterDataResult)


async def cleanup(run: TenantRun, *, ok: bool = True) -> CleanupResult:
    outcome = await run.run_loop(CleanupLoop())
    assert outcome.ok is ok, outcome.error
    return result_of(outcome, CleanupResult)


def removed(outcome: LoopOutcome, kind: str) -> int:
    """What a cleanup pass removed of `kind` (customers or items)."""
    counts = result_of(outcome, CleanupResult).removed()
    return {"customers": counts.customers, "items": counts.items}[kind]


def seed_company(world: World) -> dict[str, dict[str, Any]]:
    """Two customers (Bakker with an invoice address) and two non-stock items."""
    return {
        "bakker": world.visma.add_customer("10023", "Bakker", address=KERKSTRAAT,
                                           invoice_address=POSTBUS),
        "smit": world.visma.add_customer("10024", "Smit", address=KERKSTRAAT),
        "uur": world.visma.add_item("UUR", "Arbeid", type="LaborItem"),
        "klein": world.visma.add_item("KLEIN", "Klein materiaal"),
    }


def simon_customer(world: World, dto: dict[str, Any]) -> dict[str, Any]:
    found = world.simon_customer(dto["internalId"])
    assert found is not None
    return found


def simon_item(world: World, dto: dict[str, Any]) -> dict[str, Any] | None:
    return world.simon.by_ext_key("item", str(dto["inventoryId"]))


async def test_cleanup_runs_on_its_own_schedule(sqlite_world: World) -> None:
    """S-30: cleanup is its own loop with a configurable interval (default 48 h); a pass
    compares Simon with a full scan of Visma.net (no lastModifiedDateTime filter) and its
    success is recorded for the schedule."""
    world = sqlite_world
    seed_company(world)
    run = world.run()
    assert run.tenant.spec.schedule.cleanup.total_seconds() == 48 * 3600
    assert world.run({"schedule": {"cleanup": "72h"}}).tenant.spec.schedule.cleanup \
        .total_seconds() == 72 * 3600
    await masterdata(run)
    world.proxy.clear()

    summary = await cleanup(run)

    assert summary.incomplete == []
    for path in ("/v1/customer", "/v1/inventory"):
        [scan] = world.proxy.requests(path)
        assert scan.param("lastModifiedDateTime") is None
    schedule = await run.state.schedules.get("cleanup")
    assert schedule is not None and schedule.last_success_at is not None


async def test_customer_deleted_in_visma_is_removed_with_its_work_addresses(
        world: World) -> None:
    """S-31: a customer deleted in Visma.net goes from Simon, every work address of it first
    (ours and one a user added); another customer, its user-made work address and a work
    address without a customer stay."""
    made = seed_company(world)
    run = world.run()
    await masterdata(run)
    bakker, smit = simon_customer(world, made["bakker"]), simon_customer(world, made["smit"])
    world.simon.seed("location", Name="Bakker schuur", CustomerId=bakker["Id"])
    kept_user_location = world.simon.seed("location", Name="Smit garage", CustomerId=smit["Id"])
    orphan = world.simon.seed("location", Name="Losse locatie", Street="Dorpsweg")
    assert len(world.locations_of(bakker)) == 3

    world.visma.delete_customer("10023")
    summary = await cleanup(run)

    assert world.simon.get("customer", bakker["Id"]) is None
    assert world.locations_of(bakker) == {}
    assert (summary.customers_removed, summary.work_addresses_removed) == (1, 3)
    assert world.simon.get("customer", smit["Id"]) is not None
    assert set(world.locations_of(smit)) == {f"{made['smit']['internalId']}/main",
                                             "Smit garage"}
    assert world.simon.get("location", kept_user_location["Id"]) == kept_user_location
    assert world.simon.get("location", orphan["Id"]) == orphan
    key = str(made["bakker"]["internalId"])
    assert await run.state.links.get(LinkKind.CUSTOMER, key) is None
    assert await run.state.links.get(LinkKind.LOCATION, f"{key}/invoice") is None


async def test_deactivated_customer_is_removed(sqlite_world: World) -> None:
    """S-31: a customer now Inactive (no longer mirrored by S-10) is removed at cleanup,
    with its work addresses."""
    world = sqlite_world
    made = seed_company(world)
    run = world.run()
    await masterdata(run)
    bakker = simon_customer(world, made["bakker"])

    world.emulators.visma.clock.advance(60)
    world.visma.deactivate_customer("10023")
    await masterdata(run)  # the pass itself does not remove: that is the cleanup's job
    assert world.simon.get("customer", bakker["Id"]) is not None
    await cleanup(run)

    assert world.simon.get("customer", bakker["Id"]) is None
    assert world.locations_of(bakker) == {}
    assert world.simon_customer(made["smit"]["internalId"]) is not None


async def test_items_no_longer_mirrored_are_removed(sqlite_world: World) -> None:
    """S-31: an item switched from non-stock to stock, an item made inactive and an item
    deleted in Visma.net are removed at cleanup; a mirrored item stays."""
    world = sqlite_world
    made = seed_company(world)
    reis = world.visma.add_item("REIS", "Reistijd", type="LaborItem")
    oud = world.visma.add_item("OUD", "Oud artikel", type="ServiceItem")
    run = world.run()
    await masterdata(run)
    assert len(world.simon.list("item")) == 4

    world.emulators.visma.clock.advance(60)
    world.visma.update_item("KLEIN", type="FinishedGoodItem")
    world.visma.deactivate_item("REIS")
    world.visma.delete_item("OUD")
    await masterdata(run)
    assert len(world.simon.list("item")) == 4  # still there until the cleanup
    summary = await cleanup(run)

    assert [i["Code"] for i in world.simon.list("item")] == ["UUR"]
    assert summary.items_removed == 3
    for dto in (made["klein"], reis, oud):
        assert simon_item(world, dto) is None
        assert await run.state.links.get(LinkKind.ITEM, str(dto["inventoryId"])) is None


async def test_records_made_in_simon_are_removed(sqlite_world: World) -> None:
    """S-31: a Customer (with its work address) and an Item made in Simon itself (empty
    ExtKey) are removed; a Location without a customer stays."""
    world = sqlite_world
    seed_company(world)
    run = world.run()
    await masterdata(run)
    own_customer = world.simon.seed("customer", Name="Eigen klant")
    own_location = world.simon.seed("location", Name="Eigen klant", CustomerId=own_customer["Id"])
    own_item = world.simon.seed("item", Code="EIGEN", Description="Eigen artikel")
    orphan = world.simon.seed("location", Name="Zonder klant")

    summary = await cleanup(run)

    assert world.simon.get("customer", own_customer["Id"]) is None
    assert world.simon.get("location", own_location["Id"]) is None
    assert world.simon.get("item", own_item["Id"]) is None
    assert world.simon.get("location", orphan["Id"]) == orphan
    assert (summary.customers_removed, summary.items_removed) == (1, 1)
    assert len(world.simon.list("customer")) == 2 and len(world.simon.list("item")) == 2


async def test_records_in_use_stay_until_the_work_order_is_archived(world: World) -> None:
    """S-32: a deleted customer whose work address an open work order uses, and a deleted
    item booked on it, are not forced: each gives a warning in the integration log and
    stays; after the work order is archived the next cleanup removes them."""
    made = seed_company(world)
    run = world.run()
    await masterdata(run)
    bakker = simon_customer(world, made["bakker"])
    key = made["bakker"]["internalId"]
    main = world.locations_of(bakker)[f"{key}/main"]
    item = simon_item(world, made["klein"])
    assert item is not None
    order = world.simon.seed("workorder", LocationId=main["Id"], CustomerId=bakker["Id"],
                             Description="Cv-ketel onderhoud")
    world.simon.seed("useditem", WorkOrderId=order["Id"], ItemId=item["Id"], Quantity=2)

    world.visma.delete_customer("10023")
    world.visma.delete_item("KLEIN")
    summary = await cleanup(run)

    assert world.simon.get("customer", bakker["Id"]) is not None
    assert world.simon.get("location", main["Id"]) is not None
    assert world.simon.get("item", item["Id"]) is not None
    assert summary.kept_in_use >= 2
    assert (summary.customers_removed, summary.items_removed) == (0, 0)
    warnings = await run.state.log.entries(Severity.WARNING)
    tables = {(w.table, w.key) for w in warnings}
    assert (LogTable.CUSTOMER, "10023") in tables
    assert (LogTable.ITEM, "KLEIN") in tables
    assert (LogTable.WORK_ADDRESS, "Bakker") in tables
    assert all(w.action for w in warnings)

    again = await cleanup(run)  # still open: still kept, the warnings stay single entries
    assert (again.customers_removed, again.items_removed) == (0, 0)
    assert len(await run.state.log.entries(Severity.WARNING)) == len(warnings)

    world.simon.archive_work_order(order["Id"])
    summary = await cleanup(run)

    assert world.simon.get("customer", bakker["Id"]) is None
    assert world.simon.get("location", main["Id"]) is None
    assert world.simon.get("item", item["Id"]) is None
    assert (summary.customers_removed, summary.items_removed) == (1, 1)


async def test_work_address_in_use_is_removed_by_a_later_cleanup(sqlite_world: World) -> None:
    """S-11, S-32: a work address whose Visma.net address emptied while an open work order
    used it stays with a warning; once the work order is archived the next cleanup removes
    it (the customer itself is unchanged in Visma.net, so no master-data pass reads it)."""
    world = sqlite_world
    made = seed_company(world)
    run = world.run()
    await masterdata(run)
    bakker = simon_customer(world, made["bakker"])
    key = f"{made['bakker']['internalId']}/invoice"
    invoice = world.locations_of(bakker)[key]
    order = world.simon.seed("workorder", LocationId=invoice["Id"], CustomerId=bakker["Id"])

    world.emulators.visma.clock.advance(60)
    world.visma.update_customer("10023", invoice_address={})
    await masterdata(run)
    assert world.simon.get("location", invoice["Id"]) is not None
    # A later change elsewhere moves the customers' mark past Bakker's change (and its
    # overlap), so from then on no master-data pass reads Bakker again.
    world.emulators.visma.clock.advance(3600)
    world.visma.update_customer("10024", phone="030-1111111")
    await masterdata(run)
    await cleanup(run)
    assert world.simon.get("location", invoice["Id"]) is not None

    world.simon.archive_work_order(order["Id"])
    await masterdata(run)
    assert world.simon.get("location", invoice["Id"]) is not None
    summary = await cleanup(run)

    assert world.simon.get("location", invoice["Id"]) is None
    assert summary.work_addresses_removed == 1 and summary.customers_removed == 0
    assert set(world.locations_of(bakker)) == {f"{made['bakker']['internalId']}/main"}
    assert await run.state.links.get(LinkKind.LOCATION, key) is None


async def test_incomplete_customer_scan_removes_no_customer(world: World) -> None:
    """S-32: when the Visma.net customer scan fails (a 500 on every attempt), no customer and
    no work address is removed in that pass and a warning is logged, while items are still
    judged by their own, complete scan."""
    made = seed_company(world)
    run = world.run()
    await masterdata(run)
    bakker = simon_customer(world, made["bakker"])
    world.simon.seed("customer", Name="Eigen klant")
    world.visma.delete_customer("10023")
    world.visma.delete_item("KLEIN")
    world.emulators.visma.faults.add("status", path=r"^/v1/customer$", method="GET", status=500,
                                    times=FAST.max_attempts)
    deletes_before = (world.simon.write_count("customer", "delete"),
                      world.simon.write_count("location", "delete"))

    summary = await cleanup(run, ok=False)

    assert summary.incomplete == ["customers"]
    assert (world.simon.write_count("customer", "delete"),
            world.simon.write_count("location", "delete")) == deletes_before
    assert world.simon.get("customer", bakker["Id"]) is not None
    assert len(world.locations_of(bakker)) == 2
    assert len(world.simon.list("customer")) == 3
    assert simon_item(world, made["klein"]) is None
    assert summary.items_removed == 1
    warnings = await run.state.log.entries(Severity.WARNING, table=LogTable.CUSTOMER)
    assert any("incomplete" in w.message and "Nothing was removed" in w.message
               for w in warnings)

    summary = await cleanup(run)  # Visma.net answers again: now the customers follow
    assert world.simon.get("customer", bakker["Id"]) is None
    assert summary.customers_removed == 2


# --- only what Visma.net confirms is gone is removed --------------------------------------

CUSTOMERS = "/v1/customer"


def seed_paged_customers(world: World, count: int = 5) -> list[dict[str, Any]]:
    """`count` customers (10001 ...), each with a work address, read two to a page."""
    world.emulators.visma.max_page_size = 2
    return [world.visma.add_customer(f"{10001 + n}", f"Klant {n + 1}",
                                     address={**KERKSTRAAT, "addressLine1": f"Dorpsweg {n}"})
            for n in range(count)]


def is_scan_page(received: Received, path: str, page: int) -> bool:
    """A request for page `page` of a full scan (no lastModifiedDateTime filter) of `path`."""
    return (received.method == "GET" and received.path == path
            and received.param("lastModifiedDateTime") is None
            and int(received.param("pageNumber") or 1) == page)


def page_rows(path: str, page: int,
              change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> Rewrite:
    """A proxy rewrite: the rows of that scan page, changed as a real Visma.net may send
    them."""
    def rewrite(received: Received, status: int, body: bytes) -> tuple[int, bytes] | None:
        if status != 200 or not is_scan_page(received, path, page):
            return None
        return status, json.dumps(change(json.loads(body))).encode()
    return rewrite


def simon_snapshot(world: World) -> tuple[set[int], set[int], int, int]:
    """The Ids of Simon's customers and locations, and how many deletes Simon has seen."""
    return ({c["Id"] for c in world.simon.list("customer")},
            {loc["Id"] for loc in world.simon.list("location")},
            world.simon.write_count("customer", "delete"),
            world.simon.write_count("location", "delete"))


async def incomplete_scan_removes_nothing(world: World, run: TenantRun) -> None:
    """A cleanup whose customer scan is incomplete: no customer and no work address is
    removed (not the customer deleted in Visma.net, not the one made in Simon), and the log
    says why."""
    before = simon_snapshot(world)
    summary = await cleanup(run, ok=False)
    assert summary.incomplete == ["customers"]
    assert simon_snapshot(world) == before
    warnings = await run.state.log.entries(Severity.WARNING, table=LogTable.CUSTOMER)
    assert any("incomplete" in w.message and "Nothing was removed" in w.message
               for w in warnings)


async def test_an_empty_later_page_removes_nothing(world: World) -> None:
    """S-32: a later page of the customer scan comes back `[]` (no rows, so no `metadata`
    and no totalCount on it): the count of the first page still says records are missing,
    so nothing is removed. Once the pages are whole again, the cleanup removes what is
    gone."""
    seed_paged_customers(world)
    run = world.run()
    await masterdata(run)
    world.simon.seed("customer", Name="Eigen klant")
    world.visma.delete_customer("10001")
    world.proxy.rewrite(page_rows(CUSTOMERS, 2, lambda rows: []))

    await incomplete_scan_removes_nothing(world, run)
    assert world.proxy.pages(CUSTOMERS)[-2:] == [1, 2]

    world.proxy.rewrites.clear()
    summary = await cleanup(run)
    assert summary.customers_removed == 2
    assert len(world.simon.list("customer")) == 4


async def test_a_short_page_removes_nothing(world: World) -> None:
    """S-32: a page with fewer rows than the page size before totalCount is reached ends the
    read early: fewer records than totalCount were read, so nothing is removed."""
    seed_paged_customers(world)
    run = world.run()
    await masterdata(run)
    world.simon.seed("customer", Name="Eigen klant")
    world.visma.delete_customer("10005")
    world.proxy.rewrite(page_rows(CUSTOMERS, 1, lambda rows: rows[:1]))

    await incomplete_scan_removes_nothing(world, run)


async def test_a_deletion_between_page_reads_removes_nothing(world: World) -> None:
    """S-32: a customer on page 1 is deleted in Visma.net after page 1 was read: the first
    customer of page 2 slides onto page 1, which was read already. Later pages count one
    record less, but the scan is judged by the first page's count: incomplete, nothing is
    removed, and the customer that slid stays in Simon."""
    made = seed_paged_customers(world)
    run = world.run()
    await masterdata(run)
    slid = simon_customer(world, made[2])

    def delete_after_page_1(received: Received) -> None:
        if is_scan_page(received, CUSTOMERS, 2) and world.visma.customer("10001"):
            world.visma.delete_customer("10001")
    world.proxy.before(delete_after_page_1)

    await incomplete_scan_removes_nothing(world, run)
    assert world.simon.get("customer", slid["Id"]) is not None


async def test_a_live_customer_missed_by_the_scan_is_kept(world: World) -> None:
    """S-32: between two page reads one customer is deleted and another added, so the count
    still adds up, yet the customer that slid onto page 1 was never read. Before removing it
    the cleanup reads it directly from Visma.net: it is there, so it stays with its work
    address. A customer Visma.net confirms deleted (404) is removed."""
    made = seed_paged_customers(world)
    run = world.run()
    await masterdata(run)
    gone = simon_customer(world, made[1])
    world.visma.delete_customer("10002")  # before the scan: pages are 10001 10003 | 10004 10005
    slid = simon_customer(world, made[3])
    slid_locations = world.locations_of(slid)

    def delete_and_add_after_page_1(received: Received) -> None:
        if is_scan_page(received, CUSTOMERS, 2) and world.visma.customer("10001"):
            world.visma.delete_customer("10001")
            world.visma.add_customer("10006", "Klant 6")
    world.proxy.before(delete_and_add_after_page_1)
    world.proxy.clear()

    summary = await cleanup(run)

    assert summary.incomplete == []
    assert world.proxy.pages(CUSTOMERS) == [1, 2]
    assert world.simon.get("customer", slid["Id"]) is not None
    assert world.locations_of(slid) == slid_locations
    assert world.simon.get("customer", gone["Id"]) is None
    assert summary.customers_removed == 1 and summary.kept_unconfirmed == 1
    confirmed = {r.path for r in world.proxy.received
                 if r.path.startswith("/v1/customer/internal/")}
    assert confirmed == {f"/v1/customer/internal/{made[1]['internalId']}",
                         f"/v1/customer/internal/{made[3]['internalId']}"}


async def test_a_failed_confirming_read_keeps_the_record(world: World) -> None:
    """S-32: Visma.net answers 500 (on every retry) when the cleanup reads a deleted customer
    directly before removing it: the customer and its work addresses stay, with one warning
    naming it by number and name, and the pass goes on (the deleted item is removed). The
    next cleanup, with Visma.net answering again, removes the customer."""
    made = seed_company(world)
    run = world.run()
    await masterdata(run)
    bakker = simon_customer(world, made["bakker"])
    world.visma.delete_customer("10023")
    world.visma.delete_item("KLEIN")
    world.emulators.visma.faults.add("status", path=r"^/v1/customer/internal/", method="GET",
                                    status=500, times=FAST.max_attempts)

    summary = await cleanup(run)

    assert world.simon.get("customer", bakker["Id"]) is not None
    assert len(world.locations_of(bakker)) == 3 - 1  # main and invoice
    assert simon_item(world, made["klein"]) is None
    assert (summary.customers_removed, summary.items_removed) == (0, 1)
    assert summary.kept_unconfirmed == 1
    [warning] = await run.state.log.entries(Severity.WARNING, table=LogTable.CUSTOMER)
    assert warning.key == "10023" and "10023 Bakker" in warning.message
    assert warning.action

    summary = await cleanup(run)
    assert world.simon.get("customer", bakker["Id"]) is None
    assert summary.customers_removed == 1


# --- the brake ----------------------------------------------------------------------------

def seed_hundred(world: World, kind: str) -> list[dict[str, Any]]:
    if kind == "customers":
        return [world.visma.add_customer(f"{20000 + n}", f"Klant {n}") for n in range(100)]
    return [world.visma.add_item(f"A{n:03d}", f"Artikel {n}") for n in range(100)]


def delete_in_visma(world: World, kind: str, dto: dict[str, Any]) -> None:
    if kind == "customers":
        world.visma.delete_customer(dto["number"])
    else:
        world.visma.delete_item(dto["inventoryNumber"])


def simon_table(kind: str) -> str:
    return "customer" if kind == "customers" else "item"


async def held_condition(run: TenantRun, outcome: LoopOutcome) -> tuple[str, str, str]:
    status = await build_status(run, VismaIntegrationStatus(), {"cleanup": outcome}, None,
                                utc_now())
    condition = status.get_condition("CleanupHeld")
    assert condition is not None
    return condition.status, condition.reason, condition.message


@pytest.mark.parametrize("kind", ["customers", "items"])
async def test_the_brake_holds_a_cleanup_that_would_remove_21_percent(
        sqlite_world: World, kind: str) -> None:
    """S-32: 21 of 100 customers (or items) from Visma.net gone at once is more than the
    default 20% and more than 10: the cleanup removes none of that kind, logs an error that
    says how many and what to do, and sets CleanupHeld; the other kind is judged as usual.
    Once a person raises spec.cleanup.maxRemovalPercent, the cleanup removes them."""
    world = sqlite_world
    dtos = seed_hundred(world, kind)
    other = (world.visma.add_item("KLEIN", "Klein materiaal") if kind == "customers"
             else world.visma.add_customer("10023", "Bakker"))
    run = world.run()
    await masterdata(run)
    table = simon_table(kind)
    for dto in dtos[:21]:
        delete_in_visma(world, kind, dto)
    delete_in_visma(world, "items" if kind == "customers" else "customers", other)
    count = len(world.simon.list(table))

    outcome = await run.run_loop(CleanupLoop())

    assert not outcome.ok
    assert list(result_of(outcome, CleanupResult).held) == [kind]
    assert len(world.simon.list(table)) == count
    assert world.simon.write_count(table, "delete") == 0
    if kind == "customers":
        assert simon_item(world, other) is None
    else:
        assert world.simon_customer(other["internalId"]) is None
    log_table = LogTable.CUSTOMER if kind == "customers" else LogTable.ITEM
    [error] = await run.state.log.entries(Severity.ERROR, table=log_table)
    assert f"21 of the 100 {kind}" in error.message and "20%" in error.message
    assert error.action is not None and error.action.startswith(
        "Check Visma.net; if the removals are right, raise spec.cleanup.maxRemovalPercent")
    assert not re.search(r"\bS-\d", error.message + error.action)
    assert outcome.error is not None and "21 of the 100" in outcome.error
    status, reason, message = await held_condition(run, outcome)
    assert (status, reason) == ("True", "RemovalLimitReached")
    assert "21 of the 100" in message and "spec.cleanup.maxRemovalPercent" in message

    again = await run.run_loop(CleanupLoop())  # still held: still one error entry
    assert not again.ok and len(world.simon.list(table)) == count
    assert len(await run.state.log.entries(Severity.ERROR, table=log_table)) == 1

    raised = world.run({"cleanup": {"maxRemovalPercent": 25}})
    outcome = await raised.run_loop(CleanupLoop())
    assert outcome.ok, outcome.error
    assert removed(outcome, kind) == 21
    assert len(world.simon.list(table)) == count - 21
    assert (await held_condition(raised, outcome))[0] == "False"


@pytest.mark.parametrize("kind", ["customers", "items"])
async def test_the_brake_lets_19_percent_through(sqlite_world: World, kind: str) -> None:
    """S-32: 19 of 100 gone is within the default 20%: all 19 are removed (each confirmed
    by Visma.net), and CleanupHeld is False."""
    world = sqlite_world
    dtos = seed_hundred(world, kind)
    run = world.run()
    await masterdata(run)
    table = simon_table(kind)
    for dto in dtos[:19]:
        delete_in_visma(world, kind, dto)

    outcome = await run.run_loop(CleanupLoop())

    assert outcome.ok, outcome.error
    assert result_of(outcome, CleanupResult).held == {}
    assert removed(outcome, kind) == 19
    assert len(world.simon.list(table)) == 81
    assert (await held_condition(run, outcome))[:2] == ("False", "WithinRemovalLimit")


# --- rows that cannot be read, records Simon refuses ----------------------------------------

async def test_an_unreadable_row_with_its_key_counts_as_still_there(world: World) -> None:
    """S-32: a customer row whose key can be read but whose number cannot is kept in Simon
    (it is still in Visma.net); the rest of the scan is judged as usual."""
    made = seed_company(world)
    run = world.run()
    await masterdata(run)
    bakker = simon_customer(world, made["bakker"])
    own = world.simon.seed("customer", Name="Eigen klant")
    key = made["bakker"]["internalId"]

    def unreadable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in row.items() if k != "number"}
                if row["internalId"] == key else row for row in rows]
    world.proxy.rewrite(page_rows(CUSTOMERS, 1, unreadable))

    summary = await cleanup(run)

    assert world.simon.get("customer", bakker["Id"]) is not None
    assert len(world.locations_of(bakker)) == 2
    assert world.simon.get("customer", own["Id"]) is None
    assert summary.customers_removed == 1


async def test_an_unreadable_row_without_its_key_removes_no_customer(world: World) -> None:
    """S-32: a customer row whose key cannot be read could be any customer: the customer
    scan is incomplete and no customer is removed."""
    seed_company(world)
    run = world.run()
    await masterdata(run)
    world.simon.seed("customer", Name="Eigen klant")

    world.proxy.rewrite(page_rows(CUSTOMERS, 1, lambda rows: [
        {k: v for k, v in rows[0].items() if k != "internalId"}, *rows[1:]]))

    await incomplete_scan_removes_nothing(world, run)


async def test_a_record_simon_refuses_is_one_entry_and_the_pass_goes_on(
        sqlite_world: World) -> None:
    """A deleted item whose removal Simon refuses (400) is one error entry naming it by code
    and description; the other deleted item is removed and the loop completes."""
    world = sqlite_world
    made = seed_company(world)
    run = world.run()
    await masterdata(run)
    world.visma.delete_item("UUR")
    world.visma.delete_item("KLEIN")
    world.emulators.simon.faults.add("status", path=r"/item/delete$", method="POST", status=400,
                                    nth=1)

    summary = await cleanup(run)

    assert summary.items_removed == 1 and summary.failed == 1
    assert simon_item(world, made["klein"]) is None
    assert simon_item(world, made["uur"]) is not None
    [error] = await run.state.log.entries(Severity.WARNING, table=LogTable.ITEM)
    assert error.severity == Severity.ERROR
    assert error.key == "UUR" and "UUR Arbeid" in error.message and error.action
