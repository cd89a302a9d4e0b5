"""Visma.net sales orders and quotes already imported as Simon work orders (S-60).

The key is the ``ExtKey`` the imported work order gets in Simon: ``<type>-<orderId>``,
e.g. ``SO-000223`` or ``QT-000017``. Simon refuses a second work order with the same
``ExtKey``, so a crash between creating the work order and `ImportedOrders.record` is
caught there; this table is what lets a pass skip orders without asking Simon.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from .database import TenantScoped
from .models import imported_orders
from .records import ImportedOrder, as_utc, utc_now

_BATCH = 500
_t = imported_orders.c


def order_key(order_type: str, order_id: str) -> str:
    """The key of a Visma.net order: ``SO-000223`` (also the Simon ``ExtKey``, S-60)."""
    return f"{order_type}-{order_id}"


class ImportedOrders(TenantScoped):
    """Test-and-record of imported orders: each order is imported once (S-60)."""

    async def get(self, key: str) -> ImportedOrder | None:
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(imported_orders).where(_t.tenant == self.tenant, _t.order_key == key)
                )
            ).first()
        return _order(row) if row else None

    async def is_imported(self, key: str) -> bool:
        return await self.get(key) is not None

    async def imported_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` (e.g. one page of orders) were imported already."""
        wanted = list(dict.fromkeys(keys))
        found: set[str] = set()
        async with self._db.read() as conn:
            for start in range(0, len(wanted), _BATCH):
                rows = await conn.execute(
                    select(_t.order_key).where(
                        _t.tenant == self.tenant,
                        _t.order_key.in_(wanted[start : start + _BATCH]),
                    )
                )
                found.update(rows.scalars())
        return found

    async def record(
        self, key: str, simon_work_order_id: int | None, *, now: datetime | None = None
    ) -> bool:
        """Record that ``key`` became Simon work order ``simon_work_order_id``.

        True when this call recorded it; False when it was recorded already (the first
        record stays): atomic, so of two concurrent callers exactly one gets True.
        """
        when = as_utc(now) if now else utc_now()
        stmt = (
            self._db.insert(imported_orders)
            .values(
                tenant=self.tenant,
                order_key=key,
                simon_work_order_id=simon_work_order_id,
                imported_at=when,
            )
            .on_conflict_do_nothing(index_elements=[_t.tenant, _t.order_key])
            .returning(_t.order_key)
        )
        async with self._write() as conn:
            return (await conn.execute(stmt)).first() is not None

    async def count(self) -> int:
        async with self._db.read() as conn:
            return (
                await conn.execute(
                    select(func.count())
                    .select_from(imported_orders)
                    .where(_t.tenant == self.tenant)
                )
            ).scalar_one()


def _order(row: Any) -> ImportedOrder:
    return ImportedOrder(
        order_key=row.order_key,
        simon_work_order_id=row.simon_work_order_id,
        imported_at=row.imported_at,
    )
