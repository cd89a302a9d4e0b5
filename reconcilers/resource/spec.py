"""The `VismaIntegration` spec (DESIGN.md section 2): what a platform team applies per tenant.

These models are the resource's API: `python -m reconcilers.resource.crd` generates the CRD
(`crds/vismaintegrations.yaml`) from them, field for field (camelCase on the wire, snake_case
in Python). Each field's `description` is what `kubectl explain` shows users, and the
Kubernetes-only bits (CEL rules, list types) sit next to the fields they belong to. The models
refuse what the API server refuses (unknown fields, bad enums, malformed durations, a
SalesOrder setup without a default warehouse), so standalone mode and the operator see the
same settings (S-70). A failure is a `TenantSpecError` whose message is one line naming the
offending field path, e.g. ``spec.orders.defaultWarehouse: required when documentType is
SalesOrder``.
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


WipeKinds = Annotated[
    list[Annotated[WipeKind, Field(
        description="A kind of Simon record (Customers, Items or WorkAddresses).")]],
    AfterValidator(_unique),
    Field(json_schema_extra={"x-kubernetes-list-type": "set"}),
]


# --------------------------------------------------------------------------- spec


class _SpecModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class SecretRef(_SpecModel):
    """A Secret in the resource's own namespace (S-82)."""

    name: SecretName = Field(
        description="Name of the Secret (it must be in the same namespace).")


class VismaSettings(_SpecModel):
    """Where and as whom the operator talks to Visma.net (S-70)."""

    tenant_id: NonEmptyStr = Field(description=(
        "The Visma Connect tenant id (a GUID) of the company, used when asking for tokens. "
        "Required."))
    company_id: NonEmptyStr | None = Field(None, description=(
        "Optional. The Visma.net administration (company) number; shown in status.companyId "
        "for humans. Leave it out when you do not know it."))
    credentials_secret_ref: SecretRef = Field(description=(
        "The Secret, in this resource's namespace, holding the Visma Connect client "
        "credentials under the keys clientId and clientSecret."))
    api_url: Url = Field("https://api.finance.visma.net", description=(
        "Base URL of the Visma.net ERP API (customers, items, invoices, attachments). Change "
        "it only for a test environment."))
    sales_order_url: Url = Field("https://salesorder.visma.net", description=(
        "Base URL of the Visma.net Sales Order API v3 used for sales orders and sales order / "
        "quote imports."))
    token_url: Url = Field("https://connect.visma.com/connect/token",
                           description="The Visma Connect OAuth2 token endpoint.")


class SimonSettings(_SpecModel):
    """Where and as whom the operator talks to Simon (S-70)."""

    url: Url = Field(description=(
        "The tenant's Simon API URL, as Simon mails it when API access is granted, e.g. "
        "https://simon.example/api. Required."))
    credentials_secret_ref: SecretRef = Field(description=(
        "The Secret, in this resource's namespace, holding the Simon API access under the keys "
        "licenseKey, username, password and (optional) apiKey."))


class Schedule(_SpecModel):
    """How often each loop runs (S-3, S-30)."""

    master_data: Duration = Field("2m", validate_default=True, description=(
        "Interval of the incremental Visma.net -> Simon pass for customers, work addresses "
        "and items. Default 2m."))
    orders: Duration = Field("30s", validate_default=True, description=(
        "Interval at which archived work orders are looked for and sent to Visma.net. "
        "Default 30s."))
    imports: Duration = Field("2m", validate_default=True, description=(
        "Interval of the Visma.net sales order / quote import into Simon. Default 2m."))
    cleanup: Duration = Field("48h", validate_default=True, description=(
        "Interval of the full comparison that removes from Simon what is gone from Visma.net. "
        "Default 48h."))


DEFAULT_MAX_REMOVAL_PERCENT = 20


