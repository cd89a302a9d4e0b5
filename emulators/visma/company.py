"""One Visma.net company (tenant) in the emulator: its master data and documents.

Customers and items are held as the wire DTOs the ERP answers with (CustomerDto, InventoryDto),
so a list page is a slice plus `metadata`. Every change bumps `lastModifiedDateTime` with the
emulator's clock. The handle methods here are what tests and the data generator call.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from emulators.common import Clock
from emulators.dutch import Address
from emulators.visma.wire import iso

CUSTOMER_STATUSES = ("Active", "OnHold", "CreditHold", "Inactive", "OneTime")
ITEM_STATUSES = ("Active", "NoSales", "NoPurchases", "NoRequest", "Inactive", "MarkedForDeletion")
ITEM_TYPES = (
    "NonStockItem", "LaborItem", "ServiceItem", "ChargeItem", "ExpenseItem",
    "FinishedGoodItem", "ComponentPartItem", "SubassemblyItem",
)
STOCK_TYPES = frozenset({"FinishedGoodItem", "ComponentPartItem", "SubassemblyItem"})
COUNTRIES = {"NL": "Netherlands", "BE": "Belgium", "DE": "Germany", "FR": "France",
             "GB": "United Kingdom", "LU": "Luxembourg"}

AddressInput = Address | dict[str, Any] | None


@dataclass
class Record:
    """A stored DTO and the moments the filters compare with."""

    dto: dict[str, Any]
    modified: datetime
    created: datetime


@dataclass
class Attachment:
    id: str
    name: str
    revision: int
    content_type: str
    content: bytes = field(repr=False)
    document: tuple[str, ...]
    created: datetime

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "revision": self.revision}


@dataclass
class SalesOrder:
    """A v3 sales order (or quote) as received, plus what the ERP derived from it."""

    type: str
    order_id: str
    received: dict[str, Any]
    raw: bytes
    customer: dict[str, Any]
    lines: list[dict[str, Any]]
    status: str
    date: datetime
    created: datetime
    modified: datetime
    version: int = 1
    attachments: list[Attachment] = field(default_factory=list)


@dataclass
class CustomerInvoice:
    reference_number: str
    received: dict[str, Any]
    raw: bytes
    dto: dict[str, Any]
    created: datetime
    modified: datetime
    attachments: list[Attachment] = field(default_factory=list)


def country(code: str | None) -> dict[str, str]:
    code = (code or "NL").upper()
    return {"id": code, "name": COUNTRIES.get(code, code)}


def address_dto(address_id: int, value: AddressInput) -> dict[str, Any] | None:
    """An ERP AddressDto from a generated Address, a wire dict, or None (no address)."""
    if value is None:
        return None
    if isinstance(value, Address):
        return {
            "addressId": address_id,
            "addressLine1": value.line1,
            "postalCode": value.postal_code,
            "city": value.city,
            "country": country(value.country),
        }
    dto = {k: v for k, v in value.items() if v is not None}
    dto["addressId"] = address_id
    if isinstance(dto.get("country"), str):
        dto["country"] = country(dto["country"])
    return dto


class Company:
    """The data of one Visma.net company."""

    def __init__(self, tenant_id: str, clock: Clock) -> None:
        self.tenant_id = tenant_id
        self.clock = clock
        self.customers: dict[int, Record] = {}
        self.customer_numbers: dict[str, int] = {}
        self.items: dict[int, Record] = {}
        self.item_numbers: dict[str, int] = {}
        self.warehouses: dict[str, dict[str, Any]] = {}
        self.order_types: dict[str, dict[str, Any]] = {}
        self.sales_orders: dict[tuple[str, str], SalesOrder] = {}
        self.order_counters: dict[str, int] = {}
        self.invoices: dict[str, CustomerInvoice] = {}
        self.invoice_counter = 0
        self.attachments: dict[str, Attachment] = {}
        self.version = 0
        self._next_customer_id = 1
        self._next_item_id = 1
        self._next_address_id = 1
        self._next_contact_id = 1

    # --- customers -----------------------------------------------------------------------

    def _address_id(self) -> int:
        self._next_address_id += 1
        return self._next_address_id

    def _contact_id(self) -> int:
        self._next_contact_id += 1
        return self._next_contact_id

    def add_customer(
        self,
        number: str | None = None,
        name: str = "",
        *,
        status: str = "Active",
        address: AddressInput = None,
        email: str | None = None,
        phone: str | None = None,
        invoice_address: AddressInput = None,
        delivery_address: AddressInput = None,
        internal_id: int | None = None,
        modified: datetime | None = None,
        created: datetime | None = None,
        **wire: Any,
    ) -> dict[str, Any]:
        """Add a customer; `wire` holds further CustomerDto fields by their wire names.
        Returns the stored CustomerDto."""
        if status not in CUSTOMER_STATUSES:
            raise ValueError(f"unknown customer status {status!r}")
        if internal_id is None:
            internal_id = self._next_customer_id
        self._next_customer_id = max(self._next_customer_id, internal_id + 1)
        if internal_id in self.customers:
            raise ValueError(f"customer internalId {internal_id} exists")
        number = number or f"{10000 + internal_id}"
        if number in self.customer_numbers:
            raise ValueError(f"customer number {number!r} exists")
        if created is None or modified is None:
            now = self.clock.now()
            created = created or now
            modified = modified or now
        contact = {"contactId": self._contact_id(), "name": name}
        if email:
            contact["email"] = email
        if phone:
            contact["phone1"] = phone
        dto: dict[str, Any] = {
            "internalId": internal_id,
            "number": number,
            "name": name,
            "status": status,
            "mainAddress": address_dto(self._address_id(), address)
            or {"addressId": self._address_id(), "country": country("NL")},
            "mainContact": contact,
            "currencyId": "EUR",
            "creditTerms": {"id": "30D", "description": "30 dagen"},
        }
        if invoice_address is not None:
            dto["invoiceAddress"] = address_dto(self._address_id(), invoice_address)
            dto["invoiceContact"] = {"contactId": self._contact_id(), "name": name}
        if delivery_address is not None:
            dto["deliveryAddress"] = address_dto(self._address_id(), delivery_address)
            dto["deliveryContact"] = {"contactId": self._contact_id(), "name": name}
        dto.update(wire)
        dto["lastModifiedDateTime"] = iso(modified)
        dto["createdDateTime"] = iso(created)
        self.customers[internal_id] = Record(dto, modified, created)
        self.customer_numbers[number] = internal_id
        self.version += 1
        return dto

    def customer(self, number: str) -> Record | None:
        internal_id = self.customer_numbers.get(number)
        return self.customers.get(internal_id) if internal_id is not None else None

    def _customer_or_raise(self, key: str | int) -> Record:
        record = self.customers.get(key) if isinstance(key, int) else self.customer(key)
        if record is None:
            raise KeyError(f"no customer {key!r}")
        return record

    def _touch(self, record: Record) -> None:
        record.modified = self.clock.now()
        record.dto["lastModifiedDateTime"] = iso(record.modified)
        self.version += 1

    def update_customer(self, key: str | int, *, name: str | None = None,
                        status: str | None = None, address: AddressInput = None,
                        email: str | None = None, phone: str | None = None,
                        invoice_address: AddressInput = None,
                        delivery_address: AddressInput = None, **wire: Any) -> dict[str, Any]:
        """Change a customer (by number, or internalId as int); bumps lastModifiedDateTime.
        A wire field set to None is removed (e.g. `invoiceAddress=None` via `**{...}`)."""
        record = self._customer_or_raise(key)
        dto = record.dto
        if status is not None:
            if status not in CUSTOMER_STATUSES:
                raise ValueError(f"unknown customer status {status!r}")
            dto["status"] = status
        if name is not None:
            dto["name"] = name
        if address is not None:
            dto["mainAddress"] = address_dto(dto["mainAddress"]["addressId"], address)
        if invoice_address is not None:
            old = dto.get("invoiceAddress") or {"addressId": self._address_id()}
            dto["invoiceAddress"] = address_dto(old["addressId"], invoice_address)
        if delivery_address is not None:
            old = dto.get("deliveryAddress") or {"addressId": self._address_id()}
            dto["deliveryAddress"] = address_dto(old["addressId"], delivery_address)
        if email is not None:
            dto["mainContact"]["email"] = email
        if phone is not None:
            dto["mainContact"]["phone1"] = phone
        for key_, value in wire.items():
            if key_ == "number":
                raise ValueError("use renumber_customer to change a customer number")
            if value is None:
                dto.pop(key_, None)
            else:
                dto[key_] = value
        self._touch(record)
        return dto

    def renumber_customer(self, key: str | int, new_number: str) -> dict[str, Any]:
        """changeCustomerCd: the number changes, internalId stays."""
        record = self._customer_or_raise(key)
        if new_number in self.customer_numbers:
            raise ValueError(f"customer number {new_number!r} exists")
        del self.customer_numbers[record.dto["number"]]
        record.dto["number"] = new_number
        self.customer_numbers[new_number] = record.dto["internalId"]
        self._touch(record)
        return record.dto

    def deactivate_customer(self, key: str | int, status: str = "Inactive") -> dict[str, Any]:
        return self.update_customer(key, status=status)

    def delete_customer(self, key: str | int) -> None:
        """Gone from every scan; single GETs answer 404 (the ERP has no delete event)."""
        record = self._customer_or_raise(key)
        del self.customer_numbers[record.dto["number"]]
        del self.customers[record.dto["internalId"]]
        self.version += 1

    # --- inventory -----------------------------------------------------------------------

    def add_item(
        self,
        number: str,
        description: str = "",
        *,
        type: str = "NonStockItem",
        status: str = "Active",
        default_price: float = 0.0,
        base_unit: str = "ST",
        sales_unit: str | None = None,
        inventory_id: int | None = None,
        modified: datetime | None = None,
        created: datetime | None = None,
        **wire: Any,
    ) -> dict[str, Any]:
        """Add an inventory item; `stockItem` follows `type`. Returns the InventoryDto."""
        if type not in ITEM_TYPES:
            raise ValueError(f"unknown item type {type!r}")
        if status not in ITEM_STATUSES:
            raise ValueError(f"unknown item status {status!r}")
        if inventory_id is None:
            inventory_id = self._next_item_id
        self._next_item_id = max(self._next_item_id, inventory_id + 1)
        if inventory_id in self.items or number in self.item_numbers:
            raise ValueError(f"item {number!r} / {inventory_id} exists")
        now = self.clock.now()
        modified = modified or now
        dto: dict[str, Any] = {
            "inventoryId": inventory_id,
            "inventoryNumber": number,
            "status": status,
            "type": type,
            "description": description,
            "defaultPrice": float(default_price),
            "baseUnit": base_unit,
            "salesUnit": sales_unit or base_unit,
            "purchaseUnit": base_unit,
            "stockItem": type in STOCK_TYPES,
            "kitItem": False,
            "itemClass": {"id": "STOCK" if type in STOCK_TYPES else "NONSTOCK",
                          "description": "Voorraad" if type in STOCK_TYPES else "Geen voorraad"},
            "vatCode": {"id": "1", "description": "Hoog tarief"},
        }
        dto.update(wire)
        dto["lastModifiedDateTime"] = iso(modified)
        self.items[inventory_id] = Record(dto, modified, created or now)
        self.item_numbers[number] = inventory_id
        self.version += 1
        return dto

    def item(self, number: str) -> Record | None:
        inventory_id = self.item_numbers.get(number)
        return self.items.get(inventory_id) if inventory_id is not None else None

    def _item_or_raise(self, key: str | int) -> Record:
        record = self.items.get(key) if isinstance(key, int) else self.item(key)
        if record is None:
            raise KeyError(f"no item {key!r}")
        return record

    def update_item(self, key: str | int, *, description: str | None = None,
                    type: str | None = None, status: str | None = None,
                    default_price: float | None = None, base_unit: str | None = None,
                    sales_unit: str | None = None, **wire: Any) -> dict[str, Any]:
        """Change an item (by number, or inventoryId as int); switching `type` between stock
        and non-stock types flips `stockItem`. Bumps lastModifiedDateTime."""
        record = self._item_or_raise(key)
        dto = record.dto
        if type is not None:
            if type not in ITEM_TYPES:
                raise ValueError(f"unknown item type {type!r}")
            dto["type"] = type
            dto["stockItem"] = type in STOCK_TYPES
        if status is not None:
            if status not in ITEM_STATUSES:
                raise ValueError(f"unknown item status {status!r}")
            dto["status"] = status
        for wire_name, value in (("description", description), ("defaultPrice", default_price),
                                 ("baseUnit", base_unit), ("salesUnit", sales_unit)):
            if value is not None:
                dto[wire_name] = float(value) if wire_name == "defaultPrice" else value
        for key_, value in wire.items():
            if key_ == "inventoryNumber":
                raise ValueError("use renumber_item to change an item number")
            if value is None:
                dto.pop(key_, None)
            else:
                dto[key_] = value
        self._touch(record)
        return dto

    def renumber_item(self, key: str | int, new_number: str) -> dict[str, Any]:
        """changeInventoryNbr: the number changes, inventoryId stays."""
        record = self._item_or_raise(key)
        if new_number in self.item_numbers:
            raise ValueError(f"item number {new_number!r} exists")
        del self.item_numbers[record.dto["inventoryNumber"]]
        record.dto["inventoryNumber"] = new_number
        self.item_numbers[new_number] = record.dto["inventoryId"]
        self._touch(record)
        return record.dto

    def deactivate_item(self, key: str | int, status: str = "Inactive") -> dict[str, Any]:
        return self.update_item(key, status=status)

    def delete_item(self, key: str | int) -> None:
        record = self._item_or_raise(key)
        del self.item_numbers[record.dto["inventoryNumber"]]
        del self.items[record.dto["inventoryId"]]
        self.version += 1

    # --- warehouses and order types --------------------------------------------------------

    def add_warehouse(self, warehouse_id: str, description: str = "", *, active: bool = True,
                      branch: str = "1") -> dict[str, Any]:
        dto = {
            "warehouseID": warehouse_id,
            "branch": {"number": branch, "name": "Hoofdvestiging"},
            "active": active,
            "description": description or warehouse_id,
            "locationEntry": "Validate",
            "locations": [],
            "timestamp": f"{self.clock.now().timestamp():.0f}",
        }
        self.warehouses[warehouse_id] = dto
        return dto

    def add_order_type(self, order_type: str, description: str = "", *,
                       behavior: str = "SalesOrder", active: bool = True,
                       customer_document_type: str = "Invoice") -> dict[str, Any]:
        dto = {
            "orderType": order_type,
            "active": active,
            "description": description or order_type,
            "behavior": behavior,
            "defaultOperation": "Receipt" if behavior in ("RMAOrder", "CreditMemo") else "Issue",
            "customerDocumentType": customer_document_type,
            "lastModifiedDateTime": iso(self.clock.now()),
        }
        self.order_types[order_type] = dto
        return dto

    # --- read-back for tests -------------------------------------------------------------

    def received_sales_orders(self) -> list[dict[str, Any]]:
        return [
            {"type": o.type, "orderId": o.order_id, "received": copy.deepcopy(o.received),
             "raw": o.raw.decode("utf-8", "replace"),
             "attachments": [a.summary() for a in o.attachments]}
            for o in self.sales_orders.values()
        ]

    def received_invoices(self) -> list[dict[str, Any]]:
        return [
            {"referenceNumber": i.reference_number, "received": copy.deepcopy(i.received),
             "raw": i.raw.decode("utf-8", "replace"),
             "attachments": [a.summary() for a in i.attachments]}
            for i in self.invoices.values()
        ]

    def attachment_list(self) -> list[dict[str, Any]]:
        return [
            {**a.summary(), "document": list(a.document), "contentType": a.content_type,
             "size": len(a.content)}
            for a in self.attachments.values()
        ]
