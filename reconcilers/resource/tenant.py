"""The `VismaIntegration` resource: pydantic models of its spec and status (DESIGN.md section 2).

The CRD (`crds/vismaintegrations.yaml`) is the public API; these models mirror it field for
field (camelCase on the wire, snake_case in Python) and `tests/tenant/test_crd_in_step.py`
keeps the two in step. The models refuse what the API server refuses (unknown fields, bad
enums, malformed durations, a SalesOrder setup without a default warehouse), so standalone
mode (`simon-visma run --tenant tenant.yaml`) and the operator see the same settings (S-70).

Entry points:

- `load_tenant(path)` reads the YAML that `kubectl apply` takes;
- `tenant_from_body(body)` / `Tenant.from_body(body)` decode a kopf body (metadata + spec);
- `VismaIntegrationStatus` is what the operator writes back to `.status`.

Every failure is a `TenantSpecError` (a `TenantFileError` when reading a file) whose message
is one line naming the offending field path, e.g.
``spec.orders.defaultWarehouse: required when documentType is SalesOrder``.
"""

from __future__ import annotations

import os
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from difflib import get_close_matches
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from reconcilers.resource.yamlfile import YamlFileError, load_documents, read_text_file

__all__ = [
    "API_VERSION",
    "DURATION_MAX",
    "DURATION_MIN",
    "DURATION_PATTERN",
    "GROUP",
    "KIND",
    "PLURAL",
    "RECENT_ERRORS_LIMIT",
    "URL_PATTERN",
    "VERSION",
    "Activation",
    "ActivationStatus",
    "Attachments",
    "CleanupSettings",
    "CleanupStatus",
    "Condition",
    "ConditionStatus",
    "ConditionType",
    "CustomerReference",
    "DocumentType",
    "Duration",
    "EntityCounts",
    "HighestModified",
    "ImportSettings",
    "Imports",
    "ImportsStatus",
    "MasterDataProgress",
    "MasterDataStatus",
    "Note",
    "OrderSettings",
    "OrdersStatus",
    "PdfSource",
    "Progress",
    "QuoteImport",
    "RecentError",
    "SalesOrderImport",
    "Schedule",
    "SecretRef",
    "SimonSettings",
    "Tenant",
    "TenantFileError",
    "TenantSpecError",
    "VismaIntegrationSpec",
    "VismaIntegrationStatus",
    "VismaSettings",
    "WipeKind",
    "describe_validation_error",
    "format_duration",
    "load_tenant",
    "parse_duration",
    "tenant_from_body",
]

GROUP = "simon-visma.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "VismaIntegration"
PLURAL = "vismaintegrations"

RECENT_ERRORS_LIMIT = 10

# The same regular expressions are in the CRD (RE2 there, Python's re and Rust's regex
# here: they are written to mean the same in all three, and without backslashes where a
# CEL string literal repeats them).
DURATION_PATTERN = r"^([0-9]+([.][0-9]+)?(ms|s|m|h))+$"
DURATION_MAX_LENGTH = 32
DURATION_HINT = "use a duration like 30s, 2m or 48h"
DURATION_MIN = timedelta(seconds=1)
"""The shortest schedule interval: a loop cannot usefully run more often."""
DURATION_MAX = timedelta(days=7)
"""The longest schedule interval (and the longest duration `parse_duration` reads)."""
URL_PATTERN = r"^https?://[^\s/?#]+([/?#]\S*)?$"
SECRET_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
CONDITION_TYPE_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
CONDITION_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
_NAMESPACE_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_NAME_RE = re.compile(SECRET_NAME_PATTERN)

# Friendly messages for pattern mismatches, keyed by the pattern pydantic reports.
_PATTERN_MESSAGES = {
    URL_PATTERN: "must be an http(s) URL like https://simon.example/api",
    SECRET_NAME_PATTERN: "must be a Secret name (lowercase letters, digits, '-' and '.')",
    CONDITION_REASON_PATTERN: "must be a CamelCase reason like SettingsChecked",
}


