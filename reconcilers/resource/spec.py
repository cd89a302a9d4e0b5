"""The `VismaIntegration` spec (DESIGN.md section 2): what a platform team applies per tenant.

The CRD (`crds/vismaintegrations.yaml`) is the public API; these models mirror it field for
field (camelCase on the wire, snake_case in Python). They refuse what the API server refuses
(unknown fields, bad enums, malformed durations, a SalesOrder setup without a default
warehouse), so standalone mode and the operator see the same settings (S-70). A failure is a
`TenantSpecError` whose message is one line naming the offending field path, e.g.
``spec.orders.defaultWarehouse: required when documentType is SalesOrder``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from reconcilers.resource.durations import Duration

GROUP = "simon-visma.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "VismaIntegration"
PLURAL = "vismaintegrations"


# The same regular expressions are in the CRD (RE2 there, Python's re and Rust's regex
# here: they are written to mean the same in all three, and without backslashes where a
# CEL string literal repeats them).
URL_PATTERN = r"^https?://[^\s/?#]+([/?#]\S*)?$"
SECRET_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

NonEmptyStr = Annotated[str, StringConstraints(strict=True, min_length=1)]
Url = Annotated[str, StringConstraints(strict=True, pattern=URL_PATTERN)]
SecretName = Annotated[
    str, StringConstraints(strict=True, min_length=1, max_length=253, pattern=SECRET_NAME_PATTERN)
]


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


