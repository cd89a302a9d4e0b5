"""Master data Visma.net -> Simon over real HTTP (SPEC S-10 to S-15): the emulators, a
TenantRun built like the CLI's, and the store on SQLite (and PostgreSQL where marked by the
`world` fixture)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconcilers.clients.visma.wire import filter_datetime
from reconcilers.loops.masterdata import MasterDataLoop, MasterDataResult, MasterDataSync
from reconcilers.mirroring import OVERLAP
from reconcilers.runtime.runner import TenantRun
from reconcilers.store import LogTable, Severity
from reconcilers.store.records import LogEntry, parse_timestamp
from reconcilers.text import repaired_text
from tests.fixtures.emulators import FAST
from tests.fixtures.world import World, result_of
from tests.test_addresses import HOSTILE

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]

KERKSTRAAT = {"addressLine1": "Kerkstraat 12 A", "addressLine2": "Achterom",
              "addressLine3": "2e etage", "postalCode": "1011 AB", "city": "Amsterdam",
              "country": "NL"}
POSTBUS = {"addressLine1": "Postbus 100", "postalCode": "1000 AA", "city": "Amsterdam",
           "country": "NL"}
INDUSTRIEWEG = {"addressLine1": "Industrieweg 5-7", "postalCode": "3542 AD",
                "city": "Utrecht", "country": "NL"}


async def masterdata(run: TenantRun) -> MasterDataResult:
    outcome = await run.run_loop(MasterDataLoop())
    assert outcome.ok, outcome.error
    return result_of(outcome, MasterDataResult)


def internal_id(dto: dict[str, Any]) -> int:
    return int(dto["internalId"])


# --- S-10 customers ------------------------------------------------------------------------

async def test_first_import_creates_customers(sqlite_world: World) -> None:
    """S-10, S-15: a first import makes every mirrored customer in Simon, keyed by internalId,
    with number, name, the main address split the Dutch way, e-mail and phone; it reports
    progress against Visma.net's totalCount and logs that it finished."""
    world = sqlite_world
    bakker = world.visma.add_customer("10023", "Bakker Installatietechniek B.V.",
                                      address=KERKSTRAAT, email="info@bakker.example",
                                      phone="020-1234567")
    on_hold = world.visma.add_customer("10024", "De Vries Elektro", status="OnHold",
                                       address=INDUSTRIEWEG)
    credit = world.visma.add_customer("10025", "Jansen Dak", status="CreditHold")
    progress: list[tuple[str, int, int | None]] = []
    run = world.run()

    result = await MasterDataSync(run.visma, run.simon, run.state,
                                  on_progress=lambda *p: progress.append(p)).run()

    customer = world.simon_customer(internal_id(bakker))
    assert customer is not None
    assert customer["ExtKey"] == str(bakker["internalId"])
    assert (customer["Number"], customer["Name"]) == ("10023", "Bakker Installatietechniek B.V.")
    assert (customer["Street"], customer["HouseNumber"]) == ("Kerkstraat", "12 A")
    assert customer["Address2"] == "Achterom, 2e etage"
    assert (customer["PostalCode"], customer["City"], customer["Country"]) == (
        "1011 AB", "Amsterdam", "NL")
    assert (customer["Email"], customer["Phone"]) == ("info@bakker.example", "020-1234567")
    assert world.simon_customer(internal_id(on_hold)) is not None
    assert world.simon_customer(internal_id(credit)) is not None
    assert len(world.simon.list("customer")) == 3
    assert result.customers.first_import and result.customers.written == 3

    assert progress and progress[-1][0] == "customers" and progress[-1][1:] == (3, 3)
    first = await run.state.first_imports.get("customers")
    assert first is not None and first.finished and first.done == 3
    finished = await run.state.log.entries(table=LogTable.CUSTOMER)
    assert any("First import of customers finished" in e.message for e in finished)


async def test_inactive_and_one_time_customers_are_not_mirrored(sqlite_world: World) -> None:
    """S-10: Inactive and OneTime customers do not reach Simon; Active, OnHold and
    CreditHold ones do."""
    world = sqlite_world
    made = {status: world.visma.add_customer(None, f"Klant {status}", status=status,
                                             address=KERKSTRAAT)
            for status in ("Active", "OnHold", "CreditHold", "Inactive", "OneTime")}
    await masterdata(world.run())
    mirrored = {status for status, dto in made.items()
                if world.simon_customer(internal_id(dto)) is not None}
    assert mirrored == {"Active", "OnHold", "CreditHold"}
    assert len(world.simon.list("location")) == 3


