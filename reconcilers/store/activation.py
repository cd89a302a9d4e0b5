"""Activation of a tenant and its wipe (S-40, S-72, S-73, S-74).

The first time a tenant is seen enabled against a database is its first activation; a
later change from ``enabled: false`` to ``true`` is a re-activation. Each activation
wipes the configured kinds in Simon once, before its first master-data pass; the wipe is
recorded here, so a restart never repeats it.

Every activation also records its `ActivationPair` (the Simon licence, by hash, and the
Visma.net company). That record outlives the tenant (`Store.forget_tenant`): a tenant
enabled for the first time for a pair activated before (the resource deleted and made
again, or moved to another namespace) is a re-activation, so a live Simon is never emptied
a second time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from .database import TenantScoped
from .models import activated_pairs, tenant_activations
from .records import Activation, ActivationEvent, as_utc, utc_now

_t = tenant_activations.c
_p = activated_pairs.c


def _sha256(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ActivationPair:
    """A Simon licence and the Visma.net company it is integrated with (S-74).

    Holds only a hash of the licence key, never the key: make one with `of`.
    """

    simon_url: str
    licence_hash: str
    visma_tenant_id: str

    @classmethod
    def of(cls, simon_url: str, licence_key: str, visma_tenant_id: str) -> ActivationPair:
        return cls(
            simon_url=simon_url.strip().rstrip("/"),
            licence_hash=_sha256("simon-visma licence", licence_key),
            visma_tenant_id=visma_tenant_id.strip(),
        )

    @property
    def key(self) -> str:
        """The pair's key in the store: a hash of the URL, licence hash and company."""
        return _sha256("simon-visma pair", self.simon_url, self.licence_hash,
                       self.visma_tenant_id)


