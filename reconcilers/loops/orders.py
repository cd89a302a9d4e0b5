"""Archived Simon work orders -> Visma.net sales orders or customer invoices (SPEC S-40 to S-51).

Every completed and archived work order becomes exactly one Visma.net document, or one clear
error in the integration log (S-4). The ledger in the store makes that true across crashes,
timeouts and retries: a work order is claimed, recorded as `creating` with the marker the
operator writes on the document (the sales order's customer order number, the invoice's
external reference) *before* Visma.net is asked to create it, and `created` right after.
A pass first takes over work orders left in doubt and searches Visma.net for their marker,
creating a document only when none exists.

Work orders are found through Simon's `readsync` cursor; a work order that failed for a
reason the user can fix is tried again when it changes in Simon (S-41).

One work order that cannot be read, mapped or sent (a field Simon sends in no usable form, a
work address that is gone, an item Visma.net does not know, a document Visma.net refuses) is
one error entry in the integration log, naming the work order by its number, and the pass
goes on with the others (DESIGN.md section 4, api/simon.md "Read tolerantly"). Only what
stops every work order ends the pass early: an API unreachable after every retry, or
credentials refused.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from pydantic import ValidationError

from reconcilers.addresses import PostalAddress
from reconcilers.clients.http import (
    ApiError,
    InDoubtError,
    NotFoundError,
    RequestRejectedError,
    UnreadableRecordError,
)
from reconcilers.clients.simon.client import SimonClient
from reconcilers.clients.simon.models import Change, WorkOrder, WorkOrderDetails
from reconcilers.clients.simon.models import Item as SimonItem
from reconcilers.clients.visma.client import VismaClient
from reconcilers.clients.visma.models import DocumentLine
from reconcilers.documents import rendering
from reconcilers.documents.writers import AnyWriter, Document, Draft, writer_for
from reconcilers.loops.base import Loop, LoopContext, LoopFailed, LoopResult, Meter
from reconcilers.loops.problems import problem_text, stops_the_pass
from reconcilers.resource.spec import (
    Attachments,
    CustomerReference,
    DocumentType,
    Note,
    OrderSettings,
    PdfSource,
)
from reconcilers.resource.status import OrdersStatus
from reconcilers.store import (
    LedgerEntry,
    LogTable,
    TenantState,
    WorkOrderClaim,
    WorkOrderState,
)
from reconcilers.store.leases import current_lease
from reconcilers.store.ledger import LedgerConflict
from reconcilers.store.records import LoopSchedule, Severity, parse_timestamp
from reconcilers.text import quoted, repaired_text

log = logging.getLogger(__name__)

CURSOR = "workorders"
READ_OVERLAP = timedelta(minutes=1)
"""Each pass reads Simon's changes from this far behind the newest Modified it has seen
(api/simon.md 5.5): a work order whose Modified lands just behind it (two writes in one
millisecond, a write committed late, a Simon server's clock lagging) is still read. The
ledger makes reading a work order twice harmless."""
REFERENCE_LIMIT = 40  # Visma.net's customer reference fields (S-48)
PASSED_OVER = "archived before the integration was activated (S-40)"
WORK, TRAVEL = "Work", "Travel"
COMPLETED = "Completed"

TRY_AGAIN = "then archive the work order again in Simon (it is sent once it changes)"








class FixableError(Exception):
    """A work order that cannot be sent until a user fixes something (S-41)."""

    def __init__(self, message: str, action: str) -> None:
        super().__init__(message)
        self.message = message
        self.action = action


@dataclass
class OrdersResult(LoopResult):
    """What one orders pass did (S-40 to S-51)."""

    sent: int = 0
    failed: int = 0
    skipped: int = 0
    passed_over: int = 0
    recovered: int = 0
    waiting: int = 0
    error: str | None = None
    """Why the pass stopped early (Visma.net or Simon unreachable); None when it completed."""

    def to_json(self) -> dict[str, Any]:
        return {"sent": self.sent, "failed": self.failed, "skipped": self.skipped,
                "passedOver": self.passed_over, "recovered": self.recovered,
                "waiting": self.waiting}

    def lines(self) -> list[str]:
        return [f"work orders: {self.sent} sent, {self.failed} failed (see the log), "
                f"{self.skipped} skipped, {self.passed_over} passed over"]

    def observe(self, meter: Meter) -> None:
        meter.documents_sent(self.sent)


def hours(minutes: int) -> Decimal:
    """Minutes as hours, two decimals: 120 -> 2, 15 -> 0.25 (S-42, S-43)."""
    return (Decimal(minutes) / 60).quantize(Decimal("0.01"), ROUND_HALF_UP).normalize()


def marker_of(work_order_id: int) -> str:
    """What the operator writes on every document to find it again (DESIGN.md section 3)."""
    return f"SIMON-WO-{work_order_id}"


def is_sendable(work_order: WorkOrder) -> bool:
    """S-40: completed and archived."""
    return bool(work_order.archived) and work_order.status == COMPLETED


def skip_word_found(details: WorkOrderDetails, word: str | None) -> bool:
    """S-46: the skip word in WorkPerformed or Description, case-insensitively."""
    if not word:
        return False
    text = f"{details.work_order.work_performed or ''}\n{details.work_order.description or ''}"
    return word.casefold() in text.casefold()


def note_text(details: WorkOrderDetails, setting: Note) -> str | None:
    """S-47: work address (one line), work description, both (address first), or nothing."""
    wo, location = details.work_order, details.location
    address = ""
    if location is not None:
        street = " ".join(p for p in (location.street, location.house_number) if p)
        address = PostalAddress(line1=street, postal_code=location.postal_code or "",
                                city=location.city or "").one_line()
    description = wo.work_performed or wo.description or ""
    parts = {
        Note.NONE: [],
        Note.WORK_ADDRESS: [address],
        Note.WORK_DESCRIPTION: [description],
        Note.WORK_ADDRESS_AND_DESCRIPTION: [address, description],
    }[setting]
    text = "\n".join(p for p in parts if p)
    return text[:2048] or None


def reference_text(work_order: WorkOrder, setting: CustomerReference) -> tuple[str | None, bool]:
    """S-48: (the customer reference, whether it was cut to 40 characters)."""
    number, reference = work_order.number or "", work_order.reference or ""
    text = {
        CustomerReference.NONE: "",
        CustomerReference.WORK_ORDER_NUMBER: number,
        CustomerReference.CUSTOMER_REFERENCE: reference,
        CustomerReference.BOTH: " / ".join(p for p in (number, reference) if p),
    }[setting]
    if len(text) > REFERENCE_LIMIT:
        return text[:REFERENCE_LIMIT], True
    return text or None, False


def time_lines(details: WorkOrderDetails, settings: OrderSettings,
               warehouse: str | None) -> list[DocumentLine]:
    """S-42, S-43: work and travel minutes added up, one line each, no price."""
    lines = []
    for kind, item in ((WORK, settings.work_time_item), (TRAVEL, settings.travel_time_item)):
        minutes = sum(t.minutes or 0 for t in details.time_sheets if t.kind == kind)
        if item and minutes > 0:
            lines.append(DocumentLine(item_number=item, quantity=hours(minutes),
                                      warehouse=warehouse))
    return lines


class OrderPush:
    """One orders pass for one tenant (S-40 to S-51)."""

    def __init__(
        self,
        visma: VismaClient,
        simon: SimonClient,
        state: TenantState,
        settings: OrderSettings,
    ) -> None:
        self.visma = visma
        self.simon = simon
        self.state = state
        self.settings = settings
        self.writer = writer_for(settings.document_type, visma)
        """What new work orders become; one begun before keeps its own (`_begun_as`)."""
        self.result = OrdersResult()
        lease = current_lease()
        self.lease = lease.token if lease is not None else None
        """The token of the tenant's orders lease this pass holds (the runner takes it): the
        ledger records it on the rows the pass claims."""
        self._item_codes: dict[int, tuple[str, str]] = {}
        self._maybe_sent: set[int] = set()
        """Work orders whose create request may have reached Visma.net (a lost answer, or a
        row found `creating`): their ledger rows stay `creating` until a search decides."""

    async def run(self) -> OrdersResult:
        try:
            for entry in await self.state.ledger.in_doubt():
                await self._recover(entry)
            await self._new_work_orders()
        except (ApiError, UnreadableRecordError) as error:
            # Only what stops every work order gets here (an answer about one record is
            # that record's problem): unreachable, credentials refused, a list that is none.
            self.result.error = str(error)
            log.warning("%s: orders pass stopped: %s", self.state.key, error)
        return self.result

    # --- finding work orders -----------------------------------------------------------

    async def _newest_seen(self) -> datetime | None:
        """The newest Modified seen; before the first pass the first activation, since only
        work orders archived at or after it count (S-40) and Modified is at least the
        archive time."""
        saved = await self.state.marks.value(CURSOR)
        if saved:
            return parse_timestamp(saved)
        activated = await self.state.activation.earliest_archive_time()
        return activated

    async def _new_work_orders(self) -> None:
        # Claims left by a pass that died before creating anything: the orders lease lets one
        # pass work on a tenant at a time, and the ledger hands a row over only once the
        # lease it was claimed under expired or was released.
        for entry in await self.state.ledger.entries(states=["claimed"]):
            claim = await self.state.ledger.take_over(entry, lease=self.lease)
            if claim is None:
                continue
            key = entry.work_order_number or _id_key(entry.work_order_id)
            await self._guarded(claim, key, self._resume_claim(claim))
        newest = await self._newest_seen()
        since = newest - READ_OVERLAP if newest else None
        async for change in self.simon.changed_since(WorkOrder, since=since):
            # The ledger knows the work orders already settled: no need to read them again.
            if await self.state.ledger.should_retry(change.id, change.modified):
                await self._read_and_consider(change)
            if newest is None or change.modified > newest:
                newest = change.modified
                await self.state.marks.set(CURSOR, newest.isoformat())

    async def _resume_claim(self, claim: WorkOrderClaim) -> None:
        work_order = await self.simon.find(WorkOrder, claim.work_order_id)
        if work_order is None:
            await claim.mark_skipped("no longer in Simon")
            return
        await self._handle(claim, work_order)

    async def _read_and_consider(self, change: Change) -> None:
        """Read one changed work order and send it when it is due. One that cannot be read
        is recorded as failed for the Modified it has now, so that it is read again (and
        logged again) only once it changes in Simon."""
        try:
            work_order = await self.simon.get(WorkOrder, change.id)
        except NotFoundError:
            return  # deleted since readsync listed it
        except Exception as error:
            if stops_the_pass(error):
                raise
            claim = await self.state.ledger.claim(change.id, modified=change.modified,
                                                  lease=self.lease)
            if claim is None:
                return
            key = _unreadable_key(error, claim.entry.work_order_number, change.id)
            log.warning("%s: work order %s cannot be read: %s", self.state.key, key, error)
            await self._failed(claim, key, FixableError(
                f"Work order {key} cannot be read from Simon, so it was not sent: "
                f"{problem_text(error)}.",
                f"Correct the work order in Simon, {TRY_AGAIN}."))
            return
        await self._consider(work_order)

    async def _consider(self, work_order: WorkOrder) -> None:
        if not is_sendable(work_order) or work_order.id is None:
            return
        modified = work_order.modified or work_order.archived_at
        assert modified is not None
        claim = await self.state.ledger.claim(work_order.id, modified=modified,
                                              number=_number_of(work_order), lease=self.lease)
        if claim is not None:
            await self._guarded(claim, _key_of(work_order), self._handle(claim, work_order))

    async def _guarded(self, claim: WorkOrderClaim, key: str, step: Awaitable[None]) -> None:
        """Run one work order's step so that whatever is wrong with that work order stays
        its own problem: one error entry naming it, its ledger row never left `creating`
        unless the document may exist; the pass goes on with the others. What stops every
        work order (see `stops_the_pass`) gives the claim up and ends the pass."""
        try:
            await step
        except LedgerConflict as conflict:
            # Another worker took the work order over: it is theirs now.
            log.info("%s: work order %s: %s", self.state.key, key, conflict)
        except FixableError as problem:
            await self._failed(claim, key, problem)
        except Exception as error:
            if stops_the_pass(error):
                await self._let_go(claim)
                raise
            log.warning("%s: work order %s could not be sent: %r", self.state.key, key, error,
                        exc_info=not isinstance(error, (ValidationError, ApiError,
                                                        UnreadableRecordError)))
            state = claim.entry.state
            if state is WorkOrderState.CLAIMED or (
                    state is WorkOrderState.CREATING
                    and claim.work_order_id not in self._maybe_sent):
                await self._failed(claim, key, self._unusable(key, error))
            else:
                # The document exists or may exist: the row stays in doubt and the next pass
                # goes on from there (search, attach); the problem is logged once meanwhile
                # (a lost answer is no problem of the work order's: just try again).
                self.result.waiting += 1
                if isinstance(error, InDoubtError):
                    return
                await self.state.log.error(
                    LogTable.WORK_ORDER, key,
                    f"Work order {key} was not finished: {problem_text(error)}.",
                    "Correct the work order in Simon; the next pass finishes it.",
                    dedupe=True)

    def _unusable(self, key: str, error: BaseException) -> FixableError:
        if isinstance(error, NotFoundError):
            return FixableError(
                f"Work order {key} refers to a record Simon no longer has "
                f"({problem_text(error, key)}), so it was not sent.",
                f"Correct the work order in Simon, {TRY_AGAIN}.")
        if isinstance(error, ApiError):
            return FixableError(
                f"Work order {key} was not sent: {problem_text(error, key)}.",
                f"Correct what the message names in Simon or Visma.net, {TRY_AGAIN}.")
        return FixableError(
            f"Work order {key} cannot be read from Simon, so it was not sent: "
            f"{problem_text(error, key)}.",
            f"Correct the work order in Simon, {TRY_AGAIN}.")

    async def _let_go(self, claim: WorkOrderClaim) -> None:
        """Before the pass stops: give up a claim whose document surely does not exist, so
        that the next pass takes the work order at once; a create in doubt stays `creating`."""
        state = claim.entry.state
        if state is WorkOrderState.CLAIMED or (
                state is WorkOrderState.CREATING and claim.work_order_id not in self._maybe_sent):
            try:
                await claim.release()
            except LedgerConflict:
                pass
        self.result.waiting += 1

    async def _handle(self, claim: WorkOrderClaim, work_order: WorkOrder) -> None:
        """Turn one claimed work order into a document, a skip or a logged failure."""
        if not is_sendable(work_order):
            await claim.mark_skipped("no longer completed and archived in Simon")
            return
        activated = await self.state.activation.earliest_archive_time()
        archived = work_order.archived_at or work_order.modified
        if activated is not None and archived is not None and archived < activated:
            await claim.mark_skipped(PASSED_OVER)
            self.result.passed_over += 1
            return
        key = _key_of(work_order)
        details = await self.simon.work_order_details(claim.work_order_id)
        if skip_word_found(details, self.settings.skip_word):
            await claim.mark_skipped(f"contains the skip word {self.settings.skip_word}")
            self.result.skipped += 1
            await self.state.log.info(
                LogTable.WORK_ORDER, key,
                f"Not sent: the work order contains the skip word "
                f"{quoted(self.settings.skip_word)}.", None)
            return
        draft = await self._draft(details, self.writer)
        await self._push(claim, draft, details, self.writer)

    # --- building the document ---------------------------------------------------------

    async def _draft(self, details: WorkOrderDetails, writer: AnyWriter) -> Draft:
        wo = details.work_order
        number = _key_of(wo)
        if wo.location_id is not None and details.location is None:
            raise FixableError(
                f"Work order {number} is on a work address that is no longer in Simon, so no "
                "Visma.net document was made.",
                f"Give the work order an existing work address in Simon, {TRY_AGAIN}.")
        customer = details.customer
        if customer is None:
            raise FixableError(
                f"Work order {number} has no customer, so no Visma.net document was made.",
                f"Link the work order to a customer from Visma.net, {TRY_AGAIN}.")
        if not customer.ext_key:
            raise FixableError(
                f"Work order {number} is on customer {customer.name}, who was made in Simon "
                "and is not in Visma.net.",
                f"Link the work order to a customer from Visma.net, {TRY_AGAIN}.")
        visma_customer = await self.visma.customer_by_internal_id(int(customer.ext_key))
        if visma_customer is None:
            raise FixableError(
                f"Customer {customer.number or customer.name} of work order {number} is no "
                "longer in Visma.net.",
                f"Link the work order to a customer that exists in Visma.net, {TRY_AGAIN}.")

        user = details.user
        warehouse = writer.warehouse(self.settings,
                                     (user.email or user.name) if user else None)
        lines = time_lines(details, self.settings, warehouse)
        for used in details.used_items:
            code, label = await self._item_number(used.item_id, used.code)
            if not code:
                item = " ".join(p for p in (label, f"({used.description})"
                                            if used.description else "") if p)
                raise FixableError(
                    f"Work order {number} books item {item or 'without a code'}, which is "
                    "not an item from Visma.net.",
                    f"Book an item that exists in Visma.net, {TRY_AGAIN}.")
            lines.append(DocumentLine(item_number=code, quantity=used.quantity or Decimal(1),
                                      unit_price=used.price,
                                      description=used.description or None,
                                      warehouse=warehouse))
        if self.settings.fixed_item:
            lines.append(DocumentLine(item_number=self.settings.fixed_item,
                                      quantity=Decimal(1), warehouse=warehouse))

        reference, cut = reference_text(wo, self.settings.customer_reference)
        if cut:
            await self.state.log.warning(
                LogTable.WORK_ORDER, number,
                f"The customer reference was cut to {REFERENCE_LIMIT} characters: "
                f"{quoted(reference)}.",
                "None needed; shorten the reference in Simon to avoid it.", dedupe=True)
        return Draft(number, visma_customer.number, lines,
                     note_text(details, self.settings.note), reference, marker_of(wo.id or 0))

    async def _item_number(self, item_id: int | None, code: str | None) -> tuple[str, str]:
        """(Visma.net item number or "", label): only items that came from Visma.net count."""
        if item_id is None:
            return "", code or ""
        if item_id not in self._item_codes:
            item = await self.simon.find(SimonItem, item_id)
            self._item_codes[item_id] = (
                (item.code or "", item.code or "") if item and item.ext_key
                else ("", (item.code if item else code) or ""))
        return self._item_codes[item_id]

    # --- creating and attaching --------------------------------------------------------

    async def _push(self, claim: WorkOrderClaim, draft: Draft, details: WorkOrderDetails,
                    writer: AnyWriter) -> None:
        # Built before the row says `creating`: a document that cannot even be built was
        # surely not sent.
        request = writer.request(draft)
        await claim.mark_creating(document_kind=writer.document_type, marker=draft.marker)
        try:
            document = await writer.create(request)
        except InDoubtError:
            self._maybe_sent.add(claim.work_order_id)
            found = await writer.find(draft.marker)
            if found is None:
                # Stays `creating`: the next pass searches again before creating.
                self.result.waiting += 1
                log.warning("%s: work order %s: no answer to the create request and no "
                            "document found yet; searched again at the next pass",
                            self.state.key, draft.number)
                return
            document = found
        except RequestRejectedError as error:
            await self._failed(claim, draft.number, FixableError(
                f"Visma.net refused work order {draft.number}: {quoted(error.message)}",
                f"Correct what Visma.net names (customer, items, warehouse) in Simon or "
                f"Visma.net, {TRY_AGAIN}."))
            return
        await claim.mark_created(*document)
        self._maybe_sent.discard(claim.work_order_id)
        await self._finish(claim, details, document, writer)

    async def _finish(self, claim: WorkOrderClaim, details: WorkOrderDetails,
                      document: Document, writer: AnyWriter) -> None:
        done = set(claim.entry.attachments_done)
        number = _key_of(details.work_order)
        # The document exists: the errors that kept this work order from being sent are
        # over. Only those: a warning that the reference was cut stays, as the cut does.
        # Resolved before attaching, so that an error about a refused file below stays open.
        await self.state.log.resolve(LogTable.WORK_ORDER, number, severities=[Severity.ERROR])
        for name, content in await self._attachments(details, done, number):
            try:
                await writer.attach(document, name, content)
            except RequestRejectedError as error:
                # The document exists: it is not made again; the user attaches the file.
                await self.state.log.error(
                    LogTable.WORK_ORDER, number,
                    f"Visma.net refused {name} for {document.type} {document.number}: "
                    f"{error.message}",
                    "Attach the PDF to the document in Visma.net by hand.")
                continue
            await claim.mark_attached(name)
        await claim.mark_done()
        await self.state.log.info(
            LogTable.WORK_ORDER, number,
            f"Sent to Visma.net as {writer.noun} {document.type} {document.number}.")
        self.result.sent += 1

    async def _attachments(self, details: WorkOrderDetails, done: set[str],
                           number: str) -> list[tuple[str, bytes]]:
        """S-49: the work order PDF, the forms PDF, both or none; rendered or Simon's own. A
        file that cannot be made is an error entry; the document goes on without it."""
        choice = self.settings.attachments
        wanted: list[Literal["workorder", "forms"]] = []
        if choice in (Attachments.WORK_ORDER, Attachments.BOTH):
            wanted.append("workorder")
        if choice in (Attachments.FORMS, Attachments.BOTH) and details.surveys:
            wanted.append("forms")
        files = []
        for what in wanted:
            name = (rendering.work_order_filename(number) if what == "workorder"
                    else rendering.forms_filename(number))
            if name in done:
                continue
            try:
                content = await self._pdf(what, details)
            except Exception as error:
                if stops_the_pass(error):
                    raise
                log.warning("%s: %s of work order %s could not be made", self.state.key, name,
                            number, exc_info=True)
                await self.state.log.error(
                    LogTable.WORK_ORDER, number,
                    f"{name} could not be made for work order {number}: "
                    f"{problem_text(error)}.",
                    "Attach the PDF to the document in Visma.net by hand.", dedupe=True)
                continue
            if content:
                files.append((name, content))
        return files

    async def _pdf(self, what: str, details: WorkOrderDetails) -> bytes | None:
        if self.settings.pdf_source == PdfSource.SIMON:
            if what == "workorder":
                return await self.simon.work_order_pdf(details.work_order.id or 0)
            parts = [await self.simon.survey_pdf(s.id or 0) for s in details.surveys]
            return rendering.merge_pdfs(parts)
        if what == "workorder":
            return rendering.render_work_order_pdf(details)
        return rendering.render_forms_pdf(details)

    # --- recovery and failures ---------------------------------------------------------

    async def _recover(self, entry: LedgerEntry) -> None:
        """A work order left in doubt by a crash or a lost answer: find what exists first."""
        claim = await self.state.ledger.take_over(entry, lease=self.lease)
        if claim is None:
            return
        key = entry.work_order_number or _id_key(entry.work_order_id)
        if entry.state == WorkOrderState.CREATING:
            self._maybe_sent.add(entry.work_order_id)
        writer = self._begun_as(entry.document_kind)
        await self._guarded(claim, key, self._recover_claimed(claim, entry, writer))

    async def _recover_claimed(self, claim: WorkOrderClaim, entry: LedgerEntry,
                               writer: AnyWriter) -> None:
        if claim.entry.state == WorkOrderState.CREATING:
            found = await writer.find(entry.marker or marker_of(entry.work_order_id))
            if found is not None:
                await claim.mark_created(*found)
            # Either way the search decided: nothing is in doubt any more.
            self._maybe_sent.discard(entry.work_order_id)
        try:
            details = await self.simon.work_order_details(entry.work_order_id)
        except NotFoundError:
            await self._recover_deleted(claim, entry)
            return
        if claim.entry.state == WorkOrderState.CREATING:
            # Visma.net has no document with the marker: make it now.
            draft = await self._draft(details, writer)
            await self._push(claim, draft, details, writer)
            self.result.recovered += 1
            return
        self.result.recovered += 1
        done = claim.entry
        await self._finish(claim, details,
                           Document(done.document_type or "", done.document_number or ""), writer)

    async def _recover_deleted(self, claim: WorkOrderClaim, entry: LedgerEntry) -> None:
        """The work order was deleted in Simon while in doubt: keep a document that exists
        (without the PDFs, which can no longer be made), never make a new one."""
        number = entry.work_order_number or _id_key(entry.work_order_id)
        if claim.entry.state == WorkOrderState.CREATING:
            # Searched by `_recover_claimed`: no document exists.
            await claim.mark_failed("the work order was deleted in Simon")
            return
        await claim.mark_done()
        document = claim.entry
        await self.state.log.warning(
            LogTable.WORK_ORDER, number,
            f"Work order {number} was deleted in Simon after {document.document_type} "
            f"{document.document_number} was made in Visma.net; its PDFs were not attached.",
            "Check the document in Visma.net.")
        self.result.recovered += 1

    def _begun_as(self, document_type: DocumentType | None) -> AnyWriter:
        """The writer of a document begun as `document_type`: the ledger, not today's
        settings, says where to look for it and what to attach to (S-51: settings apply
        from now on)."""
        if document_type is None or document_type == self.writer.document_type:
            return self.writer
        return writer_for(document_type, self.visma)

    async def _failed(self, claim: WorkOrderClaim, key: str, problem: FixableError) -> None:
        """No document was made: the row is `failed` (tried again when the work order changes
        in Simon) and the problem is one error entry naming the work order."""
        await claim.mark_failed(problem.message)
        self.result.failed += 1
        await self.state.log.error(LogTable.WORK_ORDER, key, problem.message, problem.action,
                                   dedupe=True)


def _number_of(work_order: WorkOrder) -> str | None:
    return repaired_text(work_order.number) if work_order.number else None


def _id_key(work_order_id: int) -> str:
    """How a log entry names a work order whose number could not be read."""
    return f"Simon Id {work_order_id}"


def _key_of(work_order: WorkOrder) -> str:
    """The log key of a work order: its number, what users see."""
    return _number_of(work_order) or _id_key(work_order.id or 0)


def _unreadable_key(error: BaseException, known_number: str | None, work_order_id: int) -> str:
    """The log key of a work order that could not be read: its number where the client
    could read that much ("work order 24017"), else what the ledger knows."""
    if isinstance(error, UnreadableRecordError) and error.label:
        label = repaired_text(error.label)
        if label.startswith("work order ") and " of " not in label:
            return label.removeprefix("work order ")
    return known_number or _id_key(work_order_id)


class OrdersLoop(Loop[OrdersResult, OrdersStatus]):
    """Archived work orders -> Visma.net documents, every `spec.schedule.orders` (S-40 to
    S-51). Its passes wait while the settings check fails (S-71)."""

    name = "orders"

    async def run(self, context: LoopContext) -> OrdersResult:
        settings = context.settings
        if settings is not None and not settings.valid:
            raise LoopFailed("work-order pushes wait until the settings check passes: "
                             f"{settings.message}")
        pushed = await OrderPush(context.visma, context.simon, context.state,
                                 context.tenant.spec.orders).run()
        if pushed.error is not None:
            raise LoopFailed(pushed.error, pushed)
        return pushed

    async def status(self, state: TenantState, schedule: LoopSchedule | None,
                     latest: OrdersResult | None,
                     previous: OrdersStatus | None) -> OrdersStatus:
        counts = await state.ledger.counts()
        return OrdersStatus(
            last_success_time=schedule.last_success_at if schedule else None,
            sent=counts[WorkOrderState.DONE],
            failed=counts[WorkOrderState.FAILED],
            waiting=sum(counts[s] for s in (WorkOrderState.CLAIMED, WorkOrderState.CREATING,
                                            WorkOrderState.CREATED, WorkOrderState.ATTACHED)),
            passed_over=await state.ledger.count_with_error(WorkOrderState.SKIPPED, PASSED_OVER))
