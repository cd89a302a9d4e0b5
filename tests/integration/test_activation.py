"""Activation over real HTTP (SPEC S-71, S-72): the settings check against Visma.net and the
activation wipe in Simon, once per activation."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from emulators.visma import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from reconcilers.loops.masterdata import MasterDataLoop, MasterDataResult
from reconcilers.store import ActivationEvent, LogTable, Severity
from tests.fixtures.world import World, result_of

pytestmark = pytest.mark.anyio

KERKSTRAAT = {"addressLine1": "Kerkstraat 12 A", "postalCode": "1011 AB", "city": "Amsterdam",
              "country": "NL"}
WRONG_SECRET = "not-the-secret-4711"


def seed_settings(world: World) -> None:
    """What the generated tenant's settings name: the items UUR, REIS, VOORRIJ and the
    warehouse MAIN (added by the fixture), plus a stock item and a second warehouse."""
    world.visma.add_item("UUR", "Arbeid", type="LaborItem", base_unit="UUR")
    world.visma.add_item("REIS", "Reistijd", type="LaborItem", base_unit="UUR")
    world.visma.add_item("VOORRIJ", "Voorrijkosten", type="ServiceItem")
    world.visma.add_item("KRAAN", "Mengkraan", type="FinishedGoodItem")
    world.visma.add_warehouse("BUS1", "Servicebus 1")


def seed_simon(world: World) -> dict[str, Any]:
    """What users made in Simon before the integration: customers with work addresses, a
    work address without customer, items and a user."""
    first = world.simon.seed("customer", Name="Oude klant 1")
    second = world.simon.seed("customer", Name="Oude klant 2", ExtKey="oud-2")
    return {
        "customers": [first, second],
        "locations": [world.simon.seed("location", Name="Werkadres 1", CustomerId=first["Id"]),
                      world.simon.seed("location", Name="Werkadres 2", CustomerId=second["Id"]),
                      world.simon.seed("location", Name="Zonder klant")],
        "items": [world.simon.seed("item", Code="OUD1"), world.simon.seed("item", Code="OUD2")],
        "user": world.simon.seed("user", Name="Jan de Vries", Email="jan@acme.example"),
    }


def counts(world: World) -> dict[str, int]:
    return {table: len(world.simon.list(table)) for table in ("customer", "location", "item")}


# --- S-72 activation wipe ---------------------------------------------------------------------

async def test_first_activation_wipes_the_configured_kinds(world: World) -> None:
    """S-72: the first activation empties customers, items and work addresses in Simon
    (work addresses before the customers owning them: Simon refuses a customer that still
    has one), records the wipe in the store, and leaves other tables alone."""
    seed_settings(world)
    before = seed_simon(world)
    run = world.run()

    outcome = await run.activate()

    assert outcome.event == ActivationEvent.FIRST and outcome.settings.valid
    assert outcome.wiped == {"WorkAddresses": 3, "Customers": 2, "Items": 2}
    assert counts(world) == {"customer": 0, "location": 0, "item": 0}
    assert world.simon.write_count("customer", "delete") == 2
    assert world.simon.write_count("location", "delete") == 3
    assert world.simon.get("user", before["user"]["Id"]) == before["user"]
    activation = await run.state.activation.get()
    assert activation is not None and activation.wiped_at is not None
    assert set(activation.wiped_kinds) == {"Customers", "Items", "WorkAddresses"}


async def test_first_activation_wipes_only_the_listed_kinds(sqlite_world: World) -> None:
    """S-72: `wipeOnFirstActivation` decides: with only Items listed, customers and work
    addresses stay."""
    world = sqlite_world
    seed_settings(world)
    seed_simon(world)
    run = world.run({"activation": {"wipeOnFirstActivation": ["Items"]}})

    outcome = await run.activate()

    assert outcome.wiped == {"Items": 2}
    assert counts(world) == {"customer": 2, "location": 3, "item": 0}


async def test_second_run_does_not_wipe_again(world: World) -> None:
    """S-72: a wipe happens once per activation: a restart (a new run against the same
    store) neither wipes nor deletes anything, and the master data survives it."""
    seed_settings(world)
    seed_simon(world)
    world.visma.add_customer("10023", "Bakker", address=KERKSTRAAT)
    first = world.run()
    await first.activate()
    assert (await first.run_loop(MasterDataLoop())).ok
    made_in_simon = world.simon.seed("customer", Name="Nieuw in Simon")
    deletes = world.simon.write_count(verb="delete")

    outcome = await world.run().activate()

    assert outcome.event == ActivationEvent.NONE and outcome.wiped == {}
    assert world.simon.write_count(verb="delete") == deletes
    assert world.simon.get("customer", made_in_simon["Id"]) is not None
    assert world.simon_customer(world.visma.customer("10023").dto["internalId"]) is not None


async def test_reactivation_wipes_the_reactivation_kinds_only(world: World) -> None:
    """S-72: after `enabled: false`, enabling again is a re-activation: only the kinds in
    `wipeOnReactivation` are emptied (items here, customers and work addresses stay), once;
    the next master-data pass brings the wiped kind back from Visma.net in full."""
    seed_settings(world)
    customer = world.visma.add_customer("10023", "Bakker", address=KERKSTRAAT)
    run = world.run()
    await run.activate()
    assert (await run.run_loop(MasterDataLoop())).ok
    assert counts(world) == {"customer": 1, "location": 1, "item": 3}
    # Time passes and Visma.net changes: the high-water marks move past the first import.
    world.emulators.visma.clock.advance(86400)
    world.visma.update_item("REIS", description="Reistijd (per uur)")
    world.visma.update_customer("10023", phone="020-1234567")
    assert (await run.run_loop(MasterDataLoop())).ok
    world.simon.seed("item", Code="HANDMATIG")

    disabled = await world.run({"enabled": False}).activate()
    assert disabled.event == ActivationEvent.NONE and disabled.wiped == {}
    assert counts(world)["item"] == 4

    spec = {"activation": {"wipeOnReactivation": ["Items"]}}
    again = world.run(spec)
    outcome = await again.activate()

    assert outcome.event == ActivationEvent.REACTIVATION
    assert outcome.wiped == {"Items": 4}
    assert counts(world) == {"customer": 1, "location": 1, "item": 0}
    assert world.simon_customer(customer["internalId"]) is not None

    assert (await world.run(spec).activate()).wiped == {}  # a restart: no second wipe
    summary = result_of(await again.run_loop(MasterDataLoop()), MasterDataResult)
    assert summary.items.written == 3
    assert sorted(i["Code"] for i in world.simon.list("item")) == ["REIS", "UUR", "VOORRIJ"]
    assert summary.customers.written == 0


async def test_reactivation_wipe_of_work_addresses_brings_them_back(
        sqlite_world: World) -> None:
    """S-72: a re-activation that wipes only WorkAddresses leaves the customers alone, and
    the next master-data pass makes every work address again from Visma.net."""
    world = sqlite_world
    seed_settings(world)
    world.visma.add_customer("10023", "Bakker", address=KERKSTRAAT,
                             invoice_address={**KERKSTRAAT, "addressLine1": "Postbus 1"})
    world.visma.add_customer("10024", "Smit", address=KERKSTRAAT)
    run = world.run()
    await run.activate()
    assert (await run.run_loop(MasterDataLoop())).ok
    world.emulators.visma.clock.advance(86400)
    world.visma.update_customer("10024", phone="030-1234567")
    assert (await run.run_loop(MasterDataLoop())).ok
    customers = {c["Id"]: c["Modified"] for c in world.simon.list("customer")}
    await world.run({"enabled": False}).activate()

    again = world.run({"activation": {"wipeOnReactivation": ["WorkAddresses"]}})
    outcome = await again.activate()
    assert outcome.wiped == {"WorkAddresses": 3}
    assert counts(world)["location"] == 0
    summary = result_of(await again.run_loop(MasterDataLoop()), MasterDataResult)

    assert summary.work_addresses_written == 3 and summary.customers.written == 0
    assert sorted(loc["ExtKey"].split("/")[1] for loc in world.simon.list("location")) == [
        "invoice", "main", "main"]
    assert {c["Id"]: c["Modified"] for c in world.simon.list("customer")} == customers


async def test_wipe_names_what_it_keeps_as_users_know_it(sqlite_world: World) -> None:
    """S-72, S-32, S-80: what the wipe cannot remove (an open work order uses it) is one
    warning each, naming it as users know it: a customer by number and name, else by name,
    else by ExtKey, else "a record without number"; an item by code and description; a work
    address by name. Never by Simon's own Id."""
    world = sqlite_world
    seed_settings(world)
    known = world.simon.seed("customer", Number="K-1", Name="Oude klant 1")
    named = world.simon.seed("customer", Name="Klant zonder nummer")
    keyed = world.simon.seed("customer", Name="Wordt leeg", ExtKey="oud-2")
    nameless = world.simon.seed("customer", Name="Ook leeg")
    for customer in (keyed, nameless):  # Simon sends these without a name
        world.simon.store.set_raw("customer", customer["Id"], "Name", None)
    item = world.simon.seed("item", Code="OUD1", Description="Oud artikel")
    for n, customer in enumerate((known, named, keyed, nameless)):
        location = world.simon.seed("location", Name=f"Werkadres {n}",
                                    CustomerId=customer["Id"])
        order = world.simon.seed("workorder", LocationId=location["Id"],
                                 CustomerId=customer["Id"], Description="Lekkage")
    world.simon.seed("useditem", WorkOrderId=order["Id"], ItemId=item["Id"], Quantity=1)
    run = world.run()

    outcome = await run.activate()

    assert outcome.wiped == {"WorkAddresses": 0, "Customers": 0, "Items": 0}
    warnings = {(w.table, w.key): w for w in await run.state.log.entries(Severity.WARNING)}
    assert set(warnings) == {
        (LogTable.CUSTOMER, "K-1"), (LogTable.CUSTOMER, "Klant zonder nummer"),
        (LogTable.CUSTOMER, "oud-2"), (LogTable.CUSTOMER, "a record without number"),
        (LogTable.ITEM, "OUD1"),
        *((LogTable.WORK_ADDRESS, f"Werkadres {n}") for n in range(4))}
    assert "customer K-1 (Oude klant 1)" in warnings[LogTable.CUSTOMER, "K-1"].message
    assert "item OUD1 (Oud artikel)" in warnings[LogTable.ITEM, "OUD1"].message
    ids = {str(r["Id"]) for r in world.simon.list("customer") + world.simon.list("item")
           + world.simon.list("location")}
    for entry in warnings.values():
        assert "open work order" in entry.message and entry.action
        assert "Simon #" not in entry.message and entry.key not in ids


