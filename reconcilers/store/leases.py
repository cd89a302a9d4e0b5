"""Leases: one pass per tenant and loop, whatever process runs it.

The operator, a `simon-visma run` beside it and several replicas may share one database.
Before a pass of a loop starts, its process takes the lease named after the loop for the
tenant: a row (tenant, name) saying who holds it (`holder`, `process_holder`) and until
when (`expires_at`). Taking is one statement, so of two processes exactly one wins:

    INSERT ... ON CONFLICT (tenant, name) DO UPDATE ... WHERE expires_at <= now OR holder = me

On PostgreSQL the conflicting row is locked and the WHERE is judged against its newest
committed version (READ COMMITTED re-checks it after waiting for the other writer); on
SQLite every writing transaction begins IMMEDIATE and so writers take turns. No lease is
read first and written after.

While the pass runs, `run_holding` renews the lease every third of its time to live; a
renewal that finds the lease taken by another (it expired: this process stalled) cancels
the pass before its next write, and the pass ends with `LeaseLost`. At the end the lease is
released (its expiry set to now), so the next pass of any process may take it at once; what
the pass leaves in the store besides (its success, its next due time: an `Ending`) is written
in the release's transaction, so a pass ends with one write transaction.
A process killed in a pass cannot release its leases: they expire after their time to live,
except for a process on the same host (or pod) started after it, which sees that the holder's
process is gone and takes the lease at once.
Each taking gets a fresh `token`; the orders ledger records it on the rows it claims, so
that another pass takes those rows over only once that lease expired or was released.

Times are the processes' own clocks (UTC), as everywhere in the store: processes that share
a database should keep their clocks in step (NTP), well within the time to live.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import secrets
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import or_, select, update

from .database import TenantScoped
from .models import leases
from .records import as_utc, utc_now

log = logging.getLogger(__name__)

TTL_ENV = "SIMON_VISMA_LEASE_TTL_SECONDS"
DEFAULT_TTL = timedelta(seconds=60)
"""How long a lease lasts without renewal: how long a process that died in a pass keeps the
others from running that pass."""
POD_NAME_ENV = "SIMON_VISMA_POD_NAME"
ACTIVATION = "activation"
"""The lease held while a tenant's activation wipe runs; the loops' leases are named after
their keys."""
HOLDER_LENGTH = 255

_t = leases.c
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Holder:
    """Who takes a lease: a name to show, the host (or pod) it runs on and its process id."""

    name: str
    host: str
    pid: int


@cache
def process_holder() -> Holder:
    """This process: where it runs (the operator's pod name when it has one,
    $SIMON_VISMA_POD_NAME, else the host name), its process id, and a random part in the
    name, so that a restarted process is another holder."""
    host = (os.environ.get(POD_NAME_ENV, "").strip() or socket.gethostname()
            or "unknown host")[:HOLDER_LENGTH]
    name = f"{host} pid {os.getpid()} {secrets.token_hex(3)}"[:HOLDER_LENGTH]
    return Holder(name, host, os.getpid())


def holder_is_gone(host: str, pid: int) -> bool:
    """Whether a holder on this host (or pod) is a process that no longer runs: its pid is
    not alive, or it is this process's own pid under another holder's name (a restarted
    container has pid 1 again)."""
    if host != process_holder().host:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def lease_ttl() -> timedelta:
    """$SIMON_VISMA_LEASE_TTL_SECONDS, else 60 seconds (also, with a warning, when the
    variable is not a number of seconds of at least 1)."""
    raw = os.environ.get(TTL_ENV, "").strip()
    if not raw:
        return DEFAULT_TTL
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not 1 <= seconds < 86_400:
        log.warning("%s=%r is not a number of seconds from 1 to 86399; using %s",
                    TTL_ENV, raw, DEFAULT_TTL)
        return DEFAULT_TTL
    return timedelta(seconds=seconds)


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease as this process holds it."""

    tenant: str
    name: str
    holder: str
    token: str
    """Fresh for every taking: what renewals, the release and ledger rows refer to."""
    expires_at: datetime
    ttl: timedelta


