"""Visma.net records in domain terms. The wire names (`addressLine1`, `{"value": ...}`, ...)
are mapped in `wire.py`; nothing outside this package sees them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Address(_Model):
    address_id: int | None = None
    line1: str | None = None
    line2: str | None = None
    line3: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country: str | None = None
    """ISO 3166 two-letter code."""

    @property
    def is_empty(self) -> bool:
        """True when nothing but (at most) a country is filled in."""
        return not any((self.line1, self.line2, self.line3, self.postal_code, self.city))


class Contact(_Model):
    contact_id: int | None = None
    name: str | None = None
    attention: str | None = None
    email: str | None = None
    phone1: str | None = None
    phone2: str | None = None
    web: str | None = None


class Customer(_Model):
    internal_id: int
    """Stable key; the customer `number` can be changed in Visma.net."""
    number: str
    name: str = ""
    status: str = "Active"
    main_address: Address | None = None
    main_contact: Contact | None = None
    invoice_address: Address | None = None
    invoice_contact: Contact | None = None
    delivery_address: Address | None = None
    delivery_contact: Contact | None = None
    last_modified: datetime | None = None
    created: datetime | None = None


class InventoryItem(_Model):
    inventory_id: int
    number: str
    description: str = ""
    status: str = "Active"
    type: str = "NonStockItem"
    stock_item: bool = False
    default_price: Decimal | None = None
    base_unit: str | None = None
    sales_unit: str | None = None
    last_modified: datetime | None = None

    @property
    def unit(self) -> str | None:
        return self.sales_unit or self.base_unit


class Warehouse(_Model):
    warehouse_id: str
    description: str = ""
    active: bool = True


class SalesOrderType(_Model):
    order_type: str
    description: str = ""
    active: bool = True
    behavior: str | None = None


class Attachment(_Model):
    id: str
    name: str | None = None
    revision: int | None = None


class SalesOrderSummary(_Model):
    """A row of the v3 sales order list (no lines)."""

    order_type: str
    order_id: str
    status: str | None = None
    date: datetime | None = None
    customer_number: str | None = None
    customer_name: str | None = None
    marker: str | None = None
    """The customer's order number (`customer.order`), free for the operator's marker."""
    reference: str | None = None
    """The customer reference (`customer.refNo`)."""
    description: str | None = None
    total: Decimal | None = None
    last_modified: datetime | None = None


class SalesOrder(SalesOrderSummary):
    """One v3 sales order with the sections asked for (`note` needs expand Note)."""

    note: str | None = None
    customer_internal_id: int | None = None
    on_hold: bool = False
    attachments: tuple[Attachment, ...] = ()
    etag: str | None = None


class SalesOrderLine(_Model):
    line_id: int
    item_number: str | None = None
    description: str | None = None
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    unit: str | None = None
    warehouse_id: str | None = None
    note: str | None = None
    manual_price: bool = False


class DocumentLine(_Model):
    """One line of a sales order or a customer invoice: an item, how many, at what price."""

    item_number: str
    quantity: Decimal
    unit_price: Decimal | None = None
    """Sent as a manual price; None lets Visma.net's price rules decide (S-42, S-44)."""
    description: str | None = None
    """Overrides the item's own description on the document."""
    warehouse: str | None = None
    """A sales order line's warehouse (S-50); an invoice line has none."""


SALES_ORDER_LINE_DESCRIPTION_LIMIT = 256
"""The v3 sales order line's `description` holds this many characters."""


class NewSalesOrder(_Model):
    order_type: str = "SO"
    customer_number: str
    description: str | None = Field(default=None, max_length=255)
    note: str | None = Field(default=None, max_length=2048)
    reference: str | None = Field(default=None, max_length=40)
    """Goes to `customer.refNo` (S-48)."""
    marker: str | None = Field(default=None, max_length=40)
    """Goes to `customer.order`; the list's `filter` finds it (in-doubt recovery)."""
    date: datetime | None = None
    lines: Sequence[DocumentLine] = ()

    @field_validator("lines")
    @classmethod
    def _line_descriptions_fit(cls, lines: Sequence[DocumentLine]) -> Sequence[DocumentLine]:
        for line in lines:
            if line.description and len(line.description) > SALES_ORDER_LINE_DESCRIPTION_LIMIT:
                raise PydanticCustomError(
                    "string_too_long",
                    "a line's description should have at most {max_length} characters",
                    {"max_length": SALES_ORDER_LINE_DESCRIPTION_LIMIT})
        return lines


class NewCustomerInvoice(_Model):
    customer_number: str
    document_date: date | None = None
    reference: str | None = None
    """Goes to `customerRefNumber` (S-48)."""
    external_reference: str | None = None
    """The operator's marker; `GET /v1/customerinvoice?externalReference=` finds it."""
    invoice_text: str | None = None
    note: str | None = None
    lines: Sequence[DocumentLine] = ()


class CustomerInvoiceLine(_Model):
    line_number: int | None = None
    item_number: str | None = None
    description: str | None = None
    quantity: Decimal | None = None
    unit_price: Decimal | None = None


class CustomerInvoice(_Model):
    reference_number: str
    customer_number: str | None = None
    status: str | None = None
    reference: str | None = None
    external_reference: str | None = None
    invoice_text: str | None = None
    note: str | None = None
    document_date: datetime | None = None
    amount: Decimal | None = None
    lines: tuple[CustomerInvoiceLine, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    last_modified: datetime | None = None
