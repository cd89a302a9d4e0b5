"""The operator's tenant service through its `Kubernetes` seam, without a cluster (S-71 to
S-73, S-81): what a spec change does is what it means, and no more.

Each test serves one emulator-backed tenant (`served`, see conftest.py) with fast loops and
changes its spec the way `kubectl patch` does. What the service did is read where a user or
the APIs see it: the status it patched, the Events it posted, and the requests the emulators
got (a settings check asks Visma.net for its sales order types; new clients ask Visma Connect
for a token).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from reconcilers.resource.spec import VismaIntegrationSpec
from reconcilers.runtime.service import ACTIVATED, SpecChange, spec_change
from tests.runtime.conftest import ServedTenant, serving, wait_until

pytestmark = pytest.mark.anyio


def archive_work_order(served: ServedTenant, customer_number: str = "10023") -> dict[str, Any]:
    """A completed and archived work order in Simon on a customer from Visma.net and its main
    work address (after the first master-data pass)."""
    world = served.world

    def make() -> dict[str, Any]:
        internal_id = world.visma.customer_numbers[customer_number]
        customer = world.simon_customer(internal_id)
        assert customer is not None
        location = world.locations_of(customer)[f"{internal_id}/main"]
        order = world.simon.seed("workorder", CustomerId=customer["Id"],
                                 LocationId=location["Id"], Description="Cv-ketel onderhoud",
                                 WorkPerformed="Ketel gereinigd.", Status="InProgress",
                                 PlannedDate="2025-03-10")
        return world.simon.archive_work_order(order["Id"])

    return world.emulators.call(make)


def sales_orders(served: ServedTenant) -> list[dict[str, Any]]:
    """What Visma.net received as sales orders (the request bodies)."""
    world = served.world
    return [o["received"] for o in world.emulators.call(world.visma.received_sales_orders)]


# --- starting ---------------------------------------------------------------------------------

async def test_start_activates_checks_the_settings_and_runs_every_loop(
        served: ServedTenant) -> None:
    """S-72, S-71, S-81: the first start is the first activation (an Event, the wipe), one
    settings check, then every loop runs; status says so for the resource's generation."""
    cluster = served.cluster
    async with serving(served.service()) as service:
        await served.ready()
        assert service.loops_running
    assert served.settings_checks() == 1
    assert cluster.messages("Activated") == [ACTIVATED["first"]]
    assert cluster.reasons().count("Wiped") == 1
    assert cluster.observed()
    assert {c["type"] for c in cluster.status["conditions"]} == {
        "Active", "SettingsValid", "Synced", "CleanupHeld", "Ready"}
    assert cluster.condition_is("SettingsValid", "True", "SettingsValid")
    assert cluster.condition_is("Synced", "True", "ReconcileSuccess")
    assert cluster.condition_is("CleanupHeld", "False", "WithinRemovalLimit")
    assert cluster.status["masterData"]["customers"] == 2
    assert sorted(cluster.status["activation"]["wiped"]) == ["Customers", "Items", "WorkAddresses"]
    assert cluster.status["cleanup"]["nextRunTime"]


# --- what a spec change asks for ----------------------------------------------------------------

def _spec(**changes: Any) -> VismaIntegrationSpec:
    base: dict[str, Any] = {
        "visma": {"tenantId": "t-1", "credentialsSecretRef": {"name": "acme-visma"}},
        "simon": {"url": "https://simon.example/api",
                  "credentialsSecretRef": {"name": "acme-simon"}},
        "orders": {"documentType": "SalesOrder", "defaultWarehouse": "MAIN",
                   "workTimeItem": "UUR"},
    }
    for section, value in changes.items():
        base[section] = ({**base.get(section, {}), **value} if isinstance(value, dict)
                         else value)
    return VismaIntegrationSpec.model_validate(base)


@pytest.mark.parametrize(("changes", "expected"), [
    ({"orders": {"note": "None"}}, SpecChange()),
    ({"orders": {"customerReference": "WorkOrderNumber", "attachments": "Forms",
                 "skipWord": "NIET", "pdfSource": "Simon"}}, SpecChange()),
    ({"imports": {"salesOrders": {"enabled": True}}}, SpecChange()),
    ({"cleanup": {"maxRemovalPercent": 50}}, SpecChange()),
    ({"activation": {"wipeOnReactivation": ["Items"]}}, SpecChange()),
    ({"orders": {"workTimeItem": "UUR2"}}, SpecChange(checked=True)),
    ({"orders": {"fixedItem": "VOORRIJ"}}, SpecChange(checked=True)),
    ({"orders": {"defaultWarehouse": "BUS1"}}, SpecChange(checked=True)),
    ({"orders": {"warehouseByUser": {"jan@acme.example": "BUS1"}}}, SpecChange(checked=True)),
    ({"orders": {"documentType": "Invoice"}}, SpecChange(checked=True)),
    ({"visma": {"companyId": "1234567"}}, SpecChange(connection=True)),
    ({"visma": {"apiUrl": "https://erp.example"}}, SpecChange(connection=True)),
    ({"visma": {"credentialsSecretRef": {"name": "acme-visma-2"}}},
     SpecChange(connection=True)),
    ({"simon": {"url": "https://simon2.example/api"}}, SpecChange(connection=True)),
    ({"schedule": {"cleanup": "1h"}}, SpecChange(schedule=True)),
    ({"enabled": False}, SpecChange(disabling=True)),
])
def test_a_spec_change_asks_for_what_it_means(changes: dict[str, Any],
                                             expected: SpecChange) -> None:
    """S-70, S-71: only what the settings check reads asks for a check, only the connection
    for new clients, only the schedule for new due times; the rest the next pass reads."""
    assert spec_change(_spec(), _spec(**changes)) == expected
    if changes == {"enabled": False}:
        assert spec_change(_spec(**changes), _spec()) == SpecChange(enabling=True)


