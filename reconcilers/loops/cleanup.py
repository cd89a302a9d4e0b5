"""Simon follows deletions: what Visma.net no longer mirrors is removed from Simon (S-30 to S-32).

A cleanup pass reads everything of a kind from Visma.net, then removes from Simon every
record of that kind whose ExtKey is not among the mirrored Visma.net records: deleted ones,
ones no longer mirrored (an inactive customer, a stock item) and ones made in Simon itself
(empty ExtKey). A removed customer's work addresses go first, since Simon does not cascade.

Only what Visma.net confirms is gone is removed (S-32):

- Each kind is judged by its own full scan. The scan is incomplete, and nothing of that kind
  is removed, when a page fails, when fewer rows come than the first page counted
  (`totalCount`; a later page may be empty or count a record deleted meanwhile), or when a
  row could not be read and carries no readable key. A row that could not be read but whose
  key could counts as still there.
- A scan can still miss a live record: one deleted in Visma.net between two page reads makes
  the next record slide onto a page already read. So before a record from Visma.net is
  removed, it is read directly; it goes only when Visma.net answers 404 or the record it
  sends is no longer mirrored. Any other answer keeps it for the next cleanup.
- The brake: a pass that would remove more than `spec.cleanup.maxRemovalPercent` of the
  records of a kind that came from Visma.net, and more than BRAKE_MIN_RECORDS of them,
  removes none of that kind and says so, until a person raises the limit or the count falls.

A record whose removal fails for a reason of its own (Simon refuses it: in use, rejected;
unreadable) is one log entry naming it as users know it, and the pass goes on with the
others. Only what stops every record (an API unreachable after retries, credentials refused)
fails the loop.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Generic, TypeVar

from reconcilers.clients.http import (
    ApiError,
    AuthError,
    RateLimitedError,
    TransientApiError,
    UnreadableRecordError,
)
from reconcilers.clients.simon.client import InUseError, SimonClient
from reconcilers.clients.simon.models import Customer as SimonCustomer
from reconcilers.clients.simon.models import Item as SimonItem
from reconcilers.clients.simon.models import KeyPair
from reconcilers.clients.simon.models import Location as SimonLocation
from reconcilers.clients.visma.client import VismaClient
from reconcilers.clients.visma.models import Customer
from reconcilers.clients.visma.paging import Pages
from reconcilers.loops.base import ConditionUpdate, Loop, LoopContext, LoopFailed, LoopResult
from reconcilers.mirroring import (
    is_mirrored_customer,
    is_mirrored_item,
    location_key,
    work_addresses,
)
from reconcilers.resource.spec import DEFAULT_MAX_REMOVAL_PERCENT
from reconcilers.resource.status import CleanupStatus, ConditionType, EntityCounts
from reconcilers.store import LinkKind, LogTable, TenantState
from reconcilers.store.records import LoopSchedule

log = logging.getLogger(__name__)

T = TypeVar("T")

BRAKE_MIN_RECORDS = 10
"""The brake never holds a pass that removes this many records of a kind or fewer."""

_NAMES = {LogTable.CUSTOMER: "Customer", LogTable.ITEM: "Item",
          LogTable.WORK_ADDRESS: "Work address"}
_MODELS: dict[LogTable, type[SimonCustomer] | type[SimonItem] | type[SimonLocation]] = {
    LogTable.CUSTOMER: SimonCustomer, LogTable.ITEM: SimonItem,
    LogTable.WORK_ADDRESS: SimonLocation}


class IncompleteScan(Exception):
    """A full scan of Visma.net did not read every record."""


class Confirmed(Enum):
    """What a direct read of one record in Visma.net says before it is removed from Simon."""

    GONE = "gone"
    """404, or the record is no longer mirrored: remove it."""
    THERE = "there"
    """Visma.net still has it, mirrored: the scan missed it; keep it."""
    UNKNOWN = "unknown"
    """No usable answer (an error, an unreadable record): keep it until the next cleanup."""


@dataclass
class Scan(Generic[T]):
    """A complete scan of one kind: the records read, and the keys of the rows that could
    not be read (they count as still there)."""

    records: list[T]
    unreadable_keys: set[str] = field(default_factory=set)


@dataclass
class CleanupResult(LoopResult):
    customers_removed: int = 0
    items_removed: int = 0
    work_addresses_removed: int = 0
    kept_in_use: int = 0
    kept_unconfirmed: int = 0
    """Records the scan missed that Visma.net still has, or whose direct read failed."""
    failed: int = 0
    """Records Simon refused to remove for a reason of their own (each logged once)."""
    incomplete: list[str] = field(default_factory=list)
    """The kinds whose Visma.net scan was incomplete, so nothing of them was removed."""
    held: dict[str, str] = field(default_factory=dict)
    """The kinds the brake held (nothing of them was removed), with the reason."""

    @property
    def complete(self) -> bool:
        return not self.incomplete and not self.held

    @property
    def problems(self) -> str:
        """Why the pass is not complete, in one line ("" when it is)."""
        problems = list(self.held.values())
        if self.incomplete:
            problems.insert(0, "the Visma.net scan was incomplete for "
                            + " and ".join(self.incomplete))
        return "; ".join(problems)

    def removed(self) -> EntityCounts:
        """What the pass removed from Simon, as `status.cleanup.removed` shows it."""
        return EntityCounts(customers=self.customers_removed, items=self.items_removed,
                            work_addresses=self.work_addresses_removed)

    def to_json(self) -> dict[str, Any]:
        return {
            "customersRemoved": self.customers_removed,
            "itemsRemoved": self.items_removed,
            "workAddressesRemoved": self.work_addresses_removed,
            "keptInUse": self.kept_in_use,
            "keptUnconfirmed": self.kept_unconfirmed,
            "failed": self.failed,
            "incomplete": list(self.incomplete),
            "held": dict(self.held),
        }

    def lines(self) -> list[str]:
        return [f"removed from Simon: {self.customers_removed} customers, "
                f"{self.items_removed} items, {self.work_addresses_removed} work addresses; "
                f"{self.kept_in_use} kept (in use)"]


async def full_scan(pages: Pages[T]) -> Scan[T]:
    """Every record of a Visma.net list, or IncompleteScan (S-32)."""
    records = await pages.all()
    if pages.short:
        if pages.total_count is None:
            raise IncompleteScan(
                f"{pages.items_read} records came without the count Visma.net sends with them")
        raise IncompleteScan(
            f"read {pages.items_read} of the {pages.total_count} records Visma.net counts")
    keyless = [problem for problem in pages.unreadable if problem.record_id is None]
    if keyless:
        shown = "; ".join(str(problem) for problem in keyless[:3])
        raise IncompleteScan(f"{len(keyless)} record(s) could not be read, not even their "
                             f"key: {shown}")
    return Scan(records, {str(problem.record_id) for problem in pages.unreadable})


async def collect(pairs: AsyncIterator[KeyPair]) -> list[KeyPair]:
    """All pairs first: deleting while paging would shift the pages."""
    return [pair async for pair in pairs]


def stops_every_record(error: ApiError) -> bool:
    """Errors no other record can get past: credentials refused, still throttled, or the
    API unreachable after every retry. They fail the loop; other errors concern one record."""
    return (isinstance(error, AuthError | RateLimitedError)
            or (isinstance(error, TransientApiError) and error.status is None))


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "all"


class Cleanup:
    """One cleanup pass for one tenant."""

    def __init__(self, visma: VismaClient, simon: SimonClient, state: TenantState, *,
                 max_removal_percent: int = DEFAULT_MAX_REMOVAL_PERCENT) -> None:
        self.visma = visma
        self.simon = simon
        self.state = state
        self.max_removal_percent = max_removal_percent
        self.result = CleanupResult()

    async def run(self) -> CleanupResult:
        await self._customers()
        await self._items()
        return self.result

    # --- the scan and the brake ------------------------------------------------------------

    async def _scan(self, kind: str, table: LogTable, pages: Pages[T]) -> Scan[T] | None:
        try:
            return await full_scan(pages)
        except (ApiError, IncompleteScan) as error:
            self.result.incomplete.append(kind)
            await self.state.log.warning(
                table, "",
                f"Cleanup skipped for {kind}: the Visma.net scan was incomplete ({error}). "
                "Nothing was removed.",
                "None needed if it passes next time; otherwise check that Visma.net is "
                "reachable.")
            log.warning("%s: cleanup of %s skipped: %s", self.state.key, kind, error)
            return None

    async def _held(self, kind: str, table: LogTable, gone: list[KeyPair],
                    pairs: list[KeyPair]) -> bool:
        """The brake (S-32): True (and an error in the log) when removing `gone` would take
        more than the allowed share of the records in Simon that came from Visma.net."""
        from_visma = sum(1 for pair in pairs if pair.ext_key)
        would = sum(1 for pair in gone if pair.ext_key)
        if would <= BRAKE_MIN_RECORDS or would * 100 <= self.max_removal_percent * from_visma:
            return False
        message = (
            f"Cleanup removed no {kind}: {would} of the {from_visma} {kind} in Simon that came "
            f"from Visma.net ({_percent(would, from_visma)}) are no longer in it, more than "
            f"the {self.max_removal_percent}% one cleanup may remove. So many at once can mean "
            "that Visma.net answered incompletely.")
        self.result.held[kind] = message
        await self.state.log.error(
            table, "", message,
            "Check Visma.net; if the removals are right, raise "
            "spec.cleanup.maxRemovalPercent (the next cleanup then removes them).",
            dedupe=True)
        log.error("%s: %s", self.state.key, message)
        return True

    # --- customers -------------------------------------------------------------------------

    async def _customers(self) -> None:
        scan = await self._scan("customers", LogTable.CUSTOMER, self.visma.customers())
        if scan is None:
            return
        mirrored = [c for c in scan.records if is_mirrored_customer(c)]
        keep = {str(c.internal_id) for c in mirrored} | scan.unreadable_keys
        pairs = await collect(self.simon.keys(SimonCustomer))
        gone = [pair for pair in pairs if pair.ext_key not in keep]
        if await self._held("customers", LogTable.CUSTOMER, gone, pairs):
            return
        for pair in gone:
            if await self._confirm(LogTable.CUSTOMER, pair) is Confirmed.GONE:
                await self._for_one(LogTable.CUSTOMER, pair, self._remove_customer(pair))
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
            await self._for_one(LogTable.WORK_ADDRESS, pair,
                                self._remove_stale_work_address(pair))

    async def _remove_stale_work_address(self, pair: KeyPair) -> None:
        if await self._delete(LogTable.WORK_ADDRESS, pair):
            await self.state.links.delete(LinkKind.LOCATION, pair.ext_key)
            self.result.work_addresses_removed += 1

    async def _remove_customer(self, pair: KeyPair) -> None:
        locations = await collect(self.simon.keys(SimonLocation, customer_id=pair.id))
        kept = 0
        for location in locations:
            if await self._for_one(LogTable.WORK_ADDRESS, location,
                                   self._delete(LogTable.WORK_ADDRESS, location)):
                await self.state.links.delete_by_simon_id(LinkKind.LOCATION, location.id)
                self.result.work_addresses_removed += 1
            else:
                kept += 1
        if kept:
            key, shown = await self._label(LogTable.CUSTOMER, pair)
            await self.state.log.warning(
                LogTable.CUSTOMER, key,
                f"Customer {shown} is no longer in Visma.net but {kept} of its work addresses "
                "could not be removed (see the entries for them), so the customer stays for "
                "now.",
                "Archive or move the open work orders on them; the next cleanup removes it.",
                dedupe=True)
            self.result.kept_in_use += 1
            return
        if await self._delete(LogTable.CUSTOMER, pair):
            await self.state.links.delete_by_simon_id(LinkKind.CUSTOMER, pair.id)
            self.result.customers_removed += 1

    # --- items -----------------------------------------------------------------------------

    async def _items(self) -> None:
        scan = await self._scan("items", LogTable.ITEM, self.visma.inventory())
        if scan is None:
            return
        keep = {str(i.inventory_id) for i in scan.records if is_mirrored_item(i)}
        keep |= scan.unreadable_keys
        pairs = await collect(self.simon.keys(SimonItem))
        gone = [pair for pair in pairs if pair.ext_key not in keep]
        if await self._held("items", LogTable.ITEM, gone, pairs):
            return
        for pair in gone:
            if await self._confirm(LogTable.ITEM, pair) is Confirmed.GONE:
                await self._for_one(LogTable.ITEM, pair, self._remove_item(pair))

    async def _remove_item(self, pair: KeyPair) -> None:
        if await self._delete(LogTable.ITEM, pair):
            await self.state.links.delete_by_simon_id(LinkKind.ITEM, pair.id)
            self.result.items_removed += 1

    # --- one record ------------------------------------------------------------------------

    async def _confirm(self, table: LogTable, pair: KeyPair) -> Confirmed:
        """Read the record in Visma.net before it is removed from Simon: a full scan can miss
        a live record (one deleted between two page reads shifts the pages)."""
        if not pair.ext_key:
            return Confirmed.GONE  # made in Simon itself: Visma.net has nothing to say
        try:
            key = int(pair.ext_key)
        except ValueError:
            return Confirmed.GONE  # no Visma.net record can have this key
        try:
            if table is LogTable.CUSTOMER:
                customer = await self.visma.customer_by_internal_id(key)
                mirrored = customer is not None and is_mirrored_customer(customer)
                found = customer is not None
            else:
                item = await self.visma.item_by_inventory_id(key)
                mirrored = item is not None and is_mirrored_item(item)
                found = item is not None
        except (ApiError, UnreadableRecordError) as error:
            if isinstance(error, ApiError) and stops_every_record(error):
                raise
            self.result.kept_unconfirmed += 1
            key_text, shown = await self._label(table, pair)
            await self.state.log.warning(
                table, key_text,
                f"{_NAMES[table]} {shown} was not in the Visma.net scan, but reading it "
                f"directly failed ({error}), so it stays for now.",
                "None needed if the next cleanup reads it; otherwise check the record in "
                "Visma.net.",
                dedupe=True)
            return Confirmed.UNKNOWN
        if mirrored:
            self.result.kept_unconfirmed += 1
            log.info("%s: %s %s was missing from the Visma.net scan but is still there; kept",
                     self.state.key, table.value, pair.ext_key)
            return Confirmed.THERE
        log.debug("%s: %s %s confirmed %s", self.state.key, table.value, pair.ext_key,
                  "no longer mirrored" if found else "deleted")
        return Confirmed.GONE

    async def _for_one(self, table: LogTable, pair: KeyPair,
                       work: Awaitable[bool | None]) -> bool:
        """Await `work` (a coroutine about one record); a failure of that record alone is one
        log entry naming it, and False. Errors that stop every record go up."""
        try:
            result = await work
        except (ApiError, UnreadableRecordError) as error:
            if isinstance(error, ApiError) and stops_every_record(error):
                raise
            self.result.failed += 1
            key, shown = await self._label(table, pair)
            await self.state.log.error(
                table, key,
                f"{_NAMES[table]} {shown} is no longer in Visma.net but could not be removed "
                f"from Simon: {error}",
                "Check the record in Simon; the next cleanup tries again.",
                dedupe=True)
            log.warning("%s: removing %s %s failed: %s", self.state.key, table.value, shown,
                        error)
            return False
        return result is not False

    async def _label(self, table: LogTable, pair: KeyPair) -> tuple[str, str]:
        """How users know a record (S-80): the log key (customer number, item code, work
        address name) and the text shown (number and name, code and description)."""
        record = None
        unreadable_label = None
        try:
            record = await self.simon.find(_MODELS[table], pair.id)
        except UnreadableRecordError as problem:
            unreadable_label = problem.label
        except ApiError as error:
            if stops_every_record(error):
                raise
        parts: list[str | None] = []
        if isinstance(record, SimonCustomer):
            parts = [record.number, record.name]
        elif isinstance(record, SimonItem):
            parts = [record.code, record.description]
        elif isinstance(record, SimonLocation):
            parts = [record.name]
        words = [part.strip() for part in parts if part and part.strip()]
        if words:
            return words[0], " ".join(words)
        if unreadable_label:
            return unreadable_label, unreadable_label
        origin = (f"from Visma.net (key {pair.ext_key})" if pair.ext_key
                  else "made in Simon")
        return pair.ext_key or str(pair.id), f"{origin}, Simon Id {pair.id}"

    async def _delete(self, table: LogTable, pair: KeyPair) -> bool:
        """Delete one record; False (and a warning) when a work order still uses it (S-32).
        Other refusals go up as that record's problem (see `_for_one`)."""
        try:
            await self.simon.delete(_MODELS[table], pair.id, missing_ok=True)
        except InUseError:
            self.result.kept_in_use += 1
            key, shown = await self._label(table, pair)
            await self.state.log.warning(
                table, key,
                f"{_NAMES[table]} {shown} is no longer in Visma.net but is used by an open work "
                "order, so it stays for now.",
                "Archive or change the open work orders; the next cleanup removes it.",
                dedupe=True)
            return False
        return True