async def test_renumbered_customer_is_updated_not_duplicated(sqlite_world: World) -> None:
    """S-10: the customer number can change in Visma.net; the Simon customer (keyed by
    internalId) is updated in place, and its work addresses are not doubled."""
    world = sqlite_world
    dto = world.visma.add_customer("10023", "Bakker", address=KERKSTRAAT,
                                   invoice_address=POSTBUS)
    run = world.run()
    await masterdata(run)
    before = world.simon_customer(internal_id(dto))
    assert before is not None

    world.emulators.visma.clock.advance(60)
    world.visma.renumber_customer("10023", "20023")
    summary = await masterdata(run)

    after = world.simon_customer(internal_id(dto))
    assert after is not None and after["Id"] == before["Id"]
    assert after["Number"] == "20023"
    assert len(world.simon.list("customer")) == 1
    assert len(world.simon.list("location")) == 2
    assert summary.customers.written == 1
    assert world.simon.write_count("customer", "insert") == 1


# --- S-11 addresses -------------------------------------------------------------------------

async def test_main_address_is_customer_address_and_first_work_address(
        sqlite_world: World) -> None:
    """S-11: the main address is the customer's address and its first work address,
    ExtKey `<internalId>/main`, named after the customer."""
    world = sqlite_world
    dto = world.visma.add_customer("10023", "Bakker", address=KERKSTRAAT)
    await masterdata(world.run())
    customer = world.simon_customer(internal_id(dto))
    assert customer is not None
    locations = world.locations_of(customer)
    assert set(locations) == {f"{dto['internalId']}/main"}
    main = locations[f"{dto['internalId']}/main"]
    assert main["Name"] == "Bakker"
    assert (main["Street"], main["HouseNumber"], main["Address2"]) == (
        "Kerkstraat", "12 A", "Achterom, 2e etage")
    assert (main["PostalCode"], main["City"], main["Country"]) == ("1011 AB", "Amsterdam", "NL")
    assert (customer["Street"], customer["HouseNumber"]) == (main["Street"], main["HouseNumber"])


async def test_invoice_and_delivery_addresses_make_more_work_addresses(
        sqlite_world: World) -> None:
    """S-11: a filled-in invoice and delivery address each make one more work address of the
    same customer, named "<name> (factuuradres)" and "<name> (afleveradres)"."""
    world = sqlite_world
    dto = world.visma.add_customer("10023", "Bakker", address=KERKSTRAAT,
                                   invoice_address=POSTBUS, delivery_address=INDUSTRIEWEG)
    await masterdata(world.run())
    customer = world.simon_customer(internal_id(dto))
    assert customer is not None
    key = dto["internalId"]
    locations = world.locations_of(customer)
    assert set(locations) == {f"{key}/main", f"{key}/invoice", f"{key}/delivery"}
    invoice, delivery = locations[f"{key}/invoice"], locations[f"{key}/delivery"]
    assert invoice["Name"] == "Bakker (factuuradres)"
    assert (invoice["Street"], invoice["HouseNumber"], invoice["PostalCode"]) == (
        "Postbus", "100", "1000 AA")
    assert delivery["Name"] == "Bakker (afleveradres)"
    assert (delivery["Street"], delivery["HouseNumber"], delivery["City"]) == (
        "Industrieweg", "5-7", "Utrecht")
    assert all(loc["CustomerId"] == customer["Id"] for loc in locations.values())


async def test_equal_addresses_make_one_work_address(sqlite_world: World) -> None:
    """S-11: an invoice address equal to the main address after trimming, folding white
    space and ignoring case makes no Location of its own; of equal invoice and delivery
    addresses the invoice address (first of the two) names the one Location."""
    world = sqlite_world
    shouting = {"addressLine1": "  KERKSTRAAT   12 a ", "addressLine2": "achterom",
                "addressLine3": " 2E  ETAGE", "postalCode": "1011  ab", "city": "amsterdam ",
                "country": "nl"}
    same_as_main = world.visma.add_customer("10023", "Bakker", address=KERKSTRAAT,
                                            invoice_address=shouting)
    invoice_twice = world.visma.add_customer("10024", "Smit", address=KERKSTRAAT,
                                             invoice_address=POSTBUS,
                                             delivery_address={**POSTBUS, "city": "AMSTERDAM"})
    await masterdata(world.run())

    first = world.simon_customer(internal_id(same_as_main))
    assert first is not None
    assert set(world.locations_of(first)) == {f"{same_as_main['internalId']}/main"}
    second = world.simon_customer(internal_id(invoice_twice))
    assert second is not None
    key = invoice_twice["internalId"]
    locations = world.locations_of(second)
    assert set(locations) == {f"{key}/main", f"{key}/invoice"}
    assert locations[f"{key}/invoice"]["Name"] == "Smit (factuuradres)"