# --- S-71 settings check ----------------------------------------------------------------------

async def test_valid_settings_pass_the_check(sqlite_world: World) -> None:
    """S-71: with every configured item (non-stock) and warehouse present, the check passes."""
    world = sqlite_world
    seed_settings(world)
    outcome = await world.run(
        {"orders": {"warehouseByUser": {"jan@acme.example": "BUS1"}}}).activate()
    assert outcome.settings.company_reachable and outcome.settings.valid
    assert outcome.settings.problems == []


@pytest.mark.parametrize(("orders", "field", "words"), [
    ({"workTimeItem": "BESTAATNIET"}, "spec.orders.workTimeItem", ("BESTAATNIET", "not exist")),
    ({"travelTimeItem": "KRAAN"}, "spec.orders.travelTimeItem", ("KRAAN", "stock item")),
    ({"defaultWarehouse": "NERGENS"}, "spec.orders.defaultWarehouse", ("NERGENS", "not exist")),
    ({"warehouseByUser": {"jan@acme.example": "BUS9"}},
     "spec.orders.warehouseByUser[jan@acme.example]", ("BUS9", "not exist")),
])
async def test_settings_check_names_the_field(sqlite_world: World, orders: dict[str, Any],
                                              field: str, words: tuple[str, ...]) -> None:
    """S-71: a missing item, a stock item and a missing warehouse each fail the check with a
    message naming the spec field; the company itself is reachable, so master data goes on."""
    world = sqlite_world
    seed_settings(world)
    outcome = await world.run({"orders": orders}).activate()
    settings = outcome.settings
    assert settings.company_reachable and not settings.valid
    [problem] = settings.problems
    assert field in problem and all(word in problem for word in words)
    assert field in settings.message


