"""Transactions on the store's asyncio engine, shared by the per-tenant parts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .engine import SQLITE_BEGIN_OPTION


class Database:
    """An engine with two kinds of transaction.

    `read` only reads. On PostgreSQL it is a plain READ COMMITTED transaction, in which
    each statement sees what was committed when it began; on SQLite it begins no
    transaction, which gives each statement the same view (and saves each read its BEGIN,
    a statement of its own on the driver's thread: reads are most of a pass's statements).
    `write` is one that will write: on SQLite it begins
    IMMEDIATE (takes the write lock up front, so writers queue instead of failing when a
    read lock cannot be upgraded); on PostgreSQL it is an ordinary READ COMMITTED
    transaction in which the parts lock the rows they change (``SELECT ... FOR UPDATE``)
    or change them with a conditional ``UPDATE`` / ``INSERT ... ON CONFLICT``.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect_name = engine.dialect.name
        sqlite = self.dialect_name == "sqlite"
        self._reader = (engine.execution_options(**{SQLITE_BEGIN_OPTION: "NONE"})
                        if sqlite else engine)
        self._writer = (engine.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
                        if sqlite else engine)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self._reader.connect() as connection:
            yield connection

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        async with self._writer.begin() as connection:
            yield connection

    def insert(self, table: Table) -> Any:
        """The dialect's INSERT, which has ``on_conflict_do_nothing`` / ``_do_update``.

        To learn whether an ``on_conflict_do_nothing`` insert inserted, add ``RETURNING``
        and look for a row: drivers need not report an INSERT's row count.
        """
        if self.dialect_name == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)


class TenantScoped:
    """Base of the per-tenant parts: the database and the tenant key every row carries."""

    def __init__(self, db: Database, tenant: str) -> None:
        self._db = db
        self.tenant = tenant
        self.writes = 0
        """Write transactions begun through this part by this process: what reads from the
        store (the tenant's status) need not read again after none."""

    def _write(self) -> Any:
        """A write transaction (`Database.write`), counted in `writes`."""
        self.writes += 1
        return self._db.write()
