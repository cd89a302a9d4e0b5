"""The integration log users read (S-80): time, severity, table, key, message, action.

An entry about a record (say, a work order without a Visma.net customer, S-41) can be
resolved once the record is fine again, so that status shows only live problems. Only the
problem that was fixed is resolved: `resolve` takes the severities it clears, so that a
permanent fact about the same record (a customer reference cut to 40 characters, S-48, is
cut for good once the document exists) stays listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from reconcilers.text import repaired_text

from .database import TenantScoped
from .models import integration_log
from .records import LogEntry, LogTable, Severity, as_utc, utc_now

_t = integration_log.c
KEY_LENGTH = 100  # the record_key column


def stored_text(text: str) -> str:
    """Text as the store can hold it on every database: valid Unicode, no NUL."""
    return repaired_text(text).replace("\x00", "\\x00")


def stored_key(key: str) -> str:
    """A record key as stored and looked up: stored text, at most the column's length."""
    return stored_text(key)[:KEY_LENGTH]


class IntegrationLog(TenantScoped):
    """One tenant's integration log (S-80)."""

    async def add(
        self,
        severity: Severity | str,
        table: LogTable | str,
        key: str,
        message: str,
        action: str | None = None,
        *,
        time: datetime | None = None,
        dedupe: bool = False,
    ) -> LogEntry:
        """Add an entry; ``key`` is what users see (work order, customer or item number).

        With ``dedupe``, an unresolved entry with the same severity, table, key and
        message is refreshed (its time and action) instead of adding another, so a
        problem met on every pass stays one entry.
        """
        level = Severity(severity)
        where = LogTable(table)
        when = as_utc(time) if time else utc_now()
        key, message = stored_key(key), stored_text(message)
        action = stored_text(action) if action is not None else None
        async with self._write() as conn:
            if dedupe:
                existing = (
                    await conn.execute(
                        select(_t.id)
                        .where(
                            _t.tenant == self.tenant,
                            _t.record_table == where.value,
                            _t.record_key == stored_key(key),
                            _t.severity == level.value,
                            _t.message == message,
                            _t.resolved_at.is_(None),
                        )
                        .order_by(_t.id.desc())
                        .limit(1)
                    )
                ).scalar()
                if existing is not None:
                    await conn.execute(
                        update(integration_log)
                        .where(_t.id == existing)
                        .values(time=when, action=action)
                    )
                    return await _get(conn, existing)
            result = await conn.execute(
                integration_log.insert().values(
                    tenant=self.tenant,
                    time=when,
                    severity=level.value,
                    record_table=where.value,
                    record_key=key,
                    message=message,
                    action=action,
                )
            )
            assert result.inserted_primary_key is not None
            return await _get(conn, result.inserted_primary_key[0])

    async def info(
        self, table: LogTable | str, key: str, message: str, action: str | None = None, **kw: Any
    ) -> LogEntry:
        return await self.add(Severity.INFO, table, key, message, action, **kw)

    async def warning(
        self, table: LogTable | str, key: str, message: str, action: str | None = None, **kw: Any
    ) -> LogEntry:
        return await self.add(Severity.WARNING, table, key, message, action, **kw)

    async def error(
        self, table: LogTable | str, key: str, message: str, action: str | None = None, **kw: Any
    ) -> LogEntry:
        return await self.add(Severity.ERROR, table, key, message, action, **kw)

    async def entries(
        self,
        min_severity: Severity | str = Severity.INFO,
        limit: int | None = 100,
        include_resolved: bool = True,
        *,
        table: LogTable | str | None = None,
        key: str | None = None,
        since: datetime | None = None,
    ) -> list[LogEntry]:
        """Entries of at least ``min_severity``, newest first (``limit=None``: all)."""
        stmt = select(integration_log).where(
            _t.tenant == self.tenant,
            _t.severity.in_([s.value for s in Severity(min_severity).and_above()]),
        )
        if not include_resolved:
            stmt = stmt.where(_t.resolved_at.is_(None))
        if table is not None:
            stmt = stmt.where(_t.record_table == LogTable(table).value)
        if key is not None:
            stmt = stmt.where(_t.record_key == stored_key(key))
        if since is not None:
            stmt = stmt.where(_t.time >= as_utc(since))
        stmt = stmt.order_by(_t.time.desc(), _t.id.desc())
        if limit is not None:
            stmt = stmt.limit(limit)
        async with self._db.read() as conn:
            return [_entry(row) for row in await conn.execute(stmt)]

    async def recent_errors(self, limit: int = 10) -> list[LogEntry]:
        """The newest unresolved errors, for the resource's ``status.recentErrors`` (S-81)."""
        return await self.entries(Severity.ERROR, limit=limit, include_resolved=False)

    async def open_keys(self, table: LogTable | str,
                        severity: Severity | str = Severity.ERROR) -> set[str]:
        """The keys of ``table`` with an unresolved entry of ``severity``: one query, so a
        pass can resolve what it fixed without asking about every record."""
        stmt = select(_t.record_key).distinct().where(
            _t.tenant == self.tenant,
            _t.record_table == LogTable(table).value,
            _t.severity == Severity(severity).value,
            _t.resolved_at.is_(None),
        )
        async with self._db.read() as conn:
            return {row.record_key for row in await conn.execute(stmt)}

    async def resolve(
        self,
        table: LogTable | str,
        key: str,
        *,
        severities: Iterable[Severity | str] | None = None,
        now: datetime | None = None,
    ) -> int:
        """Mark the unresolved entries about ``table`` / ``key`` resolved; how many were.

        With ``severities``, only entries of those severities (say, the errors that kept a
        work order from being sent): entries of other severities about the record stay
        listed, as a fact that is still true must (a reference that was cut stays cut).
        """
        when = as_utc(now) if now else utc_now()
        stmt = (
            update(integration_log)
            .where(
                _t.tenant == self.tenant,
                _t.record_table == LogTable(table).value,
                _t.record_key == stored_key(key),
                _t.resolved_at.is_(None),
            )
            .values(resolved_at=when)
        )
        if severities is not None:
            stmt = stmt.where(_t.severity.in_([Severity(s).value for s in severities]))
        async with self._write() as conn:
            result = await conn.execute(stmt)
        return result.rowcount

    async def prune(self, older_than: datetime) -> int:
        """Delete entries from before ``older_than``; how many were deleted."""
        async with self._write() as conn:
            result = await conn.execute(
                delete(integration_log).where(
                    _t.tenant == self.tenant, _t.time < as_utc(older_than)
                )
            )
        return result.rowcount


async def _get(conn: Any, entry_id: int) -> LogEntry:
    row = (await conn.execute(select(integration_log).where(_t.id == entry_id))).one()
    return _entry(row)


def _entry(row: Any) -> LogEntry:
    return LogEntry(
        id=row.id,
        time=row.time,
        severity=Severity(row.severity),
        table=LogTable(row.record_table),
        key=row.record_key,
        message=row.message,
        action=row.action,
        resolved_at=row.resolved_at,
    )
