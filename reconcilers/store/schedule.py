"""When each loop of a tenant last ran and is next due, kept across restarts.

So that cleanup's "every 48 hours" (S-30) does not restart its clock with the process.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from .database import TenantScoped
from .models import loop_schedules
from .records import LoopSchedule, as_utc, utc_now

_t = loop_schedules.c


class LoopSchedules(TenantScoped):
    """Per loop ("masterdata", "cleanup", "orders", "imports"): last start, success, next run."""

    async def get(self, loop: str) -> LoopSchedule | None:
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(loop_schedules).where(_t.tenant == self.tenant, _t.loop == loop)
                )
            ).first()
        return _schedule(row) if row else None

    async def all(self) -> dict[str, LoopSchedule]:
        async with self._db.read() as conn:
            rows = await conn.execute(
                select(loop_schedules).where(_t.tenant == self.tenant).order_by(_t.loop)
            )
            return {row.loop: _schedule(row) for row in rows}

    async def record_success(
        self, loop: str, *, next_run_at: datetime | None = None, now: datetime | None = None
    ) -> LoopSchedule:
        """A run of ``loop`` completed now; it is next due at ``next_run_at`` (if given)."""
        when = as_utc(now) if now else utc_now()
        values: dict[str, Any] = {"last_success_at": when}
        if next_run_at is not None:
            values["next_run_at"] = as_utc(next_run_at)
        return await self._upsert(loop, when, **values)

    async def set_next_run(
        self, loop: str, next_run_at: datetime | None, *, now: datetime | None = None
    ) -> LoopSchedule:
        """``loop`` is next due at ``next_run_at`` (None: whenever the scheduler likes)."""
        when = as_utc(now) if now else utc_now()
        return await self._upsert(
            loop, when, next_run_at=as_utc(next_run_at) if next_run_at else None
        )

    def pass_ended(
        self, loop: str, *, completed: bool, next_run_at: datetime | None, now: datetime
    ) -> Any:
        """The statement that stores the end of a pass of ``loop`` at ``now``: when it
        ``completed``, its success; its next due time when given (None keeps the stored
        one). Not run here: the lease's release writes it in its own transaction, so that
        ending a pass is one transaction."""
        when = as_utc(now)
        values: dict[str, Any] = {}
        if completed:
            values["last_success_at"] = when
        if next_run_at is not None:
            values["next_run_at"] = as_utc(next_run_at)
        return self._upsert_statement(loop, when, **values)

    def _upsert_statement(self, loop: str, when: datetime, **values: Any) -> Any:
        stmt = self._db.insert(loop_schedules).values(
            tenant=self.tenant, loop=loop, updated_at=when, **values
        )
        return stmt.on_conflict_do_update(
            index_elements=[_t.tenant, _t.loop], set_={"updated_at": when, **values}
        )

    async def _upsert(self, loop: str, when: datetime, **values: Any) -> LoopSchedule:
        # The row as written, in the same statement (no select after it).
        stmt = self._upsert_statement(loop, when, **values).returning(*loop_schedules.c)
        async with self._write() as conn:
            row = (await conn.execute(stmt)).one()
        return _schedule(row)


def _schedule(row: Any) -> LoopSchedule:
    return LoopSchedule(
        loop=row.loop,
        last_success_at=row.last_success_at,
        next_run_at=row.next_run_at,
        updated_at=row.updated_at,
    )
