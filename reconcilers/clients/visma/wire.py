"""Visma.net wire mapping: DTOs to domain models and back, date formats, created ids and
error bodies. The only module that knows Visma.net's field names."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from reconcilers.clients.http import ApiError, UnreadableRecordError, error_class
from reconcilers.clients.visma.models import (
    Address,
    Attachment,
    Contact,
    Customer,
    CustomerInvoice,
    CustomerInvoiceLine,
    DocumentLine,
    InventoryItem,
    NewCustomerInvoice,
    NewSalesOrder,
    SalesOrder,
    SalesOrderLine,
    SalesOrderSummary,
    SalesOrderType,
    Warehouse,
)
from reconcilers.text import quoted, read_json

API_NAME = "visma.net"
READ_API = "Visma.net"
"""How an unreadable record names the API it came from."""


# --- dates -------------------------------------------------------------------------------

def filter_datetime(moment: datetime) -> str:
    """A filter value: UTC `yyyy-MM-ddTHH:mm:ss` (naive values are taken as UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def parse_datetime(value: Any) -> datetime | None:
    """A returned date-time in any of the forms Visma.net sends: with or without an offset
    (without: UTC), with or without fractions (up to .NET's seven digits), `T` or a space
    between date and time, or a date alone (midnight UTC). None when it is no date."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not 10 <= len(text) <= 40:
        return None
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


_NUMBER_TEXT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,4})?")


def _decimal(value: Any) -> Decimal | None:
    """A number sent as a JSON number or a numeric string; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        value = str(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if len(text) > 64 or not _NUMBER_TEXT.fullmatch(text):
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _int(value: Any) -> int | None:
    """A whole number (an id, a line number) sent as a number or a numeric string."""
    number = _decimal(value)
    if number is None or number != number.to_integral_value() or abs(number) >= 2 ** 63:
        return None
    return int(number)


def whole_number(value: Any) -> int | None:
    """A count or size from an answer (`totalCount`, `maxPageSize`), None if unreadable."""
    return _int(value)


def _text(value: Any) -> str | None:
    """Text; numbers (ids sent as numbers) as their digits; None for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, Decimal | float) and _int(value) is not None:
        return str(_int(value))
    return None


def _key(value: Any) -> str | None:
    """A key or number of a record: non-empty text without surrounding blanks."""
    text = _text(value)
    text = text.strip() if text is not None else None
    return text or None


def _bool(value: Any, default: bool = False) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return default


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _unreadable(table: str, record_id: object, problems: list[str], label: str,
                number: str | None = None) -> UnreadableRecordError:
    return UnreadableRecordError(api=READ_API, table=table, record_id=record_id,
                                 problems=problems, label=label, number=number)


def _why(dto: dict[str, Any], name: str, what: str) -> str:
    """A problem in plain words: `internalId is missing`, `number 'x' is not ...`."""
    if dto.get(name) is None:
        return f"{name} is missing"
    return f"{name} {quoted(dto[name])} is not {what}"


def _label(kind: str, *parts: str | None) -> str:
    return " ".join([kind, *(p for p in parts if p)])


def _record(dto: Any, table: str) -> dict[str, Any]:
    if not isinstance(dto, dict):
        raise _unreadable(table, None, [f"the {table} is not a JSON object"], table)
    return dto


# --- reading -----------------------------------------------------------------------------

def address(dto: Any) -> Address | None:
    if not isinstance(dto, dict):
        return None
    country = dto.get("country")
    return Address(
        address_id=_int(dto.get("addressId")),
        line1=_text(dto.get("addressLine1")),
        line2=_text(dto.get("addressLine2")),
        line3=_text(dto.get("addressLine3")),
        postal_code=_text(dto.get("postalCode")),
        city=_text(dto.get("city")),
        country=_text(country.get("id")) if isinstance(country, dict) else _text(country),
    )


def contact(dto: Any) -> Contact | None:
    if not isinstance(dto, dict):
        return None
    return Contact(
        contact_id=_int(dto.get("contactId")), name=_text(dto.get("name")),
        attention=_text(dto.get("attention")), email=_text(dto.get("email")),
        phone1=_text(dto.get("phone1")), phone2=_text(dto.get("phone2")),
        web=_text(dto.get("web")),
    )


def customer(dto: Any) -> Customer:
    """A CustomerDto; needs a usable `internalId` (the key) and `number`."""
    dto = _record(dto, "customer")
    internal_id, number = _int(dto.get("internalId")), _key(dto.get("number"))
    name = _text(dto.get("name")) or ""
    problems = []
    if internal_id is None:
        problems.append(_why(dto, "internalId", "a number"))
    if number is None:
        problems.append(_why(dto, "number", "a customer number"))
    if internal_id is None or number is None:
        raise _unreadable("customer", internal_id, problems,
                          _label("customer", number, name.strip()), number)
    return Customer(
        internal_id=internal_id,
        number=number,
        name=name,
        status=_key(dto.get("status")) or "Active",
        main_address=address(dto.get("mainAddress")),
        main_contact=contact(dto.get("mainContact")),
        invoice_address=address(dto.get("invoiceAddress")),
        invoice_contact=contact(dto.get("invoiceContact")),
        delivery_address=address(dto.get("deliveryAddress")),
        delivery_contact=contact(dto.get("deliveryContact")),
        last_modified=parse_datetime(dto.get("lastModifiedDateTime")),
        created=parse_datetime(dto.get("createdDateTime")),
    )


def inventory_item(dto: Any) -> InventoryItem:
    """An InventoryDto; needs a usable `inventoryId` (the key) and `inventoryNumber`."""
    dto = _record(dto, "item")
    inventory_id, number = _int(dto.get("inventoryId")), _key(dto.get("inventoryNumber"))
    description = _text(dto.get("description")) or ""
    problems = []
    if inventory_id is None:
        problems.append(_why(dto, "inventoryId", "a number"))
    if number is None:
        problems.append(_why(dto, "inventoryNumber", "an item number"))
    if inventory_id is None or number is None:
        raise _unreadable("item", inventory_id, problems,
                          _label("item", number, description.strip()), number)
    return InventoryItem(
        inventory_id=inventory_id,
        number=number,
        description=description,
        status=_key(dto.get("status")) or "Active",
        type=_key(dto.get("type")) or "NonStockItem",
        stock_item=_bool(dto.get("stockItem")),
        default_price=_decimal(dto.get("defaultPrice")),
        base_unit=_key(dto.get("baseUnit")),
        sales_unit=_key(dto.get("salesUnit")),
        last_modified=parse_datetime(dto.get("lastModifiedDateTime")),
    )


def warehouse(dto: Any) -> Warehouse:
    dto = _record(dto, "warehouse")
    warehouse_id = _key(dto.get("warehouseID"))
    description = _text(dto.get("description")) or ""
    if warehouse_id is None:
        raise _unreadable("warehouse", None, [
            _why(dto, "warehouseID", "a warehouse id")],
            _label("warehouse", description.strip()))
    return Warehouse(warehouse_id=warehouse_id, description=description,
                     active=_bool(dto.get("active"), True))


def sales_order_type(dto: Any) -> SalesOrderType:
    dto = _record(dto, "order type")
    order_type = _key(dto.get("orderType"))
    description = _text(dto.get("description")) or ""
    if order_type is None:
        raise _unreadable("order type", None, [
            _why(dto, "orderType", "an order type")],
            _label("order type", description.strip()))
    return SalesOrderType(order_type=order_type, description=description,
                          active=_bool(dto.get("active"), True),
                          behavior=_key(dto.get("behavior")))


def _order_key(dto: dict[str, Any], table: str) -> tuple[str, str]:
    order_type, order_id = _key(dto.get("type")), _key(dto.get("orderId"))
    if order_type is None or order_id is None:
        problems = []
        if order_type is None:
            problems.append(_why(dto, "type", "an order type"))
        if order_id is None:
            problems.append(_why(dto, "orderId", "an order number"))
        raise _unreadable(table, f"{order_type} {order_id}" if order_id else None, problems,
                          _label(table, order_type, order_id))
    return order_type, order_id


def sales_order_summary(dto: Any) -> SalesOrderSummary:
    """A SalesOrderListDto row; needs `type` and `orderId`."""
    dto = _record(dto, "sales order")
    order_type, order_id = _order_key(dto, "sales order")
    status = dto.get("status")
    return SalesOrderSummary(
        order_type=order_type, order_id=order_id,
        status=_text(_object(status).get("description")) if isinstance(status, dict)
        else _text(status),
        date=parse_datetime(dto.get("date")), customer_number=_key(dto.get("customerId")),
        customer_name=_text(dto.get("customerName")), marker=_text(dto.get("customerOrder")),
        reference=_text(dto.get("customerRefNo")), description=_text(dto.get("description")),
        total=_decimal(dto.get("orderTotal")),
        last_modified=parse_datetime(dto.get("lastModified")),
    )


def attachments(items: Any) -> tuple[Attachment, ...]:
    """The readable entries of an `attachments` list (one without an id is left out)."""
    if not isinstance(items, list):
        return ()
    found = []
    for item in items:
        if isinstance(item, dict) and _key(item.get("id")):
            found.append(Attachment(id=_key(item.get("id")) or "", name=_text(item.get("name")),
                                    revision=_int(item.get("revision"))))
    return tuple(found)


def sales_order(dto: Any, etag: str | None) -> SalesOrder:
    """A SalesOrderDto (single GET); needs `type` and `orderId`."""
    dto = _record(dto, "sales order")
    order_type, order_id = _order_key(dto, "sales order")
    customer_dto = _object(dto.get("customer"))
    status = dto.get("status")
    status_dto = _object(status)
    totals = _object(dto.get("totals"))
    return SalesOrder(
        order_type=order_type, order_id=order_id,
        status=_text(status_dto.get("description")) if isinstance(status, dict)
        else _text(status),
        on_hold=_bool(status_dto.get("hold")),
        date=parse_datetime(dto.get("date")),
        customer_number=_key(customer_dto.get("id")),
        customer_name=_text(customer_dto.get("name")),
        customer_internal_id=_int(customer_dto.get("internalId")),
        marker=_text(customer_dto.get("order")), reference=_text(customer_dto.get("refNo")),
        description=_text(dto.get("description")), note=_text(dto.get("note")),
        total=_decimal(totals.get("orderTotal")),
        last_modified=parse_datetime(dto.get("lastModified")),
        attachments=attachments(dto.get("attachments")),
        etag=etag,
    )


def sales_order_line(dto: Any, order: str | None = None) -> SalesOrderLine:
    """A SalesOrderLineDto; needs a usable `lineId`. `order` ("SO 000223") names the order
    in a problem."""
    table = "sales order line"
    dto = _record(dto, table)
    line_id = _int(dto.get("lineId"))
    inventory = dto.get("inventory")
    item_number = (_key(inventory.get("id")) if isinstance(inventory, dict)
                   else _key(inventory))
    if line_id is None:
        raise _unreadable(table, None, [_why(dto, "lineId", "a number")],
                          _label(f"sales order {order} line" if order else "sales order line",
                                 item_number))
    return SalesOrderLine(
        line_id=line_id, item_number=item_number,
        description=_text(dto.get("description")), quantity=_decimal(dto.get("quantity")),
        unit_price=_decimal(dto.get("unitPrice")), unit=_key(dto.get("unitOfMeasure")),
        warehouse_id=_key(dto.get("warehouseId")), note=_text(dto.get("note")),
        manual_price=_bool(dto.get("hasManualPrice")),
    )


def customer_invoice(dto: Any) -> CustomerInvoice:
    """A CustomerInvoiceDto; needs `referenceNumber`."""
    dto = _record(dto, "customer invoice")
    reference_number = _key(dto.get("referenceNumber"))
    customer_dto = dto.get("customer")
    customer_number = (_key(customer_dto.get("number")) if isinstance(customer_dto, dict)
                       else _key(customer_dto))
    if reference_number is None:
        raise _unreadable("customer invoice", None, [
            _why(dto, "referenceNumber", "an invoice number")],
            _label("customer invoice", "for customer " + customer_number
                   if customer_number else None))
    lines = []
    for line in dto.get("invoiceLines") if isinstance(dto.get("invoiceLines"), list) else ():
        if not isinstance(line, dict):
            continue
        inventory = line.get("inventoryNumber")
        lines.append(CustomerInvoiceLine(
            line_number=_int(line.get("lineNumber")),
            item_number=(_key(inventory.get("number")) if isinstance(inventory, dict)
                         else _key(inventory)),
            description=_text(line.get("description")),
            quantity=_decimal(line.get("quantity")),
            unit_price=_decimal(line.get("unitPriceInCurrency")),
        ))
    return CustomerInvoice(
        reference_number=reference_number,
        customer_number=customer_number,
        status=_key(dto.get("status")), reference=_text(dto.get("customerRefNumber")),
        external_reference=_text(dto.get("externalReference")),
        invoice_text=_text(dto.get("invoiceText")),
        note=_text(dto.get("note")), document_date=parse_datetime(dto.get("documentDate")),
        amount=_decimal(dto.get("amount")),
        lines=tuple(lines),
        attachments=attachments(dto.get("attachments")),
        last_modified=parse_datetime(dto.get("lastModifiedDateTime")),
    )


# --- writing -----------------------------------------------------------------------------

def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def _sales_order_line(line: DocumentLine) -> dict[str, Any]:
    """NewSalesOrderLineDto (v3: plain JSON); a price is sent as a manual one."""
    return _drop_none({
        "inventoryId": line.item_number,
        "quantity": float(line.quantity),
        "unitPrice": _number(line.unit_price),
        "hasManualPrice": True if line.unit_price is not None else None,
        "warehouseId": line.warehouse,
        "description": line.description,
    })


def new_sales_order(order: NewSalesOrder) -> dict[str, Any]:
    """NewSalesOrderCommand (v3: plain JSON)."""
    return _drop_none({
        "type": order.order_type,
        "customer": _drop_none({"id": order.customer_number, "refNo": order.reference,
                                "order": order.marker}),
        "date": filter_datetime(order.date) if order.date else None,
        "description": order.description,
        "note": order.note,
        "orderLines": [_sales_order_line(line) for line in order.lines],
    })


def _value(value: Any) -> dict[str, Any] | None:
    return None if value is None else {"value": value}


def _invoice_line(line: DocumentLine) -> dict[str, Any]:
    """CustomerInvoiceLinesUpdateDto (ERP: `{"value": ...}` wrappers); no warehouse."""
    return _drop_none({
        "operation": "Insert",
        "inventoryNumber": _value(line.item_number),
        "description": _value(line.description),
        "quantity": _value(float(line.quantity)),
        "unitPriceInCurrency": _value(_number(line.unit_price)),
    })


def new_customer_invoice(invoice: NewCustomerInvoice) -> dict[str, Any]:
    """CustomerInvoiceUpdateDto (ERP write DTO: every scalar as `{"value": ...}`)."""
    document_date: date | None = invoice.document_date
    return _drop_none({
        "customerNumber": _value(invoice.customer_number),
        "documentDate": _value(document_date.isoformat() if document_date else None),
        "customerRefNumber": _value(invoice.reference),
        "externalReference": _value(invoice.external_reference),
        "invoiceText": _value(invoice.invoice_text),
        "note": _value(invoice.note),
        "invoiceLines": [_invoice_line(line) for line in invoice.lines],
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
