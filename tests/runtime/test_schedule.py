"""The schedule planned again when the spec's intervals change (S-30), on SQLite and
PostgreSQL: the stored due times are what is asserted on, at chosen moments; nothing waits.

A pass that ended at P is next due at P + interval, and the store keeps both (P as the row's
`updated_at`). `replan` plans from P again with the interval the spec has now.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from reconcilers.runtime.runner import LOOPS, LoopOutcome, TenantRun, loop_named
from reconcilers.runtime.schedule import (
    Wakeup,
    plan_next,
    replan,
    run_on_schedule,
    scheduled_pass,
)
from tests.fixtures.world import World

pytestmark = pytest.mark.anyio

NOW = datetime(2031, 5, 6, 12, 0, tzinfo=UTC)
CLEANUP = loop_named("cleanup")


def run_with(world: World, **schedule: str) -> TenantRun:
    return world.run({"schedule": schedule})


async def stored(run: TenantRun, key: str = "cleanup") -> tuple[datetime | None, datetime]:
    schedule = await run.state.schedules.get(key)
    assert schedule is not None
    return schedule.next_run_at, schedule.updated_at


async def test_a_pass_is_planned_from_its_end(world: World) -> None:
    """S-30: the next pass is due an interval after the end of the last one; the store keeps
    the end as the moment it was planned from."""
    run = run_with(world, cleanup="48h")
    passed = NOW - timedelta(minutes=10)
    assert await plan_next(run, CLEANUP, passed) == passed + timedelta(hours=48)
    assert await stored(run) == (passed + timedelta(hours=48), passed)


async def test_a_scheduled_pass_ends_in_one_write_transaction(world: World) -> None:
    """Issue 11: around a pass the store takes the lease (one transaction) and, in one more,
    releases it with the pass's success and its next due time; a failed pass stores its
    sooner due time the same way, and no success."""
    run = run_with(world, cleanup="48h")
    commits = 0

    def commit(*_: object) -> None:
        nonlocal commits
        commits += 1

    event.listen(world.store.engine.sync_engine, "commit", commit)
    try:
        outcome, due, failures = await scheduled_pass(run, CLEANUP, 0)
        assert commits == 2
    finally:
        event.remove(world.store.engine.sync_engine, "commit", commit)
    assert (outcome.ok, failures, outcome.next_due) == (True, 0, due)
    schedule = await run.state.schedules.get("cleanup")
    assert schedule is not None and schedule.last_success_at is not None
    assert (schedule.next_run_at, schedule.updated_at) == (due, schedule.last_success_at)
    assert due == schedule.updated_at + timedelta(hours=48)
    assert await run.state.leases.holder("cleanup") is None


async def test_a_shorter_interval_is_due_an_interval_after_the_last_pass(world: World) -> None:
    """S-30: cleanup changed from 48h to 1h is due an hour after its last pass, not 48 hours;
    planned again (30m), it still counts from that pass."""
    passed = NOW - timedelta(minutes=10)
    await plan_next(run_with(world, cleanup="48h"), CLEANUP, passed)

    assert await replan(run_with(world, cleanup="1h"), LOOPS, NOW) == {
        "cleanup": passed + timedelta(hours=1)}
    assert await stored(run_with(world)) == (passed + timedelta(hours=1), passed)

    await replan(run_with(world, cleanup="30m"), LOOPS, NOW)
    assert await stored(run_with(world)) == (passed + timedelta(minutes=30), passed)


async def test_a_due_time_already_past_by_the_new_interval_is_now(world: World) -> None:
    """S-30: when the last pass is longer ago than the new interval, the loop is due now
    (not in the past: the pass would count as hours late)."""
    passed = NOW - timedelta(hours=5)
    await plan_next(run_with(world, cleanup="48h"), CLEANUP, passed)
    assert await replan(run_with(world, cleanup="1h"), LOOPS, NOW) == {"cleanup": NOW}
    assert await stored(run_with(world)) == (NOW, passed)


async def test_an_unchanged_or_longer_interval_moves_nothing(world: World) -> None:
    """S-30: the same interval plans the same time (a restart changes nothing), and a longer
    one never postpones a pass already planned: it counts from the next pass on."""
    passed = NOW - timedelta(minutes=10)
    await plan_next(run_with(world, cleanup="1h"), CLEANUP, passed)
    assert await replan(run_with(world, cleanup="1h"), LOOPS, NOW) == {}
    assert await replan(run_with(world, cleanup="48h"), LOOPS, NOW) == {}
    assert await stored(run_with(world)) == (passed + timedelta(hours=1), passed)


async def test_only_planned_loops_are_planned_again(world: World) -> None:
    """A loop that never ran on a schedule has no due time to move (it is due now); one due
    already stays due; each loop goes by its own interval (spec.schedule.<name>)."""
    passed = NOW - timedelta(seconds=30)
    run = run_with(world, masterData="2m", orders="30s")
    await plan_next(run, loop_named("masterData"), passed)
    await plan_next(run, loop_named("orders"), passed)  # due at NOW: already due

    moved = await replan(run_with(world, masterData="1m", orders="10s"), LOOPS, NOW)
    assert moved == {"masterdata": passed + timedelta(minutes=1)}
    assert await world.state.schedules.get("cleanup") is None
    assert (await stored(run, "orders"))[0] == passed + timedelta(seconds=30)


async def test_a_restart_with_a_shorter_interval_runs_the_loop_now(world: World) -> None:
    """S-30: the schedule plans again when it starts, so a process started with a shorter
    interval than the stored plan was made with (the operator restarted, or `simon-visma run`
    with an edited tenant file) does not wait out the old one."""
    old = run_with(world, cleanup="48h")
    await plan_next(old, CLEANUP, datetime.now(UTC) - timedelta(minutes=10))
    run = run_with(world, cleanup="1m")
    stop = asyncio.Event()
    outcomes: list[LoopOutcome] = []

    async def record(outcome: LoopOutcome) -> None:
        outcomes.append(outcome)
        stop.set()

    await asyncio.wait_for(run_on_schedule(run, [CLEANUP], stop, record, spread=False), 30)
    assert [o.loop for o in outcomes] == [CLEANUP]
    next_run_at, passed = await stored(run)
    assert next_run_at == passed + timedelta(minutes=1)


async def test_a_waiting_loop_woken_after_a_replan_reads_its_new_due_time(world: World) -> None:
    """S-30: the service re-plans while the loops wait; woken, a loop waits for its new due
    time instead of the old one."""
    run = run_with(world, cleanup="48h")
    await plan_next(run, CLEANUP, datetime.now(UTC) - timedelta(minutes=10))
    stop, wakeup, waiting_now = asyncio.Event(), Wakeup(), asyncio.Event()
    waits: list[datetime] = []
    outcomes: list[LoopOutcome] = []

    async def waiting(loop: object, due: datetime) -> None:
        waits.append(due)
        waiting_now.set()

    async def record(outcome: LoopOutcome) -> None:
        outcomes.append(outcome)
        stop.set()

    task = asyncio.create_task(run_on_schedule(run, [CLEANUP], stop, record, spread=False,
                                               on_wait=waiting, wakeup=wakeup))
    await asyncio.wait_for(waiting_now.wait(), 30)
    run.tenant = run_with(world, cleanup="1m").tenant  # what the service does on a change
    assert list(await replan(run, LOOPS)) == ["cleanup"]
    wakeup.wake()
    await asyncio.wait_for(task, 30)
    assert [o.loop for o in outcomes] == [CLEANUP] and outcomes[0].ok
    assert len(waits) == 1 and waits[0] > datetime.now(UTC) + timedelta(hours=47)


async def test_a_loop_told_to_run_now_runs_and_is_then_due_an_interval_later(
        world: World) -> None:
    """The run-now annotation: a loop waiting 48 hours for its next cleanup runs at once when
    told, the request counts as answered once that pass is done, and the loop is then due
    an interval after it (the plan goes on from the requested pass)."""
    run = run_with(world, cleanup="48h")
    await plan_next(run, CLEANUP, datetime.now(UTC) - timedelta(minutes=10))
    stop, wakeup, waiting_now = asyncio.Event(), Wakeup(), asyncio.Event()
    outcomes: list[LoopOutcome] = []
    answered: list[bool] = []

    async def waiting(loop: object, due: datetime) -> None:
        waiting_now.set()

    async def record(outcome: LoopOutcome) -> None:
        outcomes.append(outcome)
        answered.append(wakeup.answered(request, [CLEANUP]))
        stop.set()

    task = asyncio.create_task(run_on_schedule(run, [CLEANUP], stop, record, spread=False,
                                               on_wait=waiting, wakeup=wakeup))
    await asyncio.wait_for(waiting_now.wait(), 30)
    request = wakeup.run_now()
    assert not wakeup.answered(request, [CLEANUP])
    await asyncio.wait_for(task, 30)
    assert [o.loop for o in outcomes] == [CLEANUP] and outcomes[0].ok
    assert answered == [True]
    next_run_at, passed = await stored(run)
    assert next_run_at == passed + timedelta(hours=48)


async def test_a_request_during_a_pass_runs_the_loop_once_more_after_it(world: World) -> None:
    """A pass that began before the request does not answer it (it may have read what the
    user changed before the change): the loop runs once more at once, and that pass does."""
    run = run_with(world, cleanup="48h")
    stop, wakeup = asyncio.Event(), Wakeup()
    outcomes: list[LoopOutcome] = []
    answered: list[bool] = []
    request = 0

    async def record(outcome: LoopOutcome) -> None:
        nonlocal request
        outcomes.append(outcome)
        answered.append(wakeup.answered(request, [CLEANUP]) if request else False)
        if len(outcomes) == 1:
            # Asked while the first pass was reporting (the loop is not waiting yet).
            request = wakeup.run_now()
        else:
            stop.set()

    await asyncio.wait_for(run_on_schedule(run, [CLEANUP], stop, record, spread=False,
                                           wakeup=wakeup), 30)
    assert [o.loop for o in outcomes] == [CLEANUP, CLEANUP]
    assert answered == [False, True]
