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
spec) and whenever the service tells it the spec's schedule changed (`Wakeup`). A user's
request to run now (the resource's run-now annotation) makes every loop run a pass at once,
and the next one an interval after it (`Wakeup.run_now`).

Every loop is supervised: a pass that fails, for whatever reason (an API, the store, a bug),
is an outcome with its error, and the loop runs again. After failed passes the next one is
due sooner than the interval, with a backoff that doubles from `RETRY_FIRST` up to the
interval. When even planning or reporting a pass fails (the store is down), the error is
logged and the loop waits the same backoff, keeping its due time in memory.

`DUE` is this process's view of its loops: each running loop's due time and interval. A loop
whose due time is long past (`overdue`) is stuck: a pass that never ends, or a loop that does
not run; the operator's liveness probe fails for it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from reconcilers.resource.durations import DURATION_MAX
from reconcilers.runtime import logs
from reconcilers.runtime.runner import AnyLoop, LoopOutcome, TenantRun
from reconcilers.store.records import utc_now

log = logging.getLogger(__name__)

OnOutcome = Callable[[LoopOutcome], Awaitable[None]]
OnWait = Callable[[AnyLoop, datetime], Awaitable[None]]

FIRST_RUN_SPREAD_ENV = "SIMON_VISMA_FIRST_RUN_SPREAD_SECONDS"
DEFAULT_FIRST_RUN_SPREAD = timedelta(minutes=1)
OVERDUE_MARGIN_ENV = "SIMON_VISMA_OVERDUE_MARGIN_SECONDS"
DEFAULT_OVERDUE_MARGIN = timedelta(minutes=2)
OVERDUE_INTERVALS = 3
"""A loop is overdue when its due time is more than this many intervals (plus the margin)
past."""
RETRY_FIRST = timedelta(seconds=15)
"""The wait after a first failed pass (at most the loop's interval); it doubles with each
failed pass after it, up to the interval."""


@dataclass(frozen=True)
class Due:
    """When a running loop of a tenant is due, and its interval."""

    tenant: str
    loop: str
    at: datetime
    interval: timedelta


DUE: dict[tuple[str, str], Due] = {}
"""The due time of every loop running in this process, by (tenant key, loop key)."""


def overdue_margin() -> timedelta:
    """$SIMON_VISMA_OVERDUE_MARGIN_SECONDS, else 2 minutes (also, with a warning, when the
    variable is not a number of seconds >= 0)."""
    return _seconds_from(OVERDUE_MARGIN_ENV, DEFAULT_OVERDUE_MARGIN)


def overdue(now: datetime | None = None) -> list[Due]:
    """The loops of this process whose due time is more than `OVERDUE_INTERVALS` intervals
    and the margin past: they do not run as they should."""
    now = now or utc_now()
    margin = overdue_margin()
    return [due for due in DUE.values()
            if now - due.at > OVERDUE_INTERVALS * due.interval + margin]


def backoff(interval: timedelta, failures: int) -> timedelta:
    """The wait after `failures` failed passes in a row: the interval when there are none,
    else `RETRY_FIRST` doubled for each one after the first, at most the interval."""
    if failures <= 0:
        return interval
    step = RETRY_FIRST * 2 ** min(failures - 1, 32)
    return min(step, interval)


def first_run_spread() -> timedelta:
    """The cap on a first run's jitter: $SIMON_VISMA_FIRST_RUN_SPREAD_SECONDS, else 1 minute
    (also, with a warning, when the variable is not a number of seconds >= 0)."""
    return _seconds_from(FIRST_RUN_SPREAD_ENV, DEFAULT_FIRST_RUN_SPREAD)


def _seconds_from(name: str, default: timedelta) -> timedelta:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        log.warning("%s=%r is not a number of seconds >= 0; using %s", name, raw, default)
        return default
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


async def plan_next(run: TenantRun, loop: AnyLoop, finished: datetime,
                    failures: int = 0) -> datetime:
    """Plan a loop's next pass after one that ended at `finished`, and store it; after
    `failures` failed passes in a row, sooner (`backoff`)."""
    due = due_after(finished, backoff(interval_of(run, loop), failures))
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
    the store again (after `replan`, `wake`), or to run now (`run_now`).

    Run-now requests are numbered; each loop notes the number current when its latest pass
    began and when that pass ended, so `answered` can say when every loop has completed a
    pass that began after a request."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}
        self.requested = 0
        """Run-now requests so far."""
        self._began: dict[str, int] = {}
        self._finished: dict[str, int] = {}

    def event(self, loop: AnyLoop) -> asyncio.Event:
        return self._events.setdefault(loop.key, asyncio.Event())

    def wake(self) -> None:
        for event in self._events.values():
            event.set()

    def run_now(self) -> int:
        """Every loop runs a pass now (a loop in a pass runs another one after it); the
        request's number, for `answered`."""
        self.requested += 1
        self.wake()
        return self.requested

    def due_now(self, loop: AnyLoop) -> bool:
        """A run-now request came after the loop's latest pass began."""
        return self._began.get(loop.key, 0) < self.requested

    def began(self, loop: AnyLoop) -> None:
        self._began[loop.key] = self.requested

    def finished(self, loop: AnyLoop) -> None:
        self._finished[loop.key] = self._began.get(loop.key, 0)

    def answered(self, request: int, loops: Iterable[AnyLoop]) -> bool:
        """Every one of `loops` completed a pass that began after run-now request
        `request`."""
        return all(self._finished.get(loop.key, 0) >= request for loop in loops)


async def scheduled_pass(run: TenantRun, loop: AnyLoop,
                         failures: int) -> tuple[LoopOutcome, datetime, int]:
    """One pass of a loop on its schedule after `failures` failed passes in a row: the
    pass's outcome (a failed pass is an outcome), its next due time (stored; when the store
    cannot plan it, a backoff kept in memory) and the failed passes in a row after it."""
    def plan(completed: bool, finished: datetime) -> datetime:
        return due_after(finished, backoff(interval_of(run, loop),
                                           0 if completed else failures + 1))

    outcome = await run.run_loop(loop, plan)  # its end stored with the lease's release
    failures = 0 if outcome.ok else failures + 1
    if outcome.next_due is not None:
        return outcome, outcome.next_due, failures
    try:  # skipped, lost its lease, or the store failed at its end
        due = await plan_next(run, loop, utc_now(), failures)
    except Exception:
        failures = max(failures, 1)
        wait_for = backoff(interval_of(run, loop), failures)
        log.exception("%s: %s loop could not plan its next pass; it runs again in %s",
                      run.tenant.key, loop.key, wait_for)
        due = due_after(utc_now(), wait_for)
    return outcome, due, failures


class _Woken(Enum):
    DUE = "due"
    STOP = "stop"
    WAKE = "wake"


async def sleep_until(seconds: float, stop: asyncio.Event,
                      wake: asyncio.Event | None) -> _Woken:
    """Wait `seconds`, or until `stop` or `wake` is set, whichever comes first (`wake` is
    cleared then)."""
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
    try:
        await replan(run, loops)
    except Exception:  # the store: the loops run on the due times they can read
        log.exception("%s: the loops' due times could not be planned again", run.tenant.key)

    async def one(loop: AnyLoop) -> None:
        try:
            await supervised(loop)
        finally:
            DUE.pop((run.tenant.key, loop.key), None)

    async def due_of(loop: AnyLoop) -> datetime:
        """The loop's first due time; when the store cannot say, now."""
        try:
            return await next_due(run, loop, utc_now(), spread=spread)
        except Exception:
            log.exception("%s: %s loop could not read its due time", run.tenant.key, loop.key)
            return utc_now()

    async def supervised(loop: AnyLoop) -> None:
        logs.in_loop(loop.key)  # this task's log lines name the loop
        wake = wakeup.event(loop) if wakeup is not None else None
        due = await due_of(loop)
        told: datetime | None = None
        failures = 0
        while not stop.is_set():
            if wakeup is not None and wakeup.due_now(loop):
                due = min(due, utc_now())  # a user asked for a pass now
                if wake is not None:
                    wake.clear()
            DUE[(run.tenant.key, loop.key)] = Due(run.tenant.key, loop.key, due,
                                                   interval_of(run, loop))
            # A stored due time further off than the longest interval (the clock moved
            # back) is waited for at most that long.
            wait = min((due - utc_now()).total_seconds(), DURATION_MAX.total_seconds())
            if wait > 0:
                if on_wait is not None and due != told:
                    await on_wait(loop, due)
                    told = due
                woken = await sleep_until(wait, stop, wake)
                if woken is _Woken.STOP:
                    return
                if woken is _Woken.WAKE:
                    if wakeup is not None and wakeup.due_now(loop):
                        continue
                    try:
                        due = await stored_due(run, loop) or due
                    except Exception:
                        log.exception("%s: %s loop could not read its due time",
                                      run.tenant.key, loop.key)
                    continue
            lag = max(0.0, (utc_now() - due).total_seconds())
            started = time.monotonic()
            if wakeup is not None:
                wakeup.began(loop)
            outcome, due, failures = await scheduled_pass(run, loop, failures)
            if wakeup is not None:
                wakeup.finished(loop)
            outcome.lag = lag
            outcome.duration = time.monotonic() - started
            try:
                await on_outcome(outcome)
            except Exception:
                log.exception("%s: %s loop could not report its pass", run.tenant.key, loop.key)

    await asyncio.gather(*(one(loop) for loop in loops))
