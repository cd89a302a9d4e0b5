"""`Changes`: one side tells of a change, any number of waiters wake up."""

from __future__ import annotations

import asyncio


class Changes:
    """Tells that something changed: `notify` wakes whoever waits on a `ticket` taken before
    it."""

    def __init__(self) -> None:
        self._next = asyncio.Event()

    def notify(self) -> None:
        told, self._next = self._next, asyncio.Event()
        told.set()

    def ticket(self) -> asyncio.Event:
        """Set by the next `notify`: take it before looking at what may change, wait on it
        after, and no change in between is missed."""
        return self._next
