"""Cleanup over real HTTP (SPEC S-30 to S-32): Simon follows what Visma.net deleted or no
longer mirrors, never removes what is in use, and never trusts an incomplete scan."""

from __future__ import annotations

from typing import Any

import pytest

from reconcilers.runner import TenantRun
from reconcilers.store import LinkKind, LogTable, Severity
from tests.integration.conftest import World

pytestmark = pytest.mark.anyio

KERKSTRAAT = {"addressLine1": "Kerkstraat 12 A", "postalCode": "1011 AB", "city": "Amsterdam",
              "country": "NL"}
POSTBUS = {"addressLine1": "Postbus 100", "postalCode": "1000 AA", "city": "Amsterdam",
           "country": "NL"}


async def masterdata(run: TenantRun) -> dict[str, Any]:
    outcome = await run.run_loop("masterdata")
    assert outcome.ok, outcome.error
    return outcome.summary


async def cleanup(run: TenantRun, *, ok: bool = True) -> dict[str, Any]:
    outcome = await run.run_loop("cleanup")
    assert outcome.ok is ok, outcome.error
    return outcome.summary


def seed_company(world: World) -> dict[str, dict[str, Any]]:
    """Two customers (Bakker with an invoice address) and two non-stock items."""
    return {
        "bakker": world.visma.add_customer("10023", "Bakker", address=KERKSTRAAT,
                                           invoice_address=POSTBUS),
        "smit": world.visma.add_customer("10024", "Smit", address=KERKSTRAAT),
        "uur": world.visma.add_item("UUR", "Arbeid", type="LaborItem"),
        "klein": world.visma.add_item("KLEIN", "Klein materiaal"),
    }


def simon_customer(world: World, dto: dict[str, Any]) -> dict[str, Any]:
    found = world.simon_customer(dto["internalId"])
    assert found is not None
    return found


def simon_item(world: World, dto: dict[str, Any]) -> dict[str, Any] | None:
    return world.simon.by_ext_key("item", str(dto["inventoryId"]))


async def test_cleanup_runs_on_its_own_schedule(sqlite_world: World) -> None:
    """S-30: cleanup is its own loop with a configurable interval (default 48 h); a pass
    compares Simon with a full scan of Visma.net (no lastModifiedDateTime filter) and its
    success is recorded for the schedule."""
    world = sqlite_world
    seed_company(world)
    run = world.run()
    assert run.tenant.spec.schedule.cleanup.total_seconds() == 48 * 3600
    assert world.run({"schedule": {"cleanup": "72h"}}).tenant.spec.schedule.cleanup \
        .total_seconds() == 72 * 3600
    await masterdata(run)
    world.proxy.clear()

    summary = await cleanup(run)

    assert summary["incomplete"] == []
    for path in ("/v1/customer", "/v1/inventory"):
        [scan] = world.proxy.requests(path)
        assert scan.param("lastModifiedDateTime") is None
    schedule = await run.state.schedules.get("cleanup")
    assert schedule is not None and schedule.last_success_at is not None


async def test_customer_deleted_in_visma_is_removed_with_its_work_addresses(
        world: World) -> None:
    """S-31: a customer deleted in Visma.net goes from Simon, every work address of it first
    (ours and one a user added); another customer, its user-made work address and a work
    address without a customer stay."""
    made = seed_company(world)
    run = world.run()
    await masterdata(run)
    bakker, smit = simon_customer(world, made["bakker"]), simon_customer(world, made["smit"])
    world.simon.seed("location", Name="Bakker schuur", CustomerId=bakker["Id"])
    kept_user_location = world.simon.seed("location", Name="Smit garage", CustomerId=smit["Id"])
    orphan = world.simon.seed("location", Name="Losse locatie", Street="Dorpsweg")
    assert len(world.locations_of(bakker)) == 3

    world.visma.delete_customer("10023")
    summary = await cleanup(run)

    assert world.simon.get("customer", bakker["Id"]) is None
    assert world.locations_of(bakker) == {}
    assert (summary["customersRemoved"], summary["workAddressesRemoved"]) == (1, 3)
    assert world.simon.get("customer", smit["Id"]) is not None
    assert set(world.locations_of(smit)) == {f"{made['smit']['internalId']}/main",
                                             "Smit garage"}
    assert world.simon.get("location", kept_user_location["Id"]) == kept_user_location
    assert world.simon.get("location", orphan["Id"]) == orphan
    key = str(made["bakker"]["internalId"])
    assert await run.state.links.get(LinkKind.CUSTOMER, key) is None
    assert await run.state.links.get(LinkKind.LOCATION, f"{key}/invoice") is None