async def test_a_document_setting_applies_to_the_next_pass_without_a_restart(
        served: ServedTenant) -> None:
    """S-47, S-71: a new `orders.note` runs no settings check (no request for the order
    types, no new token), no activation and stops no loop; the next work order is sent with
    it, and status reports the new generation."""
    cluster = served.cluster
    async with serving(served.service()) as service:
        await served.ready()
        checks, tokens, events = served.settings_checks(), served.tokens(), len(cluster.events)
        loops = service._loops

        cluster.change_spec({"orders": {"note": "None"}})
        await wait_until(cluster.observed, "status for the new generation", cluster)
        work_order = archive_work_order(served)
        await wait_until(lambda: (cluster.status["orders"].get("sent") or 0) >= 1,
                         "the work order sent", cluster)

        assert service._loops is loops  # the same loops went on
    [order] = sales_orders(served)
    assert order["customer"]["order"] == f"SIMON-WO-{work_order['Id']}"
    assert order.get("note") is None  # the default would be the address and description
    assert (served.settings_checks(), served.tokens()) == (checks, tokens)
    assert cluster.events[events:] == []  # no Activated, no SettingsInvalid, nothing
    assert cluster.condition_is("Ready", "True")


async def test_a_checked_setting_is_checked_again_with_the_same_clients(
        served: ServedTenant) -> None:
    """S-71: `orders.workTimeItem` naming an item Visma.net does not have is checked at once:
    SettingsValid False naming the field, a Warning Event, work-order pushes wait (the loop
    fails, master data goes on); fixing it makes the tenant Ready again. Neither change
    activates again, and the clients stay (no new token)."""
    cluster = served.cluster
    async with serving(served.service()) as service:
        await served.ready()
        checks, tokens = served.settings_checks(), served.tokens()

        generation = cluster.change_spec({"orders": {"workTimeItem": "GEENUUR"}})
        await wait_until(lambda: cluster.condition_is("SettingsValid", "False",
                                                      "SettingsInvalid") and cluster.observed(),
                         "SettingsValid False", cluster)
        assert served.settings_checks() == checks + 1
        message = cluster.condition("SettingsValid")["message"]  # type: ignore[index]
        assert "spec.orders.workTimeItem" in message and "GEENUUR" in message
        assert cluster.condition_is("Ready", "False", "Unavailable")
        assert any("GEENUUR" in m for m in cluster.messages("SettingsInvalid"))
        await wait_until(lambda: cluster.messages("LoopFailed"), "the orders loop waiting",
                         cluster)
        assert cluster.messages("LoopFailed") == [
            "The orders loop could not complete: work-order pushes wait until the settings "
            f"check passes: {message}"]
        assert service.loops_running
        synced = await served.last_success("masterdata")

        async def synced_again() -> bool:
            return await served.last_success("masterdata") != synced

        await wait_until(synced_again, "master data going on", cluster)

        cluster.change_spec({"orders": {"workTimeItem": "UUR"}})
        await wait_until(lambda: cluster.condition_is("Ready", "True") and cluster.observed(),
                         "Ready again", cluster)
        await wait_until(lambda: cluster.messages("LoopRecovered"), "orders going on",
                         cluster)
    assert served.settings_checks() == checks + 2
    assert served.tokens() == tokens
    assert cluster.reasons().count("Activated") == 1
    assert generation < cluster.generation


async def test_a_new_connection_rebuilds_the_clients_and_checks_again(
        served: ServedTenant) -> None:
    """S-71, S-82: a new credentials Secret ref is read from the namespace, new clients get a
    token and the settings are checked again, without an activation; a ref to a Secret that
    is not there stops the loops with SecretInvalid."""
    cluster = served.cluster
    cluster.secrets["acme-visma-2"] = dict(cluster.secrets["demo-visma"])
    async with serving(served.service()) as service:
        await served.ready()
        checks, tokens = served.settings_checks(), served.tokens()

        cluster.change_spec({"visma": {"credentialsSecretRef": {"name": "acme-visma-2"}}})
        await wait_until(lambda: cluster.observed() and service.loops_running,
                         "the new connection in use", cluster)
        assert (served.settings_checks(), served.tokens()) == (checks + 1, tokens + 1)
        assert service.run is not None and service.run.settings is not None
        assert service.run.settings.valid
        assert cluster.reasons().count("Activated") == 1

        cluster.change_spec({"visma": {"credentialsSecretRef": {"name": "gone"}}})
        await wait_until(lambda: cluster.condition_is("SettingsValid", "False",
                                                      "SecretInvalid"), "SecretInvalid", cluster)
        assert not service.loops_running
        assert cluster.condition_is("Ready", "False", "SecretInvalid")
        assert "gone" in cluster.messages("SecretInvalid")[0]


