"""Leases: one pass per tenant and loop, whatever process runs it (issue 11; S-4 across
processes). Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from reconcilers.store import (
    LeaseHeld,
    LeaseLost,
    Store,
    WorkOrderState,
    current_lease,
    open_store,
    run_holding,
)
from reconcilers.store.leases import Ending, Holder, lease_ttl, process_holder

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TTL = timedelta(seconds=60)
TENANT = "tenant-acme/acme"
MODIFIED = "2026-03-02T08:59:12.345Z"


def elsewhere(name: str) -> Holder:
    """A holder in a process on another host."""
    return Holder(name, "another-host", 4242)


async def test_take_refuse_and_retake_by_the_same_holder(store: Store) -> None:
    leases = store.tenant(TENANT).leases
    first = await leases.take("orders", holder=elsewhere("operator-0"), ttl=TTL, now=T0)
    assert (first.holder, first.expires_at) == ("operator-0", T0 + TTL)

    with pytest.raises(LeaseHeld) as refused:
        await leases.take("orders", holder=elsewhere("laptop"), ttl=TTL, now=T0 + TTL / 2)
    assert refused.value.holder == "operator-0"
    assert str(refused.value) == ("another process is running the orders pass of this tenant "
                                  "(holder operator-0); skipped")

    again = await leases.take("orders", holder=elsewhere("operator-0"), ttl=TTL,
                              now=T0 + TTL / 2)
    assert again.token != first.token
    # Other loops and other tenants have leases of their own.
    await leases.take("imports", holder=elsewhere("laptop"), ttl=TTL, now=T0)
    await store.tenant("tenant-b/b").leases.take("orders", holder=elsewhere("laptop"), ttl=TTL,
                                                  now=T0)


async def test_an_expired_lease_goes_to_the_next_taker_and_cannot_be_renewed(
        store: Store) -> None:
    leases = store.tenant(TENANT).leases
    stalled = await leases.take("orders", holder=elsewhere("a"), ttl=TTL, now=T0)
    with pytest.raises(LeaseHeld):
        await leases.take("orders", holder=elsewhere("b"), ttl=TTL,
                          now=T0 + TTL - timedelta(seconds=1))

    taken = await leases.take("orders", holder=elsewhere("b"), ttl=TTL, now=T0 + TTL)

    assert taken.holder == "b"
    assert await leases.renew(stalled, now=T0 + TTL) is None
    assert await leases.holder("orders", now=T0 + TTL) == "b"
    await leases.release(stalled, now=T0 + TTL)  # no longer a's: changes nothing
    assert await leases.holder("orders", now=T0 + TTL) == "b"


async def test_renewal_keeps_others_out(store: Store) -> None:
    leases = store.tenant(TENANT).leases
    lease = await leases.take("orders", holder=elsewhere("a"), ttl=TTL, now=T0)

    renewed = await leases.renew(lease, now=T0 + timedelta(seconds=50))

    assert renewed is not None and renewed.expires_at == T0 + timedelta(seconds=110)
    with pytest.raises(LeaseHeld):
        await leases.take("orders", holder=elsewhere("b"), ttl=TTL,
                          now=T0 + timedelta(seconds=100))


async def test_a_released_lease_is_free_at_once(store: Store) -> None:
    leases = store.tenant(TENANT).leases
    lease = await leases.take("orders", holder=elsewhere("a"), ttl=TTL, now=T0)

    await leases.release(lease, now=T0 + timedelta(seconds=1))

    assert await leases.holder("orders", now=T0 + timedelta(seconds=1)) is None
    taken = await leases.take("orders", holder=elsewhere("b"), ttl=TTL,
                              now=T0 + timedelta(seconds=1))
    assert taken.holder == "b"


async def test_concurrent_takers_on_two_engines_exactly_one_wins(database_url: str) -> None:
    """Two stores (two engines, two connection pools, as two processes have) race for the
    same leases: of each pair of takers exactly one wins."""
    one, two = await open_store(database_url), await open_store(database_url)
    try:
        for round_ in range(25):
            name = f"loop{round_}"
            outcomes = await asyncio.gather(
                one.tenant(TENANT).leases.take(name, holder=elsewhere("one"), ttl=TTL),
                two.tenant(TENANT).leases.take(name, holder=elsewhere("two"), ttl=TTL),
                return_exceptions=True)
            won = [o for o in outcomes if not isinstance(o, BaseException)]
            refused = [o for o in outcomes if isinstance(o, LeaseHeld)]
            assert (len(won), len(refused)) == (1, 1), outcomes
            assert refused[0].holder == won[0].holder
    finally:
        await one.close()
        await two.close()


async def test_run_holding_holds_the_lease_for_the_work_and_releases_it(store: Store) -> None:
    leases = store.tenant(TENANT).leases
    seen: list[str | None] = []

    async def work() -> str:
        lease = current_lease()
        seen.append(lease.holder if lease else None)
        seen.append(await leases.holder("orders"))
        return "done"

    assert await run_holding(leases, "orders", work, holder=elsewhere("me"), ttl=TTL) == "done"
    assert seen == ["me", "me"]
    assert current_lease() is None
    assert await leases.holder("orders") is None

    async def broken() -> None:
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError):
        await run_holding(leases, "orders", broken, holder=elsewhere("me"), ttl=TTL)
    assert await leases.holder("orders") is None


async def test_the_release_writes_the_work_s_ending_in_its_transaction(store: Store) -> None:
    """Issue 11: what a pass leaves (its success, its next due time) is written with the
    release; a completed pass's success, a failed one's due time only."""
    state = store.tenant(TENANT)
    told: list[bool] = []

    def ending(completed: bool) -> list[object]:
        told.append(completed)
        return [state.schedules.pass_ended("orders", completed=completed,
                                           next_run_at=T0 + TTL, now=T0)]

    async def work() -> str:
        return "done"

    done = Ending(ending)
    assert await run_holding(state.leases, "orders", work, holder=elsewhere("me"), ttl=TTL,
                             ending=done) == "done"
    schedule = await state.schedules.get("orders")
    assert schedule is not None and done.written and told == [True]
    assert (schedule.last_success_at, schedule.next_run_at) == (T0, T0 + TTL)
    assert await state.leases.holder("orders") is None

    async def broken() -> None:
        raise RuntimeError("a bug")

    failed = Ending(lambda completed: [state.schedules.pass_ended(
        "cleanup", completed=completed, next_run_at=T0, now=T0)])
    with pytest.raises(RuntimeError, match="a bug"):
        await run_holding(state.leases, "cleanup", broken, holder=elsewhere("me"), ttl=TTL,
                          ending=failed)
    schedule = await state.schedules.get("cleanup")
    assert schedule is not None and failed.written
    assert (schedule.last_success_at, schedule.next_run_at) == (None, T0)


async def test_a_completed_work_whose_ending_cannot_be_written_is_not_taken_as_done(
        store: Store) -> None:
    """Issue 11: when the store cannot write a completed pass's ending, the pass is not
    recorded: the store's error is raised, and nothing of that transaction is kept."""
    state = store.tenant(TENANT)

    async def work() -> str:
        return "done"

    broken = Ending(lambda completed: [
        state.schedules.pass_ended("orders", completed=completed, next_run_at=T0, now=T0),
        text("SELECT no_such_column FROM leases")])
    with pytest.raises(Exception, match="no_such_column"):
        await run_holding(state.leases, "orders", work, holder=elsewhere("me"), ttl=TTL,
                          ending=broken)
    assert not broken.written
    assert await state.schedules.get("orders") is None