async def test_country_only_address_makes_nothing(sqlite_world: World) -> None:
    """S-11: an address with only a country filled in is empty: no work address, not even
    for the main address (the customer itself is still made)."""
    world = sqlite_world
    dto = world.visma.add_customer("10023", "Bakker", address={"country": "NL"},
                                   invoice_address={"country": "BE"},
                                   delivery_address={"country": "DE", "addressLine2": ""})
    await masterdata(world.run())
    customer = world.simon_customer(internal_id(dto))
    assert customer is not None
    assert world.locations_of(customer) == {}
    assert world.simon.write_count("location") == 0


async def test_address_that_empties_or_becomes_equal_loses_its_work_address(
        sqlite_world: World) -> None:
    """S-11: when the invoice address empties and the delivery address becomes equal to the
    main address, the work addresses made from them are removed; the main one and a work
    address a user added in Simon stay untouched."""
    world = sqlite_world
    dto = world.visma.add_customer("10023", "Bakker", address=KERKSTRAAT,
                                   invoice_address=POSTBUS, delivery_address=INDUSTRIEWEG)
    run = world.run()
    await masterdata(run)
    customer = world.simon_customer(internal_id(dto))
    assert customer is not None
    mine = world.simon.seed("location", Name="Schuur achter", CustomerId=customer["Id"],
                            Street="Dorpsweg", HouseNumber="1")
    key = dto["internalId"]
    main_before = world.locations_of(customer)[f"{key}/main"]

    world.emulators.visma.clock.advance(60)
    world.visma.update_customer("10023", invoice_address={},
                                delivery_address={**KERKSTRAAT, "city": " AMSTERDAM"})
    summary = await masterdata(run)

    locations = world.locations_of(customer)
    assert set(locations) == {f"{key}/main", "Schuur achter"}
    assert locations[f"{key}/main"]["Modified"] == main_before["Modified"]
    assert world.simon.get("location", mine["Id"]) == mine
    assert summary.work_addresses_removed == 2
    assert world.simon.write_count("location", "delete") == 2


async def test_work_address_in_use_is_kept_with_a_warning(sqlite_world: World) -> None:
    """S-11, S-32: a work address whose Visma.net address emptied but that an open work order
    uses is not forced away: it stays, with a warning in the integration log."""
    world = sqlite_world
    dto = world.visma.add_customer("10023", "Bakker", address=KERKSTRAAT,
                                   invoice_address=POSTBUS)
    run = world.run()
    await masterdata(run)
    customer = world.simon_customer(internal_id(dto))
    assert customer is not None
    key = f"{dto['internalId']}/invoice"
    invoice = world.locations_of(customer)[key]
    world.simon.seed("workorder", LocationId=invoice["Id"], CustomerId=customer["Id"],
                     Description="Lekkage")

    world.emulators.visma.clock.advance(60)
    world.visma.update_customer("10023", invoice_address={})
    summary = await masterdata(run)

    assert world.simon.get("location", invoice["Id"]) is not None
    assert summary.work_addresses_removed == 0
    warnings = await run.state.log.entries(Severity.WARNING, table=LogTable.WORK_ADDRESS)
    assert [w.key for w in warnings] == ["Bakker (factuuradres)"]  # as users know it
    assert "10023" in warnings[0].message and "/invoice" not in warnings[0].message
    assert "open work order" in warnings[0].message and warnings[0].action


# --- S-12 items ---------------------------------------------------------------------------

async def test_only_active_non_stock_items_are_mirrored(sqlite_world: World) -> None:
    """S-12: non-stock items (NonStock, Labor, Service, Charge, Expense) with status Active,
    NoPurchases or NoRequest are mirrored with code, description, unit (salesUnit, else
    baseUnit) and default price, keyed by inventoryId; stock items and other statuses not."""
    world = sqlite_world
    visma = world.visma
    wanted = {
        "UUR": visma.add_item("UUR", "Arbeid (per uur)", type="LaborItem", base_unit="UUR",
                              sales_unit="UUR", default_price=62.5),
        "VOORRIJ": visma.add_item("VOORRIJ", "Voorrijkosten", type="ServiceItem",
                                  status="NoPurchases", default_price=35),
        "KLEIN": visma.add_item("KLEIN", "Klein materiaal", type="NonStockItem",
                                status="NoRequest", base_unit="DOOS", default_price=4.55,
                                **{"salesUnit": None}),
        "HUUR": visma.add_item("HUUR", "Huur hoogwerker", type="ChargeItem", base_unit="DAG",
                               sales_unit="UUR", default_price=120),
        "KM": visma.add_item("KM", "Kilometers", type="ExpenseItem", default_price=0.23),
    }
    unwanted = [
        visma.add_item("OUD", "Vervallen", status="Inactive"),
        visma.add_item("NIETVERKOPEN", "Niet verkopen", status="NoSales"),
        visma.add_item("WEG", "Weg ermee", status="MarkedForDeletion"),
        visma.add_item("KRAAN", "Mengkraan", type="FinishedGoodItem", default_price=120),
        visma.add_item("ONDERDEEL", "Onderdeel", type="ComponentPartItem"),
        visma.add_item("SET", "Montageset", type="SubassemblyItem"),
    ]
    summary = await masterdata(world.run())

    items = {i["Code"]: i for i in world.simon.list("item")}
    assert set(items) == set(wanted)
    assert all(items[code]["ExtKey"] == str(dto["inventoryId"]) for code, dto in wanted.items())
    assert (items["UUR"]["Description"], items["UUR"]["Unit"]) == ("Arbeid (per uur)", "UUR")
    assert Decimal(str(items["UUR"]["Price"])) == Decimal("62.5")
    assert items["KLEIN"]["Unit"] == "DOOS"  # no salesUnit: the base unit
    assert items["HUUR"]["Unit"] == "UUR"  # the sales unit wins over the base unit
    assert Decimal(str(items["KLEIN"]["Price"])) == Decimal("4.55")
    assert all(world.simon.by_ext_key("item", str(d["inventoryId"])) is None for d in unwanted)
    assert summary.items.written == 5


