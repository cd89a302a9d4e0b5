"""The Visma.net data generator: realistic variety, seeded, and fast at 50,000 customers."""

from __future__ import annotations

from collections import Counter

from emulators.visma import VismaEmulator, generate_visma_tenant


def test_generated_company_has_the_variety_the_sync_must_handle():
    emulator = VismaEmulator()
    summary = generate_visma_tenant(emulator, customers=2000, items=400, seed=7)
    company = emulator.company()
    customers = [r.dto for r in company.customers.values()]
    statuses = Counter(c["status"] for c in customers)
    assert set(statuses) == {"Active", "OnHold", "CreditHold", "Inactive", "OneTime"}
    assert statuses["Active"] > len(customers) * 0.7
    invoice = [c.get("invoiceAddress") for c in customers]
    assert any(a is None for a in invoice)
    assert any(a and set(a) == {"addressId", "country"} for a in invoice)  # only a country
    assert any(a and a.get("addressLine1") == c["mainAddress"]["addressLine1"]
               for a, c in zip(invoice, customers, strict=True))
    assert any(a and a.get("addressLine1") and a["addressLine1"] != c["mainAddress"][
        "addressLine1"] for a, c in zip(invoice, customers, strict=True))
    assert any(c.get("deliveryAddress") for c in customers)
    items = [r.dto for r in company.items.values()]
    assert {i["type"] for i in items} == {
        "NonStockItem", "LaborItem", "ServiceItem", "ChargeItem", "ExpenseItem",
        "FinishedGoodItem", "ComponentPartItem", "SubassemblyItem"}
    assert {i["stockItem"] for i in items} == {True, False}
    assert {"Inactive", "NoSales", "MarkedForDeletion"} <= {i["status"] for i in items}
    hours = {i["inventoryNumber"]: i for i in items if i["inventoryNumber"] in
             ("UUR", "REIS", "VOORRIJ")}
    assert {n: (i["type"], i["stockItem"]) for n, i in hours.items()} == {
        "UUR": ("LaborItem", False), "REIS": ("LaborItem", False),
        "VOORRIJ": ("ServiceItem", False)}
    assert summary["warehouses"] == ["BUS1", "BUS2", "MAIN", "OUD"]
    assert {"SO", "QT"} <= set(summary["orderTypes"])
    orders = list(company.sales_orders.values())
    assert {o.type for o in orders} == {"SO", "QT"}
    assert any("SIMON" in (o.received.get("description") or "") for o in orders)
    assert any("SIMON" not in (o.received.get("description") or "") for o in orders)
    assert summary["clientId"] and summary["clientSecret"] and summary["tenantId"]
    assert emulator.connect.registered(summary["clientId"], summary["tenantId"])


def test_same_seed_same_data():
    first, second = VismaEmulator(), VismaEmulator()
    generate_visma_tenant(first, customers=50, items=20, seed=3)
    generate_visma_tenant(second, customers=50, items=20, seed=3)

    def names(emulator):
        return [(r.dto["number"], r.dto["name"], r.dto["mainAddress"].get("city"))
                for r in emulator.company().customers.values()]

    assert names(first) == names(second)


def test_fifty_thousand_customers():
    """How fast this goes is measured by the benchmarks, not asserted here."""
    emulator = VismaEmulator()
    generate_visma_tenant(emulator, customers=50_000, items=1000, seed=1)
    assert len(emulator.company().customers) == 50_000
    assert len({r.dto["number"] for r in emulator.company().customers.values()}) == 50_000
