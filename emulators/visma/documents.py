"""Documents in the emulated company: v3 sales orders and quotes, customer invoices and
attachments. Validation follows the ERP: v3 answers SalesOrderValidationProblemDetails with the
spec's error codes, the ERP monolith `{"message": ...}`."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Any

from emulators.visma.company import Attachment, Company, CustomerInvoice, SalesOrder
from emulators.visma.schemas import erp_problems, number_value, v3_problems
from emulators.visma.wire import ValidationProblem, iso, parse_iso_datetime, unwrap

MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
ORDERABLE_CUSTOMER_STATUSES = frozenset({"Active", "OnHold", "CreditHold", "OneTime"})
UNSELLABLE_ITEM_STATUSES = frozenset({"Inactive", "MarkedForDeletion", "NoSales"})


class ErpRejected(Exception):
    """An ERP monolith request the emulator refuses with 400 `{"message"}` (or `status`)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _check_length(problems: list[tuple[str, str, str]], value: Any, limit: int, prop: str
                  ) -> None:
    if isinstance(value, str) and len(value) > limit:
        problems.append(("0002-InvalidLength", prop,
                         f"'{prop}' must be {limit} characters or fewer. You entered "
                         f"{len(value)} characters."))


def _decimal(value: Any) -> float:
    """A number the request validation has let through (a JSON number or numeric string)."""
    number = number_value(value)
    return float(number) if number is not None else 0.0


def create_sales_order(company: Company, command: Any, raw: bytes) -> SalesOrder:
    """Validate a NewSalesOrderCommand and store the order; raises ValidationProblem."""
    if not isinstance(command, dict):
        raise ValidationProblem([("0003-InvalidValue", "$", "The request body is not a JSON "
                                  "object.")])
    # Fields the schema does not name and values of the wrong type (`"quantity": "lots"`).
    problems = v3_problems(command)
    if problems:
        raise ValidationProblem(problems)
    order_type = command.get("type")
    type_dto = company.order_types.get(order_type) if isinstance(order_type, str) else None
    if not order_type:
        problems.append(("0001-NullNotAllowed", "type", "The type field is required."))
    elif type_dto is None or not type_dto["active"]:
        problems.append(("0003-InvalidValue", "type", f"Order type '{order_type}' does not "
                         "exist or is not active."))
    customer_in = command.get("customer")
    customer_record = None
    if not isinstance(customer_in, dict) or not customer_in.get("id"):
        problems.append(("0001-NullNotAllowed", "customer.id", "The customer field is "
                         "required."))
    else:
        customer_record = company.customer(str(customer_in["id"]))
        if customer_record is None:
            problems.append(("0003-InvalidValue", "customer.id",
                             f"Customer '{customer_in['id']}' cannot be found."))
        elif customer_record.dto["status"] not in ORDERABLE_CUSTOMER_STATUSES:
            problems.append(("1407-InvalidCustomerStatus", "customer.id",
                             f"Invalid Customer Status: customer '{customer_in['id']}' is "
                             f"{customer_record.dto['status']}."))
        _check_length(problems, customer_in.get("order"), 40, "customer.order")
        _check_length(problems, customer_in.get("refNo"), 40, "customer.refNo")
    _check_length(problems, command.get("description"), 255, "description")
    _check_length(problems, command.get("note"), 2048, "note")
    status = command.get("status")
    if status not in (None, "", "Open", "Hold"):
        problems.append(("0003-InvalidValue", "status", f"Invalid status '{status}'."))
    date = command.get("date")
    if date is not None and (not isinstance(date, str) or parse_iso_datetime(date) is None):
        problems.append(("0003-InvalidValue", "date", "Invalid date."))
    lines_in = command.get("orderLines") or []
    if not isinstance(lines_in, list):
        problems.append(("0003-InvalidValue", "orderLines", "orderLines must be a list."))
        lines_in = []
    lines: list[dict[str, Any]] = []
    for index, line in enumerate(lines_in):
        prop = f"orderLines[{index}]"
        if not isinstance(line, dict) or not line.get("inventoryId"):
            problems.append(("0001-NullNotAllowed", f"{prop}.inventoryId",
                             "The inventoryId field is required."))
            continue
        item = company.item(str(line["inventoryId"]))
        if item is None or item.dto["status"] in ("Inactive", "MarkedForDeletion"):
            problems.append(("1804-InventoryIdNotFound", f"{prop}.inventoryId",
                             f"InventoryId '{line['inventoryId']}' cannot be found or is "
                             "invalid."))
        elif item.dto["status"] == "NoSales":
            problems.append(("0004-ValueNotAllowed", f"{prop}.inventoryId",
                             f"Item '{line['inventoryId']}' may not be sold."))
        warehouse = line.get("warehouseId")
        if warehouse is not None and (
            warehouse not in company.warehouses or not company.warehouses[warehouse]["active"]
        ):
            problems.append(("1802-InvalidWarehouseId", f"{prop}.warehouseId",
                             f"Invalid Warehouse Id, or Warehouse Id '{warehouse}' not found."))
        _check_length(problems, line.get("description"), 256, f"{prop}.description")
        _check_length(problems, line.get("note"), 2048, f"{prop}.note")
        uom = line.get("unitOfMeasure")
        if item is not None and uom is not None and uom not in (
            item.dto["baseUnit"], item.dto["salesUnit"]
        ):
            problems.append(("1808-InvalidUnitOfMeasure", f"{prop}.unitOfMeasure",
                             f"Invalid Unit of Measure '{uom}'."))
        if item is not None:
            lines.append(_order_line(index + 1, line, item.dto))
    order_id = command.get("orderId")
    if type_dto is not None and order_id and (order_type, order_id) in company.sales_orders:
        problems.append(("0004-ValueNotAllowed", "orderId", f"Order {order_id} exists."))
    _check_length(problems, order_id, 15, "orderId")
    if problems:
        raise ValidationProblem(problems)
    assert customer_record is not None and isinstance(order_type, str)
    if not order_id:
        number = company.order_counters.get(order_type, 0) + 1
        company.order_counters[order_type] = number
        order_id = f"{number:06d}"
    now = company.clock.now()
    order = SalesOrder(
        type=order_type,
        order_id=str(order_id),
        received=command,
        raw=raw,
        customer={
            "internalId": customer_record.dto["internalId"],
            "id": customer_record.dto["number"],
            "name": customer_record.dto["name"],
            "order": customer_in.get("order") if isinstance(customer_in, dict) else None,
            "refNo": customer_in.get("refNo") if isinstance(customer_in, dict) else None,
        },
        lines=lines,
        status="Hold" if status == "Hold" else "Open",
        date=parse_iso_datetime(date) if isinstance(date, str) else now,  # type: ignore[arg-type]
        created=now,
        modified=now,
    )
    company.sales_orders[(order.type, order.order_id)] = order
    return order


