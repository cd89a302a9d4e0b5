"""Each loop of a tenant on its own schedule, until stopped (DESIGN.md section 4).

The next due time of every loop is kept in the store, so a restart neither reruns a 48-hour
cleanup nor forgets it; the first run of a loop is spread over its interval by a jitter
derived from the tenant, so a thousand tenants do not fire at once. The spread is at most
$SIMON_VISMA_FIRST_RUN_SPREAD_SECONDS (default 60; 0 starts every loop at once, for tests).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from reconcilers.resource.durations import DURATION_MAX
from reconcilers.runtime.runner import LoopOutcome, TenantRun
from reconcilers.store.records import utc_now

log = logging.getLogger(__name__)

OnOutcome = Callable[[LoopOutcome], Awaitable[None]]
OnWait = Callable[[str, datetime], Awaitable[None]]

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


def interval_of(run: TenantRun, loop: str) -> timedelta:
    """A loop's interval, at most DURATION_MAX (the model refuses longer ones already; the
    cap keeps date arithmetic from overflowing whatever a caller builds)."""
    schedule = run.tenant.spec.schedule
    interval = {"masterdata": schedule.master_data, "cleanup": schedule.cleanup,
                "orders": schedule.orders, "imports": schedule.imports}[loop]
    return min(interval, DURATION_MAX)


def due_after(now: datetime, interval: timedelta) -> datetime:
    """`now` + `interval`, at most DURATION_MAX later, and never past the last datetime."""
    step = min(interval, DURATION_MAX)
    return now + step if now <= datetime.max.replace(tzinfo=now.tzinfo) - step else now


def jitter(key: str, loop: str, interval: timedelta) -> timedelta:
    """A stable offset in [0, min(interval, first_run_spread())) for a tenant's first run of a
    loop."""
    digest = hashlib.sha256(f"{key}/{loop}".encode()).digest()
    spread = min(interval, first_run_spread()).total_seconds()
    return timedelta(seconds=spread * int.from_bytes(digest[:4], "big") / 2**32)


async def next_due(run: TenantRun, loop: str, now: datetime, *, spread: bool) -> datetime:
    """When a loop is due: as stored, else now (plus the tenant's jitter when `spread`)."""
    schedule = await run.state.schedules.get(loop)
    if schedule is not None and schedule.next_run_at is not None:
        return schedule.next_run_at
    return due_after(now, jitter(run.tenant.key, loop, interval_of(run, loop)) if spread
                     else timedelta())


async def run_on_schedule(
    run: TenantRun,
    loops: list[str],
    stop: asyncio.Event,
    on_outcome: OnOutcome,
    *,
    spread: bool = True,
    on_wait: OnWait | None = None,
) -> None:
    """Run `loops` on their schedules until `stop` is set. A loop's pass is never
    overlapped by itself; different loops run side by side. `on_wait(loop, due)` is told
    each time a loop starts waiting for its next pass."""

    async def one(loop: str) -> None:
        due = await next_due(run, loop, utc_now(), spread=spread)
        while not stop.is_set():
            # A stored due time further off than the longest interval (the clock moved
            # back) is waited for at most that long.
            wait = min((due - utc_now()).total_seconds(), DURATION_MAX.total_seconds())
            if wait > 0:
                if on_wait is not None:
                    await on_wait(loop, due)
                try:
                    await asyncio.wait_for(stop.wait(), wait)
                    return
                except TimeoutError:
                    pass
            lag = max(0.0, (utc_now() - due).total_seconds())
            outcome = await run.run_loop(loop)
            outcome.lag = lag
            due = due_after(utc_now(), interval_of(run, loop))
            await run.state.schedules.set_next_run(loop, due)
            await on_outcome(outcome)

    await asyncio.gather(*(one(loop) for loop in loops))