async def test_a_cancelled_work_leaves_no_ending(store: Store) -> None:
    """Issue 11: a pass cancelled (the process stops) is no failed pass: its ending (a
    sooner due time after a failure) is not written; the lease is released."""
    state = store.tenant(TENANT)
    started, never = asyncio.Event(), asyncio.Event()

    async def work() -> None:
        started.set()
        await never.wait()

    ending = Ending(lambda completed: [state.schedules.pass_ended(
        "orders", completed=completed, next_run_at=T0, now=T0)])
    holding = asyncio.ensure_future(run_holding(state.leases, "orders", work,
                                                holder=elsewhere("me"), ttl=TTL, ending=ending))
    await started.wait()
    holding.cancel()
    with pytest.raises(asyncio.CancelledError):
        await holding
    assert not ending.written
    assert await state.schedules.get("orders") is None
    assert await state.leases.holder("orders") is None


async def test_a_held_lease_keeps_the_work_from_running(store: Store) -> None:
    leases = store.tenant(TENANT).leases
    await leases.take("orders", holder=elsewhere("the operator"), ttl=TTL)
    ran: list[bool] = []

    async def work() -> None:
        ran.append(True)

    with pytest.raises(LeaseHeld, match="holder the operator"):
        await run_holding(leases, "orders", work, holder=elsewhere("the CLI"), ttl=TTL)
    assert ran == []