# --- S-13, S-14 incremental passes ----------------------------------------------------------

async def test_incremental_pass_asks_since_mark_and_writes_nothing(world: World) -> None:
    """S-13: a later pass asks Visma.net only for records with lastModifiedDateTime >= the
    high-water mark minus the overlap, one request per kind and page, and a pass with no
    changes makes zero writes to Simon (counted at the Simon emulator)."""
    for n in range(5):
        world.visma.add_customer(None, f"Klant {n}", address=KERKSTRAAT,
                                 invoice_address=POSTBUS if n % 2 else None)
    world.visma.add_item("UUR", "Arbeid", type="LaborItem")
    world.visma.add_item("KRAAN", "Mengkraan", type="FinishedGoodItem")
    run = world.run()
    first = await masterdata(run)
    assert first.simon_writes == 5 + 5 + 2 + 1
    first_queries = world.proxy.requests("/v1/customer")
    assert [q.param("lastModifiedDateTime") for q in first_queries] == [None]

    marks = {kind: await run.state.marks.value(kind) for kind in ("customers", "items")}
    assert all(marks.values())
    world.proxy.clear()
    world.emulators.visma.stats.reset()
    writes_before = world.simon.writes

    again = await masterdata(world.run())

    assert world.simon.writes == writes_before
    assert again.simon_writes == 0
    for path, kind in (("/v1/customer", "customers"), ("/v1/inventory", "items")):
        [query] = world.proxy.requests(path)
        since = parse_timestamp(marks[kind]) - OVERLAP
        assert query.param("lastModifiedDateTime") == filter_datetime(since)
        assert query.param("lastModifiedDateTimeCondition") == ">="
        assert world.emulators.visma.stats.count("GET", path) == 1
    assert world.proxy.requests("/v1/inventory")[0].param("inventoryTypes") is not None

    # Once the mark has moved past them, older records are not even sent any more: only the
    # new customer (and the one item at the item mark, which `>=` always includes) come back.
    world.emulators.visma.clock.advance(3600)
    changed = world.visma.add_customer(None, "Nieuwe klant", address=INDUSTRIEWEG)
    await masterdata(run)
    world.proxy.clear()
    later = await masterdata(run)
    assert later.customers.seen == 1 and later.items.seen == 1
    assert later.simon_writes == 0
    [query] = world.proxy.requests("/v1/customer")
    assert query.param("lastModifiedDateTime") == filter_datetime(
        parse_timestamp(changed["lastModifiedDateTime"]) - OVERLAP)


async def test_changed_customer_is_rewritten_and_only_it(world: World) -> None:
    """S-13: after a change in Visma.net exactly the changed records are written to Simon:
    one customer update for a new phone number, one item update for a new price."""
    dtos = [world.visma.add_customer(None, f"Klant {n}", address=KERKSTRAAT,
                                     phone="030-0000000") for n in range(4)]
    world.visma.add_item("UUR", "Arbeid", type="LaborItem", default_price=60)
    world.visma.add_item("REIS", "Reistijd", type="LaborItem", default_price=45)
    run = world.run()
    await masterdata(run)
    untouched = {d["internalId"]: world.simon_customer(internal_id(d)) for d in dtos[1:]}

    world.emulators.visma.clock.advance(120)
    world.visma.update_customer(internal_id(dtos[0]), phone="030-7654321")
    world.visma.update_item("UUR", default_price=62.5)
    before = dict(world.simon.store.writes)
    summary = await masterdata(run)

    made = {k: n - before.get(k, 0) for k, n in world.simon.store.writes.items()
            if n != before.get(k, 0)}
    assert made == {("customer", "update"): 1, ("item", "update"): 1}
    assert summary.simon_writes == 2
    changed = world.simon_customer(internal_id(dtos[0]))
    assert changed is not None and changed["Phone"] == "030-7654321"
    assert {k: world.simon_customer(k) for k in untouched} == untouched
    item = world.simon.by_ext_key("item", str(world.visma.item("UUR").dto["inventoryId"]))
    assert item is not None and Decimal(str(item["Price"])) == Decimal("62.5")