class CleanupSettings(_SpecModel):
    """How much one cleanup may remove from Simon: the brake against a Visma.net
    answer that only looks like mass deletion."""

    max_removal_percent: Annotated[StrictInt, Field(ge=0, le=100)] = Field(
        DEFAULT_MAX_REMOVAL_PERCENT,
        description=(
            "A cleanup that would remove more than this percentage of the customers (or items) "
            "in Simon that came from Visma.net, and more than 10 of them, removes none of that "
            "kind, logs an error and sets the CleanupHeld condition. Check Visma.net; if the "
            "removals are right, raise this value. Default 20 (0 to 100)."),
    )


class Activation(_SpecModel):
    """Which Simon kinds are emptied on (re)activation (S-72)."""

    wipe_on_first_activation: WipeKinds = Field(
        default=[WipeKind.CUSTOMERS, WipeKind.ITEMS, WipeKind.WORK_ADDRESSES],
        description=("Kinds emptied in Simon on the first activation of this tenant. Default "
                     "all three; [] wipes nothing."),
    )
    wipe_on_reactivation: WipeKinds = Field(default=[], description=(
        "Kinds emptied in Simon when enabled goes from false back to true. Default none."))


class OrderSettings(_SpecModel):
    """How archived work orders become Visma.net documents (S-40 .. S-51)."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [{
        # The API server's twin of `_warehouse_for_sales_orders` (S-50).
        "rule": "self.documentType != 'SalesOrder' || has(self.defaultWarehouse)",
        "message": "defaultWarehouse is required when documentType is SalesOrder",
        "fieldPath": ".defaultWarehouse",
        "reason": "FieldValueRequired",
    }]})

    document_type: DocumentType = Field(description=(
        "What an archived work order becomes: a sales order (type SO, needs defaultWarehouse) "
        "or a customer invoice. Required."))
    work_time_item: NonEmptyStr | None = Field(None, description=(
        "Visma.net non-stock item (inventory id) booked for work time: the time sheets' "
        "minutes added up become one line with quantity in hours, rounded to two decimals. "
        "Leave it out and work time is not booked."))
    travel_time_item: NonEmptyStr | None = Field(None, description=(
        "Visma.net non-stock item booked for travel time, like workTimeItem. Leave it out and "
        "travel is not booked."))
    fixed_item: NonEmptyStr | None = Field(None, description=(
        "Visma.net non-stock item added with quantity 1 to every document, e.g. a call-out "
        "charge. Leave it out for none."))
    skip_word: NonEmptyStr | None = Field(None, description=(
        "A work order whose work performed or description contains this word "
        "(case-insensitive) is not sent; the log says so. Leave it out and every archived work "
        "order is sent."))
    note: Note = Field(Note.WORK_ADDRESS_AND_DESCRIPTION, description=(
        "What goes into the document's note: the work address (one line), the work "
        "description, both (address first) or nothing."))
    customer_reference: CustomerReference = Field(CustomerReference.BOTH, description=(
        "What goes into the Visma.net customer reference: the work order number, the Simon "
        'work order\'s reference, both as "<number> / <reference>", or nothing; cut to 40 '
        "characters with a warning."))
    attachments: Attachments = Field(Attachments.BOTH, description=(
        "Which PDFs are attached to the Visma.net document: the work order PDF, the custom "
        "forms PDF, both or none."))
    pdf_source: PdfSource = Field(PdfSource.RENDERED, description=(
        "Who makes the PDFs: Rendered (the operator renders them from the work order's data) "
        "or Simon (Simon's own digital presentation)."))
    default_warehouse: NonEmptyStr | None = Field(None, validate_default=True, description=(
        "Visma.net warehouse for sales order lines of users without an entry in "
        "warehouseByUser. Required when documentType is SalesOrder; invoices have no "
        "warehouse."))
    warehouse_by_user: dict[
        str, Annotated[NonEmptyStr, Field(description="Visma.net warehouse id for this user.")]
    ] = Field({}, description=(
        "Warehouse per Simon user for sales orders: the key is the user's email address (the "
        "user's name for users without one), the value a Visma.net warehouse id. The work "
        "order's user is the user of its earliest scheduling, else of its first time sheet."))

    @field_validator("default_warehouse", mode="after")
    @classmethod
    def _warehouse_for_sales_orders(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("document_type") == DocumentType.SALES_ORDER:
            raise PydanticCustomError(
                "warehouse_required", "required when documentType is SalesOrder"
            )
        return value


class ImportSettings(_SpecModel):
    """One kind of Visma.net order imported as Simon work orders (S-60); the two kinds below
    say the same in their own words."""

    enabled: StrictBool = False
    filter_word: NonEmptyStr = "SIMON"
    include_lines: StrictBool


class SalesOrderImport(ImportSettings):
    """Sales orders (type SO): lines are imported by default."""

    enabled: StrictBool = Field(
        False, description="Whether sales orders are imported. Default false.")
    filter_word: NonEmptyStr = Field("SIMON", description=(
        "Only sales orders whose description contains this word (case-insensitive) are "
        "imported. Default SIMON."))
    include_lines: StrictBool = Field(True, description=(
        "Whether the order's lines become used items on the work order for the technician to "
        "confirm. Default true."))


class QuoteImport(ImportSettings):
    """Quotes (type QT): lines are not imported by default."""

    enabled: StrictBool = Field(False, description="Whether quotes are imported. Default false.")
    filter_word: NonEmptyStr = Field("SIMON", description=(
        "Only quotes whose description contains this word (case-insensitive) are imported. "
        "Default SIMON."))
    include_lines: StrictBool = Field(False, description=(
        "Whether the quote's lines become used items on the work order for the technician to "
        "confirm. Default false."))


class Imports(_SpecModel):
    """Visma.net sales orders and quotes -> Simon work orders (S-60)."""

    sales_orders: SalesOrderImport = Field(
        SalesOrderImport(), description="Import of Visma.net sales orders of type SO.")
    quotes: QuoteImport = Field(QuoteImport(), description="Import of Visma.net quotes of type QT.")


class VismaIntegrationSpec(_SpecModel):
    """`spec` of a VismaIntegration: every setting of one tenant (S-70)."""

    enabled: StrictBool = Field(True, description=(
        "Whether the integration runs. false stops every loop of this tenant at once: nothing "
        "is fetched or sent. Setting it back to true is a re-activation: the kinds in "
        "activation.wipeOnReactivation are emptied in Simon, then the loops resume from their "
        "stored high-water marks and send the archived work orders that waited."))
    visma: VismaSettings = Field(
        description="Where and as whom the operator reaches Visma.net.")
    simon: SimonSettings = Field(
        description="Where and as whom the operator reaches Simple-Simon.")
    schedule: Schedule = Field(Schedule(), description=(
        "How often each loop runs, as Go-style durations (30s, 2m, 48h, 1h30m; units h, m, s, "
        "ms), each from 10s to 168h (7 days). Leave a field out for its default. To run every "
        "loop now, set the annotation simon-visma.io/run-requested-at to a new value."))
    activation: Activation = Field(Activation(), description=(
        "What is emptied in Simon when the integration is activated, so that everything comes "
        "from Visma.net. A wipe happens once per activation, before the first master-data "
        "pass, and never again on restarts."))
    cleanup: CleanupSettings = Field(CleanupSettings(), description=(
        "How much one cleanup may remove from Simon. A cleanup that would remove unusually "
        "many records at once stops short, so that an incomplete answer from Visma.net never "
        "looks like mass deletion."))
    orders: OrderSettings = Field(description=(
        "How a completed and archived Simon work order becomes one Visma.net document. "
        "Settings apply to documents made from then on; documents already made are never "
        "changed."))
    imports: Imports = Field(Imports(), description=(
        "Visma.net sales orders and quotes that become Simon work orders. Each order is "
        "imported once."))

    def to_wire(self) -> dict[str, Any]:
        """The spec as it is written in YAML / sent to the API server (camelCase)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


