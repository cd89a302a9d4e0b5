"""The two documents a work order can become in Visma.net, behind one interface (S-40, S-49,
S-50): a sales order (v3 API) or a customer invoice (ERP API).

A writer builds the request from a draft, sends it, finds a document an earlier attempt made
by the operator's marker (in-doubt recovery, DESIGN.md section 3) and attaches a file. The
orders loop picks one with `writer_for`: from the ledger for a document already begun, from the
settings for a new work order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar

from reconcilers.clients.visma.client import VismaClient
from reconcilers.clients.visma.models import DocumentLine, NewCustomerInvoice, NewSalesOrder
from reconcilers.resource.spec import DocumentType, OrderSettings

INVOICE_TYPE = "Invoice"
"""The document type the ledger records for a customer invoice (a sales order has its own
order type, e.g. ``SO``)."""


@dataclass
class Draft:
    """The document a work order becomes, before it is a sales order or an invoice."""

    number: str
    """The work order's number, as users know it."""
    customer_number: str
    lines: list[DocumentLine]
    note: str | None
    reference: str | None
    marker: str

    @property
    def description(self) -> str:
        """The document's description: which work order it is."""
        return f"Werkbon {self.number}"


class Document(NamedTuple):
    """A document in Visma.net: its type (``SO``, ``Invoice``) and its number."""

    type: str
    number: str


RequestT = TypeVar("RequestT", NewSalesOrder, NewCustomerInvoice)


class DocumentWriter(ABC, Generic[RequestT]):
    """One kind of Visma.net document: how it is built, made, found and given files."""

    document_type: ClassVar[DocumentType]
    noun: ClassVar[str]
    """How the integration log names this kind of document."""

    def __init__(self, visma: VismaClient) -> None:
        self.visma = visma

    def warehouse(self, settings: OrderSettings, user: str | None) -> str | None:
        """The warehouse of the lines for the Simon user (email, else name) who did the
        work; None where the document has none."""
        return None

    @abstractmethod
    def request(self, draft: Draft) -> RequestT:
        """The create request; fails (pydantic) when the draft does not fit the document."""

    @abstractmethod
    async def create(self, request: RequestT) -> Document:
        """Send the request once; a lost answer is an InDoubtError (then `find`)."""

    @abstractmethod
    async def find(self, marker: str) -> Document | None:
        """The document carrying `marker`, made by an earlier attempt, or None."""

    @abstractmethod
    async def attach(self, document: Document, name: str, content: bytes) -> None:
        """Upload a PDF to the document."""


class SalesOrderWriter(DocumentWriter[NewSalesOrder]):
    """A v3 sales order; the marker goes to the customer's order number."""

    document_type = DocumentType.SALES_ORDER
    noun = "sales order"

    def warehouse(self, settings: OrderSettings, user: str | None) -> str | None:
        """S-50: the user's own warehouse, else the default one. The settings' document
        type plays no part: a document begun as a sales order keeps its warehouse (S-51)."""
        own = settings.warehouse_by_user.get(user) if user is not None else None
        return own or settings.default_warehouse

    def request(self, draft: Draft) -> NewSalesOrder:
        return NewSalesOrder(
            customer_number=draft.customer_number,
            description=draft.description,
            note=draft.note,
            reference=draft.reference,
            marker=draft.marker,
            lines=draft.lines,
        )

    async def create(self, request: NewSalesOrder) -> Document:
        return Document(*await self.visma.create_sales_order(request))

    async def find(self, marker: str) -> Document | None:
        # The list's filter also matches order numbers and customer names: compare exactly.
        for order in await self.visma.find_sales_orders(marker):
            if order.marker == marker:
                return Document(order.order_type, order.order_id)
        return None

    async def attach(self, document: Document, name: str, content: bytes) -> None:
        await self.visma.attach_to_sales_order(document.type, document.number, name, content)


class InvoiceWriter(DocumentWriter[NewCustomerInvoice]):
    """An ERP customer invoice; the marker goes to its external reference."""

    document_type = DocumentType.INVOICE
    noun = "invoice"

    def request(self, draft: Draft) -> NewCustomerInvoice:
        return NewCustomerInvoice(
            customer_number=draft.customer_number,
            reference=draft.reference,
            external_reference=draft.marker,
            invoice_text=draft.description,
            note=draft.note,
            lines=draft.lines,
        )

    async def create(self, request: NewCustomerInvoice) -> Document:
        return Document(INVOICE_TYPE, await self.visma.create_customer_invoice(request))

    async def find(self, marker: str) -> Document | None:
        invoice = await self.visma.find_customer_invoice(marker)
        return Document(INVOICE_TYPE, invoice.reference_number) if invoice else None

    async def attach(self, document: Document, name: str, content: bytes) -> None:
        await self.visma.attach_to_invoice(document.number, name, content)


AnyWriter = DocumentWriter[Any]
"""A writer of either document, as the orders loop holds one."""

_WRITERS: dict[DocumentType, type[AnyWriter]] = {
    DocumentType.SALES_ORDER: SalesOrderWriter,
    DocumentType.INVOICE: InvoiceWriter,
}


def writer_for(document_type: DocumentType | str, visma: VismaClient) -> AnyWriter:
    """The writer of `document_type` ("SalesOrder" or "Invoice"), sending through `visma`."""
    return _WRITERS[DocumentType(document_type)](visma)