async def test_bad_credentials_fail_the_check_without_showing_them(
        sqlite_world: World) -> None:
    """S-71, S-82: refused Visma.net credentials fail the check with a message that names
    the Secret and its keys but never the secret value; nothing is wiped."""
    world = sqlite_world
    seed_settings(world)
    seed_simon(world)
    run = world.run(secrets={"demo-visma": {"clientSecret": WRONG_SECRET}})

    outcome = await run.activate()

    settings = outcome.settings
    assert not settings.company_reachable and not settings.valid
    [problem] = settings.problems
    assert "demo-visma" in problem and "clientSecret" in problem
    assert "spec.visma.credentialsSecretRef" in problem and "spec.visma.tenantId" in problem
    assert WRONG_SECRET not in problem and DEFAULT_CLIENT_SECRET not in problem
    assert outcome.wiped == {}
    assert counts(world) == {"customer": 2, "location": 3, "item": 2}


# --- S-74 the resource deleted and made again -------------------------------------------------

async def test_resource_made_again_is_a_reactivation(world: World) -> None:
    """S-74: deleting the resource forgets the tenant but not that its Simon licence and
    Visma.net company were activated together: a new resource for that pair (another
    namespace here) is a re-activation that wipes only `wipeOnReactivation`, so a live
    Simon is not emptied again; a resource for another Visma.net company is a first
    activation."""
    seed_settings(world)
    seed_simon(world)
    world.visma.add_customer("10023", "Bakker", address=KERKSTRAAT)
    first = world.run()
    assert (await first.activate()).wiped == {"WorkAddresses": 3, "Customers": 2, "Items": 2}
    assert (await first.run_loop(MasterDataLoop())).ok
    world.simon.seed("item", Code="HANDMATIG")
    live = counts(world)
    assert live == {"customer": 1, "location": 1, "item": 4}
    deletes = world.simon.write_count(verb="delete")

    await world.store.forget_tenant(first.state.key)
    assert first.state.key not in await world.store.tenants()
    namespace, name = first.state.key.split("/")
    moved = dataclasses.replace(world.run({"activation": {"wipeOnReactivation": ["Items"]}}),
                                state=world.store.tenant(f"{namespace}-moved/{name}"))
    outcome = await moved.activate()

    assert outcome.event == ActivationEvent.REACTIVATION
    assert outcome.wiped == {"Items": 4}
    assert counts(world) == {**live, "item": 0}
    assert world.simon.write_count(verb="delete") == deletes + 4
    activation = await moved.state.activation.get()
    assert activation is not None and activation.reactivation

    await world.store.forget_tenant(moved.state.key)
    again = world.run()  # the default wipeOnReactivation: none
    assert again.state.key == first.state.key
    reactivated = await again.activate()
    assert reactivated.event == ActivationEvent.REACTIVATION and reactivated.wiped == {}
    assert world.simon.write_count(verb="delete") == deletes + 4

    await world.store.forget_tenant(again.state.key)
    world.tenant_id = "6f1c2b7e-0d4e-4a55-9b8e-000000000002"
    world.emulators.visma.add_client(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, [world.tenant_id])
    await world.prepare()
    seed_settings(world)
    other = await world.run().activate()
    assert other.event == ActivationEvent.FIRST and other.settings.valid
    assert other.wiped == {"WorkAddresses": 1, "Customers": 1, "Items": 0}
