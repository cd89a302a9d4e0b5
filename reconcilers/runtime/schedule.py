"""Each loop of a tenant on its own schedule, until stopped (DESIGN.md section 4).

The next due time of every loop is kept in the store, so a restart neither reruns a 48-hour
cleanup nor forgets it; the first run of a loop is spread over its interval by a jitter
derived from the tenant, so a thousand tenants do not fire at once. The spread is at most
$SIMON_VISMA_FIRST_RUN_SPREAD_SECONDS (default 60; 0 starts every loop at once, for tests).

A due time is planned at the end of a pass: that moment plus the loop's interval. The store
keeps both (the row's `updated_at` is the moment it was planned from), so when the interval
in the spec changes, `replan` can plan again from the same pass: a shorter interval takes
effect at once (cleanup changed from 48h to 1h runs within the hour of its last pass, or now,
not 48 hours after it); a longer one takes effect from the next pass on, and never postpones
a pass already planned sooner. The schedule re-plans when it starts (a restart with a changed
spec) and whenever the service tells it the spec's schedule changed (`Wakeup`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from enum import Enum

from reconcilers.resource.durations import DURATION_MAX
from reconcilers.runtime.runner import AnyLoop, LoopOutcome, TenantRun
from reconcilers.store.records import utc_now

log = logging.getLogger(__name__)

OnOutcome = Callable[[LoopOutcome], Awaitable[None]]
OnWait = Callable[[AnyLoop, datetime], Awaitable[None]]

FIRST_RUN_SPREAD_ENV = "SIMON_VISMA_FIRST_RUN_SPREAD_SECONDS"
DEFAULT_FIRST_RUN_SPREAD = timedelta(minutes=1)


def first_run_spread() -> timedelta:
    """The cap on a first run's jitter: $SIMON_VISMA_FIRST_RUN_SPREAD_SECONDS, else 1 minute
    (also, with a warning, when the variable is not a number of seconds >= 0)."""
    raw = os.environ.get(FIRST_RUN_SPREAD_ENV, "").strip()
    if not raw:
        return DEFAULT_FIRST_RUN_SPREAD
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        log.warning("%s=%r is not a number of seconds >= 0; using %s", FIRST_RUN_SPREAD_ENV,
                    raw, DEFAULT_FIRST_RUN_SPREAD)
        return DEFAULT_FIRST_RUN_SPREAD
    return timedelta(seconds=seconds)


def interval_of(run: TenantRun, loop: AnyLoop) -> timedelta:
    """A loop's interval as the spec has it now, at most DURATION_MAX (the model refuses
    longer ones already; the cap keeps date arithmetic from overflowing whatever a caller
    builds)."""
    return min(loop.interval(run.tenant.spec), DURATION_MAX)


def due_after(now: datetime, interval: timedelta) -> datetime:
    """`now` + `interval`, at most DURATION_MAX later, and never past the last datetime."""
    step = min(interval, DURATION_MAX)
    return now + step if now <= datetime.max.replace(tzinfo=now.tzinfo) - step else now


def jitter(key: str, loop: AnyLoop, interval: timedelta) -> timedelta:
    """A stable offset in [0, min(interval, first_run_spread())) for a tenant's first run of a
    loop."""
    digest = hashlib.sha256(f"{key}/{loop.key}".encode()).digest()
    spread = min(interval, first_run_spread()).total_seconds()
    return timedelta(seconds=spread * int.from_bytes(digest[:4], "big") / 2**32)


async def stored_due(run: TenantRun, loop: AnyLoop) -> datetime | None:
    """The loop's due time as the store has it; None before its first scheduled pass."""
    schedule = await run.state.schedules.get(loop.key)
    return schedule.next_run_at if schedule is not None else None


async def next_due(run: TenantRun, loop: AnyLoop, now: datetime, *, spread: bool) -> datetime:
    """When a loop is due: as stored, else now (plus the tenant's jitter when `spread`)."""
    due = await stored_due(run, loop)
    if due is not None:
        return due
    return due_after(now, jitter(run.tenant.key, loop, interval_of(run, loop)) if spread
                     else timedelta())


