"""Visma.net sales orders and quotes -> Simon work orders (SPEC S-60).

For each enabled kind (sales orders `SO`, quotes `QT`, each with its own filter word) a pass
reads the orders changed since the kind's high-water mark (minus an overlap) from the
SalesOrders v3 list, oldest change first, and keeps those whose description contains the
filter word, case-insensitively. Each kept order that was not imported before is read with
its note and customer, and becomes one Simon work order on the order's customer and that
customer's main work address (`<internalId>/main`), with `ExtKey` `<type>-<orderId>`. When
the kind asks for it, the order lines become `UsedItem`s for the technician to confirm.

Each order is imported once, even across crashes: the work order is inserted with
`insert_or_find` (Simon refuses a second record with the same ExtKey, and a lost answer is
resolved by looking the ExtKey up), its lines likewise under `<type>-<orderId>/<lineId>`, and
only then is the order recorded in the store, which lets later passes skip it without
asking Simon.

Customers and work addresses are never made here (that is the master-data pass's job). An
order whose customer or main work address is not in Simon yet *waits*: a warning is logged
and the order id is kept in the kind's pending list (the mark `salesorders-<type>.pending`).
Every pass re-reads the pending orders explicitly, so the high-water mark itself moves on
with the newest change seen and one order that waits for weeks does not make every pass
re-read everything after it. Orders Simon refused are kept pending the same way.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any

from reconcilers.clients.http import RequestRejectedError, UnreadableRecordError
from reconcilers.clients.simon.client import SimonClient
from reconcilers.clients.simon.models import Customer as SimonCustomer
from reconcilers.clients.simon.models import Item as SimonItem
from reconcilers.clients.simon.models import Location as SimonLocation
from reconcilers.clients.simon.models import SimonRecord, UsedItem, WorkOrder
from reconcilers.clients.visma.client import VismaClient
from reconcilers.clients.visma.models import SalesOrder, SalesOrderLine, SalesOrderSummary
from reconcilers.loops.base import Loop, LoopContext, LoopResult
from reconcilers.loops.problems import problem_text, stops_the_pass
from reconcilers.mirroring import OVERLAP, location_key
from reconcilers.resource.spec import Imports, ImportSettings
from reconcilers.resource.status import ImportsStatus
from reconcilers.store import LogTable, TenantState, order_key
from reconcilers.store.records import LoopSchedule, Severity, parse_timestamp
from reconcilers.text import repaired_text

log = logging.getLogger(__name__)

SALES_ORDER = "SO"
QUOTE = "QT"
ORDER_NAMES = {SALES_ORDER: "Sales order", QUOTE: "Quote"}
WAIT_ACTION = "Wait for the next master-data pass; it is imported then."
NO_ADDRESS_ACTION = ("Check that the customer has an address in Visma.net; the next "
                     "master-data pass makes its main work address and the order is imported "
                     "then.")
UNKNOWN_CUSTOMER_ACTION = ("Check the order's customer in Visma.net; the order is tried again "
                           "at every pass.")


def mark_kind(order_type: str) -> str:
    """The high-water mark of one order type: the newest `lastModified` seen."""
    return f"salesorders-{order_type}"


def pending_kind(order_type: str) -> str:
    """The mark holding the ids of the orders of one type that wait (a JSON list)."""
    return f"salesorders-{order_type}.pending"


def matches(description: str | None, filter_word: str) -> bool:
    """S-60: the description contains the filter word, case-insensitively."""
    return bool(description) and filter_word.casefold() in (description or "").casefold()


def work_order_description(order: SalesOrder) -> str:
    """The order's description, and its note after a blank line when it has one."""
    parts = [text.strip() for text in (order.description, order.note) if text and text.strip()]
    return "\n\n".join(parts)


def line_key(key: str, line: SalesOrderLine) -> str:
    """The ExtKey of the UsedItem made from an order line: `SO-000223/1`."""
    return f"{key}/{line.line_id}"


def _set(**fields: Any) -> dict[str, Any]:
    """Only the fields that have a value (a Simon record sends only the fields set)."""
    return {name: value for name, value in fields.items() if value is not None}


class Outcome(Enum):
    IMPORTED = "imported"
    WAITING = "waiting"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass
class ImportResult(LoopResult):
    """What one import pass did, over both kinds."""

    imported: int = 0
    """Orders that became Simon work orders in this pass."""
    waiting: int = 0
    """Orders whose customer or main work address is not in Simon yet; tried every pass."""
    skipped: int = 0
    """Orders read but not imported: no filter word, imported before, or gone."""
    failed: int = 0
    """Orders Simon refused (an error in the log); tried again every pass."""
    used_items: int = 0
    """Order lines written to Simon as UsedItems."""

    def to_json(self) -> dict[str, Any]:
        return {"imported": self.imported, "waiting": self.waiting, "skipped": self.skipped,
                "failed": self.failed, "usedItems": self.used_items}

    def lines(self) -> list[str]:
        return [f"orders and quotes: {self.imported} imported as work orders, "
                f"{self.waiting} waiting for their customer"]


@dataclass(frozen=True)
class _Target:
    """Where an order's work order goes in Simon."""

    customer_id: int
    location_id: int


@dataclass(frozen=True)
class _Wait:
    """Why an order cannot go to Simon yet, and what to do about it."""

    reason: str
    action: str


class OrderImport:
    """One import pass for one tenant (S-60): `await OrderImport(...).run()`."""

    def __init__(
        self,
        visma: VismaClient,
        simon: SimonClient,
        state: TenantState,
        settings: Imports,
    ) -> None:
        self.visma = visma
        self.simon = simon
        self.state = state
        self.settings = settings
        self.result = ImportResult()
        # Lookups within one pass: Visma customer internalId -> Simon target (or why not),
        # customer number -> internalId, item code -> Simon item Id.
        self._targets: dict[int, _Target | _Wait] = {}
        self._internal_ids: dict[str, int | None] = {}
        self._items: dict[str, int | None] = {}

    async def run(self) -> ImportResult:
        kinds = [(order_type, options) for order_type, options in
                 ((SALES_ORDER, self.settings.sales_orders), (QUOTE, self.settings.quotes))
                 if options.enabled]
        if not kinds:
            return self.result
        # Every mark in one read: an idle pass reads the store as little as it can (only
        # this loop's passes, one at a time, change these marks).
        marks = {kind: mark.mark for kind, mark in (await self.state.marks.all()).items()}
        for order_type, options in kinds:
            await self._import_kind(order_type, options, marks)
        return self.result

    # --- one kind ------------------------------------------------------------------------

    async def _import_kind(self, order_type: str, options: ImportSettings,
                           marks: dict[str, str]) -> None:
        mark = marks.get(mark_kind(order_type))
        newest = parse_timestamp(mark) if mark else None
        since = newest - OVERLAP if newest else None
        pending_text = marks.get(pending_kind(order_type))
        pending_before = _load_ids(pending_text)
        pending: list[str] = []
        seen: set[str] = set()

        async for page in self.visma.sales_orders(order_type, modified_since=since):
            for problem in page.unreadable:
                await self._unreadable_row(order_type, problem)
            candidates: list[SalesOrderSummary] = []
            for row in page.items:
                seen.add(row.order_id)
                if row.last_modified and (newest is None or row.last_modified > newest):
                    newest = row.last_modified
                if matches(row.description, options.filter_word):
                    candidates.append(row)
                else:
                    self.result.skipped += 1
            await self._import_all(order_type, [r.order_id for r in candidates], options,
                                   pending)

        # Orders that waited (or were refused) in an earlier pass and did not change since.
        await self._import_all(order_type, [i for i in pending_before if i not in seen],
                               options, pending)

        # The pending list first: a crash before the mark moves only re-reads more.
        if pending or pending_before:
            new_text = json.dumps(pending)
            if new_text != pending_text:
                await self.state.marks.set(pending_kind(order_type), new_text)
        if newest is not None and (mark is None or newest > parse_timestamp(mark)):
            await self.state.marks.set(mark_kind(order_type), newest.isoformat())

    async def _import_all(self, order_type: str, order_ids: list[str],
                          options: ImportSettings, pending: list[str]) -> None:
        """Import the given orders, oldest first, skipping those imported before; the ids
        of the ones that wait or were refused are added to `pending`."""
        keys = {order_id: order_key(order_type, order_id) for order_id in order_ids}
        done = await self.state.imported_orders.imported_keys(keys.values())
        for order_id in order_ids:
            if keys[order_id] in done:
                self.result.skipped += 1
                continue
            outcome = await self._guarded(order_type, order_id, options)
            if outcome in (Outcome.WAITING, Outcome.FAILED) and order_id not in pending:
                pending.append(order_id)
            if outcome is Outcome.IMPORTED:
                self.result.imported += 1
            elif outcome is Outcome.WAITING:
                self.result.waiting += 1
            elif outcome is Outcome.FAILED:
                self.result.failed += 1
            else:
                self.result.skipped += 1

    # --- one order -----------------------------------------------------------------------

    async def _guarded(self, order_type: str, order_id: str,
                       options: ImportSettings) -> Outcome:
        """Import one order so that whatever is wrong with it stays its own problem: one
        error entry naming the order (type and number), tried again at the next pass; the
        pass goes on with the others. What stops every order (unreachable, credentials
        refused) ends the pass."""
        try:
            return await self._import_order(order_type, order_id, options)
        except Exception as error:
            if stops_the_pass(error):
                raise
            key = order_key(order_type, repaired_text(order_id))
            name = f"{ORDER_NAMES.get(order_type, order_type)} {repaired_text(order_id)}"
            log.warning("%s: %s could not be imported: %r", self.state.key, key, error)
            await self.state.log.error(
                LogTable.WORK_ORDER, key,
                f"{name} could not be imported into Simon: {problem_text(error)}.",
                "Correct the order in Visma.net or the data in Simon; it is tried again at "
                "every pass.", dedupe=True)
            return Outcome.FAILED

    async def _unreadable_row(self, order_type: str, problem: UnreadableRecordError) -> None:
        """A row of the order list that could not be read: one error entry naming it."""
        label = problem.label or (f"{ORDER_NAMES.get(order_type, order_type)} "
                                  f"{problem.record_id}" if problem.record_id else None)
        key = (order_key(order_type, repaired_text(str(problem.record_id)))
               if problem.record_id else order_type)
        await self.state.log.error(
            LogTable.WORK_ORDER, key,
            f"{label or 'An order'} cannot be read from Visma.net, so it was not imported: "
            f"{'; '.join(problem.problems)}.",
            "Correct the order in Visma.net; it is read again when it changes.", dedupe=True)
        self.result.failed += 1

    async def _import_order(self, order_type: str, order_id: str,
                            options: ImportSettings) -> Outcome:
        key = order_key(order_type, order_id)
        name = f"{ORDER_NAMES.get(order_type, order_type)} {order_id}"
        order = await self.visma.sales_order(order_type, order_id, expand=("Note", "Customer"))
        if order is None:
            log.info("%s: %s is gone from Visma.net; not imported", self.state.key, key)
            return Outcome.SKIPPED
        if not matches(order.description, options.filter_word):
            return Outcome.SKIPPED  # the word was taken out since the list was read
        customer = _customer_label(order)
        target = await self._target(order)
        if isinstance(target, _Wait):
            await self.state.log.warning(
                LogTable.WORK_ORDER, key, f"{name} of customer {customer} waits: "
                f"{target.reason}.", target.action, dedupe=True)
            return Outcome.WAITING

        work_order = WorkOrder(**_set(
            ext_key=key, reference=order.reference or None,
            description=work_order_description(order) or None,
            customer_id=target.customer_id, location_id=target.location_id))
        lines = (await self.visma.sales_order_lines(order_type, order_id)
                 if options.include_lines else [])
        try:
            work_order_id = await self.simon.insert_or_find(work_order)
            for line in lines:
                await self._used_item(key, name, work_order_id, line)
        except RequestRejectedError as error:
            await self.state.log.error(
                LogTable.WORK_ORDER, key,
                f"Simon refused the work order for {name.lower()} of customer {customer}: "
                f"{error.message}",
                "Correct the order in Visma.net or the data in Simon; it is tried again at "
                "every pass.", dedupe=True)
            return Outcome.FAILED

        # The problems the log named about this order before (waiting, refused) are over.
        await self.state.log.resolve(LogTable.WORK_ORDER, key,
                                     severities=[Severity.WARNING, Severity.ERROR])
        if await self.state.imported_orders.record(key, work_order_id):
            lines_text = f" with {len(lines)} line(s) to confirm" if lines else ""
            await self.state.log.info(
                LogTable.WORK_ORDER, key,
                f"{name} of customer {customer} was imported into Simon as a work "
                f"order{lines_text}.")
            log.info("%s: %s imported as Simon work order %s", self.state.key, key,
                     work_order_id)
            return Outcome.IMPORTED
        return Outcome.SKIPPED  # another replica recorded it meanwhile

    async def _used_item(self, key: str, name: str, work_order_id: int,
                         line: SalesOrderLine) -> None:
        item_id = await self._item_id(line.item_number) if line.item_number else None
        if line.item_number and item_id is None:
            await self.state.log.info(
                LogTable.WORK_ORDER, key,
                f"Line {line.line_id} of {name.lower()}: item {line.item_number} is not in "
                "Simon, so the line is added as free text without an item.",
                "None needed; link the item in Simon if the technician should book it.")
        await self.simon.insert_or_find(UsedItem(**_set(
            ext_key=line_key(key, line), work_order_id=work_order_id, item_id=item_id,
            code=line.item_number, description=line.description,
            quantity=line.quantity if line.quantity is not None else Decimal(0),
            unit=line.unit, price=line.unit_price)))
        self.result.used_items += 1

    # --- lookups -------------------------------------------------------------------------

    async def _target(self, order: SalesOrder) -> _Target | _Wait:
        """The Simon customer and main work address of an order's customer, or why not."""
        internal_id = order.customer_internal_id
        if internal_id is None and order.customer_number:
            number = order.customer_number
            if number not in self._internal_ids:
                customer = await self.visma.customer(number)
                self._internal_ids[number] = customer.internal_id if customer else None
            internal_id = self._internal_ids[number]
        if internal_id is None:
            return _Wait("the customer is not found in Visma.net", UNKNOWN_CUSTOMER_ACTION)
        if internal_id not in self._targets:
            self._targets[internal_id] = await self._find_target(internal_id)
        return self._targets[internal_id]

    async def _find_target(self, internal_id: int) -> _Target | _Wait:
        customer_id = await self._simon_id(SimonCustomer, str(internal_id))
        if customer_id is None:
            return _Wait("the customer is not in Simon yet", WAIT_ACTION)
        location_id = await self._simon_id(SimonLocation, location_key(internal_id, "main"))
        if location_id is None:
            return _Wait("the customer's main work address is not in Simon yet",
                         NO_ADDRESS_ACTION)
        return _Target(customer_id, location_id)

    async def _simon_id(self, model: type[SimonRecord], ext_key: str) -> int | None:
        async for pair in self.simon.keys(model, ext_key=ext_key):
            if pair.ext_key == ext_key:
                return pair.id
        return None

    async def _item_id(self, code: str) -> int | None:
        """The Simon item mirrored from the Visma.net item with this number (its Code); items
        made in Simon itself (no ExtKey) do not count."""
        if code not in self._items:
            found = None
            async for pair in self.simon.keys(SimonItem, code=code):
                if pair.ext_key:
                    found = pair.id
                    break
            self._items[code] = found
        return self._items[code]


def _customer_label(order: SalesOrder) -> str:
    number = order.customer_number or "?"
    return f"{number} ({order.customer_name})" if order.customer_name else number


def _load_ids(text: str | None) -> list[str]:
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return []
    return [str(i) for i in value] if isinstance(value, list) else []


class ImportsLoop(Loop[ImportResult, ImportsStatus]):
    """Visma.net sales orders and quotes -> Simon work orders, every
    `spec.schedule.imports` (S-60)."""

    name = "imports"

    async def run(self, context: LoopContext) -> ImportResult:
        return await OrderImport(context.visma, context.simon, context.state,
                                 context.tenant.spec.imports).run()

    async def status(self, state: TenantState, schedule: LoopSchedule | None,
                     latest: ImportResult | None,
                     previous: ImportsStatus | None) -> ImportsStatus:
        return ImportsStatus(last_success_time=schedule.last_success_at if schedule else None,
                             imported=await state.imported_orders.count())
