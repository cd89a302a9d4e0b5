"""Status built from the store and the loops' latest outcomes (S-81, S-32): each loop's
section and conditions, the tenant's own conditions, and when a change is worth a PATCH."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from reconcilers.loops.activation import SettingsCheck
from reconcilers.loops.cleanup import CleanupResult
from reconcilers.loops.masterdata import KindResult, MasterDataResult
from reconcilers.loops.orders import OrdersResult
from reconcilers.resource.status import VismaIntegrationStatus
from reconcilers.runtime.runner import LOOPS, LoopOutcome, TenantRun, loop_named
from reconcilers.runtime.schedule import plan_next
from reconcilers.runtime.status import REFRESH, StoreReads, build_status, worth_patching
from reconcilers.store import LinkKind, LinkUpdate
from tests.fixtures.world import World

pytestmark = pytest.mark.anyio

NOW = datetime(2031, 5, 6, 12, 0, tzinfo=UTC)
VALID = SettingsCheck(company_reachable=True)
MASTER_DATA, CLEANUP, ORDERS = (loop_named(n) for n in ("masterData", "cleanup", "orders"))
UNREACHABLE = "Visma.net is not reachable: GET /v1/customer: connection refused"
HELD = ("Cleanup removed no customers: 30 of the 100 customers in Simon that came from "
        "Visma.net (30%) are no longer in it, more than the 20% one cleanup may remove.")


def condition(status: VismaIntegrationStatus, kind: str) -> tuple[str, str, str]:
    found = status.get_condition(kind)
    assert found is not None, kind
    return found.status.value, found.reason, found.message


async def status_of(run: TenantRun, *outcomes: LoopOutcome,
                    previous: VismaIntegrationStatus | None = None,
                    settings: SettingsCheck | None = VALID) -> VismaIntegrationStatus:
    return await build_status(run, previous or VismaIntegrationStatus.model_validate({}),
                              {o.loop.key: o for o in outcomes}, settings, NOW)


async def test_synced_follows_master_data_and_ready_every_loop(sqlite_world: World) -> None:
    """S-81: a master-data pass that could not complete makes Synced and Ready false with
    its error; one that completes makes Synced true, but Ready stays false while the orders
    loop fails, naming it; once every loop completed, Ready is true (settings valid)."""
    run = sqlite_world.run()
    partial = MasterDataResult(customers=KindResult(seen=200, done=200, total=500,
                                                    first_import=True))
    status = await status_of(run, LoopOutcome(MASTER_DATA, partial, UNREACHABLE))
    assert condition(status, "Synced") == ("False", "ReconcileError", UNREACHABLE)
    assert condition(status, "Ready") == (
        "False", "MasterDataFailing", f"The master-data loop could not complete: {UNREACHABLE}.")

    status = await status_of(run, LoopOutcome(MASTER_DATA, MasterDataResult()),
                             LoopOutcome(ORDERS, OrdersResult(error=UNREACHABLE), UNREACHABLE),
                             previous=status)
    assert condition(status, "Synced") == ("True", "ReconcileSuccess",
                                           "Master data is in step with Visma.net.")
    assert condition(status, "Ready") == (
        "False", "OrdersFailing", f"The orders loop could not complete: {UNREACHABLE}.")
    assert status.error_count == 1
    assert [e.message for e in status.recent_errors or []] == [
        f"The orders loop could not complete: {UNREACHABLE}."]

    status = await status_of(run, *(LoopOutcome(loop, None) for loop in LOOPS),
                             previous=status)
    assert condition(status, "Ready") == ("True", "Available",
                                          "Settings are valid and every loop completes.")
    assert status.error_count == 0
    assert [c.type for c in status.conditions or []] == [
        "Active", "SettingsValid", "Synced", "Ready"]


async def test_no_pass_yet_is_starting(sqlite_world: World) -> None:
    """S-81: before any pass the tenant is Starting; every loop's section is there, empty."""
    status = await status_of(sqlite_world.run())
    assert condition(status, "Ready") == (
        "False", "Starting",
        "Waiting for the first pass of the master-data, cleanup, orders and imports loops.")
    wire = status.to_wire()
    assert wire["masterData"] == {"customers": 0, "items": 0, "workAddresses": 0,
                                  "highestModified": {}}
    assert wire["cleanup"] == {}
    assert wire["orders"] == {"sent": 0, "failed": 0, "waiting": 0, "passedOver": 0}
    assert wire["imports"] == {"imported": 0}


async def test_cleanup_held_and_removed_follow_the_cleanup_passes(sqlite_world: World) -> None:
    """S-32: a pass the brake held sets CleanupHeld with the reason; one that failed without
    doing anything (Visma.net unreachable) changes neither the condition nor the removed
    counts; one that completes clears it and reports what it removed, which stays until the
    next completed pass."""
    run = sqlite_world.run()
    held = CleanupResult(held={"customers": HELD})
    status = await status_of(run, LoopOutcome(CLEANUP, held, HELD))
    assert condition(status, "CleanupHeld") == (
        "True", "RemovalLimitReached",
        f"{HELD} Check Visma.net; if the removals are right, raise "
        "spec.cleanup.maxRemovalPercent.")
    assert status.cleanup is not None and status.cleanup.removed is None

    status = await status_of(run, LoopOutcome(CLEANUP, None, UNREACHABLE), previous=status)
    assert condition(status, "CleanupHeld")[:2] == ("True", "RemovalLimitReached")

    done = CleanupResult(customers_removed=2, items_removed=1, work_addresses_removed=3)
    status = await status_of(run, LoopOutcome(CLEANUP, done), previous=status)
    assert condition(status, "CleanupHeld") == (
        "False", "WithinRemovalLimit",
        "The last cleanup was not held by spec.cleanup.maxRemovalPercent.")
    assert status.to_wire()["cleanup"]["removed"] == {"customers": 2, "items": 1,
                                                      "workAddresses": 3}

    status = await status_of(run, LoopOutcome(CLEANUP, None, UNREACHABLE), previous=status)
    assert status.to_wire()["cleanup"]["removed"] == {"customers": 2, "items": 1,
                                                      "workAddresses": 3}