async def plan_next(run: TenantRun, loop: AnyLoop, finished: datetime) -> datetime:
    """Plan a loop's next pass after one that ended at `finished`, and store it."""
    due = due_after(finished, interval_of(run, loop))
    await run.state.schedules.set_next_run(loop.key, due, now=finished)
    return due


async def replan(run: TenantRun, loops: Iterable[AnyLoop],
                 now: datetime | None = None) -> dict[str, datetime]:
    """Plan the stored due times again with the intervals the spec has now; returns the
    ones that moved, by loop key.

    A loop is due at the end of its last pass (the row's `updated_at`) plus its interval,
    but not before now: when the interval became shorter, the loop is due sooner, at once
    if that time has passed. A due time that is already past, or sooner than the new plan,
    stays. A loop without a stored due time (it never ran on a schedule) has nothing to
    plan again."""
    now = now or utc_now()
    moved: dict[str, datetime] = {}
    for loop in loops:
        schedule = await run.state.schedules.get(loop.key)
        if schedule is None or schedule.next_run_at is None or schedule.next_run_at <= now:
            continue
        planned = due_after(schedule.updated_at, interval_of(run, loop))
        if planned >= schedule.next_run_at:
            continue
        due = max(planned, now)
        # Still planned from that pass, so that planning again gives the same answer.
        await run.state.schedules.set_next_run(loop.key, due, now=schedule.updated_at)
        moved[loop.key] = due
        log.info("%s: %s re-planned for %s (interval %s)", run.tenant.key, loop.key,
                 due.isoformat(), interval_of(run, loop))
    return moved


class Wakeup:
    """Tells the loops of a `run_on_schedule` that wait for their due time to read it from
    the store again (after `replan`)."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def event(self, loop: AnyLoop) -> asyncio.Event:
        return self._events.setdefault(loop.key, asyncio.Event())

    def wake(self) -> None:
        for event in self._events.values():
            event.set()


class _Woken(Enum):
    DUE = "due"
    STOP = "stop"
    WAKE = "wake"


async def _sleep(seconds: float, stop: asyncio.Event, wake: asyncio.Event | None) -> _Woken:
    """Wait `seconds`, or until `stop` or `wake` is set, whichever comes first."""
    waiters = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    if stop.is_set():
        return _Woken.STOP
    if wake is not None and wake.is_set():
        wake.clear()
        return _Woken.WAKE
    return _Woken.DUE


async def run_on_schedule(
    run: TenantRun,
    loops: Iterable[AnyLoop],
    stop: asyncio.Event,
    on_outcome: OnOutcome,
    *,
    spread: bool = True,
    on_wait: OnWait | None = None,
    wakeup: Wakeup | None = None,
) -> None:
    """Run `loops` on their schedules until `stop` is set. A loop's pass is never
    overlapped by itself; different loops run side by side. `on_wait(loop, due)` is told
    each time a loop starts waiting for a new due time. `wakeup` makes waiting loops read
    their due times again (the service wakes them after `replan`)."""
    loops = list(loops)
    await replan(run, loops)

    async def one(loop: AnyLoop) -> None:
        wake = wakeup.event(loop) if wakeup is not None else None
        due = await next_due(run, loop, utc_now(), spread=spread)
        told: datetime | None = None
        while not stop.is_set():
            # A stored due time further off than the longest interval (the clock moved
            # back) is waited for at most that long.
            wait = min((due - utc_now()).total_seconds(), DURATION_MAX.total_seconds())
            if wait > 0:
                if on_wait is not None and due != told:
                    await on_wait(loop, due)
                    told = due
                woken = await _sleep(wait, stop, wake)
                if woken is _Woken.STOP:
                    return
                if woken is _Woken.WAKE:
                    due = await stored_due(run, loop) or due
                    continue
            lag = max(0.0, (utc_now() - due).total_seconds())
            outcome = await run.run_loop(loop)
            outcome.lag = lag
            due = await plan_next(run, loop, utc_now())
            await on_outcome(outcome)

    await asyncio.gather(*(one(loop) for loop in loops))