async def test_a_lost_renewal_stops_the_pass_before_its_next_write(store: Store) -> None:
    """The lease is renewed every third of its time to live; once another holder took it
    (this process stalled past the expiry), the pass is cancelled where it waits and never
    makes its next write."""
    leases = store.tenant(TENANT).leases
    short = timedelta(seconds=0.3)
    started, never = asyncio.Event(), asyncio.Event()
    writes: list[str] = []

    async def work() -> None:
        started.set()
        await never.wait()  # e.g. a slow Visma.net answer
        writes.append("after the lease was lost")

    async def thief() -> None:
        await started.wait()
        # Seen from an hour later the lease has long expired: another process takes it.
        await leases.take("orders", holder=elsewhere("other"), ttl=TTL,
                          now=datetime.now(UTC) + timedelta(hours=1))

    with pytest.raises(LeaseLost) as lost:
        await asyncio.gather(
            run_holding(leases, "orders", work, holder=elsewhere("me"), ttl=short), thief())
    assert writes == []
    assert lost.value.holder == "other"
    assert "lost its lease" in str(lost.value)


async def test_renewals_keep_a_long_pass_going(store: Store) -> None:
    """A pass longer than its lease's time to live keeps the lease by renewing it: another
    holder is refused all along, and the pass ends normally."""
    leases = store.tenant(TENANT).leases
    short = timedelta(seconds=1.5)

    async def work() -> int:
        lease = current_lease()
        assert lease is not None
        refusals = 0
        # Until a whole time to live past the first expiry: only renewals kept it ours.
        while datetime.now(UTC) <= lease.expires_at + short:
            with pytest.raises(LeaseHeld):
                await leases.take("orders", holder=elsewhere("other"), ttl=TTL)
            refusals += 1
            await asyncio.sleep(0.1)
        return refusals

    assert await run_holding(leases, "orders", work, holder=elsewhere("me"), ttl=short) > 0
    assert await leases.holder("orders") is None


async def test_claimed_rows_are_taken_over_only_from_an_expired_or_released_lease(
        store: Store) -> None:
    """A row claimed (or `creating`) under a lease that is live belongs to a pass still at
    work: another pass does not take it over. Once that lease expired or was released it
    does (and the in-doubt recovery searches for the marker as before)."""
    state = store.tenant(TENANT)
    first = await state.leases.take("orders", holder=elsewhere("a"), ttl=TTL, now=T0)
    claim = await state.ledger.claim(101, modified=MODIFIED, now=T0, lease=first.token)
    assert claim is not None and claim.entry.claimed_by == first.token
    await claim.mark_creating(document_kind="SalesOrder", marker="SIMON-WO-101", now=T0)
    entry = await state.ledger.get(101)
    assert entry is not None and entry.state is WorkOrderState.CREATING

    during = T0 + timedelta(seconds=10)
    assert await state.ledger.take_over(entry, now=during, lease="b-token") is None

    await state.leases.release(first, now=during)
    second = await state.ledger.take_over(entry, now=during, lease="b-token")
    assert second is not None and second.entry.claimed_by == "b-token"


async def test_a_row_of_an_expired_lease_is_taken_over(store: Store) -> None:
    state = store.tenant(TENANT)
    first = await state.leases.take("orders", holder=elsewhere("a"), ttl=TTL, now=T0)
    claim = await state.ledger.claim(102, modified=MODIFIED, now=T0, lease=first.token)
    assert claim is not None

    assert await state.ledger.take_over(claim.entry, now=T0 + TTL / 2) is None
    assert await state.ledger.take_over(claim.entry, now=T0 + TTL) is not None


async def test_a_lease_of_a_process_of_this_host_that_is_gone_is_taken_at_once(
        store: Store) -> None:
    """A process killed in a pass cannot release its lease; the next process on the same
    host (or in the same pod) sees that it is gone and does not wait for the expiry. A live
    process of this host keeps its lease."""
    leases = store.tenant(TENANT).leases
    here = process_holder().host
    ended = await asyncio.create_subprocess_exec("true")
    await ended.wait()
    await leases.take("orders", holder=Holder("killed", here, ended.pid), ttl=TTL)

    taken = await leases.take("orders", holder=Holder("next", here, os.getppid()), ttl=TTL)
    assert taken.holder == "next"
    with pytest.raises(LeaseHeld):  # the parent process lives: it keeps its lease
        await leases.take("orders", ttl=TTL)


def test_holder_names_the_pod_or_the_host_and_the_ttl_is_configurable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    process_holder.cache_clear()
    monkeypatch.setenv("SIMON_VISMA_POD_NAME", "simon-visma-7d9f-x2")
    try:
        holder = process_holder()
        assert holder.name.startswith("simon-visma-7d9f-x2 pid ")
        assert (holder.host, holder.pid) == ("simon-visma-7d9f-x2", os.getpid())
    finally:
        process_holder.cache_clear()
    monkeypatch.setenv("SIMON_VISMA_LEASE_TTL_SECONDS", "90")
    assert lease_ttl() == timedelta(seconds=90)
    monkeypatch.setenv("SIMON_VISMA_LEASE_TTL_SECONDS", "soon")
    assert lease_ttl() == timedelta(seconds=60)
