"""Pages of a Visma.net list as an async iterator that knows the total count."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from reconcilers.clients.http import UnreadableRecordError

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    number: int
    """1-based for ERP lists, 0-based (pageIndex) for SalesOrders v3 lists."""
    total_count: int | None
    last: bool
    unreadable: list[UnreadableRecordError] = field(default_factory=list)
    """Rows of this page that could not be read: each is one record's problem, reported by
    the loop that reads the list; the other rows are in `items`."""


FetchPage = Callable[[int], Awaitable[Page[T]]]


class Pages(Generic[T]):
    """`async for page in pages` reads page after page, starting at `start`; `total_count` is
    known once the first page is read (S-15 progress), `next_page` is where a resumed read
    would start.

    `total_count` is the count the first page read reported and stays that: a later page may
    be empty (`[]` carries no `metadata`) or count a record deleted meanwhile, and a scan is
    judged against the count it started with (`short` says whether fewer rows came)."""

    def __init__(self, fetch: FetchPage[T], start: int) -> None:
        self._fetch = fetch
        self.next_page = start
        self.total_count: int | None = None
        self.pages_read = 0
        self.items_read = 0
        self.unreadable: list[UnreadableRecordError] = []

    async def __aiter__(self) -> AsyncIterator[Page[T]]:
        while True:
            page = await self._fetch(self.next_page)
            if self.pages_read == 0:
                self.total_count = page.total_count
            self.pages_read += 1
            self.items_read += len(page.items) + len(page.unreadable)
            self.unreadable.extend(page.unreadable)
            self.next_page = page.number + 1
            if page.items or page.unreadable:
                yield page
            if page.last:
                return

    @property
    def short(self) -> bool:
        """After a read from the first page to the end: True when fewer rows (read or
        unreadable) came than the first page counted, or rows came without a count."""
        if self.total_count is None:
            return self.items_read > 0
        return self.items_read < self.total_count

    async def items(self) -> AsyncIterator[T]:
        async for page in self:
            for item in page.items:
                yield item

    async def all(self) -> list[T]:
        return [item async for item in self.items()]