class CleanupLoop(Loop[CleanupResult, CleanupStatus]):
    """Simon follows deletions, every `spec.schedule.cleanup` (S-30 to S-32). A pass whose
    scan was incomplete, or that the brake held, did not complete; it sets `CleanupHeld`."""

    name = "cleanup"

    async def run(self, context: LoopContext) -> CleanupResult:
        result = await Cleanup(
            context.visma, context.simon, context.state,
            max_removal_percent=context.tenant.spec.cleanup.max_removal_percent).run()
        if not result.complete:
            raise LoopFailed(result.problems, result)
        return result

    async def status(self, state: TenantState, schedule: LoopSchedule | None,
                     latest: CleanupResult | None,
                     previous: CleanupStatus | None) -> CleanupStatus:
        return CleanupStatus(
            last_success_time=schedule.last_success_at if schedule else None,
            next_run_time=schedule.next_run_at if schedule else None,
            removed=(latest.removed() if latest is not None
                     else previous.removed if previous is not None else None))

    def conditions(self, result: CleanupResult | None,
                   error: str | None) -> list[ConditionUpdate]:
        if result is None:  # the pass did nothing: the brake's verdict stands
            return []
        if result.held:
            return [ConditionUpdate(
                ConditionType.CLEANUP_HELD, True, "RemovalLimitReached",
                " ".join(result.held.values()) + " Check Visma.net; if the removals are right, "
                "raise spec.cleanup.maxRemovalPercent.")]
        return [ConditionUpdate(
            ConditionType.CLEANUP_HELD, False, "WithinRemovalLimit",
            "The last cleanup was not held by spec.cleanup.maxRemovalPercent.")]