class LeaseHeld(Exception):
    """Another holder has the lease: the pass does not run."""

    def __init__(self, name: str, holder: str, expires_at: datetime) -> None:
        what = "activation wipe" if name == ACTIVATION else f"{name} pass"
        super().__init__(f"another process is running the {what} of this tenant "
                         f"(holder {holder}); skipped")
        self.name = name
        self.holder = holder
        self.expires_at = expires_at


class LeaseLost(Exception):
    """The lease was taken by another holder while the pass ran (it could not be renewed
    in time): the pass was stopped."""

    def __init__(self, name: str, holder: str | None) -> None:
        by = f" (now held by {holder})" if holder else ""
        super().__init__(f"the {name} pass stopped: this process lost its lease on it{by}, "
                         "so another process goes on with it")
        self.name = name
        self.holder = holder


_CURRENT: contextvars.ContextVar[Lease | None] = contextvars.ContextVar(
    "simon_visma_pass_lease", default=None)


def current_lease() -> Lease | None:
    """The lease the running pass holds (set by `run_holding` for the pass's task)."""
    return _CURRENT.get()


class Leases(TenantScoped):
    """The leases of one tenant, by name (a loop's key, or ``activation``)."""

    async def take(self, name: str, *, holder: Holder | None = None,
                   ttl: timedelta | None = None, now: datetime | None = None) -> Lease:
        """Take the lease `name`: free (never taken, released, expired), already this
        holder's, or held by a process of this host that is gone (`holder_is_gone`).
        `LeaseHeld` when another holder has it. One transaction; a fresh token."""
        who = holder or process_holder()
        life = ttl or lease_ttl()
        when = as_utc(now) if now else utc_now()
        token = uuid.uuid4().hex
        values = {"holder": who.name, "host": who.host, "pid": who.pid, "token": token,
                  "taken_at": when, "expires_at": when + life}
        stmt = self._db.insert(leases).values(tenant=self.tenant, name=name, **values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[_t.tenant, _t.name],
            set_=values,
            where=or_(_t.expires_at <= when, _t.holder == who.name),
        ).returning(_t.token)
        async with self._write() as conn:
            won = (await conn.execute(stmt)).first() is not None
            if not won:
                row = (await conn.execute(select(_t.holder, _t.host, _t.pid, _t.token,
                                                 _t.expires_at).where(*self._key(name)))).one()
                if holder_is_gone(row.host, row.pid):
                    # Only that holder's taking: whoever took it meanwhile keeps it.
                    won = (await conn.execute(update(leases).where(
                        *self._key(name), _t.token == row.token).values(**values))).rowcount == 1
                    if won:
                        log.info("%s: took over the %s lease of %s, a process of this host "
                                 "that is gone", self.tenant, name, row.holder)
        if not won:
            raise LeaseHeld(name, row.holder, row.expires_at)
        return Lease(self.tenant, name, who.name, token, when + life, life)

    async def renew(self, lease: Lease, *, now: datetime | None = None) -> Lease | None:
        """Extend `lease` by its time to live from now; None when it is no longer this
        taking's (another holder took it after it expired)."""
        when = as_utc(now) if now else utc_now()
        expires = when + lease.ttl
        stmt = (update(leases).where(*self._key(lease.name), _t.token == lease.token)
                .values(expires_at=expires))
        async with self._write() as conn:
            if (await conn.execute(stmt)).rowcount != 1:
                return None
        return Lease(lease.tenant, lease.name, lease.holder, lease.token, expires, lease.ttl)

    async def release(self, lease: Lease, *, now: datetime | None = None,
                      along: Sequence[Any] = ()) -> None:
        """Give `lease` up (its expiry becomes now); nothing when it is no longer ours.
        The statements `along` are written in the same transaction, before the release."""
        when = as_utc(now) if now else utc_now()
        stmt = (update(leases).where(*self._key(lease.name), _t.token == lease.token)
                .values(expires_at=when))
        async with self._write() as conn:
            for statement in along:
                await conn.execute(statement)
            await conn.execute(stmt)

    async def holder(self, name: str, *, now: datetime | None = None) -> str | None:
        """Who holds the lease `name` now; None when nobody does."""
        when = as_utc(now) if now else utc_now()
        async with self._db.read() as conn:
            return (await conn.execute(select(_t.holder).where(
                *self._key(name), _t.expires_at > when))).scalar_one_or_none()

    def _key(self, name: str) -> tuple[Any, ...]:
        return (_t.tenant == self.tenant, _t.name == name)


