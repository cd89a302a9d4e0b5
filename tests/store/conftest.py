"""Store tests run on asyncio through anyio's pytest plugin, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from reconcilers.store import Store, open_store


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    """A store opened (and so migrated) on a fresh database."""
    opened = await open_store(database_url)
    try:
        yield opened
    finally:
        await opened.close()