async def test_disabling_stops_every_loop_at_once_and_enabling_activates_again(
        served: ServedTenant) -> None:
    """S-73: `enabled: false` stops every loop at once and nothing is fetched or sent; true
    is a re-activation (an Event, the wipe of `wipeOnReactivation`) and the loops resume."""
    cluster = served.cluster
    cluster.change_spec({"activation": {"wipeOnReactivation": ["Items"]}})
    async with serving(served.service()) as service:
        await served.ready()

        cluster.change_spec({"enabled": False})
        await wait_until(lambda: not service.loops_running and cluster.observed(),
                         "the loops stopped", cluster)
        assert cluster.condition_is("Active", "False", "Disabled")
        assert cluster.condition_is("Ready", "False", "Disabled")
        assert cluster.messages("Disabled") == [
            "spec.enabled is false: every loop stopped; nothing is fetched or sent until it is "
            "true again."]
        seen = served.requests()
        await asyncio.sleep(2.5)  # more than two intervals of the orders and master-data loops
        assert served.requests() == seen

        cluster.change_spec({"enabled": True})
        await wait_until(lambda: service.loops_running and cluster.condition_is(
            "Ready", "True") and cluster.observed(), "running again", cluster)
    assert cluster.messages("Activated") == [ACTIVATED["first"], ACTIVATED["reactivation"]]
    assert cluster.messages("Wiped")[-1].endswith(" Items.")
    assert cluster.status["activation"]["wiped"] == ["Items"]


# --- the schedule -------------------------------------------------------------------------------

async def test_a_shorter_interval_takes_effect_at_once(served: ServedTenant) -> None:
    """S-30: cleanup ran at the start and is due 48 hours later; changed to 1h it is due an
    hour after that pass (stored, and in status), not 48 hours; changed to 1s the waiting
    loop runs again now. Nothing else restarts."""
    cluster = served.cluster
    state = served.world.state
    async with serving(served.service()) as service:
        await served.ready()
        loops = service._loops
        before = await state.schedules.get("cleanup")
        assert before is not None and before.next_run_at is not None
        passed = before.next_run_at - timedelta(hours=48)  # the end of the first pass
        assert before.updated_at == passed

        cluster.change_spec({"schedule": {"cleanup": "1h"}})
        await wait_until(cluster.observed, "status for the new generation", cluster)
        after = await state.schedules.get("cleanup")
        assert after is not None
        assert after.next_run_at == passed + timedelta(hours=1)
        assert datetime.fromisoformat(cluster.status["cleanup"]["nextRunTime"]) == \
            after.next_run_at
        assert service._loops is loops

        cleaned = await served.last_success("cleanup")

        async def cleaned_again() -> bool:
            return await served.last_success("cleanup") != cleaned

        cluster.change_spec({"schedule": {"cleanup": "1s"}})
        await wait_until(cleaned_again, "another cleanup", cluster)
        assert service._loops is loops
    assert served.settings_checks() == 1


@pytest.mark.parametrize("notified", [True, False], ids=["notified", "polled"])
async def test_a_changed_secret_is_read_again_without_a_spec_change(
        served: ServedTenant, notified: bool) -> None:
    """A rotated Simon password, with no spec change: the Secrets are read again and the
    clients rebuilt (told by `secrets_changed()`, or seen at the next read of the Secrets);
    a wrong one makes Ready False naming the orders loop, the right one Ready again."""
    cluster = served.cluster
    simon = next(name for name in cluster.secrets if name.endswith("simon"))
    right = dict(cluster.secrets[simon])
    async with serving(served.service(secrets_poll=10.0 if notified else 0.05)) as service:
        await served.ready()
        generation, checks = cluster.generation, served.settings_checks()

        cluster.secrets[simon] = {**right, "password": "not-the-password"}
        if notified:
            service.secrets_changed()
        await wait_until(lambda: cluster.condition_is("Ready", "False")
                         and "orders loop" in (cluster.condition("Ready") or {}).get(
                             "message", ""), "Ready False naming the orders loop", cluster)
        assert served.settings_checks() > checks

        cluster.secrets[simon] = right
        if notified:
            service.secrets_changed()
        await wait_until(lambda: cluster.condition_is("Ready", "True"), "Ready again", cluster)
        assert cluster.generation == generation
        assert cluster.reasons().count("Activated") == 1
