"""The ledger of sent work orders: what makes S-4 (nothing lost, nothing doubled) true.

A work order moves ``claimed -> creating -> created -> attached -> done`` (or ends an
attempt in ``skipped`` or ``failed``). `WorkOrderLedger.claim` is the only way in: it
inserts the row (``INSERT ... ON CONFLICT DO NOTHING`` on the primary key), or takes over a
failed/skipped row whose Simon ``Modified`` moved (S-41) with one conditional ``UPDATE``, so
that of two workers (tasks, or replicas sharing PostgreSQL) exactly one wins. Each claim
gets a fresh token; every transition checks it, so a worker whose claim was taken over
cannot move the row any more.

Record ``creating`` (with the marker written on the document) *before* asking Visma.net
to create the document, and ``created`` right after. A row left in ``creating``,
``created`` or ``attached`` is in doubt (`WorkOrderLedger.in_doubt`): take it over and
search Visma.net for the marker before creating anything.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, func, or_, select, update

from reconcilers.resource.spec import DocumentType

from .database import TenantScoped
from .models import leases, work_order_ledger
from .records import (
    IN_DOUBT_STATES,
    RETRYABLE_STATES,
    LedgerEntry,
    WorkOrderState,
    as_utc,
    parse_timestamp,
    utc_now,
)

DEFAULT_STALE_CLAIM = timedelta(minutes=10)
"""A ``claimed`` row untouched this long belongs to a worker that died before creating."""

_S = WorkOrderState
_t = work_order_ledger.c


class LedgerConflict(RuntimeError):
    """The row is not where this claim expects it: taken over, or a transition not allowed."""


class WorkOrderLedger(TenantScoped):
    """The work orders of one tenant on their way to Visma.net (S-4, S-40, S-41)."""

    async def get(self, work_order_id: int) -> LedgerEntry | None:
        async with self._db.read() as conn:
            row = (
                await conn.execute(select(work_order_ledger).where(*self._key(work_order_id)))
            ).first()
        return _entry(row) if row else None

    async def claim(
        self,
        work_order_id: int,
        *,
        modified: datetime | str,
        number: str | None = None,
        now: datetime | None = None,
        stale_after: timedelta | None = DEFAULT_STALE_CLAIM,
        lease: str | None = None,
    ) -> WorkOrderClaim | None:
        """Claim a work order for sending; None when it is done, skipped, in progress or failed
        with the same ``modified``.

        Wins when the work order has no row yet, when its last attempt failed or was skipped
        and its Simon ``Modified`` moved since (S-41), or when a claim was released or left
        ``claimed`` for longer than ``stale_after`` (its worker died before creating).
        Atomic: of concurrent claims of one work order, at most one wins. `lease` is the
        token of the pass's lease, recorded on the row (see `take_over`).
        """
        when = as_utc(now) if now else utc_now()
        simon_modified = parse_timestamp(modified)
        token = uuid.uuid4().hex
        insert = (
            self._db.insert(work_order_ledger)
            .values(
                tenant=self.tenant,
                work_order_id=work_order_id,
                work_order_number=number,
                state=_S.CLAIMED.value,
                simon_modified=simon_modified,
                attachments_done=[],
                attempts=1,
                claim_token=token,
                claimed_by=lease,
                created_at=when,
                updated_at=when,
                claimed_at=when,
            )
            .on_conflict_do_nothing(index_elements=[_t.tenant, _t.work_order_id])
            .returning(_t.work_order_id)
        )
        retake = (
            update(work_order_ledger)
            .where(
                *self._key(work_order_id),
                _claimable(simon_modified, when, stale_after),
            )
            .values(
                state=_S.CLAIMED.value,
                work_order_number=func.coalesce(number, _t.work_order_number),
                simon_modified=simon_modified,
                document_kind=None,
                document_type=None,
                document_number=None,
                marker=None,
                attachments_done=[],
                error=None,
                attempts=_t.attempts + 1,
                claim_token=token,
                claimed_by=lease,
                updated_at=when,
                claimed_at=when,
                finished_at=None,
            )
        )
        async with self._write() as conn:
            won = (await conn.execute(insert)).first() is not None
            if not won:
                won = (await conn.execute(retake)).rowcount == 1
            if not won:
                return None
            row = (
                await conn.execute(select(work_order_ledger).where(*self._key(work_order_id)))
            ).one()
        return WorkOrderClaim(self, _entry(row))

    async def should_retry(
        self,
        work_order_id: int,
        modified: datetime | str,
        *,
        now: datetime | None = None,
        stale_after: timedelta | None = DEFAULT_STALE_CLAIM,
    ) -> bool:
        """Whether `claim` would win now: a cheap check before building a document (S-41)."""
        entry = await self.get(work_order_id)
        if entry is None:
            return True
        when = as_utc(now) if now else utc_now()
        if entry.state in RETRYABLE_STATES:
            return entry.simon_modified != parse_timestamp(modified)
        if entry.state is _S.CLAIMED:
            if entry.claim_token is None:
                return True
            return stale_after is not None and entry.updated_at < when - stale_after
        return False

    async def in_doubt(
        self, *, older_than: timedelta | None = None, now: datetime | None = None
    ) -> list[LedgerEntry]:
        """Rows left in ``creating``, ``created`` or ``attached``, oldest first.

        With ``older_than``, only rows untouched for that long (so that rows a live worker
        is moving right now are left alone).
        """
        stmt = select(work_order_ledger).where(
            _t.tenant == self.tenant, _t.state.in_([s.value for s in IN_DOUBT_STATES])
        )
        if older_than is not None:
            when = as_utc(now) if now else utc_now()
            stmt = stmt.where(_t.updated_at < when - older_than)
        async with self._db.read() as conn:
            rows = await conn.execute(stmt.order_by(_t.updated_at, _t.work_order_id))
            return [_entry(row) for row in rows]

    async def take_over(
        self, entry: LedgerEntry, *, now: datetime | None = None, lease: str | None = None
    ) -> WorkOrderClaim | None:
        """Take over an in-doubt (or claimed) row as it was read; None if it moved meanwhile
        or the pass that claimed it still holds its lease.

        The row keeps its state: the new holder goes on from there (search Visma.net for
        the marker first when it is ``creating``). The old holder's claim stops working.
        A row claimed under a lease (`claimed_by`) is taken over only once that lease has
        expired or was released: its pass may still be creating the document. `lease` is
        the token of the taking pass's own lease, recorded on the row.
        """
        if entry.state not in (*IN_DOUBT_STATES, _S.CLAIMED):
            raise LedgerConflict(f"work order {entry.work_order_id} is {entry.state}, not in doubt")
        when = as_utc(now) if now else utc_now()
        token = uuid.uuid4().hex
        token_matches = (
            _t.claim_token.is_(None)
            if entry.claim_token is None
            else _t.claim_token == entry.claim_token
        )
        stmt = (
            update(work_order_ledger)
            .where(*self._key(entry.work_order_id), _t.state == entry.state.value, token_matches,
                   ~_held_by_live_lease(when, lease))
            .values(claim_token=token, claimed_by=lease, attempts=_t.attempts + 1,
                    updated_at=when, claimed_at=when)
        )
        async with self._write() as conn:
            if (await conn.execute(stmt)).rowcount != 1:
                return None
            row = (
                await conn.execute(select(work_order_ledger).where(*self._key(entry.work_order_id)))
            ).one()
        return WorkOrderClaim(self, _entry(row))

    async def entries(
        self, *, states: Iterable[WorkOrderState | str] | None = None, limit: int | None = None
    ) -> list[LedgerEntry]:
        """Rows (of the given states), most recently changed first."""
        stmt = select(work_order_ledger).where(_t.tenant == self.tenant)
        if states is not None:
            stmt = stmt.where(_t.state.in_([_S(s).value for s in states]))
        stmt = stmt.order_by(_t.updated_at.desc(), _t.work_order_id.desc())
        if limit is not None:
            stmt = stmt.limit(limit)
        async with self._db.read() as conn:
            return [_entry(row) for row in await conn.execute(stmt)]

    async def counts(self) -> dict[WorkOrderState, int]:
        """How many work orders are in each state (every state present, zero or not)."""
        counts = dict.fromkeys(WorkOrderState, 0)
        async with self._db.read() as conn:
            rows = await conn.execute(
                select(_t.state, func.count()).where(_t.tenant == self.tenant).group_by(_t.state)
            )
            for state, count in rows:
                counts[_S(state)] = count
        return counts

    async def count_with_error(self, state: WorkOrderState | str, error: str) -> int:
        """How many work orders are in ``state`` for exactly this reason (e.g. passed over)."""
        async with self._db.read() as conn:
            return (await conn.execute(
                select(func.count()).where(_t.tenant == self.tenant,
                                           _t.state == _S(state).value, _t.error == error)
            )).scalar_one()

    def _key(self, work_order_id: int) -> tuple[ColumnElement[bool], ...]:
        return (_t.tenant == self.tenant, _t.work_order_id == work_order_id)

    async def _transition(
        self,
        claim: WorkOrderClaim,
        target: WorkOrderState,
        allowed_from: tuple[WorkOrderState, ...],
        values: Callable[[Any], dict[str, Any] | None],
        now: datetime | None,
    ) -> LedgerEntry:
        """Move the claimed row to ``target``; ``values(row)`` gives the columns to set, or
        None when the row already is where the transition leads (a repeated call)."""
        when = as_utc(now) if now else utc_now()
        wo = claim.work_order_id
        async with self._write() as conn:
            row = (
                await conn.execute(
                    select(work_order_ledger).where(*self._key(wo)).with_for_update()
                )
            ).first()
            if row is None or row.claim_token != claim.token:
                raise LedgerConflict(f"work order {wo}: the claim was taken over")
            state = _S(row.state)
            if state not in allowed_from:
                raise LedgerConflict(f"work order {wo}: cannot go from {state} to {target}")
            changes = values(row)
            if changes is not None:
                if target in (_S.DONE, _S.SKIPPED, _S.FAILED):
                    changes["finished_at"] = when
                await conn.execute(
                    update(work_order_ledger)
                    .where(*self._key(wo), _t.claim_token == claim.token)
                    .values(state=target.value, updated_at=when, **changes)
                )
                row = (await conn.execute(select(work_order_ledger).where(*self._key(wo)))).one()
        return _entry(row)


class WorkOrderClaim:
    """The right to move one work order's ledger row, as won by `WorkOrderLedger.claim`.

    Every ``mark_*`` raises `LedgerConflict` when the claim was taken over or the
    transition is not allowed from the row's state; repeating a transition just made
    (same arguments) is harmless.
    """

    def __init__(self, ledger: WorkOrderLedger, entry: LedgerEntry) -> None:
        self._ledger = ledger
        self.entry = entry
        if entry.claim_token is None:  # pragma: no cover - claims always carry a token
            raise ValueError("a claim needs a token")
        self.token: str = entry.claim_token

    @property
    def work_order_id(self) -> int:
        return self.entry.work_order_id

    def __repr__(self) -> str:
        return f"WorkOrderClaim(work_order_id={self.work_order_id}, state={self.entry.state})"

    async def mark_creating(
        self, *, document_kind: DocumentType | str, marker: str, now: datetime | None = None
    ) -> LedgerEntry:
        """About to create the document that carries ``marker``: record it first (S-4)."""
        kind = DocumentType(document_kind)

        def values(row: Any) -> dict[str, Any] | None:
            if row.state == _S.CREATING and row.document_kind == kind and row.marker == marker:
                return None
            if row.state == _S.CREATING:
                raise LedgerConflict(f"work order {row.work_order_id} is already being created")
            return {"document_kind": kind.value, "marker": marker}

        return await self._move(_S.CREATING, (_S.CLAIMED, _S.CREATING), values, now)

    async def mark_created(
        self, document_type: str, document_number: str, *, now: datetime | None = None
    ) -> LedgerEntry:
        """Visma.net made (or, after a crash, was found to have) the document."""

        def values(row: Any) -> dict[str, Any] | None:
            same = row.document_type == document_type and row.document_number == document_number
            if row.state == _S.CREATED and same:
                return None
            if row.state == _S.CREATED:
                raise LedgerConflict(
                    f"work order {row.work_order_id} already has document "
                    f"{row.document_type} {row.document_number}"
                )
            return {"document_type": document_type, "document_number": document_number}

        return await self._move(_S.CREATED, (_S.CREATING, _S.CREATED), values, now)

    async def mark_attached(self, name: str, *, now: datetime | None = None) -> LedgerEntry:
        """The attachment ``name`` (e.g. ``werkbon-1001.pdf``) is on the document (S-49)."""

        def values(row: Any) -> dict[str, Any] | None:
            done = list(row.attachments_done or [])
            if row.state == _S.ATTACHED and name in done:
                return None
            if name not in done:
                done.append(name)
            return {"attachments_done": done}

        return await self._move(_S.ATTACHED, (_S.CREATED, _S.ATTACHED), values, now)

    async def mark_done(self, *, now: datetime | None = None) -> LedgerEntry:
        """The document and its attachments are in Visma.net: the work order is finished."""

        def values(row: Any) -> dict[str, Any] | None:
            return None if row.state == _S.DONE else {"error": None}

        return await self._move(_S.DONE, (_S.CREATED, _S.ATTACHED, _S.DONE), values, now)

    async def mark_failed(
        self, error: str, modified: datetime | str | None = None, *, now: datetime | None = None
    ) -> LedgerEntry:
        """No document was made: a user must fix something (S-41).

        The work order is tried again once its ``Modified`` in Simon differs from
        ``modified`` (by default the one it was claimed with). Only before a document
        exists (``claimed`` or ``creating`` that surely made nothing): once Visma.net has
        the document, go on to `mark_done` and log what went wrong with the attachments.
        """

        def values(row: Any) -> dict[str, Any] | None:
            changes: dict[str, Any] = {"error": error}
            if modified is not None:
                changes["simon_modified"] = parse_timestamp(modified)
            return changes

        return await self._move(_S.FAILED, (_S.CLAIMED, _S.CREATING), values, now)

    async def mark_skipped(self, reason: str, *, now: datetime | None = None) -> LedgerEntry:
        """The work order is not to be sent (skip word S-46, archived before activation S-40).

        Like a failure it is looked at again when its ``Modified`` moves.
        """

        def values(row: Any) -> dict[str, Any] | None:
            return {"error": reason}

        return await self._move(_S.SKIPPED, (_S.CLAIMED,), values, now)

    async def release(self, *, now: datetime | None = None) -> LedgerEntry:
        """Give the claim up before creating (e.g. Visma.net unreachable): the next `claim`
        of the work order wins at once, whatever its ``Modified``.

        Also from ``creating`` when the caller knows its create request was never sent (it
        failed while being built, or the connection was refused): the row goes back to
        ``claimed`` without a marker, so that it is not taken for a document in doubt."""

        def values(row: Any) -> dict[str, Any] | None:
            return {"claim_token": None, "document_kind": None, "marker": None}

        return await self._move(_S.CLAIMED, (_S.CLAIMED, _S.CREATING), values, now)

    async def _move(
        self,
        target: WorkOrderState,
        allowed_from: tuple[WorkOrderState, ...],
        values: Callable[[Any], dict[str, Any] | None],
        now: datetime | None,
    ) -> LedgerEntry:
        self.entry = await self._ledger._transition(self, target, allowed_from, values, now)
        return self.entry


def _held_by_live_lease(now: datetime, mine: str | None) -> ColumnElement[bool]:
    """Rows claimed under another pass's lease that has not expired or been released."""
    live = exists().where(leases.c.token == _t.claimed_by, leases.c.expires_at > now)
    return live if mine is None else and_(_t.claimed_by != mine, live)