async def test_each_section_shows_its_loops_last_success_and_plan(sqlite_world: World) -> None:
    """S-81, S-30: lastSuccessTime of every loop and cleanup's nextRunTime come from the
    store's schedule rows, whichever process ran the pass."""
    run = sqlite_world.run()
    for loop in LOOPS:
        await run.state.schedules.record_success(loop.key, now=NOW - timedelta(minutes=1))
    planned = await plan_next(run, CLEANUP, NOW)
    wire = (await status_of(run)).to_wire()
    for loop in LOOPS:
        assert datetime.fromisoformat(wire[loop.name]["lastSuccessTime"]) == \
            NOW - timedelta(minutes=1), loop
    assert datetime.fromisoformat(wire["cleanup"]["nextRunTime"]) == planned


async def test_status_reads_the_store_again_only_where_its_counts_can_have_changed(
        sqlite_world: World) -> None:
    """Status is built after every pass, so an idle pass must not cost count queries: the
    master-data section is read again when this process wrote links since, when master data
    or cleanup completed a pass in another process since (its schedule row says so) or
    failed, and in any case every REFRESH; otherwise it is kept (with its loops' times)."""
    run = sqlite_world.run()
    elsewhere = sqlite_world.store.tenant(run.state.key)  # another process's view of it
    done = {loop.key: LoopOutcome(loop, None) for loop in LOOPS}
    reads = StoreReads()
    statements: list[str] = []
    engine = sqlite_world.store.engine.sync_engine
    event.listen(engine, "before_cursor_execute",
                 lambda _c, _cur, sql, *_: statements.append(sql))

    async def customers(previous: VismaIntegrationStatus, *, now: datetime = NOW,
                        outcomes: dict[str, LoopOutcome] = done) -> int:
        nonlocal status
        statements.clear()
        status = await build_status(run, previous, outcomes, VALID, now, reads)
        assert status.master_data is not None
        return status.master_data.customers

    status = VismaIntegrationStatus.model_validate({})
    assert await customers(status) == 0

    def only_schedules_read() -> bool:
        return [sql for sql in statements if sql.startswith("SELECT")] == [
            sql for sql in statements if "FROM loop_schedules" in sql]

    assert await customers(status) == 0  # nothing written since: only the schedule rows read
    assert only_schedules_read()

    # An idle pass of this process: its stored success is its own, nothing is read again.
    await run.state.schedules.record_success("orders", now=NOW)
    idle = {**done, "orders": LoopOutcome(ORDERS, OrdersResult(), succeeded_at=NOW)}
    assert await customers(status, outcomes=idle) == 0
    assert only_schedules_read()
    assert await customers(status, now=NOW - timedelta(minutes=1)) == 0  # the clock went back
    assert not only_schedules_read()

    await elsewhere.links.put_many(LinkKind.CUSTOMER, [LinkUpdate("10001", 1, "a")])
    assert await customers(status) == 0  # another process wrote, but completed no pass yet

    await elsewhere.schedules.record_success("masterdata", now=NOW)
    assert await customers(status) == 1  # its pass completed
    assert status.master_data is not None and status.master_data.last_success_time == NOW

    await run.state.links.delete(LinkKind.CUSTOMER, "10001")  # this process wrote
    assert await customers(status) == 0

    await elsewhere.links.put_many(LinkKind.CUSTOMER, [LinkUpdate("10002", 2, "b")])
    failed = {**done, "masterdata": LoopOutcome(MASTER_DATA, None, UNREACHABLE)}
    assert await customers(status, outcomes=failed) == 1  # it may have written part

    await elsewhere.links.put_many(LinkKind.CUSTOMER, [LinkUpdate("10003", 3, "c")])
    assert await customers(status) == 1
    assert await customers(status, now=NOW + REFRESH) == 2  # read again in any case

    # The integration log's errors: read again when another process's pass completed.
    await elsewhere.log.error("workorder", "WO-7", "Visma.net refused the order.")
    await customers(status, now=NOW + REFRESH)
    assert status.error_count == 0
    await elsewhere.schedules.record_success("orders", now=NOW + REFRESH)
    await customers(status, now=NOW + REFRESH)
    assert [e.key for e in status.recent_errors or []] == ["WO-7"]


@pytest.mark.parametrize("section", [loop.name for loop in LOOPS])
def test_a_loops_own_timestamp_is_patched_only_every_few_minutes(section: str) -> None:
    """A pass that changed nothing but its lastSuccessTime patches status at most every five
    minutes (each PATCH is a watch event for every client)."""
    def status(minute: int) -> dict[str, dict[str, str]]:
        return {section: {"lastSuccessTime": (NOW + timedelta(minutes=minute)).isoformat()}}

    assert not worth_patching(status(0), status(1))
    assert worth_patching(status(0), status(5))
    assert worth_patching({}, status(0))