@dataclass
class Ending:
    """What a pass leaves in the store besides its lease, written with the release in one
    transaction: `statements(completed)` gives them when the work has ended (`completed`:
    it returned); `written` says whether they were written (not when the lease was lost or
    the store failed: then the caller writes what it must on its own)."""

    statements: Callable[[bool], Sequence[Any]]
    written: bool = False


async def run_holding(store: Leases, name: str, work: Callable[[], Awaitable[T]], *,
                      holder: Holder | None = None, ttl: timedelta | None = None,
                      ending: Ending | None = None) -> T:
    """Run `work()` holding the lease `name`: take it (`LeaseHeld` when another holder has
    it, and `work` does not run), renew it every third of its time to live while `work`
    runs, release it when `work` ends, with the `ending`'s statements in the same
    transaction. When a renewal finds the lease gone, or the store cannot renew it before
    it expires, `work` is cancelled (it stops at its next await, before its next write) and
    `LeaseLost` is raised. When `work` returned but its ending could not be written, the
    store's error is raised (the caller must not take the work as recorded)."""
    lease = await store.take(name, holder=holder, ttl=ttl)
    reset = _CURRENT.set(lease)
    try:
        task: asyncio.Task[T] = asyncio.ensure_future(work())
    finally:
        _CURRENT.reset(reset)
    lost: LeaseLost | None = None
    renewal: asyncio.Future[Lease | None] | None = None
    try:
        # This task renews while `work` runs (no task of its own: most passes end before
        # their first renewal).
        while not (await asyncio.wait((task,), timeout=lease.ttl.total_seconds() / 3))[0]:
            # Shielded: a stop does not cut a renewal off halfway through its transaction.
            renewal = asyncio.ensure_future(store.renew(lease))
            try:
                renewed = await asyncio.shield(renewal)
            except Exception as error:  # the store: try again while the lease lasts
                if utc_now() + lease.ttl / 3 < lease.expires_at:
                    log.warning("%s: the %s lease could not be renewed (%s); trying again",
                                store.tenant, name, error)
                    continue
                renewed = None
            if renewed is None:
                lost = LeaseLost(name, await _holder_or_none(store, name))
                log.warning("%s: %s", store.tenant, lost)
                break
            lease = renewed
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if renewal is not None and not renewal.done():
            await asyncio.gather(renewal, return_exceptions=True)
        if lost is None:
            # A cancelled pass (the process stops) leaves nothing: it was not a failure.
            completed = task.done() and not task.cancelled() and task.exception() is None
            ended = ending is not None and task.done() and not task.cancelled()
            along = ending.statements(completed) if ending is not None and ended else ()
            try:
                await store.release(lease, along=along)
            except Exception as error:  # the lease expires by itself
                if completed and along:
                    raise  # the work's end is not recorded
                log.warning("%s: the %s lease could not be released (%s); it expires at %s",
                            store.tenant, name, error, lease.expires_at.isoformat())
            else:
                if ending is not None and along:
                    ending.written = True
    if lost is not None:
        raise lost
    return task.result()


async def _holder_or_none(store: Leases, name: str) -> str | None:
    try:
        return await store.holder(name)
    except Exception:
        return None