async def test_deactivated_customer_is_removed(sqlite_world: World) -> None:
    """S-31: a customer now Inactive (no longer mirrored by S-10) is removed at cleanup,
    with its work addresses."""
    world = sqlite_world
    made = seed_company(world)
    run = world.run()
    await masterdata(run)
    bakker = simon_customer(world, made["bakker"])

    world.server.visma.clock.advance(60)
    world.visma.deactivate_customer("10023")
    await masterdata(run)  # the pass itself does not remove: that is the cleanup's job
    assert world.simon.get("customer", bakker["Id"]) is not None
    await cleanup(run)

    assert world.simon.get("customer", bakker["Id"]) is None
    assert world.locations_of(bakker) == {}
    assert world.simon_customer(made["smit"]["internalId"]) is not None


async def test_items_no_longer_mirrored_are_removed(sqlite_world: World) -> None:
    """S-31: an item switched from non-stock to stock, an item made inactive and an item
    deleted in Visma.net are removed at cleanup; a mirrored item stays."""
    world = sqlite_world
    made = seed_company(world)
    reis = world.visma.add_item("REIS", "Reistijd", type="LaborItem")
    oud = world.visma.add_item("OUD", "Oud artikel", type="ServiceItem")
    run = world.run()
    await masterdata(run)
    assert len(world.simon.list("item")) == 4

    world.server.visma.clock.advance(60)
    world.visma.update_item("KLEIN", type="FinishedGoodItem")
    world.visma.deactivate_item("REIS")
    world.visma.delete_item("OUD")
    await masterdata(run)
    assert len(world.simon.list("item")) == 4  # still there until the cleanup
    summary = await cleanup(run)

    assert [i["Code"] for i in world.simon.list("item")] == ["UUR"]
    assert summary["itemsRemoved"] == 3
    for dto in (made["klein"], reis, oud):
        assert simon_item(world, dto) is None
        assert await run.state.links.get(LinkKind.ITEM, str(dto["inventoryId"])) is None


async def test_records_made_in_simon_are_removed(sqlite_world: World) -> None:
    """S-31: a Customer (with its work address) and an Item made in Simon itself (empty
    ExtKey) are removed; a Location without a customer stays."""
    world = sqlite_world
    seed_company(world)
    run = world.run()
    await masterdata(run)
    own_customer = world.simon.seed("customer", Name="Eigen klant")
    own_location = world.simon.seed("location", Name="Eigen klant", CustomerId=own_customer["Id"])
    own_item = world.simon.seed("item", Code="EIGEN", Description="Eigen artikel")
    orphan = world.simon.seed("location", Name="Zonder klant")

    summary = await cleanup(run)

    assert world.simon.get("customer", own_customer["Id"]) is None
    assert world.simon.get("location", own_location["Id"]) is None
    assert world.simon.get("item", own_item["Id"]) is None
    assert world.simon.get("location", orphan["Id"]) == orphan
    assert (summary["customersRemoved"], summary["itemsRemoved"]) == (1, 1)
    assert len(world.simon.list("customer")) == 2 and len(world.simon.list("item")) == 2


async def test_records_in_use_stay_until_the_work_order_is_archived(world: World) -> None:
    """S-32: a deleted customer whose work address an open work order uses, and a deleted
    item booked on it, are not forced: each gives a warning in the integration log and
    stays; after the work order is archived the next cleanup removes them."""
    made = seed_company(world)
    run = world.run()
    await masterdata(run)
    bakker = simon_customer(world, made["bakker"])
    key = made["bakker"]["internalId"]
    main = world.locations_of(bakker)[f"{key}/main"]
    item = simon_item(world, made["klein"])
    assert item is not None
    order = world.simon.seed("workorder", LocationId=main["Id"], CustomerId=bakker["Id"],
                             Description="Cv-ketel onderhoud")
    world.simon.seed("useditem", WorkOrderId=order["Id"], ItemId=item["Id"], Quantity=2)

    world.visma.delete_customer("10023")
    world.visma.delete_item("KLEIN")
    summary = await cleanup(run)

    assert world.simon.get("customer", bakker["Id"]) is not None
    assert world.simon.get("location", main["Id"]) is not None
    assert world.simon.get("item", item["Id"]) is not None
    assert summary["keptInUse"] >= 2
    assert (summary["customersRemoved"], summary["itemsRemoved"]) == (0, 0)
    warnings = await run.state.log.entries(Severity.WARNING)
    tables = {(w.table, w.key) for w in warnings}
    assert (LogTable.CUSTOMER, "10023") in tables
    assert (LogTable.ITEM, "KLEIN") in tables
    assert (LogTable.WORK_ADDRESS, "Bakker") in tables
    assert all(w.action for w in warnings)

    again = await cleanup(run)  # still open: still kept, the warnings stay single entries
    assert (again["customersRemoved"], again["itemsRemoved"]) == (0, 0)
    assert len(await run.state.log.entries(Severity.WARNING)) == len(warnings)

    world.simon.archive_work_order(order["Id"])
    summary = await cleanup(run)

    assert world.simon.get("customer", bakker["Id"]) is None
    assert world.simon.get("location", main["Id"]) is None
    assert world.simon.get("item", item["Id"]) is None
    assert (summary["customersRemoved"], summary["itemsRemoved"]) == (1, 1)