async def test_status_shows_newest_modification_per_kind(sqlite_world: World) -> None:
    """S-14: the store keeps, per kind, the newest lastModifiedDateTime seen
    (`customers.newest`, `items.newest`) and when the last pass finished."""
    world = sqlite_world
    base = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    for n, days in enumerate((3, 10, 7)):
        world.visma.add_customer(None, f"Klant {n}", address=KERKSTRAAT,
                                 modified=base + timedelta(days=days),
                                 created=base - timedelta(days=30))
    world.visma.add_customer(None, "Oud", status="Inactive", modified=base + timedelta(days=1),
                             created=base)
    world.visma.add_item("UUR", "Arbeid", type="LaborItem", modified=base + timedelta(hours=5))
    world.visma.add_item("REIS", "Reis", type="LaborItem", modified=base + timedelta(hours=2))
    run = world.run()
    await masterdata(run)

    marks = await run.state.marks.all()
    assert parse_timestamp(marks["customers.newest"].mark) == base + timedelta(days=10)
    assert parse_timestamp(marks["items.newest"].mark) == base + timedelta(hours=5)
    schedule = await run.state.schedules.get("masterdata")
    assert schedule is not None and schedule.last_success_at is not None
    finished = schedule.last_success_at

    world.emulators.visma.clock.advance(60)
    touched = world.visma.update_item("REIS", description="Reistijd")
    await masterdata(run)
    marks = await run.state.marks.all()
    assert parse_timestamp(marks["items.newest"].mark) == parse_timestamp(
        touched["lastModifiedDateTime"])
    assert parse_timestamp(marks["customers.newest"].mark) == base + timedelta(days=10)
    schedule = await run.state.schedules.get("masterdata")
    assert schedule is not None and schedule.last_success_at > finished


# --- S-15 first import: progress and resume --------------------------------------------------

async def test_interrupted_first_import_resumes_at_the_stored_page(world: World) -> None:
    """S-15: a first import interrupted by Visma.net failing on page 3 (a 500 on every
    attempt) fails the loop with its progress stored; the next run asks Visma.net for pages
    3, 4 and 5 only (as the emulator was asked, through the recording proxy) and ends with
    every customer exactly once in Simon."""
    world.emulators.visma.max_page_size = 100
    dtos = [world.visma.add_customer(None, f"Klant {n:03d}",
                                     address={**KERKSTRAAT, "addressLine1": f"Kerkstraat {n}"})
            for n in range(450)]
    world.visma.add_item("UUR", "Arbeid", type="LaborItem")
    # From the 3rd customer-list request on, every attempt at page 3 fails.
    for nth in range(3, 3 + FAST.max_attempts):
        world.emulators.visma.faults.add("status", path=r"^/v1/customer$", method="GET",
                                        status=500, nth=nth)

    outcome = await world.run().run_loop(MasterDataLoop())

    assert not outcome.ok and "500" in (outcome.error or "")
    assert world.proxy.pages("/v1/customer") == [1, 2] + [3] * FAST.max_attempts
    progress = await world.state.first_imports.get("customers")
    assert progress is not None and not progress.finished
    assert (progress.done, progress.total, progress.cursor) == (200, 450, "3")
    assert await world.state.marks.value("customers") is None
    assert len(world.simon.list("customer")) == 200

    world.proxy.clear()
    resumed = await masterdata(world.run())

    assert world.proxy.pages("/v1/customer") == [3, 4, 5]
    assert resumed.customers.written == 250
    customers = world.simon.list("customer")
    assert sorted(c["ExtKey"] for c in customers) == sorted(str(d["internalId"]) for d in dtos)
    assert len(world.simon.list("location")) == 450
    assert world.simon.write_count("customer", "insert") == 450
    progress = await world.state.first_imports.get("customers")
    assert progress is not None and progress.finished and progress.done == 450
    assert await world.state.marks.value("customers") is not None
    assert len(world.simon.list("item")) == 1


# --- S-80 the integration log ---------------------------------------------------------------