# --------------------------------------------------------------------------- errors


class TenantSpecError(ValueError):
    """A VismaIntegration that the API server would refuse; `str()` is one line.

    `field` is the dotted path of the first offending field (``spec.orders.documentType``),
    or None when the problem is not one field (an unreadable file, no resource in it).
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class TenantFileError(TenantSpecError):
    """A tenant file that cannot be read, parsed or validated (CLI exit code 2)."""

    def __init__(
        self, message: str, *, field: str | None = None, path: str | os.PathLike[str] | None = None
    ) -> None:
        super().__init__(message, field=field)
        self.path = Path(path) if path is not None else None


_ErrorFactory = Callable[..., TenantSpecError]


# --------------------------------------------------------------------------- durations

_DURATION_RE = re.compile(DURATION_PATTERN)
_DURATION_PART_RE = re.compile(r"([0-9]+(?:[.][0-9]+)?)(ms|s|m|h)")
_UNIT_MICROSECONDS = {"h": 3_600_000_000, "m": 60_000_000, "s": 1_000_000, "ms": 1_000}


def parse_duration(text: str) -> timedelta:
    """Parse a Go-style duration ("30s", "2m", "48h", "1h30m", "1.5s", "500ms").

    Units are h, m, s and ms; the result must be longer than zero and at most DURATION_MAX
    (7 days). Raises ValueError with a message that says what a duration looks like.
    """
    if not isinstance(text, str):
        raise ValueError(f"must be a duration string; {DURATION_HINT}")
    value = text.strip()
    if len(value) > DURATION_MAX_LENGTH or not _DURATION_RE.fullmatch(value):
        raise ValueError(f"{text!r} is not a duration; {DURATION_HINT}")
    microseconds = sum(
        Decimal(number) * _UNIT_MICROSECONDS[unit]
        for number, unit in _DURATION_PART_RE.findall(value)
    )
    if microseconds > DURATION_MAX // timedelta(microseconds=1):
        raise ValueError(_too_long(text))
    result = timedelta(microseconds=int(microseconds))
    if result <= timedelta(0):
        raise ValueError(f"must be longer than zero; {DURATION_HINT}")
    return result


def _too_long(value: object) -> str:
    return f"must be at most {format_duration(DURATION_MAX)} (7 days), not {value!r}"


def _in_range(value: timedelta, given: object) -> timedelta:
    """`value` when it is a schedule interval (DURATION_MIN .. DURATION_MAX)."""
    if value > DURATION_MAX:
        raise PydanticCustomError("duration", "{reason}", {"reason": _too_long(given)})
    if value < DURATION_MIN:
        raise PydanticCustomError(
            "duration", "{reason}",
            {"reason": f"must be at least {format_duration(DURATION_MIN)}, not {given!r}"})
    return value


def format_duration(value: timedelta) -> str:
    """The shortest Go-style string for `value`: 48h, 1h30m, 30s, 1.5s, 500ms."""
    total = value // timedelta(microseconds=1)
    if total <= 0:
        return "0s"
    hours, rest = divmod(total, _UNIT_MICROSECONDS["h"])
    minutes, rest = divmod(rest, _UNIT_MICROSECONDS["m"])
    seconds, micros = divmod(rest, _UNIT_MICROSECONDS["s"])
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if micros == 0:
        if seconds:
            parts.append(f"{seconds}s")
    elif not parts and seconds == 0 and micros % 1000 == 0:
        parts.append(f"{micros // 1000}ms")
    else:
        parts.append(f"{seconds}.{micros:06d}".rstrip("0") + "s")
    return "".join(parts)


def _validate_duration(value: object) -> timedelta:
    """A schedule interval: a Go-style duration string (or a timedelta) from DURATION_MIN
    to DURATION_MAX."""
    if isinstance(value, timedelta):
        if value <= timedelta(0):
            raise PydanticCustomError("duration", "must be longer than zero; {hint}",
                                      {"hint": DURATION_HINT})
        return _in_range(value, format_duration(value))
    if not isinstance(value, str):
        raise PydanticCustomError("duration", "must be a duration string; {hint}",
                                  {"hint": DURATION_HINT})
    try:
        parsed = parse_duration(value)
    except ValueError as exc:
        raise PydanticCustomError("duration", "{reason}", {"reason": str(exc)}) from None
    return _in_range(parsed, value)


Duration = Annotated[
    timedelta,
    PlainValidator(_validate_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {"type": "string", "pattern": DURATION_PATTERN, "maxLength": DURATION_MAX_LENGTH}
    ),
]
"""A Go-style duration from 1s to 7 days: parsed to `timedelta`, written back as a string
like "2m"."""

NonEmptyStr = Annotated[str, StringConstraints(strict=True, min_length=1)]
Url = Annotated[str, StringConstraints(strict=True, pattern=URL_PATTERN)]
SecretName = Annotated[
    str, StringConstraints(strict=True, min_length=1, max_length=253, pattern=SECRET_NAME_PATTERN)
]


# --------------------------------------------------------------------------- enums


class DocumentType(StrEnum):
    """What an archived work order becomes in Visma.net (S-40)."""

    SALES_ORDER = "SalesOrder"
    INVOICE = "Invoice"


class Note(StrEnum):
    """What goes into the document's note (S-47)."""

    NONE = "None"
    WORK_ADDRESS = "WorkAddress"
    WORK_DESCRIPTION = "WorkDescription"
    WORK_ADDRESS_AND_DESCRIPTION = "WorkAddressAndDescription"