async def test_work_address_in_use_is_removed_by_a_later_cleanup(sqlite_world: World) -> None:
    """S-11, S-32: a work address whose Visma.net address emptied while an open work order
    used it stays with a warning; once the work order is archived the next cleanup removes
    it (the customer itself is unchanged in Visma.net, so no master-data pass reads it)."""
    world = sqlite_world
    made = seed_company(world)
    run = world.run()
    await masterdata(run)
    bakker = simon_customer(world, made["bakker"])
    key = f"{made['bakker']['internalId']}/invoice"
    invoice = world.locations_of(bakker)[key]
    order = world.simon.seed("workorder", LocationId=invoice["Id"], CustomerId=bakker["Id"])

    world.server.visma.clock.advance(60)
    world.visma.update_customer("10023", invoice_address={})
    await masterdata(run)
    assert world.simon.get("location", invoice["Id"]) is not None
    # A later change elsewhere moves the customers' mark past Bakker's change (and its
    # overlap), so from then on no master-data pass reads Bakker again.
    world.server.visma.clock.advance(3600)
    world.visma.update_customer("10024", phone="030-1111111")
    await masterdata(run)
    await cleanup(run)
    assert world.simon.get("location", invoice["Id"]) is not None

    world.simon.archive_work_order(order["Id"])
    await masterdata(run)
    assert world.simon.get("location", invoice["Id"]) is not None
    summary = await cleanup(run)

    assert world.simon.get("location", invoice["Id"]) is None
    assert summary["workAddressesRemoved"] == 1 and summary["customersRemoved"] == 0
    assert set(world.locations_of(bakker)) == {f"{made['bakker']['internalId']}/main"}
    assert await run.state.links.get(LinkKind.LOCATION, key) is None


async def test_incomplete_customer_scan_removes_no_customer(world: World) -> None:
    """S-32: when the Visma.net customer scan fails (a 500 on every attempt), no customer and
    no work address is removed in that pass and a warning is logged, while items are still
    judged by their own, complete scan."""
    made = seed_company(world)
    run = world.run()
    await masterdata(run)
    bakker = simon_customer(world, made["bakker"])
    world.simon.seed("customer", Name="Eigen klant")
    world.visma.delete_customer("10023")
    world.visma.delete_item("KLEIN")
    world.server.visma.faults.add("status", path=r"^/v1/customer$", method="GET", status=500,
                                  times=3)
    deletes_before = (world.simon.write_count("customer", "delete"),
                      world.simon.write_count("location", "delete"))

    summary = await cleanup(run, ok=False)

    assert summary["incomplete"] == ["customers"]
    assert (world.simon.write_count("customer", "delete"),
            world.simon.write_count("location", "delete")) == deletes_before
    assert world.simon.get("customer", bakker["Id"]) is not None
    assert len(world.locations_of(bakker)) == 2
    assert len(world.simon.list("customer")) == 3
    assert simon_item(world, made["klein"]) is None
    assert summary["itemsRemoved"] == 1
    warnings = await run.state.log.entries(Severity.WARNING, table=LogTable.CUSTOMER)
    assert any("incomplete" in w.message and "Nothing was removed" in w.message
               for w in warnings)

    summary = await cleanup(run)  # Visma.net answers again: now the customers follow
    assert world.simon.get("customer", bakker["Id"]) is None
    assert summary["customersRemoved"] == 2