async def test_refused_customer_is_an_error_entry_with_an_action(sqlite_world: World) -> None:
    """S-80: a customer Simon refuses is an error in the integration log with its table,
    the customer number as key, a message and the action to take; the pass goes on with the
    other customers, and the log filters by severity."""
    world = sqlite_world
    world.visma.add_customer("10023", "Bakker", address=KERKSTRAAT,
                             phone="0" * 60)  # Simon's Phone holds at most 50 characters
    world.visma.add_customer("10024", "Smit", address=KERKSTRAAT)
    run = world.run()
    summary = await masterdata(run)

    assert summary.customers.failed == 1 and summary.customers.written == 1
    [error] = await run.state.log.entries(Severity.ERROR)
    assert (error.table, error.key) == (LogTable.CUSTOMER, "10023")
    assert "Bakker" in error.message and error.action
    at_least_warning = await run.state.log.entries(Severity.WARNING)
    assert {e.severity for e in at_least_warning} == {Severity.ERROR}
    everything = await run.state.log.entries(Severity.INFO)
    assert {e.severity for e in everything} == {Severity.ERROR, Severity.INFO}


# --- one record, one log entry ---------------------------------------------------------------

async def errors_by_key(run: TenantRun) -> dict[tuple[LogTable, str], LogEntry]:
    entries = await run.state.log.entries(Severity.ERROR, limit=None)
    found = {(e.table, e.key): e for e in entries}
    assert len(found) == len(entries), "one record, one entry"
    return found


async def test_broken_records_are_one_error_each_and_the_pass_goes_on(world: World) -> None:
    """S-80, S-13: a customer whose house number Simon refuses, a customer Simon refuses (its
    phone), a work address Simon refuses (its street) and an item Simon refuses (its
    description) each make one error naming the record as users know it, with the action;
    the other records all arrive, and the pass completes. Fixed in Visma.net, the broken
    customer is sent at the next pass; the others are not tried again until they change."""
    good = world.visma.add_customer("10030", "Goed B.V.", address=KERKSTRAAT,
                                    invoice_address=POSTBUS)
    house = world.visma.add_customer(
        "10031", "Huisnummer B.V.",
        address={**KERKSTRAAT, "addressLine1": "Kerkstraat " + "9" * 60})
    invoice = world.visma.add_customer(
        "10032", "Factuur B.V.", address=INDUSTRIEWEG,
        invoice_address={**POSTBUS, "addressLine1": "Postbus" * 50})
    world.visma.add_customer("10034", "Telefoon B.V.", address=KERKSTRAAT, phone="0" * 60)
    later = world.visma.add_customer("10035", "Laatste B.V.", address=INDUSTRIEWEG)
    world.visma.add_item("UUR", "Arbeid", type="LaborItem")
    world.visma.add_item("LANG", "Omschrijving " * 30, type="ServiceItem")
    world.visma.add_item("REIS", "Reistijd", type="LaborItem")
    run = world.run()

    summary = await masterdata(run)

    assert {c["Number"] for c in world.simon.list("customer")} == {"10030", "10032", "10035"}
    assert set(world.locations_of(world.simon_customer(internal_id(good)) or {})) == {
        f"{good['internalId']}/main", f"{good['internalId']}/invoice"}
    assert set(world.locations_of(world.simon_customer(internal_id(invoice)) or {})) == {
        f"{invoice['internalId']}/main"}
    assert world.simon_customer(internal_id(later)) is not None
    assert sorted(i["Code"] for i in world.simon.list("item")) == ["REIS", "UUR"]
    assert (summary.customers.failed, summary.items.failed) == (2, 1)
    assert summary.work_addresses_failed == 1

    errors = await errors_by_key(run)
    assert set(errors) == {(LogTable.CUSTOMER, "10031"), (LogTable.CUSTOMER, "10034"),
                           (LogTable.WORK_ADDRESS, "Factuur B.V. (factuuradres)"),
                           (LogTable.ITEM, "LANG")}
    assert "Huisnummer B.V." in errors[LogTable.CUSTOMER, "10031"].message
    assert "HouseNumber" in errors[LogTable.CUSTOMER, "10031"].message
    assert "Telefoon B.V." in errors[LogTable.CUSTOMER, "10034"].message
    assert "10032" in errors[LogTable.WORK_ADDRESS, "Factuur B.V. (factuuradres)"].message
    assert "Omschrijving" in errors[LogTable.ITEM, "LANG"].message
    assert all(e.action and "Visma.net" in e.action for e in errors.values())
    assert not any("Simon #" in e.message or "S-" in e.message for e in errors.values())

    # The failed records do not hold the mark back, and what Simon refused is not sent again
    # as it is: a pass without changes sends nothing to Simon ...
    world.emulators.visma.clock.advance(600)
    writes = world.simon.writes
    world.simon.stats.reset()
    assert (await masterdata(run)).simon_writes == 0
    assert world.simon.writes == writes
    assert world.simon.stats.count("POST") == 0
    assert len(await run.state.log.entries(Severity.ERROR)) == len(errors)
    # ... and are read and tried again as soon as they change in Visma.net.
    world.emulators.visma.clock.advance(600)
    world.visma.update_customer("10031", address=KERKSTRAAT)
    world.visma.update_customer("10032", invoice_address=POSTBUS)
    again = await masterdata(run)
    fixed = world.simon_customer(internal_id(house))
    assert fixed is not None and fixed["HouseNumber"] == "12 A"
    assert set(world.locations_of(world.simon_customer(internal_id(invoice)) or {})) == {
        f"{invoice['internalId']}/main", f"{invoice['internalId']}/invoice"}
    assert again.customers.written == 1 and again.work_addresses_written == 2
    assert again.customers.failed == 1  # 10034, still as Simon refused it: not sent
    assert world.simon.stats.count("POST") == 3  # the customer and two work addresses