class CustomerReference(StrEnum):
    """What goes into the Visma.net customer reference (S-48)."""

    NONE = "None"
    WORK_ORDER_NUMBER = "WorkOrderNumber"
    CUSTOMER_REFERENCE = "CustomerReference"
    BOTH = "Both"


class Attachments(StrEnum):
    """Which PDFs are attached to the Visma.net document (S-49)."""

    NONE = "None"
    WORK_ORDER = "WorkOrder"
    FORMS = "Forms"
    BOTH = "Both"


class PdfSource(StrEnum):
    """Who renders the PDFs: the operator itself or Simon's digital presentation (S-49)."""

    RENDERED = "Rendered"
    SIMON = "Simon"


class WipeKind(StrEnum):
    """A kind of Simon record that an activation can empty (S-72)."""

    CUSTOMERS = "Customers"
    ITEMS = "Items"
    WORK_ADDRESSES = "WorkAddresses"


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class ConditionType(StrEnum):
    """The condition types the operator writes (S-81); `Condition.type` accepts any."""

    READY = "Ready"
    ACTIVE = "Active"
    SETTINGS_VALID = "SettingsValid"
    SYNCED = "Synced"
    CLEANUP_HELD = "CleanupHeld"


def _unique(values: list[Any]) -> list[Any]:
    seen: set[Any] = set()
    for value in values:
        if value in seen:
            raise PydanticCustomError("duplicate", "lists {value} twice", {"value": str(value)})
        seen.add(value)
    return values


WipeKinds = Annotated[list[WipeKind], AfterValidator(_unique)]


# --------------------------------------------------------------------------- spec


class _SpecModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class SecretRef(_SpecModel):
    """A Secret in the resource's own namespace (S-82)."""

    name: SecretName


class VismaSettings(_SpecModel):
    """Where and as whom the operator talks to Visma.net (S-70)."""

    tenant_id: NonEmptyStr
    company_id: NonEmptyStr | None = None
    credentials_secret_ref: SecretRef
    api_url: Url = "https://api.finance.visma.net"
    sales_order_url: Url = "https://salesorder.visma.net"
    token_url: Url = "https://connect.visma.com/connect/token"