def _order_line(line_id: int, line: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    quantity = _decimal(line.get("quantity"))
    price_given = line.get("unitPrice") is not None and line.get("hasManualPrice") is not False
    unit_price = _decimal(line["unitPrice"]) if price_given else float(item["defaultPrice"])
    amount = round(quantity * unit_price, 2)
    return {
        "lineId": line_id,
        "sortOrder": line.get("sortOrder") or line_id,
        "lineType": "GoodsForInventory" if item["stockItem"] else "NonStockItem",
        "operation": line.get("operation") or "Issue",
        "inventory": {"id": item["inventoryNumber"], "description": item["description"],
                      "baseUnit": item["baseUnit"]},
        "unitOfMeasure": line.get("unitOfMeasure") or item["salesUnit"],
        "quantity": quantity,
        "baseOrderQuantity": quantity,
        "unitCost": 0.0,
        "unitPrice": unit_price,
        "description": line.get("description") or item["description"],
        "shippingRule": line.get("shippingRule") or "CancelRemainder",
        "completed": False,
        "extendedPrice": amount,
        "lineTotalBeforeDiscount": amount,
        "discountAmount": 0.0,
        "discountPercent": 0.0,
        "warehouseId": line.get("warehouseId"),
        "note": line.get("note"),
        "openQuantity": quantity,
        "billedQuantity": 0.0,
        "quantityOnShipments": 0.0,
        "hasManualDiscount": False,
        "freeItem": False,
        "hasManualPrice": bool(price_given),
        "openLine": True,
        "commissionable": False,
        "supplierPrice": 0.0,
        "rotRutDeductibleAmount": 0.0,
        "autoCreateIssue": False,
        "attachments": [],
    }


def order_total(order: SalesOrder) -> float:
    return round(sum(line["extendedPrice"] for line in order.lines), 2)


def order_qty(order: SalesOrder) -> float:
    return sum(line["quantity"] for line in order.lines)


def etag(order: SalesOrder) -> str:
    return '"' + version_text(order) + '"'


def version_text(order: SalesOrder) -> str:
    return base64.b64encode(order.version.to_bytes(8, "big")).decode()


def list_row(order: SalesOrder, base: str) -> dict[str, Any]:
    """SalesOrderListDto."""
    return {
        "_links": {"self": {"href": f"{base}/api/v3/SalesOrders/{order.type}/{order.order_id}"}},
        "type": order.type,
        "orderId": order.order_id,
        "status": order.status,
        "date": iso(order.date),
        "shippingScheduledDate": iso(order.date),
        "customerId": order.customer["id"],
        "customerName": order.customer["name"],
        "orderQty": order_qty(order),
        "orderTotal": order_total(order),
        "taxTotal": 0.0,
        "currency": order.received.get("currencyId") or "EUR",
        "location": "MAIN",
        "requestOn": iso(order.date),
        "customerOrder": order.customer.get("order"),
        "customerRefNo": order.customer.get("refNo"),
        "description": order.received.get("description"),
        "lastModified": iso(order.modified),
    }


EXPANSIONS = frozenset({
    "None", "Billing", "Payment", "FinancialInformation", "Shipping", "Customer", "Owner",
    "Origin", "Note", "Freight", "Attachments", "CustomFields", "All",
})


def order_dto(order: SalesOrder, expand: set[str]) -> dict[str, Any]:
    """SalesOrderDto; sections outside `expand` are left out, as the service does."""
    every = "All" in expand
    total = order_total(order)
    dto: dict[str, Any] = {
        "type": order.type,
        "orderId": order.order_id,
        "branch": {"id": "1", "description": "Hoofdvestiging"},
        "description": order.received.get("description"),
        "date": iso(order.date),
        "lastModified": iso(order.modified),
        "requestOn": iso(order.date),
        "isRotRutDeductible": False,
        "orderQty": order_qty(order),
        "currencyId": order.received.get("currencyId") or "EUR",
        "createdBy": None,
        "print": {"descriptionOnInvoice": False, "noteOnInternalDocuments": False,
                  "noteOnExternalDocuments": False},
        "status": {"description": order.status, "cancelled": False,
                   "hold": order.status == "Hold"},
        "totals": {
            "orderTotal": total, "orderTotalInBaseCurrency": total,
            "taxableTotal": total, "taxableTotalInBaseCurrency": total,
            "taxExemptTotal": 0.0, "taxExemptTotalInBaseCurrency": 0.0,
            "taxTotal": 0.0, "taxTotalInBaseCurrency": 0.0,
            "freightTotal": 0.0, "freightTotalInBaseCurrency": 0.0,
            "unbilledAmount": total, "unbilledAmountInBaseCurrency": total,
            "unshippedAmount": total, "unshippedAmountInBaseCurrency": total,
        },
        "version": version_text(order),
        "emailed": False,
    }
    if every or "Note" in expand:
        dto["note"] = order.received.get("note")
    if every or "Customer" in expand:
        dto["customer"] = {
            "internalId": order.customer["internalId"],
            "id": order.customer["id"],
            "name": order.customer["name"],
            "order": order.customer.get("order"),
            "refNo": order.customer.get("refNo"),
        }
    if every or "Attachments" in expand:
        dto["attachments"] = [a.summary() for a in order.attachments]
    return dto


def touch_order(company: Company, order: SalesOrder) -> None:
    order.version += 1
    order.modified = company.clock.now()


# --- customer invoices -------------------------------------------------------------------

def create_customer_invoice(company: Company, body: Any, raw: bytes) -> CustomerInvoice:
    """Validate a CustomerInvoiceUpdateDto (DtoValue style) and store the invoice."""
    if not isinstance(body, dict):
        raise ErpRejected("The request is invalid: the body is not a JSON object.")
    # Every field a DtoValue `{"value": ...}`, every value of its type (`quantity` a number).
    problems = erp_problems(body, "CustomerInvoiceUpdateDto")
    if problems:
        raise ErpRejected("The request is invalid: " + " ".join(problems))
    customer_number = unwrap(body.get("customerNumber"))
    if not customer_number:
        raise ErpRejected("CustomerNumber is required.")
    customer = company.customer(str(customer_number))
    if customer is None:
        raise ErpRejected(f"Customer '{customer_number}' not found.")
    if customer.dto["status"] == "Inactive":
        raise ErpRejected(f"The customer status is 'Inactive' for customer '{customer_number}'.")
    lines = []
    for index, line in enumerate(body.get("invoiceLines") or []):
        if not isinstance(line, dict):
            raise ErpRejected(f"Invoice line {index + 1} is invalid.")
        if line.get("operation", "Insert") != "Insert":
            raise ErpRejected(f"Invoice line {index + 1}: operation "
                              f"'{line.get('operation')}' is not allowed on a new invoice.")
        number = unwrap(line.get("inventoryNumber"))
        item = company.item(str(number)) if number else None
        if number and (item is None or item.dto["status"] in ("Inactive", "MarkedForDeletion")):
            raise ErpRejected(f"Inventory item '{number}' not found.")
        quantity = _decimal(unwrap(line.get("quantity")))
        price = unwrap(line.get("unitPriceInCurrency"))
        unit_price = _decimal(price) if price is not None else (
            float(item.dto["defaultPrice"]) if item else 0.0)
        amount = round(quantity * unit_price, 2)
        dto_line: dict[str, Any] = {
            "lineNumber": index + 1,
            "description": unwrap(line.get("description"))
            or (item.dto["description"] if item else ""),
            "quantity": quantity,
            "unitPrice": unit_price,
            "unitPriceInCurrency": unit_price,
            "amount": amount,
            "amountInCurrency": amount,
            "uom": unwrap(line.get("uom")) or (item.dto["salesUnit"] if item else "ST"),
            "discountPercent": 0.0,
            "discountAmount": 0.0,
            "manualDiscount": False,
            "attachments": [],
        }
        if number:
            dto_line["inventoryNumber"] = str(number)
        note = unwrap(line.get("note"))
        if note is not None:
            dto_line["note"] = note
        lines.append(dto_line)
    reference = unwrap(body.get("referenceNumber"))
    if reference and unwrap(body.get("overrideNumberSeries")):
        if reference in company.invoices:
            raise ErpRejected(f"Invoice '{reference}' exists.")
    else:
        company.invoice_counter += 1
        reference = f"{100000 + company.invoice_counter}"
    now = company.clock.now()
    document_date = _document_date(unwrap(body.get("documentDate")), now)
    total = round(sum(line["amount"] for line in lines), 2)
    hold = bool(unwrap(body.get("hold")))
    dto: dict[str, Any] = {
        "referenceNumber": reference,
        "documentType": "Invoice",
        "status": "Hold" if hold else "Balanced",
        "hold": hold,
        "customer": {"number": customer.dto["number"], "name": customer.dto["name"]},
        "documentDate": iso(document_date),
        "documentDueDate": iso(document_date),
        "currencyId": unwrap(body.get("currencyId")) or "EUR",
        "amount": total,
        "amountInCurrency": total,
        "balance": total,
        "balanceInCurrency": total,
        "vatTotal": 0.0,
        "vatTotalInCurrency": 0.0,
        "detailTotal": total,
        "detailTotalInCurrency": total,
        "invoiceLines": lines,
        "createdDateTime": iso(now),
        "lastModifiedDateTime": iso(now),
    }
    for wire_name in ("customerRefNumber", "externalReference", "invoiceText", "note",
                      "paymentReference"):
        value = unwrap(body.get(wire_name))
        if value is not None:
            dto[wire_name] = value
    invoice = CustomerInvoice(reference, body, raw, dto, now, now)
    company.invoices[reference] = invoice
    return invoice


def _document_date(value: Any, default: datetime) -> datetime:
    if isinstance(value, str):
        parsed = parse_iso_datetime(value if "T" in value else value + "T00:00:00")
        if parsed is None:
            raise ErpRejected(f"documentDate '{value}' is not a valid date.")
        return parsed
    return default


def invoice_dto(invoice: CustomerInvoice) -> dict[str, Any]:
    return {**invoice.dto, "attachments": [a.summary() for a in invoice.attachments]}


# --- attachments -------------------------------------------------------------------------

def attach(company: Company, owner: SalesOrder | CustomerInvoice, document: tuple[str, ...],
           name: str, content_type: str, content: bytes) -> Attachment:
    """Store a file on a document; the same file name again makes a new revision."""
    if len(content) > MAX_ATTACHMENT_BYTES:
        raise ErpRejected("The file is larger than the allowed 25 MB.")
    for existing in owner.attachments:
        if existing.name == name:
            existing.revision += 1
            existing.content = content
            existing.content_type = content_type
            return existing
    attachment = Attachment(str(uuid.uuid4()), name, 1, content_type, content, document,
                            company.clock.now())
    owner.attachments.append(attachment)
    company.attachments[attachment.id] = attachment
    if isinstance(owner, SalesOrder):
        touch_order(company, owner)
    else:
        owner.modified = company.clock.now()
        owner.dto["lastModifiedDateTime"] = iso(owner.modified)
    return attachment


def decode_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None
