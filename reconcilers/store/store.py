"""The store: the operator's own state in SQLite (a file) or PostgreSQL (DESIGN.md section 3)."""

from __future__ import annotations

import asyncio
from types import TracebackType

from sqlalchemy import delete, select, union
from sqlalchemy.ext.asyncio import AsyncEngine

from .database import Database
from .engine import (
    create_store_engine,
    default_database_url,
    redacted,
    resolve_sqlite_path,
    upgrade_database,
)
from .models import TENANT_TABLES
from .tenant_state import TenantState, check_tenant_key


class Store:
    """An open database; `tenant` gives the state of one tenant. Open with `open_store`."""

    def __init__(self, engine: AsyncEngine, url: str) -> None:
        self._db = Database(engine)
        self.url = url
        """The database URL with its password hidden."""

    @property
    def engine(self) -> AsyncEngine:
        return self._db.engine

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._db.dialect_name

    def tenant(self, key: str) -> TenantState:
        """The state of tenant ``key`` ("namespace/name"); no I/O until it is used."""
        return TenantState(self._db, key)

    async def tenants(self) -> list[str]:
        """Every tenant with any state in this database, sorted."""
        query = union(*(select(table.c.tenant) for table in TENANT_TABLES))
        async with self._db.read() as conn:
            return sorted((await conn.execute(query)).scalars())

    async def forget_tenant(self, key: str) -> None:
        """Delete every row of tenant ``key`` in one transaction (S-74); others stay.

        The record that its Simon licence and Visma.net company were activated together
        stays, so that a resource made again for them is a re-activation."""
        check_tenant_key(key)
        async with self._db.write() as conn:
            for table in TENANT_TABLES:
                await conn.execute(delete(table).where(table.c.tenant == key))

    async def close(self) -> None:
        await self._db.engine.dispose()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"


async def open_store(url: str | None = None, *, migrate: bool = True) -> Store:
    """Open the database at ``url`` (default: `default_database_url`), migrated to head.

    Plain ``sqlite:///file.db`` and ``postgresql://...`` URLs are mapped to the asyncio
    drivers. The migration runs in a worker thread, so the event loop keeps going.
    """
    target = resolve_sqlite_path(url or default_database_url())
    if migrate:
        await asyncio.to_thread(upgrade_database, target)
    return Store(create_store_engine(target), redacted(target))
