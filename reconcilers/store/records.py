"""The values the store hands out: enums and small frozen records (DESIGN.md section 3)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from reconcilers.resource.spec import DocumentType


class WorkOrderState(StrEnum):
    """Where a work order is on its way to Visma.net (S-4).

    ``claimed -> creating -> created -> attached -> done``; ``skipped`` and ``failed`` end
    an attempt without a document. A row in ``creating``, ``created`` or ``attached`` that
    nobody is working on is *in doubt*: a document may exist in Visma.net.
    """

    CLAIMED = "claimed"
    CREATING = "creating"
    CREATED = "created"
    ATTACHED = "attached"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"


IN_DOUBT_STATES: tuple[WorkOrderState, ...] = (
    WorkOrderState.CREATING,
    WorkOrderState.CREATED,
    WorkOrderState.ATTACHED,
)
"""States in which a Visma.net document may exist without the ledger knowing it is done."""

RETRYABLE_STATES: tuple[WorkOrderState, ...] = (WorkOrderState.FAILED, WorkOrderState.SKIPPED)
"""States that a new attempt may leave once the work order's ``Modified`` moved (S-41)."""


class LinkKind(StrEnum):
    """What a link joins: a Visma.net record and the Simon record made from it."""

    CUSTOMER = "customer"
    ITEM = "item"
    LOCATION = "location"


class Severity(StrEnum):
    """Severity of an integration log entry (S-80), in increasing order."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    def and_above(self) -> tuple[Severity, ...]:
        """This severity and every more severe one ("at least", as the CLI's --severity)."""
        return tuple(s for s in Severity if s.rank >= self.rank)


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}


class LogTable(StrEnum):
    """The table an integration log entry is about (S-80)."""

    WORK_ORDER = "workorder"
    CUSTOMER = "customer"
    WORK_ADDRESS = "workaddress"
    ITEM = "item"


class ActivationEvent(StrEnum):
    """What `ActivationState.begin_activation_if_needed` decided (S-72)."""

    FIRST = "first"
    """The tenant is enabled for the first time against this database."""
    REACTIVATION = "reactivation"
    """The tenant went from ``enabled: false`` back to ``true``, or a new tenant was enabled
    for a Simon licence and Visma.net company activated together before."""
    NONE = "none"
    """Nothing started: still enabled, or disabled."""


@dataclass(frozen=True, slots=True)
class HighWaterMark:
    """The newest change seen for one kind (S-13, S-14): an ISO timestamp or a cursor."""

    kind: str
    mark: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class FirstImportProgress:
    """Progress of a first import of one kind, so that an interrupted one resumes (S-15)."""

    kind: str
    done: int
    total: int | None
    cursor: str | None
    finished: bool
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class Link:
    """A Visma.net record and the Simon record made from it, with the hash of what was written."""

    kind: LinkKind
    visma_key: str
    simon_id: int
    content_hash: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class LinkUpdate:
    """One link to write with `Links.put_many`."""

    visma_key: str
    simon_id: int
    content_hash: str


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One work order in the ledger of sent work orders (S-4, S-40, S-41)."""

    work_order_id: int
    work_order_number: str | None
    state: WorkOrderState
    simon_modified: datetime | None
    """The work order's ``Modified`` in Simon at the last attempt."""
    document_kind: DocumentType | None
    """What the work order was begun as: what to search and attach to until it is done."""
    document_type: str | None
    """The Visma.net document type, e.g. ``SO`` for a sales order or ``Invoice``."""
    document_number: str | None
    marker: str | None
    """What the operator wrote on the document to find it again after a crash."""
    attachments_done: tuple[str, ...]
    error: str | None
    """Why the last attempt failed (state ``failed``) or was skipped (state ``skipped``)."""
    attempts: int
    claim_token: str | None
    created_at: datetime
    updated_at: datetime
    claimed_at: datetime | None
    finished_at: datetime | None
    claimed_by: str | None = None
    """The token of the lease (`reconcilers.store.leases`) under which the row was last
    claimed or taken over; None for rows claimed without one."""

    @property
    def in_doubt(self) -> bool:
        return self.state in IN_DOUBT_STATES


@dataclass(frozen=True, slots=True)
class ImportedOrder:
    """A Visma.net sales order or quote that became a Simon work order (S-60)."""

    order_key: str
    simon_work_order_id: int | None
    imported_at: datetime


@dataclass(frozen=True, slots=True)
class Activation:
    """A tenant's activation state (S-40, S-72, S-73).

    ``event`` says what the call that returned it decided; the other fields are the state
    after that call.
    """

    event: ActivationEvent
    enabled: bool
    activation_count: int
    """How many times the tenant was activated; 0 means never, 1 means the first activation."""
    activated_at: datetime | None
    """When the current (or last) activation began."""
    first_activated_at: datetime | None
    """The first activation: only work orders archived at or after it are sent (S-40)."""
    wiped_kinds: tuple[str, ...]
    """The kinds wiped in Simon for the current activation (S-72)."""
    wiped_at: datetime | None
    """When the wipe of the current activation finished; None while it is still due."""
    reactivation: bool = False
    """The current activation is a re-activation: the tenant was enabled again, or it is a
    new resource for a Simon licence and Visma.net company activated together before."""

    @property
    def is_first_activation(self) -> bool:
        """The current activation is the first of this Simon licence and Visma.net company
        (so ``wipeOnFirstActivation`` applies, else ``wipeOnReactivation``)."""
        return self.activation_count == 1 and not self.reactivation

    @property
    def earliest_archive_time(self) -> datetime | None:
        """S-40: work orders archived before this were handled by the tenant's old process."""
        return self.first_activated_at

    @property
    def wipe_done(self) -> bool:
        return self.wiped_at is not None

    def remaining_wipe(self, wanted: Iterable[str]) -> list[str]:
        """The kinds of ``wanted`` still to wipe for the current activation (S-72).

        Empty when the tenant is disabled, was never activated, or the wipe of this
        activation was recorded as finished: a restart never repeats a wipe.
        """
        if not self.enabled or self.activation_count == 0 or self.wipe_done:
            return []
        done = set(self.wiped_kinds)
        return [kind for kind in dict.fromkeys(wanted) if kind not in done]


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One entry of the integration log (S-80)."""

    id: int
    time: datetime
    severity: Severity
    table: LogTable
    key: str
    """The record key users see: the work order, customer or item number."""
    message: str
    action: str | None
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class LoopSchedule:
    """When a tenant's loop last ran and is next due, kept across restarts (S-30)."""

    loop: str
    last_success_at: datetime | None
    next_run_at: datetime | None
    updated_at: datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_timestamp(value: datetime | str) -> datetime:
    """A Simon or Visma.net timestamp (``datetime`` or ISO-8601 text) as aware UTC."""
    if isinstance(value, datetime):
        return as_utc(value)
    return as_utc(datetime.fromisoformat(value.strip()))
