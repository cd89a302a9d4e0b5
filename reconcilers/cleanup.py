"""Simon follows deletions: what Visma.net no longer mirrors is removed from Simon (S-30 to S-32).

A cleanup pass reads everything of a kind from Visma.net, then removes from Simon every
record of that kind whose ExtKey is not among the mirrored Visma.net records: deleted ones,
ones no longer mirrored (an inactive customer, a stock item) and ones made in Simon itself
(empty ExtKey). A removed customer's work addresses go first, since Simon does not cascade.

Each kind is judged by its own full scan: when the scan is incomplete (an error, or fewer
records than Visma.net's `totalCount`), nothing of that kind is removed in that pass (S-32).
A record Simon refuses to delete because a work order still uses it stays, with a warning,
and is tried again at the next cleanup.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TypeVar

from reconcilers.http import ApiError
from reconcilers.masterdata import (
    is_mirrored_customer,
    is_mirrored_item,
    location_key,
    work_addresses,
)
from reconcilers.simon.client import InUseError, SimonClient
from reconcilers.simon.models import Customer as SimonCustomer
from reconcilers.simon.models import Item as SimonItem
from reconcilers.simon.models import KeyPair
from reconcilers.simon.models import Location as SimonLocation
from reconcilers.store import LinkKind, LogTable, TenantState
from reconcilers.visma.client import VismaClient
from reconcilers.visma.models import Customer
from reconcilers.visma.paging import Pages

log = logging.getLogger(__name__)

T = TypeVar("T")


_NAMES = {LogTable.CUSTOMER: "Customer", LogTable.ITEM: "Item",
          LogTable.WORK_ADDRESS: "Work address"}


class IncompleteScan(Exception):
    """A full scan of Visma.net did not read every record."""


@dataclass
class CleanupResult:
    customers_removed: int = 0
    items_removed: int = 0
    work_addresses_removed: int = 0
    kept_in_use: int = 0
    incomplete: list[str] = field(default_factory=list)
    """The kinds whose Visma.net scan was incomplete, so nothing of them was removed."""

    @property
    def complete(self) -> bool:
        return not self.incomplete


async def full_scan(pages: Pages[T]) -> list[T]:
    """Every record of a Visma.net list, or IncompleteScan (S-32)."""
    records = await pages.all()
    if pages.total_count is not None and len(records) < pages.total_count:
        raise IncompleteScan(
            f"read {len(records)} of the {pages.total_count} records Visma.net counts")
    return records


async def collect(pairs: AsyncIterator[KeyPair]) -> list[KeyPair]:
    """All pairs first: deleting while paging would shift the pages."""
    return [pair async for pair in pairs]


class Cleanup:
    """One cleanup pass for one tenant."""

    def __init__(self, visma: VismaClient, simon: SimonClient, state: TenantState) -> None:
        self.visma = visma
        self.simon = simon
        self.state = state
        self.result = CleanupResult()

    async def run(self) -> CleanupResult:
        await self._customers()
        await self._items()
        return self.result

    async def _scan(self, kind: str, pages: Pages[T]) -> list[T] | None:
        try:
            return await full_scan(pages)
        except (ApiError, IncompleteScan) as error:
            self.result.incomplete.append(kind)
            table = LogTable.CUSTOMER if kind == "customers" else LogTable.ITEM
            await self.state.log.warning(
                table, "",
                f"Cleanup skipped for {kind}: the Visma.net scan was incomplete ({error}). "
                "Nothing was removed.",
                "None needed if it passes next time; otherwise check that Visma.net is "
                "reachable.")
            log.warning("%s: cleanup of %s skipped: %s", self.state.key, kind, error)
            return None

    async def _customers(self) -> None:
        customers = await self._scan("customers", self.visma.customers())
        if customers is None:
            return
        mirrored = [c for c in customers if is_mirrored_customer(c)]
        keep = {str(c.internal_id) for c in mirrored}
        for pair in await collect(self.simon.keys(SimonCustomer)):
            if pair.ext_key not in keep:
                await self._remove_customer(pair)
        await self._stale_work_addresses(mirrored)

    async def _stale_work_addresses(self, customers: list[Customer]) -> None:
        """S-11, S-32: a work address whose Visma.net address emptied or became equal to
        another stays while an open work order uses it; each cleanup tries it again (the
        master-data pass reads the customer only when it changes)."""
        wanted = {location_key(c.internal_id, role)
                  for c in customers for role in work_addresses(c)}
        owners = {str(c.internal_id) for c in customers}
        for link in await self.state.links.all(LinkKind.LOCATION):
            if link.visma_key.split("/", 1)[0] not in owners or link.visma_key in wanted:
                continue
            pair = KeyPair(id=link.simon_id, ext_key=link.visma_key)
            if await self._delete(SimonLocation, pair, LogTable.WORK_ADDRESS):
                await self.state.links.delete(LinkKind.LOCATION, link.visma_key)
                self.result.work_addresses_removed += 1

    async def _label(self, model: type, pair: KeyPair) -> str:
        """What users see for a record: its number, code or name (S-80)."""
        record = await self.simon.find(model, pair.id)
        shown = getattr(record, "number", None) or getattr(record, "code", None) or getattr(
            record, "name", None)
        return shown or pair.ext_key or f"Simon #{pair.id}"

    async def _remove_customer(self, pair: KeyPair) -> None:
        locations = await collect(self.simon.keys(SimonLocation, customer_id=pair.id))
        blocked = False
        for location in locations:
            if await self._delete(SimonLocation, location, LogTable.WORK_ADDRESS):
                await self.state.links.delete_by_simon_id(LinkKind.LOCATION, location.id)
                self.result.work_addresses_removed += 1
            else:
                blocked = True
        if blocked:
            label = await self._label(SimonCustomer, pair)
            await self.state.log.warning(
                LogTable.CUSTOMER, label,
                f"Customer {label} is no longer in Visma.net but one of its work addresses is "
                "used by an open work order, so the customer stays for now.",
                "Archive or move the open work orders; the next cleanup removes it.",
                dedupe=True)
            self.result.kept_in_use += 1
            return
        if await self._delete(SimonCustomer, pair, LogTable.CUSTOMER):
            await self.state.links.delete_by_simon_id(LinkKind.CUSTOMER, pair.id)
            self.result.customers_removed += 1

    async def _items(self) -> None:
        items = await self._scan("items", self.visma.inventory())
        if items is None:
            return
        keep = {str(i.inventory_id) for i in items if is_mirrored_item(i)}
        for pair in await collect(self.simon.keys(SimonItem)):
            if pair.ext_key not in keep and await self._delete(SimonItem, pair, LogTable.ITEM):
                await self.state.links.delete_by_simon_id(LinkKind.ITEM, pair.id)
                self.result.items_removed += 1

    async def _delete(self, model: type, pair: KeyPair, table: LogTable) -> bool:
        """Delete one record; False (and a warning) when a work order still uses it (S-32)."""
        try:
            await self.simon.delete(model, pair.id, missing_ok=True)
        except InUseError:
            self.result.kept_in_use += 1
            label = await self._label(model, pair)
            await self.state.log.warning(
                table, label,
                f"{_NAMES[table]} {label} is no longer in Visma.net but is used by an open work "
                "order, so it stays for now.",
                "Archive or change the open work orders; the next cleanup removes it.",
                dedupe=True)
            return False
        return True