async def test_an_item_changed_back_to_what_simon_holds_clears_its_error(
        sqlite_world: World) -> None:
    """S-80, S-12: an item Simon refused after a change, changed back in Visma.net to the
    content Simon still holds, needs no write; its error is resolved all the same."""
    world = sqlite_world
    world.visma.add_item("UUR", "Arbeid", type="LaborItem")
    run = world.run()
    await masterdata(run)
    world.emulators.visma.clock.advance(600)
    world.visma.update_item("UUR", description="Omschrijving " * 30)
    assert (await masterdata(run)).items.failed == 1
    assert [e.key for e in await run.state.log.entries(Severity.ERROR)] == ["UUR"]

    world.emulators.visma.clock.advance(600)
    world.visma.update_item("UUR", description="Arbeid")
    world.simon.stats.reset()
    again = await masterdata(run)
    assert again.items.failed == 0 and again.items.written == 0
    assert world.simon.stats.count("POST") == world.simon.stats.count("PUT") == 0
    [error] = await run.state.log.entries(Severity.ERROR)
    assert error.key == "UUR" and error.resolved_at is not None


async def test_unreadable_visma_rows_are_one_error_each(world: World) -> None:
    """S-80, S-15: a customer row and an item row Visma.net sends without their key cannot be
    read; each is one error naming it by number and name (code and description), the other
    rows of their page arrive, and the first import counts them as done. Repaired in Visma.net,
    the customer is read and sent at the next pass, and its error is resolved."""
    world.visma.add_customer("10040", "Voor B.V.", address=KERKSTRAAT)
    broken = internal_id(world.visma.add_customer("10041", "Kapot B.V.", address=KERKSTRAAT))
    world.visma.add_customer("10042", "Na B.V.", address=INDUSTRIEWEG)
    world.visma.update_customer("10041", internalId=None)  # served without its key
    world.visma.add_item("UUR", "Arbeid", type="LaborItem")
    world.visma.add_item("KAPOT", "Kapot artikel", type="ServiceItem")
    world.visma.update_item("KAPOT", inventoryId=None)
    world.visma.add_item("REIS", "Reistijd", type="LaborItem")
    run = world.run()

    summary = await masterdata(run)

    assert sorted(c["Number"] for c in world.simon.list("customer")) == ["10040", "10042"]
    assert sorted(i["Code"] for i in world.simon.list("item")) == ["REIS", "UUR"]
    assert summary.customers.done == summary.customers.total == 3
    assert (summary.customers.failed, summary.items.failed) == (1, 1)
    errors = list((await errors_by_key(run)).values())
    [customer] = [e for e in errors if e.table == LogTable.CUSTOMER]
    [item] = [e for e in errors if e.table == LogTable.ITEM]
    for entry, words in ((customer, ("10041", "Kapot B.V.")), (item, ("KAPOT", "Kapot artikel"))):
        assert entry.key.startswith(words[0]) and all(w in entry.message for w in words), entry
        assert entry.action and "Simon #" not in entry.message

    world.emulators.visma.clock.advance(600)
    world.visma.update_customer("10041", internalId=broken)
    await masterdata(run)
    assert world.simon_customer(broken) is not None
    # Fixed: its error is over (the item's is not).
    assert [e.key for e in await run.state.log.entries(Severity.ERROR, include_resolved=False)
            ] == [item.key]


# --- text from outside is data ----------------------------------------------------------------

