"""Visma.net wire mapping: DTOs to domain models and back, date formats, created ids and
error bodies. The only module that knows Visma.net's field names."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from reconcilers.http import ApiError, error_class
from reconcilers.text import read_json
from reconcilers.visma.models import (
    Address,
    Attachment,
    Contact,
    Customer,
    CustomerInvoice,
    CustomerInvoiceLine,
    InventoryItem,
    NewCustomerInvoice,
    NewSalesOrder,
    SalesOrder,
    SalesOrderLine,
    SalesOrderSummary,
    SalesOrderType,
    Warehouse,
)

API_NAME = "visma.net"


# --- dates -------------------------------------------------------------------------------

def filter_datetime(moment: datetime) -> str:
    """A filter value: UTC `yyyy-MM-ddTHH:mm:ss` (naive values are taken as UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def parse_datetime(value: Any) -> datetime | None:
    """A returned date-time, with or without offset (without: UTC)."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    return Decimal(str(value))


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


# --- reading -----------------------------------------------------------------------------

def address(dto: Any) -> Address | None:
    if not isinstance(dto, dict):
        return None
    country = dto.get("country")
    return Address(
        address_id=dto.get("addressId"),
        line1=dto.get("addressLine1"),
        line2=dto.get("addressLine2"),
        line3=dto.get("addressLine3"),
        postal_code=dto.get("postalCode"),
        city=dto.get("city"),
        country=country.get("id") if isinstance(country, dict) else None,
    )


def contact(dto: Any) -> Contact | None:
    if not isinstance(dto, dict):
        return None
    return Contact(
        contact_id=dto.get("contactId"), name=dto.get("name"), attention=dto.get("attention"),
        email=dto.get("email"), phone1=dto.get("phone1"), phone2=dto.get("phone2"),
        web=dto.get("web"),
    )


def customer(dto: dict[str, Any]) -> Customer:
    return Customer(
        internal_id=dto["internalId"],
        number=dto["number"],
        name=dto.get("name") or "",
        status=dto.get("status") or "Active",
        main_address=address(dto.get("mainAddress")),
        main_contact=contact(dto.get("mainContact")),
        invoice_address=address(dto.get("invoiceAddress")),
        invoice_contact=contact(dto.get("invoiceContact")),
        delivery_address=address(dto.get("deliveryAddress")),
        delivery_contact=contact(dto.get("deliveryContact")),
        last_modified=parse_datetime(dto.get("lastModifiedDateTime")),
        created=parse_datetime(dto.get("createdDateTime")),
    )


def inventory_item(dto: dict[str, Any]) -> InventoryItem:
    return InventoryItem(
        inventory_id=dto["inventoryId"],
        number=dto["inventoryNumber"],
        description=dto.get("description") or "",
        status=dto.get("status") or "Active",
        type=dto.get("type") or "NonStockItem",
        stock_item=bool(dto.get("stockItem")),
        default_price=_decimal(dto.get("defaultPrice")),
        base_unit=dto.get("baseUnit"),
        sales_unit=dto.get("salesUnit"),
        last_modified=parse_datetime(dto.get("lastModifiedDateTime")),
    )


def warehouse(dto: dict[str, Any]) -> Warehouse:
    return Warehouse(warehouse_id=dto["warehouseID"], description=dto.get("description") or "",
                     active=bool(dto.get("active", True)))


def sales_order_type(dto: dict[str, Any]) -> SalesOrderType:
    return SalesOrderType(order_type=dto["orderType"], description=dto.get("description") or "",
                          active=bool(dto.get("active", True)), behavior=dto.get("behavior"))


def sales_order_summary(dto: dict[str, Any]) -> SalesOrderSummary:
    return SalesOrderSummary(
        order_type=dto["type"], order_id=dto["orderId"], status=dto.get("status"),
        date=parse_datetime(dto.get("date")), customer_number=dto.get("customerId"),
        customer_name=dto.get("customerName"), marker=dto.get("customerOrder"),
        reference=dto.get("customerRefNo"), description=dto.get("description"),
        total=_decimal(dto.get("orderTotal")),
        last_modified=parse_datetime(dto.get("lastModified")),
    )


def attachments(items: Any) -> tuple[Attachment, ...]:
    return tuple(Attachment(id=a["id"], name=a.get("name"), revision=a.get("revision"))
                 for a in items or () if isinstance(a, dict) and a.get("id"))


def sales_order(dto: dict[str, Any], etag: str | None) -> SalesOrder:
    customer_dto = dto.get("customer") or {}
    status = dto.get("status") or {}
    totals = dto.get("totals") or {}
    return SalesOrder(
        order_type=dto["type"], order_id=dto["orderId"],
        status=status.get("description"), on_hold=bool(status.get("hold")),
        date=parse_datetime(dto.get("date")),
        customer_number=customer_dto.get("id"), customer_name=customer_dto.get("name"),
        customer_internal_id=customer_dto.get("internalId"),
        marker=customer_dto.get("order"), reference=customer_dto.get("refNo"),
        description=dto.get("description"), note=dto.get("note"),
        total=_decimal(totals.get("orderTotal")),
        last_modified=parse_datetime(dto.get("lastModified")),
        attachments=attachments(dto.get("attachments")),
        etag=etag,
    )


def sales_order_line(dto: dict[str, Any]) -> SalesOrderLine:
    inventory = dto.get("inventory") or {}
    return SalesOrderLine(
        line_id=dto["lineId"], item_number=inventory.get("id"),
        description=dto.get("description"), quantity=_decimal(dto.get("quantity")),
        unit_price=_decimal(dto.get("unitPrice")), unit=dto.get("unitOfMeasure"),
        warehouse_id=dto.get("warehouseId"), note=dto.get("note"),
        manual_price=bool(dto.get("hasManualPrice")),
    )


def customer_invoice(dto: dict[str, Any]) -> CustomerInvoice:
    return CustomerInvoice(
        reference_number=dto["referenceNumber"],
        customer_number=(dto.get("customer") or {}).get("number"),
        status=dto.get("status"), reference=dto.get("customerRefNumber"),
        external_reference=dto.get("externalReference"), invoice_text=dto.get("invoiceText"),
        note=dto.get("note"), document_date=parse_datetime(dto.get("documentDate")),
        amount=_decimal(dto.get("amount")),
        lines=tuple(
            CustomerInvoiceLine(
                line_number=line.get("lineNumber"), item_number=line.get("inventoryNumber"),
                description=line.get("description"), quantity=_decimal(line.get("quantity")),
                unit_price=_decimal(line.get("unitPriceInCurrency")),
            )
            for line in dto.get("invoiceLines") or ()
        ),
        attachments=attachments(dto.get("attachments")),
        last_modified=parse_datetime(dto.get("lastModifiedDateTime")),
    )


# --- writing -----------------------------------------------------------------------------

def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def new_sales_order(order: NewSalesOrder) -> dict[str, Any]:
    """NewSalesOrderCommand (v3: plain JSON)."""
    lines = []
    for line in order.lines:
        lines.append(_drop_none({
            "inventoryId": line.item_number,
            "quantity": float(line.quantity),
            "unitPrice": _number(line.unit_price),
            "hasManualPrice": True if line.unit_price is not None else None,
            "warehouseId": line.warehouse_id,
            "description": line.description,
            "note": line.note,
            "unitOfMeasure": line.unit,
        }))
    return _drop_none({
        "type": order.order_type,
        "customer": _drop_none({"id": order.customer_number, "refNo": order.reference,
                                "order": order.marker}),
        "date": filter_datetime(order.date) if order.date else None,
        "description": order.description,
        "note": order.note,
        "orderLines": lines,
    })


def _value(value: Any) -> dict[str, Any] | None:
    return None if value is None else {"value": value}


def new_customer_invoice(invoice: NewCustomerInvoice) -> dict[str, Any]:
    """CustomerInvoiceUpdateDto (ERP write DTO: every scalar as `{"value": ...}`)."""
    lines = []
    for line in invoice.lines:
        lines.append(_drop_none({
            "operation": "Insert",
            "inventoryNumber": _value(line.item_number),
            "description": _value(line.description),
            "quantity": _value(float(line.quantity)),
            "unitPriceInCurrency": _value(_number(line.unit_price)),
            "note": _value(line.note),
        }))
    document_date: date | None = invoice.document_date
    return _drop_none({
        "customerNumber": _value(invoice.customer_number),
        "documentDate": _value(document_date.isoformat() if document_date else None),
        "customerRefNumber": _value(invoice.reference),
        "externalReference": _value(invoice.external_reference),
        "invoiceText": _value(invoice.invoice_text),
        "note": _value(invoice.note),
        "invoiceLines": lines,
    })


# --- responses ---------------------------------------------------------------------------

def created_id(response: httpx.Response, segments: int = 1) -> list[str]:
    """The last `segments` path segments of the `Location` header (never followed)."""
    location = response.headers.get("Location")
    parts = [unquote(p) for p in urlsplit(location or "").path.split("/") if p]
    if len(parts) < segments:
        raise ApiError(API_NAME, f"created, but the Location header {location!r} holds no id",
                       status=response.status_code, method=response.request.method,
                       path=response.request.url.path)
    return parts[-segments:]


def error(response: httpx.Response, method: str, path: str) -> ApiError:
    """The typed error for a Visma.net error answer, from any of its error shapes."""
    status = response.status_code
    message = response.reason_phrase or f"HTTP {status}"
    code: str | None = None
    details: list[dict[str, Any]] = []
    try:
        body = read_json(response) if response.content else None
    except ValueError:
        body = None
        text = response.text.strip()
        if text:
            message = text[:500]
    if isinstance(body, dict):
        if isinstance(body.get("details"), list):  # v3 SalesOrderValidationProblemDetails
            for item in body["details"]:
                if isinstance(item, dict):
                    params = item.get("parameters") or {}
                    details.append({"code": item.get("code"), "message": item.get("message"),
                                    "property": params.get("property")})
        if details:
            code = details[0]["code"]
            message = "; ".join(
                f"{d['property']}: {d['message']}" if d.get("property") else str(d["message"])
                for d in details
            )
        elif "ExceptionMessage" in body:  # ERP IPPException
            message = str(body["ExceptionMessage"])
            code = str(body.get("ExceptionFaultCode") or "") or None
        elif "message" in body or "Message" in body:  # ERP business error
            message = str(body.get("message") or body.get("Message"))
        elif "title" in body or "detail" in body:  # v3 ProblemDetails
            message = str(body.get("detail") or body.get("title"))
        elif "error" in body:  # OAuth
            code = str(body["error"])
            message = str(body.get("error_description") or body["error"])
    return error_class(status)(API_NAME, message, status=status, code=code, method=method,
                               path=path, details=details)
