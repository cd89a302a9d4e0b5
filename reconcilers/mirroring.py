"""What Simon mirrors of Visma.net and how (SPEC S-10 to S-12): which customers and items are
mirrored, the Simon records made from them, and the keys that link the two. Master data
writes by these rules; cleanup, activation and imports judge by them.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from reconcilers.addresses import LOCATION_SUFFIX, PostalAddress, distinct_addresses
from reconcilers.clients.simon.models import Customer as SimonCustomer
from reconcilers.clients.simon.models import Item as SimonItem
from reconcilers.clients.simon.models import Location as SimonLocation
from reconcilers.clients.simon.models import SimonRecord
from reconcilers.clients.visma.models import Address, Customer, InventoryItem

MIRRORED_CUSTOMER_STATUSES = frozenset({"Active", "OnHold", "CreditHold"})  # S-10
MIRRORED_ITEM_STATUSES = frozenset({"Active", "NoPurchases", "NoRequest"})  # S-12
OVERLAP = timedelta(minutes=5)
ROLES = ("main", "invoice", "delivery")


def content_hash(record: SimonRecord) -> str:
    """A hash of exactly what would be written to Simon."""
    body = json.dumps(record.wire(with_id=False), sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def postal(address: Address | None) -> PostalAddress | None:
    if address is None:
        return None
    return PostalAddress(
        line1=address.line1 or "", line2=address.line2 or "", line3=address.line3 or "",
        postal_code=address.postal_code or "", city=address.city or "",
        country=address.country or "",
    )


def simon_customer(customer: Customer) -> SimonCustomer:
    """The Simon Customer made from a Visma.net customer (S-10, api/simon.md)."""
    main = postal(customer.main_address) or PostalAddress()
    contact = customer.main_contact
    return SimonCustomer(
        ext_key=str(customer.internal_id),
        number=customer.number,
        name=customer.name,
        street=main.street,
        house_number=main.house_number,
        address2=main.address2,
        postal_code=main.postal_code.strip(),
        city=main.city.strip(),
        country=main.country.strip(),
        email=(contact.email or "") if contact else "",
        phone=(contact.phone1 or "") if contact else "",
    )


def work_addresses(customer: Customer) -> dict[str, SimonLocation]:
    """The work addresses (Locations) made from a customer's addresses, by role (S-11); the
    customer id is filled in when written."""
    addresses = distinct_addresses([
        ("main", postal(customer.main_address)),
        ("invoice", postal(customer.invoice_address)),
        ("delivery", postal(customer.delivery_address)),
    ])
    return {
        role: SimonLocation(
            ext_key=location_key(customer.internal_id, role),
            name=customer.name + LOCATION_SUFFIX[role],
            street=address.street,
            house_number=address.house_number,
            address2=address.address2,
            postal_code=address.postal_code.strip(),
            city=address.city.strip(),
            country=address.country.strip(),
        )
        for role, address in addresses
    }


def location_key(internal_id: int | str, role: str) -> str:
    return f"{internal_id}/{role}"


def simon_item(item: InventoryItem) -> SimonItem:
    """The Simon Item made from a Visma.net non-stock item (S-12)."""
    return SimonItem(
        ext_key=str(item.inventory_id),
        code=item.number,
        description=item.description,
        unit=item.unit or "",
        price=item.default_price,
    )


def is_mirrored_customer(customer: Customer) -> bool:
    return customer.status in MIRRORED_CUSTOMER_STATUSES


def is_mirrored_item(item: InventoryItem) -> bool:
    return not item.stock_item and item.status in MIRRORED_ITEM_STATUSES