async def test_lone_surrogates_arrive_as_replacement_characters(sqlite_world: World) -> None:
    """A lone UTF-16 surrogate (an emoji a .NET API cut in half) in a customer name and an item
    description reaches Simon as U+FFFD, in the customer, its work address and the item, and
    the pass completes."""
    world = sqlite_world
    dto = world.visma.add_customer("10050", "Loodgieter Lek\ud83d B.V.", address=KERKSTRAAT)
    world.visma.add_item("PAKKING", "Pakking \udc00 set", type="ServiceItem")
    run = world.run()

    await masterdata(run)

    customer = world.simon_customer(internal_id(dto))
    assert customer is not None and customer["Name"] == "Loodgieter Lek\ufffd B.V."
    [location] = world.locations_of(customer).values()
    assert location["Name"] == "Loodgieter Lek\ufffd B.V."
    [item] = world.simon.list("item")
    assert item["Description"] == "Pakking \ufffd set"
    assert await run.state.log.entries(Severity.WARNING) == []


async def test_hostile_text_as_names_addresses_and_descriptions(world: World) -> None:
    """Every string of the hostile-text data set as a customer name, in its address lines
    (alone and before a house number) and as an item description: the pass completes; each
    record arrives in Simon with the text as sent (lone surrogates as U+FFFD), or, where Simon
    refuses it (no name, longer than Simon holds), is one error naming it."""
    customers, items = {}, {}
    for n, (case, text) in enumerate(HOSTILE.items()):
        customers[case] = world.visma.add_customer(
            f"H{n:03d}", text,
            address={"addressLine1": text, "addressLine2": text, "postalCode": "1011 AB",
                     "city": "Amsterdam", "country": "NL"},
            invoice_address={"addressLine1": f"{text} 12 A", "addressLine3": text,
                             "postalCode": "1000 AA", "city": "Amsterdam", "country": "NL"})
        items[case] = world.visma.add_item(f"H{n:03d}", text, type="ServiceItem")
    run = world.run()

    summary = await masterdata(run)

    refused_customers = {"only whitespace", "empty string", "very long (10,000 characters)"}
    refused_items = {"very long (10,000 characters)"}
    errors = await errors_by_key(run)
    assert set(errors) == (
        {(LogTable.CUSTOMER, customers[c]["number"]) for c in refused_customers}
        | {(LogTable.ITEM, items[c]["inventoryNumber"]) for c in refused_items})
    assert summary.customers.failed == len(refused_customers)
    for case, text in HOSTILE.items():
        customer = world.simon_customer(internal_id(customers[case]))
        item = world.simon.by_ext_key("item", str(items[case]["inventoryId"]))
        if case in refused_customers:
            assert customer is None
        else:
            assert customer is not None and customer["Name"] == repaired_text(text), case
            assert len(world.locations_of(customer)) == 2, case
        if case in refused_items:
            assert item is None
        else:
            assert item is not None and item["Description"] == repaired_text(text), case
    assert (await masterdata(run)).simon_writes == 0  # and nothing differs the next time


# --- S-15 an interrupted first import reports its progress ------------------------------------

async def test_interrupted_first_import_summary_shows_progress(sqlite_world: World,
                                                              tmp_path: Path) -> None:
    """S-15: `simon-visma run --once --loop masterdata --json` on a first import that Visma.net
    stops on page 2 (a 500 on every attempt) exits 1 and prints a summary with ok false, the
    error, and how far the customers got: done of total."""
    world = sqlite_world
    world.emulators.visma.max_page_size = 100
    for code in ("UUR", "REIS", "VOORRIJ"):  # what the tenant's settings name: they are valid
        world.visma.add_item(code, code.title(), type="LaborItem")
    for n in range(250):
        world.visma.add_customer(None, f"Klant {n:03d}", address=KERKSTRAAT)
    for nth in range(2, 40):  # page 2, on every attempt there will be
        world.emulators.visma.faults.add("status", path=r"^/v1/customer$", method="GET",
                                        status=500, nth=nth)
    tenant, secrets = world.manifests()
    (tmp_path / "tenant.yaml").write_text(yaml.safe_dump(tenant))
    (tmp_path / "secrets.yaml").write_text(yaml.safe_dump_all(secrets))
    env = {k: v for k, v in os.environ.items() if k != "SIMON_VISMA_DATABASE_URL"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))

    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "reconcilers.cli", "run", "--tenant", "tenant.yaml",
        "--secrets", "secrets.yaml", "--database", f"sqlite:///{tmp_path / 'state.db'}",
        "--once", "--loop", "masterdata", "--json",
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(), 300)

    assert process.returncode == 1, stderr.decode()
    [line] = stdout.decode().splitlines()
    summary = json.loads(line)
    assert summary["settings"]["valid"] is True
    outcome = summary["loops"]["masterdata"]
    assert outcome["ok"] is False and "500" in outcome["error"]
    customers = outcome["customers"]
    assert customers["first_import"] is True
    assert (customers["done"], customers["total"]) == (100, 250)
    assert len(world.simon.list("customer")) == 100