class SimonSettings(_SpecModel):
    """Where and as whom the operator talks to Simon (S-70)."""

    url: Url
    credentials_secret_ref: SecretRef


class Schedule(_SpecModel):
    """How often each loop runs (S-3, S-30)."""

    master_data: Duration = Field("2m", validate_default=True)
    orders: Duration = Field("30s", validate_default=True)
    imports: Duration = Field("2m", validate_default=True)
    cleanup: Duration = Field("48h", validate_default=True)


DEFAULT_MAX_REMOVAL_PERCENT = 20


class CleanupSettings(_SpecModel):
    """How much one cleanup may remove from Simon: the brake against a Visma.net
    answer that only looks like mass deletion."""

    max_removal_percent: Annotated[StrictInt, Field(ge=0, le=100)] = Field(
        DEFAULT_MAX_REMOVAL_PERCENT,
        description=(
            "A cleanup that would remove more than this percentage of the customers (or "
            "items) that came from Visma.net, and more than 10 of them, removes none of that "
            "kind and reports why; raise it when such removals are right."),
    )


class Activation(_SpecModel):
    """Which Simon kinds are emptied on (re)activation (S-72)."""

    wipe_on_first_activation: WipeKinds = Field(
        default=[WipeKind.CUSTOMERS, WipeKind.ITEMS, WipeKind.WORK_ADDRESSES],
        json_schema_extra={"uniqueItems": True},
    )
    wipe_on_reactivation: WipeKinds = Field(
        default=[], json_schema_extra={"uniqueItems": True}
    )


