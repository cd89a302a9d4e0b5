"""Visma.net -> Simon: customers, their work addresses and non-stock items (SPEC S-10 to S-15).

Visma.net leads (S-1). Each pass asks Visma.net only for what changed since the kind's
high-water mark (minus an overlap for clock skew), and writes to Simon only records whose
content changed: the link table remembers a hash of what was last written (S-13). The very
first pass of a kind reads everything, page by page, recording its progress after every page
so that an interrupted first import resumes where it stopped (S-15).

Removal of what Visma.net no longer has is the cleanup's job (cleanup.py), except for work
addresses whose Visma.net address emptied or became equal to another (S-11).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from reconcilers.addresses import LOCATION_SUFFIX
from reconcilers.clients.http import (
    ApiError,
    NotFoundError,
    UnreadableRecordError,
)
from reconcilers.clients.simon.client import DuplicateExtKeyError, InUseError, SimonClient
from reconcilers.clients.simon.models import Location as SimonLocation
from reconcilers.clients.simon.models import SimonRecord
from reconcilers.clients.visma.client import VismaClient
from reconcilers.clients.visma.models import Customer, InventoryItem
from reconcilers.clients.visma.paging import Page, Pages
from reconcilers.loops.base import (
    ConditionUpdate,
    Loop,
    LoopContext,
    LoopFailed,
    LoopResult,
    Meter,
)
from reconcilers.loops.problems import RECORD_PROBLEMS, known_as, log_key, reason, shown
from reconcilers.mirroring import (
    OVERLAP,
    ROLES,
    content_hash,
    is_mirrored_customer,
    is_mirrored_item,
    location_key,
    simon_customer,
    simon_item,
    work_addresses,
)
from reconcilers.resource.status import (
    ConditionType,
    HighestModified,
    MasterDataProgress,
    MasterDataStatus,
    Progress,
)
from reconcilers.store import LinkKind, LinkUpdate, LogTable, Severity, TenantState
from reconcilers.store.records import LoopSchedule, parse_timestamp, utc_now

log = logging.getLogger(__name__)

WRITERS = 8  # customers written to Simon at once within a page

CUSTOMERS = "customers"
ITEMS = "items"

ROLE_WORDS = {"main": "main address", "invoice": "invoice address",
              "delivery": "delivery address"}


Clock = Callable[[], datetime]
T = TypeVar("T")
ProgressCallback = Callable[[str, int, int | None], Awaitable[None] | None]


@dataclass
class KindResult:
    """What one pass did for one kind (customers or items)."""

    seen: int = 0
    written: int = 0
    failed: int = 0
    newest: datetime | None = None
    first_import: bool = False
    done: int = 0
    total: int | None = None


@dataclass
class MasterDataResult(LoopResult):
    """What one master-data pass did; a pass that could not complete still carries how far
    it got (done of total, S-15)."""

    customers: KindResult = field(default_factory=KindResult)
    items: KindResult = field(default_factory=KindResult)
    work_addresses_written: int = 0
    work_addresses_removed: int = 0
    work_addresses_failed: int = 0

    @property
    def simon_writes(self) -> int:
        return (self.customers.written + self.items.written + self.work_addresses_written
                + self.work_addresses_removed)

    def to_json(self) -> dict[str, Any]:
        return {
            CUSTOMERS: _kind_json(self.customers),
            ITEMS: _kind_json(self.items),
            "workAddressesWritten": self.work_addresses_written,
            "workAddressesRemoved": self.work_addresses_removed,
            "workAddressesFailed": self.work_addresses_failed,
            "simonWrites": self.simon_writes,
        }

    def lines(self) -> list[str]:
        return [*(f"{kind}: {counts.seen} read from Visma.net, {counts.written} written to "
                  f"Simon, {counts.failed} refused"
                  for kind, counts in ((CUSTOMERS, self.customers), (ITEMS, self.items))),
                f"work addresses: {self.work_addresses_written} written, "
                f"{self.work_addresses_removed} removed"]

    def observe(self, meter: Meter) -> None:
        meter.records_written(CUSTOMERS, self.customers.written)
        meter.records_written(ITEMS, self.items.written)
        meter.records_written("workaddresses", self.work_addresses_written)


def _kind_json(counts: KindResult) -> dict[str, Any]:
    return vars(counts) | {"newest": counts.newest.isoformat() if counts.newest else None}


async def write_record(simon: SimonClient, record: SimonRecord, simon_id: int | None) -> int:
    """Update the Simon record we made before, or insert it; returns its Simon Id.

    A record already in Simon under the same ExtKey (our store was lost, or an earlier insert
    got through unanswered) is updated rather than doubled.
    """
    if simon_id is not None:
        try:
            await simon.update(record.model_copy(update={"id": simon_id}))
            return simon_id
        except NotFoundError:
            pass  # removed in Simon meanwhile: make it again
    try:
        return await simon.insert_or_find(record)
    except DuplicateExtKeyError:
        existing = await simon.find_by_ext_key(type(record), record.ext_key or "")
        if existing is None or existing.id is None:
            raise
        await simon.update(record.model_copy(update={"id": existing.id}))
        return existing.id


class MasterDataSync:
    """One master-data pass for one tenant (S-10 to S-15).

    A record that cannot be read, mapped or written is one error in the integration log,
    named the way users know it, and the pass goes on with the others. The high-water mark
    still moves past it: it is not tried again on every pass (a pass without changes writes
    nothing, S-13), but as soon as it changes in Visma.net its new modification time is past
    the mark and it is read, and tried, again. Its link keeps no hash of content that never
    reached Simon, so that retry writes it. Records the overlap window reads again unchanged
    are not sent again either: `refused` remembers the content Simon refused (for as long
    as the TenantRun lives). Only what stops every record (an API unreachable after retries,
    credentials refused) ends the pass, before any mark moves.
    """

    def __init__(
        self,
        visma: VismaClient,
        simon: SimonClient,
        state: TenantState,
        *,
        clock: Clock = utc_now,
        on_progress: ProgressCallback | None = None,
        refused: dict[str, str] | None = None,
    ) -> None:
        self.visma = visma
        self.simon = simon
        self.state = state
        self.clock = clock
        self.on_progress = on_progress
        self.result = MasterDataResult()
        self.refused = {} if refused is None else refused
        """"<link kind>:<Visma.net key>" -> the hash of the content Simon refused for it."""
        self._writers = asyncio.Semaphore(WRITERS)
        self._open_errors: dict[LogTable, set[str]] = {}

    async def run(self) -> MasterDataResult:
        # Every mark at once: an idle pass reads the store as little as it can (the marks
        # change only in this loop's own passes, one at a time).
        marks = {kind: mark.mark for kind, mark in (await self.state.marks.all()).items()}
        await self._sync_kind(CUSTOMERS, self.result.customers, marks)
        await self._sync_kind(ITEMS, self.result.items, marks)
        return self.result

    # --- the pass over one kind ----------------------------------------------------------

    async def _sync_kind(self, kind: str, result: KindResult, marks: dict[str, str]) -> None:
        mark = marks.get(kind)
        first_import = mark is None
        progress = await self.state.first_imports.get(kind) if first_import else None
        result.first_import = first_import
        started = self.clock()
        if first_import:
            start_page = int(progress.cursor) if progress and progress.cursor else 1
            done = progress.done if progress and not progress.finished else 0
            if progress and progress.cursor and not progress.finished:
                started = progress.started_at
                result.done, result.total = done, progress.total
                log.info("%s: resuming the first import of %s at page %s (%s done)",
                         self.state.key, kind, start_page, done)
            since = None
        else:
            assert mark is not None  # not a first import: the kind has a mark
            start_page, done, since = 1, 0, parse_timestamp(mark) - OVERLAP

        pages: Pages[Any] = (self.visma.customers(modified_since=since, start_page=start_page)
                 if kind == CUSTOMERS else
                 self.visma.inventory(modified_since=since, start_page=start_page))
        async for page in pages:
            if kind == CUSTOMERS:
                await self._customers_page(page)
            else:
                await self._items_page(page)
            rows = len(page.items) + len(page.unreadable)
            done += rows
            result.seen += rows
            result.failed += len(page.unreadable)
            result.done, result.total = done, pages.total_count
            for record in page.items:
                if record.last_modified and (result.newest is None
                                             or record.last_modified > result.newest):
                    result.newest = record.last_modified
            if first_import:
                await self.state.first_imports.save(
                    kind, done=done, total=pages.total_count, cursor=str(pages.next_page))
                await self._report(kind, done, pages.total_count)

        await self._finish_kind(kind, result, mark, marks.get(f"{kind}.newest"), first_import,
                                started, done)

    async def _finish_kind(self, kind: str, result: KindResult, mark: str | None,
                           newest_before: str | None, first_import: bool, started: datetime,
                           done: int) -> None:
        """Move the high-water marks once the whole pass is read (S-13, S-14). Records that
        failed do not hold them back (see the class)."""
        newest = result.newest
        if newest_before and (newest is None or parse_timestamp(newest_before) > newest):
            newest = parse_timestamp(newest_before)
        if newest is not None and newest.isoformat() != newest_before:
            await self.state.marks.set(f"{kind}.newest", newest.isoformat())
        if first_import:
            # Anything changed while the first import ran is newer than its start.
            base = started if newest is None else min(newest, started)
            await self.state.marks.set(kind, base.isoformat())
            await self.state.first_imports.finish(kind, done=done)
            failed = f", {result.failed} could not be sent (see the errors)" \
                if result.failed else ""
            await self.state.log.info(
                LogTable.CUSTOMER if kind == CUSTOMERS else LogTable.ITEM, "",
                f"First import of {kind} finished: {done} read from Visma.net, "
                f"{result.written} written to Simon{failed}.")
        elif result.newest is not None and (mark is None
                                             or result.newest > parse_timestamp(mark)):
            await self.state.marks.set(kind, result.newest.isoformat())

    async def _report(self, kind: str, done: int, total: int | None) -> None:
        log.info("%s: first import of %s: %s/%s", self.state.key, kind, done,
                 total if total is not None else "?")
        if self.on_progress is not None:
            outcome = self.on_progress(kind, done, total)
            if outcome is not None:
                await outcome

    async def _unreadable(self, kind: str, problems: Sequence[UnreadableRecordError]) -> None:
        """One error entry for every Visma.net row of a page that could not be read."""
        noun = "customer" if kind == CUSTOMERS else "item"
        for problem in problems:
            # The label says "customer 10023 Bakker" ("customer" alone when nothing is
            # readable); the key is what follows the noun.
            label = shown(problem.label) if problem.label else ""
            if label == noun or label.startswith(noun + " "):
                label = label[len(noun):].strip()
            known = f"{noun} {label}" if label else known_as(
                None, None, noun=noun, fallback=problem.record_id)
            log.warning("%s: Visma.net %s unreadable: %s", self.state.key, known,
                        reason(problem))
            await self.state.log.error(
                LogTable.CUSTOMER if kind == CUSTOMERS else LogTable.ITEM,
                log_key(problem.number, label, f"a {noun} without number"),
                f"Visma.net sent {known} in a form the integration cannot read "
                f"({reason(problem)}), so it is not sent to Simon.",
                f"Check the {noun} in Visma.net and correct or save it again; it is read "
                "again when it changes.",
                dedupe=True)

    @staticmethod
    async def _each(records: Sequence[T], one: Callable[[T], Awaitable[None]]) -> None:
        """`one` for every record at once; a failure that stops the pass is raised only
        after all have ended, so that what the others wrote is remembered."""
        outcomes = await asyncio.gather(*(one(r) for r in records), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    # --- customers and their work addresses (S-10, S-11) ---------------------------------

    async def _customers_page(self, page: Page[Customer]) -> None:
        await self._unreadable(CUSTOMERS, page.unreadable)
        mirrored = [c for c in page.items if is_mirrored_customer(c)]
        keys = [str(c.internal_id) for c in mirrored]
        links = await self.state.links.get_many(LinkKind.CUSTOMER, keys)
        location_links = await self.state.links.get_many(
            LinkKind.LOCATION, [location_key(k, role) for k in keys for role in ROLES])
        written: list[LinkUpdate] = []
        written_locations: list[LinkUpdate] = []

        async def one(customer: Customer) -> None:
            async with self._writers:
                await self._customer(customer, links, location_links, written,
                                     written_locations)

        try:
            await self._each(mirrored, one)
        finally:
            if written:
                await self.state.links.put_many(LinkKind.CUSTOMER, written)
            if written_locations:
                await self.state.links.put_many(LinkKind.LOCATION, written_locations)

    async def _customer(
        self, customer: Customer, links: dict, location_links: dict,
        written: list[LinkUpdate], written_locations: list[LinkUpdate],
    ) -> None:
        key = str(customer.internal_id)
        known = known_as(customer.number, customer.name, noun="customer", fallback=key)
        try:
            record = simon_customer(customer)
            wanted = work_addresses(customer)
        except RECORD_PROBLEMS as problem:
            await self._customer_failed(
                customer, f"The addresses of {known} cannot be made into Simon addresses "
                f"({reason(problem)}), so the customer is not sent to Simon.")
            return
        digest = content_hash(record)
        link = links.get(key)
        refused = f"{LinkKind.CUSTOMER}:{key}"
        if self.refused.get(refused) == digest:
            self.result.customers.failed += 1  # refused as it is: the entry is in the log
            return
        try:
            if link is None or link.content_hash != digest:
                simon_id = await write_record(self.simon, record,
                                              link.simon_id if link else None)
                written.append(LinkUpdate(key, simon_id, digest))
                self.result.customers.written += 1
            else:
                simon_id = link.simon_id
        except RECORD_PROBLEMS as problem:
            self.refused[refused] = digest
            await self._customer_failed(customer, f"Simon refused {known}: {reason(problem)}")
            return
        self.refused.pop(refused, None)
        await self._fixed(LogTable.CUSTOMER, log_key(customer.number, customer.name))
        written_locations.extend(
            await self._work_addresses(customer, simon_id, wanted, location_links))

    async def _fixed(self, table: LogTable, key: str) -> None:
        """A record that went through this pass: the errors about it are over. The keys with
        open errors are read once per pass, and only by a pass that meets a record."""
        if table not in self._open_errors:
            self._open_errors[table] = await self.state.log.open_keys(table)
        if key in self._open_errors[table]:
            self._open_errors[table].discard(key)
            await self.state.log.resolve(table, key, severities=[Severity.ERROR])

    async def _customer_failed(self, customer: Customer, message: str) -> None:
        self.result.customers.failed += 1
        log.warning("%s: %s", self.state.key, message)
        await self.state.log.error(
            LogTable.CUSTOMER, log_key(customer.number, customer.name), message,
            "Correct the customer in Visma.net; it is sent again when it changes.",
            dedupe=True)

    async def _work_addresses(
        self, customer: Customer, customer_id: int, wanted: dict[str, SimonLocation],
        location_links: dict,
    ) -> list[LinkUpdate]:
        """Each work address on its own: one Simon refuses is one error, the others go on."""
        updates: list[LinkUpdate] = []
        for role in ROLES:
            key = location_key(customer.internal_id, role)
            link = location_links.get(key)
            location = wanted.get(role)
            name = customer.name + LOCATION_SUFFIX[role]
            digest: str | None = None
            try:
                if location is None:
                    if link is not None:
                        await self._remove_work_address(customer, key, name, link.simon_id)
                    continue
                location = location.model_copy(update={"customer_id": customer_id})
                digest = content_hash(location)
                if link is not None and link.content_hash == digest:
                    continue
                if self.refused.get(f"{LinkKind.LOCATION}:{key}") == digest:
                    self.result.work_addresses_failed += 1
                    continue
                simon_id = await write_record(self.simon, location,
                                              link.simon_id if link else None)
            except RECORD_PROBLEMS as problem:
                if digest is not None:
                    self.refused[f"{LinkKind.LOCATION}:{key}"] = digest
                self.result.work_addresses_failed += 1
                message = (f"Simon refused work address {shown(name)} ({ROLE_WORDS[role]} of "
                           f"{known_as(customer.number, customer.name, noun='customer')}): "
                           f"{reason(problem)}")
                log.warning("%s: %s", self.state.key, message)
                await self.state.log.error(
                    LogTable.WORK_ADDRESS, log_key(name, customer.number), message,
                    f"Correct the {ROLE_WORDS[role]} of the customer in Visma.net; it is sent "
                    "again when the customer changes.",
                    dedupe=True)
                continue
            assert digest is not None
            self.refused.pop(f"{LinkKind.LOCATION}:{key}", None)
            await self._fixed(LogTable.WORK_ADDRESS, log_key(name, customer.number))
            updates.append(LinkUpdate(key, simon_id, digest))
            self.result.work_addresses_written += 1
        return updates

    async def _remove_work_address(self, customer: Customer, key: str, name: str,
                                   simon_id: int) -> None:
        """S-11: the Visma.net address emptied or became equal to another one."""
        try:
            await self.simon.delete(SimonLocation, simon_id, missing_ok=True)
        except InUseError:
            await self.state.log.warning(
                LogTable.WORK_ADDRESS, log_key(name, customer.number),
                f"Work address {shown(name)} of "
                f"{known_as(customer.number, customer.name, noun='customer')} is no longer "
                "in Visma.net but is used by an open work order, so it stays for now.",
                "Archive or move the open work orders; it is removed at a later pass.",
                dedupe=True)
            return
        await self.state.links.delete(LinkKind.LOCATION, key)
        self.result.work_addresses_removed += 1

    # --- items (S-12) ----------------------------------------------------------------------

    async def _items_page(self, page: Page[InventoryItem]) -> None:
        await self._unreadable(ITEMS, page.unreadable)
        mirrored = [i for i in page.items if is_mirrored_item(i)]
        links = await self.state.links.get_many(
            LinkKind.ITEM, [str(i.inventory_id) for i in mirrored])
        written: list[LinkUpdate] = []

        async def one(item: InventoryItem) -> None:
            key = str(item.inventory_id)
            known = known_as(item.number, item.description, noun="item", fallback=key)
            refused = f"{LinkKind.ITEM}:{key}"
            digest: str | None = None
            simon_id: int | None = None  # stays None when Simon holds the item as it is
            try:
                record = simon_item(item)
                digest = content_hash(record)
                link = links.get(key)
                if link is None or link.content_hash != digest:
                    if self.refused.get(refused) == digest:
                        self.result.items.failed += 1  # refused as it is: the entry is logged
                        return
                    async with self._writers:
                        simon_id = await write_record(self.simon, record,
                                                      link.simon_id if link else None)
            except RECORD_PROBLEMS as problem:
                if digest is not None:
                    self.refused[refused] = digest
                self.result.items.failed += 1
                message = f"Simon refused {known}: {reason(problem)}"
                log.warning("%s: %s", self.state.key, message)
                await self.state.log.error(
                    LogTable.ITEM, log_key(item.number, item.description), message,
                    "Correct the item in Visma.net; it is sent again when it changes.",
                    dedupe=True)
                return
            assert digest is not None
            self.refused.pop(refused, None)
            await self._fixed(LogTable.ITEM, log_key(item.number, item.description))
            if simon_id is not None:
                written.append(LinkUpdate(key, simon_id, digest))
                self.result.items.written += 1

        try:
            await self._each(mirrored, one)
        finally:
            if written:
                await self.state.links.put_many(LinkKind.ITEM, written)


class MasterDataLoop(Loop[MasterDataResult, MasterDataStatus]):
    """Visma.net -> Simon customers, work addresses and items, every
    `spec.schedule.masterData` (S-10 to S-15). Sets the `Synced` condition."""

    name = "masterData"

    async def run(self, context: LoopContext) -> MasterDataResult:
        sync = MasterDataSync(context.visma, context.simon, context.state,
                              refused=context.refused)
        try:
            return await sync.run()
        except ApiError as error:  # what it did still counts, and how far it got (S-15)
            raise LoopFailed(str(error), sync.result) from error

    async def status(self, state: TenantState, schedule: LoopSchedule | None,
                     latest: MasterDataResult | None,
                     previous: MasterDataStatus | None) -> MasterDataStatus:
        marks = await state.marks.all()
        progress = await state.first_imports.all()

        def newest(kind: str) -> datetime | None:
            mark = marks.get(f"{kind}.newest")
            return datetime.fromisoformat(mark.mark) if mark else None

        def running(kind: str) -> Progress | None:
            p = progress.get(kind)
            return Progress(done=p.done, total=p.total) if p and not p.finished else None

        customers, items = running(CUSTOMERS), running(ITEMS)
        return MasterDataStatus(
            last_success_time=schedule.last_success_at if schedule else None,
            customers=await state.links.count(LinkKind.CUSTOMER),
            items=await state.links.count(LinkKind.ITEM),
            work_addresses=await state.links.count(LinkKind.LOCATION),
            highest_modified=HighestModified(customers=newest(CUSTOMERS), items=newest(ITEMS)),
            progress=(MasterDataProgress(customers=customers, items=items)
                      if customers or items else None),
        )

    def conditions(self, result: MasterDataResult | None,
                   error: str | None) -> list[ConditionUpdate]:
        if error is None:
            return [ConditionUpdate(ConditionType.SYNCED, True, "ReconcileSuccess",
                                    "Master data is in step with Visma.net.")]
        return [ConditionUpdate(ConditionType.SYNCED, False, "ReconcileError",
                                error or "The last master-data pass failed.")]