def _claimable(
    modified: datetime, now: datetime, stale_after: timedelta | None
) -> ColumnElement[bool]:
    """Rows a new claim may take: see `WorkOrderLedger.claim`."""
    moved = and_(
        _t.state.in_([s.value for s in RETRYABLE_STATES]),
        or_(_t.simon_modified.is_(None), _t.simon_modified != modified),
    )
    abandoned = and_(
        _t.state == _S.CLAIMED.value,
        or_(
            _t.claim_token.is_(None),
            _t.updated_at < now - stale_after if stale_after is not None else false(),
        ),
    )
    return or_(moved, abandoned)


def _entry(row: Any) -> LedgerEntry:
    return LedgerEntry(
        work_order_id=row.work_order_id,
        work_order_number=row.work_order_number,
        state=_S(row.state),
        simon_modified=row.simon_modified,
        document_kind=DocumentType(row.document_kind) if row.document_kind else None,
        document_type=row.document_type,
        document_number=row.document_number,
        marker=row.marker,
        attachments_done=tuple(row.attachments_done or ()),
        error=row.error,
        attempts=row.attempts,
        claim_token=row.claim_token,
        created_at=row.created_at,
        updated_at=row.updated_at,
        claimed_at=row.claimed_at,
        finished_at=row.finished_at,
        claimed_by=row.claimed_by,
    )