class OrderSettings(_SpecModel):
    """How archived work orders become Visma.net documents (S-40 .. S-51)."""

    document_type: DocumentType
    work_time_item: NonEmptyStr | None = None
    travel_time_item: NonEmptyStr | None = None
    fixed_item: NonEmptyStr | None = None
    skip_word: NonEmptyStr | None = None
    note: Note = Note.WORK_ADDRESS_AND_DESCRIPTION
    customer_reference: CustomerReference = CustomerReference.BOTH
    attachments: Attachments = Attachments.BOTH
    pdf_source: PdfSource = PdfSource.RENDERED
    default_warehouse: NonEmptyStr | None = Field(None, validate_default=True)
    warehouse_by_user: dict[str, NonEmptyStr] = {}

    @field_validator("default_warehouse", mode="after")
    @classmethod
    def _warehouse_for_sales_orders(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("document_type") == DocumentType.SALES_ORDER:
            raise PydanticCustomError(
                "warehouse_required", "required when documentType is SalesOrder"
            )
        return value

    def warehouse_for(self, user: str | None) -> str | None:
        """The warehouse for a Simon user (email, else name), else the default (S-50)."""
        if self.document_type != DocumentType.SALES_ORDER:
            return None
        if user is not None and user in self.warehouse_by_user:
            return self.warehouse_by_user[user]
        return self.default_warehouse


class ImportSettings(_SpecModel):
    """One kind of Visma.net order imported as Simon work orders (S-60)."""

    enabled: StrictBool = False
    filter_word: NonEmptyStr = "SIMON"
    include_lines: StrictBool


class SalesOrderImport(ImportSettings):
    """Sales orders (type SO): lines are imported by default."""

    include_lines: StrictBool = True


class QuoteImport(ImportSettings):
    """Quotes (type QT): lines are not imported by default."""

    include_lines: StrictBool = False


class Imports(_SpecModel):
    """Visma.net sales orders and quotes -> Simon work orders (S-60)."""

    sales_orders: SalesOrderImport = SalesOrderImport()
    quotes: QuoteImport = QuoteImport()


class VismaIntegrationSpec(_SpecModel):
    """`spec` of a VismaIntegration: every setting of one tenant (S-70)."""

    enabled: StrictBool = True
    visma: VismaSettings
    simon: SimonSettings
    schedule: Schedule = Schedule()
    activation: Activation = Activation()
    cleanup: CleanupSettings = CleanupSettings()
    orders: OrderSettings
    imports: Imports = Imports()

    def to_wire(self) -> dict[str, Any]:
        """The spec as it is written in YAML / sent to the API server (camelCase)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# --------------------------------------------------------------------------- status


class _StatusModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class Condition(_StatusModel):
    """A metav1.Condition."""

    type: Annotated[str, StringConstraints(max_length=316, pattern=CONDITION_TYPE_PATTERN)]
    status: ConditionStatus
    reason: Annotated[
        str, StringConstraints(min_length=1, max_length=1024, pattern=CONDITION_REASON_PATTERN)
    ]
    message: Annotated[str, StringConstraints(max_length=32768)]
    last_transition_time: datetime
    observed_generation: Annotated[int, Field(ge=0)] | None = None


class Progress(_StatusModel):
    """Records done of the total Visma.net reports (`metadata.totalCount`) (S-15)."""

    done: Annotated[int, Field(ge=0)]
    total: Annotated[int, Field(ge=0)] | None = None


class MasterDataProgress(_StatusModel):
    customers: Progress | None = None
    items: Progress | None = None


class HighestModified(_StatusModel):
    """Newest `lastModifiedDateTime` seen per entity kind (S-14)."""

    customers: datetime | None = None
    items: datetime | None = None


class MasterDataStatus(_StatusModel):
    last_success_time: datetime | None = None
    customers: Annotated[int, Field(ge=0)] | None = None
    items: Annotated[int, Field(ge=0)] | None = None
    work_addresses: Annotated[int, Field(ge=0)] | None = None
    highest_modified: HighestModified | None = None
    progress: MasterDataProgress | None = None


class EntityCounts(_StatusModel):
    customers: Annotated[int, Field(ge=0)] | None = None
    items: Annotated[int, Field(ge=0)] | None = None
    work_addresses: Annotated[int, Field(ge=0)] | None = None


class CleanupStatus(_StatusModel):
    last_success_time: datetime | None = None
    next_run_time: datetime | None = None
    removed: EntityCounts | None = None


class OrdersStatus(_StatusModel):
    last_success_time: datetime | None = None
    sent: Annotated[int, Field(ge=0)] | None = None
    failed: Annotated[int, Field(ge=0)] | None = None
    waiting: Annotated[int, Field(ge=0)] | None = None
    passed_over: Annotated[int, Field(ge=0)] | None = None


class ImportsStatus(_StatusModel):
    last_success_time: datetime | None = None
    imported: Annotated[int, Field(ge=0)] | None = None


class ActivationStatus(_StatusModel):
    activated_at: datetime | None = None
    wiped: list[WipeKind] | None = None


class RecentError(_StatusModel):
    """One of the latest errors of the integration log (S-80)."""

    time: datetime
    table: str | None = None
    key: str | None = None
    message: str
    action: str | None = None


class VismaIntegrationStatus(_StatusModel):
    """`status` of a VismaIntegration (S-81). Every field is optional.

    `error_count` mirrors `len(recent_errors)` for the Errors printer column (a JSONPath
    cannot count a list); it is kept in step whenever `recent_errors` is set.
    """

    observed_generation: Annotated[int, Field(ge=0)] | None = None
    company_id: str | None = None
    conditions: list[Condition] | None = None
    master_data: MasterDataStatus | None = None
    cleanup: CleanupStatus | None = None
    orders: OrdersStatus | None = None
    imports: ImportsStatus | None = None
    activation: ActivationStatus | None = None
    recent_errors: Annotated[list[RecentError], Field(max_length=RECENT_ERRORS_LIMIT)] | None = (
        None
    )
    error_count: Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _count_errors(self) -> VismaIntegrationStatus:
        if self.recent_errors is not None:
            self.error_count = len(self.recent_errors)
        return self

    def get_condition(self, type_: str) -> Condition | None:
        for condition in self.conditions or []:
            if condition.type == type_:
                return condition
        return None

    def set_condition(
        self,
        type_: str,
        status: ConditionStatus | bool,
        reason: str,
        message: str,
        *,
        now: datetime,
        observed_generation: int | None = None,
    ) -> bool:
        """Add or update a condition; `lastTransitionTime` moves only when status changes.

        Returns True when anything changed (so the caller knows whether to patch).
        """
        if isinstance(status, bool):
            status = ConditionStatus.TRUE if status else ConditionStatus.FALSE
        conditions = list(self.conditions or [])
        old = self.get_condition(type_)
        new = Condition(
            type=type_,
            status=status,
            reason=reason,
            message=message,
            last_transition_time=(
                old.last_transition_time if old is not None and old.status == status else now
            ),
            observed_generation=observed_generation,
        )
        if old == new:
            return False
        if old is None:
            conditions.append(new)
        else:
            conditions[conditions.index(old)] = new
        self.conditions = conditions
        return True

    def record_error(self, error: RecentError) -> None:
        """Keep the newest RECENT_ERRORS_LIMIT errors, newest last, and the count in step."""
        errors = [*(self.recent_errors or []), error][-RECENT_ERRORS_LIMIT:]
        self.recent_errors = errors
        self.error_count = len(errors)

    def to_wire(self) -> dict[str, Any]:
        """The status as a merge-patch body (camelCase, unset fields left out)."""
        if self.recent_errors is not None:
            self.error_count = len(self.recent_errors)
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# --------------------------------------------------------------------------- tenant


class Tenant(BaseModel):
    """One VismaIntegration resource: who it is (metadata) and its settings (spec)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    namespace: str = "default"
    uid: str | None = None
    generation: int | None = None
    spec: VismaIntegrationSpec

    @property
    def key(self) -> str:
        """"namespace/name": the tenant's identity in the store, logs and the CLI."""
        return f"{self.namespace}/{self.name}"

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Tenant:
        """Build a Tenant from a kopf body (or any object dict); raises TenantSpecError."""
        return tenant_from_body(body)


_TOP_LEVEL_KEYS = {"apiVersion", "kind", "metadata", "spec", "status"}


def tenant_from_body(body: Mapping[str, Any]) -> Tenant:
    """Decode a VismaIntegration object (kopf body or YAML document) into a Tenant.

    Validates exactly as `load_tenant` does; raises TenantSpecError (one line, field path).
    """
    return _tenant_from_document(_plain(body), TenantSpecError)


def load_tenant(path: str | os.PathLike[str]) -> Tenant:
    """Read a tenant file: the YAML that `kubectl apply -f` takes.

    The file holds one `kind: VismaIntegration` document (apiVersion simon-visma.io/v1alpha1);
    other documents (Secrets, a `kind: List` around them) are allowed and ignored, but there
    must be exactly one VismaIntegration. A missing `metadata.namespace` means `default`, as
    with kubectl. Raises TenantFileError with one line naming the file or the field.
    """
    file = Path(path)

    def fail(message: str, field: str | None = None) -> TenantFileError:
        return TenantFileError(message, field=field, path=file)

    try:
        text = read_text_file(file)
    except OSError as exc:
        raise fail(f"{file}: cannot read the tenant file ({exc.strerror or exc})") from None
    except YamlFileError as exc:
        raise fail(f"{file}: {exc}") from None
    try:
        documents = load_documents(text)
    except YamlFileError as exc:
        raise fail(f"{file}: {exc} ({_yaml_problem(exc, with_problem=True)})") from None

    found: list[tuple[int, dict[str, Any]]] = []
    for number, document in _objects(documents, fail, file):
        if document.get("kind") == KIND:
            found.append((number, document))
    if not found:
        raise fail(f"{file}: no {KIND} resource in it (expected one with apiVersion "
                   f"{API_VERSION})")
    if len(found) > 1:
        names = ", ".join(_name_of(doc) for _, doc in found)
        raise fail(f"{file}: holds {len(found)} {KIND} resources ({names}); "
                   "a tenant file holds exactly one")

    return _tenant_from_document(found[0][1], fail)


def _name_of(document: dict[str, Any]) -> str:
    metadata = document.get("metadata")
    return str(metadata.get("name", "?")) if isinstance(metadata, dict) else "?"


def _objects(
    documents: Iterable[Any], fail: _ErrorFactory, file: Path
) -> Iterable[tuple[int, dict[str, Any]]]:
    """Yield (document number, object) for each Kubernetes object, unpacking `kind: List`."""
    for number, document in enumerate(documents, start=1):
        if document is None:
            continue
        if not isinstance(document, dict):
            raise fail(f"{file}: document {number} is not a Kubernetes object "
                       "(a mapping with apiVersion and kind)")
        if "kind" not in document:
            raise fail(f"{file}: document {number} has no kind")
        if document["kind"] == "List":
            items = document.get("items") or []
            if not isinstance(items, list):
                raise fail(f"{file}: document {number}: items must be a list")
            for item in items:
                if not isinstance(item, dict) or "kind" not in item:
                    raise fail(f"{file}: document {number}: every List item must be a "
                               "Kubernetes object with a kind")
                yield number, item
        else:
            yield number, document


def _yaml_problem(exc: YamlFileError, *, with_problem: bool) -> str:
    problem = exc.problem if with_problem else None
    return ": ".join(part for part in (exc.position, problem) if part) or "cannot parse"


def _tenant_from_document(document: Any, error: _ErrorFactory) -> Tenant:
    if not isinstance(document, dict):
        raise error("a VismaIntegration must be a mapping with apiVersion, kind, metadata, spec")
    kind = document.get("kind", KIND)
    if kind != KIND:
        raise error(f"kind: must be {KIND}, not {kind!r}", field="kind")
    api_version = document.get("apiVersion", API_VERSION)
    if api_version != API_VERSION:
        raise error(f"apiVersion: must be {API_VERSION}, not {api_version!r}", field="apiVersion")
    unknown = sorted(str(key) for key in set(document) - _TOP_LEVEL_KEYS)
    if unknown:
        hint = _did_you_mean(unknown[0], _TOP_LEVEL_KEYS)
        raise error(f"{unknown[0]}: unknown field{hint}", field=unknown[0])

    metadata = document.get("metadata")
    if not isinstance(metadata, dict):
        raise error("metadata: required (with at least a name)", field="metadata")
    name = metadata.get("name")
    if not name:
        raise error("metadata.name: required", field="metadata.name")
    if not isinstance(name, str) or len(name) > 253 or not _NAME_RE.fullmatch(name):
        raise error("metadata.name: must be a lowercase RFC 1123 name like acme",
                    field="metadata.name")
    namespace = metadata.get("namespace") or "default"
    if not isinstance(namespace, str) or len(namespace) > 63 or not _NAMESPACE_RE.fullmatch(
        namespace
    ):
        raise error("metadata.namespace: must be a lowercase RFC 1123 label like tenant-acme",
                    field="metadata.namespace")
    uid = metadata.get("uid")
    generation = metadata.get("generation")

    spec = document.get("spec")
    if spec is None:
        raise error("spec: required", field="spec")
    if not isinstance(spec, dict):
        raise error("spec: must be a mapping", field="spec")
    try:
        parsed = VismaIntegrationSpec.model_validate(_prune_nulls(spec))
    except ValidationError as exc:
        message, field = describe_validation_error(exc, VismaIntegrationSpec, prefix="spec")
        raise error(message, field=field) from None
    return Tenant(
        name=name,
        namespace=namespace,
        uid=str(uid) if uid is not None else None,
        generation=generation if isinstance(generation, int) else None,
        spec=parsed,
    )


def _plain(value: Any) -> Any:
    """Deep-copy Mappings and sequences (e.g. kopf's Body views) into dicts and lists."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _prune_nulls(value: Any) -> Any:
    """Drop null-valued keys, as the API server prunes them before defaulting."""
    if isinstance(value, dict):
        return {key: _prune_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_prune_nulls(item) for item in value]
    return value


# --------------------------------------------------------------------------- error text


def describe_validation_error(
    exc: ValidationError, model: type[BaseModel], *, prefix: str = ""
) -> tuple[str, str]:
    """One line for a pydantic ValidationError, and the path of its first field.

    Paths use the wire (camelCase) names: ``spec.orders.warehouseByUser["jan@acme.example"]``.
    Up to three problems are listed; more are counted.
    """
    parts: list[str] = []
    first_field = ""
    errors = exc.errors(include_url=False)
    for number, err in enumerate(errors):
        field, known = _field_path(model, tuple(err["loc"]), prefix)
        if number == 0:
            first_field = field
        if number < 3:
            parts.append(f"{field}: {_error_text(err, known)}" if field else _error_text(err,
                                                                                       known))
    if len(errors) > 3:
        parts.append(f"and {len(errors) - 3} more")
    return "; ".join(parts), first_field


def _field_path(
    model: type[BaseModel], loc: tuple[str | int, ...], prefix: str
) -> tuple[str, set[str]]:
    """Render `loc` with wire names; also return the field names known where it ends."""
    path = prefix
    current: Any = model
    known: set[str] = set()
    for element in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            known = _wire_names(current)
            field = _find_field(current, str(element))
            wire = (field.alias or str(element)) if field is not None else str(element)
            path = f"{path}.{wire}" if path else wire
            current = field.annotation if field is not None else None
        elif typing.get_origin(current) is dict:
            path = f'{path}["{element}"]'
            current = typing.get_args(current)[1]
            known = set()
        elif typing.get_origin(current) is list:
            path = f"{path}[{element}]"
            current = typing.get_args(current)[0]
            known = set()
        else:
            path = f"{path}.{element}" if path else str(element)
            current = None
            known = set()
    return path, known


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated[...] and `| None` to get at the type a loc element walks into."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin in (types.UnionType, typing.Union):
            options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(options) == 1:
                annotation = options[0]
                continue
        return annotation


def _find_field(model: type[BaseModel], name: str) -> Any:
    for field_name, field in model.model_fields.items():
        if name in (field_name, field.alias):
            return field
    return None


def _wire_names(model: type[BaseModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    matches = get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    if not matches:
        lowered = {candidate.lower(): candidate for candidate in candidates}
        if name.lower() in lowered:
            matches = [lowered[name.lower()]]
    return f"; did you mean {matches[0]}?" if matches else ""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _error_text(err: Mapping[str, Any], known: set[str]) -> str:
    kind: str = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    loc = err["loc"]
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        if loc and loc[-1] == "namespace" and len(loc) > 1 and loc[-2] == "credentialsSecretRef":
            return ("unknown field: Secrets are read only from the resource's own namespace "
                    "(S-82)")
        return "unknown field" + _did_you_mean(str(loc[-1]), known)
    if kind == "enum":
        expected = str(ctx.get("expected", "")).replace("'", "")
        return f"must be {expected}, not {_short(value)}"
    if kind in ("string_type", "str_type"):
        if value is None:
            return "required (it is empty)"
        hint = "; put it in quotes" if isinstance(value, bool | int | float) else ""
        return f"must be a string, not {_short(value)}{hint}"
    if kind == "string_too_short":
        return "must not be empty; leave the field out instead"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern")
        return _PATTERN_MESSAGES.get(pattern, f"must match {pattern}") + f", not {_short(value)}"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false, not {_short(value)}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a mapping (key: value), not {_short(value)}"
    if kind == "list_type":
        return f"must be a list, not {_short(value)}"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} entries"
    if kind in ("duration", "warehouse_required", "duplicate"):
        return str(err["msg"])
    return str(err["msg"])

