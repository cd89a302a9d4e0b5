"""Generated Visma.net companies with realistic Dutch data (seeded: same size and seed, same
data). Fast enough for 50,000 customers in a few seconds."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from emulators import dutch
from emulators.visma.company import ITEM_TYPES

if TYPE_CHECKING:
    from emulators.visma.emulator import VismaEmulator

CUSTOMER_STATUS_WEIGHTS = (("Active", 85), ("OnHold", 4), ("CreditHold", 4),
                           ("Inactive", 5), ("OneTime", 2))
ITEM_STATUS_WEIGHTS = (("Active", 84), ("NoSales", 4), ("NoPurchases", 3), ("Inactive", 5),
                       ("MarkedForDeletion", 4))
MATERIALS = (
    "Koperen bocht 15 mm", "Knelkoppeling 22 mm", "PVC pijp 110 mm", "Cv-ketel onderhoudsset",
    "Thermostaatkraan", "Radiatorventiel", "Expansievat 18 l", "Vloerverwarmingsverdeler",
    "Aardlekschakelaar", "Installatiedraad 2,5 mm2", "Wandcontactdoos", "Led-armatuur",
    "Rookmelder", "Dakgoot zink", "Loodslab", "Ventilatiebox", "Warmtepomp filter",
    "Zonnepaneel 400 Wp", "Omvormer 3 kW", "Siliconenkit", "Isolatieschaal", "Afvoerbeugel",
    "Sifon", "Mengkraan", "Boiler 80 l", "Drukschakelaar", "Filterpatroon", "Storingsdienst",
    "Inspectie", "Klein materiaal", "Huur hoogwerker", "Afvoer afval", "Keuringsrapport",
)
UNITS = ("ST", "ST", "ST", "M", "KG", "L", "SET", "DOOS")
HOUR_ITEMS = (
    ("UUR", "Arbeid (per uur)", "LaborItem", "UUR", 62.50),
    ("REIS", "Reistijd (per uur)", "LaborItem", "UUR", 45.00),
    ("VOORRIJ", "Voorrijkosten", "ServiceItem", "ST", 35.00),
)
WAREHOUSES = (("MAIN", "Hoofdmagazijn", True), ("BUS1", "Servicebus 1", True),
              ("BUS2", "Servicebus 2", True), ("OUD", "Oud magazijn", False))
ORDER_TYPES = (
    ("SO", "Verkooporder", "SalesOrder", "Invoice"),
    ("QT", "Offerte", "Quote", "NoUpdate"),
    ("IN", "Factuur", "Invoice", "Invoice"),
    ("CM", "Creditnota", "CreditMemo", "CreditMemo"),
    ("RM", "Retour", "RMAOrder", "CreditMemo"),
)


def _weighted(rng: random.Random, weights: tuple[tuple[str, int], ...]) -> list[str]:
    return [name for name, weight in weights for _ in range(weight)]


def generate_visma_tenant(
    emulator: VismaEmulator,
    customers: int = 100,
    items: int = 50,
    seed: int = 1,
    tenant_id: str | None = None,
    orders: int = 6,
) -> dict[str, Any]:
    """Fill one company with customers, items, warehouses, order types and a few SO/QT orders
    (half of them with "SIMON" in the description). Registers the default client for the
    tenant; returns a summary with the credentials to use."""
    from emulators.visma.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

    rng = random.Random(seed)
    company = emulator.company(tenant_id)
    emulator.add_client(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, [company.tenant_id])
    now = emulator.clock.now()
    start = now - timedelta(days=730)
    span = int((now - start).total_seconds())

    for warehouse_id, description, active in WAREHOUSES:
        company.add_warehouse(warehouse_id, description, active=active)
    for order_type, description, behavior, document in ORDER_TYPES:
        company.add_order_type(order_type, description, behavior=behavior,
                               customer_document_type=document)

    customer_statuses = _weighted(rng, CUSTOMER_STATUS_WEIGHTS)
    next_number = 10000
    for _ in range(customers):
        while str(next_number) in company.customer_numbers:
            next_number += 1
        is_person = rng.random() < 0.2
        name = dutch.person_name(rng) if is_person else dutch.company_name(rng)
        main = dutch.address(rng)
        invoice = _variant(rng, main, (0.40, 0.25, 0.25))
        delivery = _variant(rng, main, (0.50, 0.20, 0.25))
        created = start + timedelta(seconds=rng.randrange(span))
        modified = created + timedelta(seconds=rng.randrange(max(1, int(
            (now - created).total_seconds()))))
        company.add_customer(
            str(next_number), name,
            status=rng.choice(customer_statuses),
            address=main,
            email=dutch.email_for(name, name.split()[-1] if is_person else name, rng),
            phone=dutch.phone(rng) if rng.random() < 0.9 else None,
            invoice_address=invoice,
            delivery_address=delivery,
            created=created,
            modified=modified,
        )

    item_statuses = _weighted(rng, ITEM_STATUS_WEIGHTS)
    for number, description, item_type, unit, price in HOUR_ITEMS:
        if company.item(number) is None:
            company.add_item(number, description, type=item_type, base_unit=unit,
                             default_price=price, modified=start)
    for index in range(items):
        item_type = ITEM_TYPES[index % len(ITEM_TYPES)]
        material = rng.choice(MATERIALS)
        created = start + timedelta(seconds=rng.randrange(span))
        modified = created + timedelta(seconds=rng.randrange(max(1, int(
            (now - created).total_seconds()))))
        unit = rng.choice(UNITS)
        company.add_item(
            f"ART{index + 1:05d}", material,
            type=item_type,
            status=rng.choice(item_statuses),
            default_price=round(rng.uniform(0.5, 950.0), 2),
            base_unit=unit,
            sales_unit=unit if rng.random() < 0.9 else "ST",
            created=created,
            modified=modified,
        )

    made_orders = _orders(emulator, company.tenant_id, rng, orders)
    return {
        "tenantId": company.tenant_id,
        "clientId": DEFAULT_CLIENT_ID,
        "clientSecret": DEFAULT_CLIENT_SECRET,
        "customers": len(company.customers),
        "items": len(company.items),
        "warehouses": sorted(company.warehouses),
        "orderTypes": sorted(company.order_types),
        "salesOrders": made_orders,
    }


def _variant(rng: random.Random, main: dutch.Address, odds: tuple[float, float, float]
             ) -> dutch.Address | dict[str, Any] | None:
    """No address, the main address again, another address, or one with only a country."""
    roll = rng.random()
    none, same, other = odds
    if roll < none:
        return None
    if roll < none + same:
        return main
    if roll < none + same + other:
        return dutch.address(rng)
    return {"country": rng.choice(("NL", "BE"))}


def _orders(emulator: VismaEmulator, tenant_id: str, rng: random.Random, count: int
            ) -> list[str]:
    company = emulator.company(tenant_id)
    customers = [r.dto["number"] for r in list(company.customers.values())[:500]
                 if r.dto["status"] == "Active"]
    sellable = [r.dto["inventoryNumber"] for r in company.items.values()
                if r.dto["status"] == "Active" and not r.dto["stockItem"]]
    made = []
    for index in range(count if customers and sellable else 0):
        order_type = "SO" if index % 3 else "QT"
        marker = "SIMON " if index % 2 == 0 else ""
        order = emulator.add_sales_order({
            "type": order_type,
            "customer": {"id": rng.choice(customers), "refNo": f"PO-{rng.randint(1000, 9999)}"},
            "description": f"{marker}Onderhoud installatie {index + 1}".strip(),
            "note": "Sleutel bij de buren ophalen." if index % 2 else None,
            "orderLines": [
                {"inventoryId": rng.choice(sellable), "quantity": rng.randint(1, 4),
                 "warehouseId": "MAIN"}
                for _ in range(rng.randint(1, 3))
            ],
        }, tenant_id)
        made.append(f"{order.type} {order.order_id}")
    return made
