"""Links between Visma.net records and the Simon records made from them (S-10 to S-13, S-31).

A link keeps the hash of the content last written to Simon, so a pass writes only
records whose content changed (S-13).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select

from .database import TenantScoped
from .models import links
from .records import Link, LinkKind, LinkUpdate, as_utc, utc_now

_BATCH = 500  # keys per IN (...) query, well below every backend's parameter limit


class Links(TenantScoped):
    """Per kind (``customer``, ``item``, ``location``): Visma key -> Simon id and content hash."""

    async def get(self, kind: LinkKind | str, visma_key: str) -> Link | None:
        kind = LinkKind(kind)
        t = links.c
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(links).where(
                        t.tenant == self.tenant, t.kind == kind.value, t.visma_key == visma_key
                    )
                )
            ).first()
        return _link(row) if row else None

    async def get_many(self, kind: LinkKind | str, visma_keys: Iterable[str]) -> dict[str, Link]:
        """The links of those ``visma_keys`` that have one (e.g. for one page of records)."""
        kind = LinkKind(kind)
        keys = list(dict.fromkeys(visma_keys))
        t = links.c
        found: dict[str, Link] = {}
        async with self._db.read() as conn:
            for start in range(0, len(keys), _BATCH):
                rows = await conn.execute(
                    select(links).where(
                        t.tenant == self.tenant,
                        t.kind == kind.value,
                        t.visma_key.in_(keys[start : start + _BATCH]),
                    )
                )
                found.update((row.visma_key, _link(row)) for row in rows)
        return found

    async def by_simon_id(self, kind: LinkKind | str, simon_id: int) -> Link | None:
        kind = LinkKind(kind)
        t = links.c
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(links)
                    .where(t.tenant == self.tenant, t.kind == kind.value, t.simon_id == simon_id)
                    .limit(1)
                )
            ).first()
        return _link(row) if row else None

    async def all(self, kind: LinkKind | str) -> list[Link]:
        """Every link of ``kind``, ordered by Visma key (cleanup compares them, S-31)."""
        kind = LinkKind(kind)
        t = links.c
        async with self._db.read() as conn:
            rows = await conn.execute(
                select(links)
                .where(t.tenant == self.tenant, t.kind == kind.value)
                .order_by(t.visma_key)
            )
            return [_link(row) for row in rows]

    async def count(self, kind: LinkKind | str) -> int:
        kind = LinkKind(kind)
        t = links.c
        async with self._db.read() as conn:
            return (
                await conn.execute(
                    select(func.count())
                    .select_from(links)
                    .where(t.tenant == self.tenant, t.kind == kind.value)
                )
            ).scalar_one()

    async def put(
        self,
        kind: LinkKind | str,
        visma_key: str,
        *,
        simon_id: int,
        content_hash: str,
        now: datetime | None = None,
    ) -> Link:
        """Create or replace the link of ``visma_key``."""
        when = as_utc(now) if now else utc_now()
        await self.put_many(kind, [LinkUpdate(visma_key, simon_id, content_hash)], now=when)
        return Link(
            kind=LinkKind(kind),
            visma_key=visma_key,
            simon_id=simon_id,
            content_hash=content_hash,
            updated_at=when,
        )

    async def put_many(
        self, kind: LinkKind | str, updates: Iterable[LinkUpdate], *, now: datetime | None = None
    ) -> int:
        """Create or replace many links in one transaction (one page of a pass)."""
        kind = LinkKind(kind)
        when = as_utc(now) if now else utc_now()
        rows = [
            {
                "tenant": self.tenant,
                "kind": kind.value,
                "visma_key": u.visma_key,
                "simon_id": u.simon_id,
                "content_hash": u.content_hash,
                "updated_at": when,
            }
            for u in {u.visma_key: u for u in updates}.values()
        ]
        if not rows:
            return 0
        t = links.c
        stmt = self._db.insert(links)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.tenant, t.kind, t.visma_key],
            set_={
                "simon_id": stmt.excluded.simon_id,
                "content_hash": stmt.excluded.content_hash,
                "updated_at": stmt.excluded.updated_at,
            },
        )
        async with self._write() as conn:
            await conn.execute(stmt, rows)
        return len(rows)

    async def delete(self, kind: LinkKind | str, visma_key: str) -> bool:
        """Remove the link of ``visma_key``; True when there was one."""
        kind = LinkKind(kind)
        t = links.c
        async with self._write() as conn:
            result = await conn.execute(
                delete(links).where(
                    t.tenant == self.tenant, t.kind == kind.value, t.visma_key == visma_key
                )
            )
        return result.rowcount > 0

    async def delete_by_simon_id(self, kind: LinkKind | str, simon_id: int) -> int:
        """Remove the links to the Simon record ``simon_id`` (after it was deleted in Simon)."""
        kind = LinkKind(kind)
        t = links.c
        async with self._write() as conn:
            result = await conn.execute(
                delete(links).where(
                    t.tenant == self.tenant, t.kind == kind.value, t.simon_id == simon_id
                )
            )
        return result.rowcount

    async def clear(self, kind: LinkKind | str | None = None) -> int:
        """Remove every link of ``kind`` (or of every kind), e.g. after an activation wipe."""
        t = links.c
        stmt = delete(links).where(t.tenant == self.tenant)
        if kind is not None:
            stmt = stmt.where(t.kind == LinkKind(kind).value)
        async with self._write() as conn:
            result = await conn.execute(stmt)
        return result.rowcount


def _link(row: Any) -> Link:
    return Link(
        kind=LinkKind(row.kind),
        visma_key=row.visma_key,
        simon_id=row.simon_id,
        content_hash=row.content_hash,
        updated_at=row.updated_at,
    )
