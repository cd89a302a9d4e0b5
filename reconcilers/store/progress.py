"""High-water marks (S-13, S-14) and first-import progress (S-15) of one tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, case, delete, select

from .database import TenantScoped
from .models import first_import_progress, high_water_marks
from .records import FirstImportProgress, HighWaterMark, as_utc, utc_now


class HighWaterMarks(TenantScoped):
    """The newest change seen per kind ("customers", "items", "workorders", "salesorders-SO", ...).

    A mark is text: an ISO timestamp or an opaque cursor, as the loop that owns it likes.
    """

    async def get(self, kind: str) -> HighWaterMark | None:
        t = high_water_marks.c
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(high_water_marks).where(t.tenant == self.tenant, t.kind == kind)
                )
            ).first()
        return _mark(row) if row else None

    async def value(self, kind: str) -> str | None:
        """Just the mark of ``kind``, or None before the first pass."""
        mark = await self.get(kind)
        return mark.mark if mark else None

    async def set(self, kind: str, mark: str, *, now: datetime | None = None) -> HighWaterMark:
        when = as_utc(now) if now else utc_now()
        t = high_water_marks.c
        stmt = self._db.insert(high_water_marks).values(
            tenant=self.tenant, kind=kind, mark=mark, updated_at=when
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.tenant, t.kind],
            set_={"mark": stmt.excluded.mark, "updated_at": stmt.excluded.updated_at},
        )
        async with self._write() as conn:
            await conn.execute(stmt)
        return HighWaterMark(kind=kind, mark=mark, updated_at=when)

    async def all(self) -> dict[str, HighWaterMark]:
        return {kind: _mark(row) for kind, row in (await _by_kind(self, high_water_marks)).items()}

    async def clear(self, kind: str | None = None) -> None:
        """Forget the mark of ``kind`` (or all marks): the next pass reads everything."""
        await _forget(self, high_water_marks, kind)


class FirstImports(TenantScoped):
    """How far the first import of each kind got, so an interrupted one resumes (S-15)."""

    async def get(self, kind: str) -> FirstImportProgress | None:
        t = first_import_progress.c
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(first_import_progress).where(t.tenant == self.tenant, t.kind == kind)
                )
            ).first()
        return _progress(row) if row else None

    async def save(
        self,
        kind: str,
        *,
        done: int,
        total: int | None,
        cursor: str | None,
        now: datetime | None = None,
    ) -> FirstImportProgress:
        """Record progress: ``done`` of ``total`` records, resume at ``cursor`` (e.g. a page).

        Call it after each page is written, so a restart resumes after that page.
        Saving progress of a finished import starts it over (unfinished).
        """
        when = as_utc(now) if now else utc_now()
        t = first_import_progress.c
        stmt = self._db.insert(first_import_progress).values(
            tenant=self.tenant,
            kind=kind,
            done=done,
            total=total,
            cursor=cursor,
            finished=False,
            started_at=when,
            updated_at=when,
            finished_at=None,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.tenant, t.kind],
            set_={
                "done": stmt.excluded.done,
                "total": stmt.excluded.total,
                "cursor": stmt.excluded.cursor,
                "finished": False,
                # A finished import saved again starts over: it starts now.
                "started_at": case(
                    (t.finished.is_(True), stmt.excluded.started_at), else_=t.started_at
                ),
                "updated_at": stmt.excluded.updated_at,
                "finished_at": None,
            },
        )
        async with self._write() as conn:
            await conn.execute(stmt)
            row = (
                await conn.execute(
                    select(first_import_progress).where(t.tenant == self.tenant, t.kind == kind)
                )
            ).one()
        return _progress(row)

    async def finish(
        self, kind: str, *, done: int | None = None, now: datetime | None = None
    ) -> FirstImportProgress:
        """Mark the first import of ``kind`` finished; the cursor is cleared."""
        when = as_utc(now) if now else utc_now()
        t = first_import_progress.c
        values: dict[str, Any] = {
            "tenant": self.tenant,
            "kind": kind,
            "done": done or 0,
            "total": done,
            "cursor": None,
            "finished": True,
            "started_at": when,
            "updated_at": when,
            "finished_at": when,
        }
        stmt = self._db.insert(first_import_progress).values(**values)
        update: dict[str, Any] = {
            "cursor": None,
            "finished": True,
            "updated_at": when,
            "finished_at": when,
        }
        if done is not None:
            update["done"] = done
        stmt = stmt.on_conflict_do_update(index_elements=[t.tenant, t.kind], set_=update)
        async with self._write() as conn:
            await conn.execute(stmt)
            row = (
                await conn.execute(
                    select(first_import_progress).where(t.tenant == self.tenant, t.kind == kind)
                )
            ).one()
        return _progress(row)

    async def all(self) -> dict[str, FirstImportProgress]:
        rows = await _by_kind(self, first_import_progress)
        return {kind: _progress(row) for kind, row in rows.items()}

    async def reset(self, kind: str | None = None) -> None:
        """Forget the progress of ``kind`` (or of all kinds): the next import starts over."""
        await _forget(self, first_import_progress, kind)


async def _by_kind(part: TenantScoped, table: Table) -> dict[str, Any]:
    """The tenant's rows of a per-kind table, by kind."""
    t = table.c
    async with part._db.read() as conn:
        rows = await conn.execute(select(table).where(t.tenant == part.tenant).order_by(t.kind))
        return {row.kind: row for row in rows}


async def _forget(part: TenantScoped, table: Table, kind: str | None) -> None:
    """Delete the tenant's row of ``kind`` from a per-kind table (all rows without one)."""
    t = table.c
    stmt = delete(table).where(t.tenant == part.tenant)
    if kind is not None:
        stmt = stmt.where(t.kind == kind)
    async with part._write() as conn:
        await conn.execute(stmt)


def _mark(row: Any) -> HighWaterMark:
    return HighWaterMark(kind=row.kind, mark=row.mark, updated_at=row.updated_at)


def _progress(row: Any) -> FirstImportProgress:
    return FirstImportProgress(
        kind=row.kind,
        done=row.done,
        total=row.total,
        cursor=row.cursor,
        finished=bool(row.finished),
        started_at=row.started_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
    )