class ActivationState(TenantScoped):
    """One tenant's activations (S-72) and the earliest archive time that counts (S-40)."""

    async def get(self) -> Activation | None:
        async with self._db.read() as conn:
            row = (
                await conn.execute(select(tenant_activations).where(_t.tenant == self.tenant))
            ).first()
        return _activation(row, ActivationEvent.NONE) if row else None

    async def begin_activation_if_needed(
        self, enabled: bool, now: datetime | None = None, pair: ActivationPair | None = None
    ) -> Activation:
        """Record the ``enabled`` flag as seen now and say whether an activation begins.

        * first sight of the tenant enabled (or enabled after only ever being disabled):
          ``FIRST``; ``first_activated_at`` = now (S-40); but ``REACTIVATION`` when ``pair``
          was activated before, under any tenant key (S-74);
        * ``enabled`` false -> true: ``REACTIVATION``;
        * otherwise ``NONE`` (still enabled, or disabled: S-73).

        Every activation records ``pair``, and so does a start of a tenant already active
        whose pair is not recorded yet. A new activation starts with nothing wiped; see
        `Activation.remaining_wipe`. Atomic: of concurrent callers seeing the same change,
        one gets the event.
        """
        when = as_utc(now) if now else utc_now()
        async with self._write() as conn:
            known = enabled and pair is not None and await _pair_known(conn, pair)
            insert = (
                self._db.insert(tenant_activations)
                .values(
                    tenant=self.tenant,
                    enabled=enabled,
                    activation_count=1 if enabled else 0,
                    first_activated_at=when if enabled else None,
                    activated_at=when if enabled else None,
                    wiped_kinds=[],
                    wiped_at=None,
                    updated_at=when,
                    reactivation=known,
                )
                .on_conflict_do_nothing(index_elements=[_t.tenant])
                .returning(_t.tenant)
            )
            if (await conn.execute(insert)).first() is not None:
                row = await self._row(conn)
                if not enabled:
                    return _activation(row, ActivationEvent.NONE)
                await self._record_pair(conn, pair, when)
                return _activation(
                    row, ActivationEvent.REACTIVATION if known else ActivationEvent.FIRST
                )
            row = await self._row(conn, lock=True)
            event = ActivationEvent.NONE
            if enabled and not row.enabled:
                event = (
                    ActivationEvent.FIRST
                    if row.activation_count == 0 and not known
                    else ActivationEvent.REACTIVATION
                )
                await conn.execute(
                    update(tenant_activations)
                    .where(_t.tenant == self.tenant)
                    .values(
                        enabled=True,
                        activation_count=_t.activation_count + 1,
                        first_activated_at=row.first_activated_at or when,
                        activated_at=when,
                        wiped_kinds=[],
                        wiped_at=None,
                        updated_at=when,
                        reactivation=event is ActivationEvent.REACTIVATION,
                    )
                )
                await self._record_pair(conn, pair, when)
            elif not enabled and row.enabled:
                await conn.execute(
                    update(tenant_activations)
                    .where(_t.tenant == self.tenant)
                    .values(enabled=False, updated_at=when)
                )
            else:
                if enabled and row.activation_count > 0 and not known:
                    # Active since before pairs were recorded: record it now (S-74).
                    await self._record_pair(conn, pair, row.activated_at or when)
                return _activation(row, event)
            return _activation(await self._row(conn), event)

    async def _record_pair(self, conn: Any, pair: ActivationPair | None, when: datetime) -> None:
        if pair is None:
            return
        values = {"last_activated_at": when, "last_tenant": self.tenant}
        await conn.execute(
            self._db.insert(activated_pairs)
            .values(
                pair=pair.key,
                simon_url=pair.simon_url,
                licence_hash=pair.licence_hash,
                visma_tenant_id=pair.visma_tenant_id,
                first_activated_at=when,
                **values,
            )
            .on_conflict_do_update(index_elements=[_p.pair], set_=values)
        )

    async def record_wipe(
        self, kinds: Iterable[str], *, complete: bool = True, now: datetime | None = None
    ) -> Activation:
        """Record that ``kinds`` were wiped in Simon for the current activation (S-72).

        With ``complete`` (the default) the wipe of this activation is finished and
        `Activation.remaining_wipe` is empty from now on, even if the spec's list changes.
        Record kind by kind with ``complete=False`` to resume a wipe interrupted midway.
        """
        when = as_utc(now) if now else utc_now()
        async with self._write() as conn:
            row = await self._row(conn, lock=True, must_exist=True)
            if row.activation_count == 0:
                raise ValueError(f"tenant {self.tenant} was never activated: nothing to wipe")
            wiped = list(dict.fromkeys([*(row.wiped_kinds or []), *kinds]))
            await conn.execute(
                update(tenant_activations)
                .where(_t.tenant == self.tenant)
                .values(
                    wiped_kinds=wiped,
                    wiped_at=row.wiped_at or (when if complete else None),
                    updated_at=when,
                )
            )
            return _activation(await self._row(conn), ActivationEvent.NONE)

    async def earliest_archive_time(self) -> datetime | None:
        """S-40: only work orders archived at or after this are sent; None if never active."""
        activation = await self.get()
        return activation.first_activated_at if activation else None

    async def _row(self, conn: Any, *, lock: bool = False, must_exist: bool = True) -> Any:
        stmt = select(tenant_activations).where(_t.tenant == self.tenant)
        if lock:
            stmt = stmt.with_for_update()
        row = (await conn.execute(stmt)).first()
        if row is None and must_exist:
            raise LookupError(f"no activation recorded for tenant {self.tenant}")
        return row


async def _pair_known(conn: Any, pair: ActivationPair) -> bool:
    found = await conn.execute(select(_p.pair).where(_p.pair == pair.key))
    return found.first() is not None


def _activation(row: Any, event: ActivationEvent) -> Activation:
    return Activation(
        event=event,
        enabled=bool(row.enabled),
        activation_count=row.activation_count,
        activated_at=row.activated_at,
        first_activated_at=row.first_activated_at,
        wiped_kinds=tuple(row.wiped_kinds or ()),
        wiped_at=row.wiped_at,
        reactivation=bool(row.reactivation),
    )
