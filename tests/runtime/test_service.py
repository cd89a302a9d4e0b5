"""The operator's tenant service through its `Kubernetes` seam, without a cluster (S-71 to
S-73, S-81): what a spec change does is what it means, and no more.

Each test serves one emulator-backed tenant (`served`, see conftest.py) with fast loops and
changes its spec the way `kubectl patch` does. What the service did is read where a user or
the APIs see it: the status it patched, the Events it posted, and the requests the emulators
got (a settings check asks Visma.net for its sales order types; new clients ask Visma Connect
for a token).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from reconcilers.resource.spec import VismaIntegrationSpec
from reconcilers.runtime.schedule import DUE
from reconcilers.runtime.secret_index import SecretIndex
from reconcilers.runtime.service import (
    ACTIVATED,
    RUN_REQUESTED_ANNOTATION,
    SpecChange,
    TenantService,
    spec_change,
)
from tests.fixtures.emulators import FAST
from tests.runtime.conftest import Cluster, ServedTenant, serving, wait_until

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


def request_run(cluster: Cluster, value: str) -> None:
    """`kubectl annotate --overwrite` of the run-now annotation: no new generation."""
    annotations = cluster.resource["metadata"].setdefault("annotations", {})
    annotations[RUN_REQUESTED_ANNOTATION] = value
    cluster.changes.notify()


async def run_now(served: ServedTenant, value: str) -> None:
    """Ask for a pass of every loop now and wait until status says it was handled."""
    request_run(served.cluster, value)
    await wait_until(lambda: served.cluster.status.get("lastRunRequest") == value,
                     f"the run request {value} handled", served.cluster)


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
        await run_now(served, "after-the-note-changed")
        assert cluster.status["orders"].get("sent") == 1

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
            f"check passes: {message}."]
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
        await run_now(served, "while-disabled")  # answered at once: no loop may run
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
    hour after that pass (stored, and in status), not 48 hours; changed to 10s the waiting
    loop runs again within seconds. Nothing else restarts."""
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

        cluster.change_spec({"schedule": {"cleanup": "10s"}})
        await wait_until(cleaned_again, "another cleanup", cluster)
        assert service._loops is loops
    assert served.settings_checks() == 1


async def test_a_changed_secret_is_read_again_without_a_spec_change(
        served: ServedTenant) -> None:
    """A rotated Simon password, with no spec change: told by the operator's watch
    (`secrets_changed()`), the service reads the Secrets again and rebuilds the clients; a
    wrong password makes Ready False naming the orders loop, the right one Ready again."""
    cluster = served.cluster
    simon = next(name for name in cluster.secrets if name.endswith("simon"))
    right = dict(cluster.secrets[simon])
    async with serving(served.service()) as service:
        await served.ready()
        generation, checks = cluster.generation, served.settings_checks()

        cluster.secrets[simon] = {**right, "password": "not-the-password"}
        service.secrets_changed()
        await wait_until(lambda: cluster.condition_is("Ready", "False")
                         and "orders loop" in (cluster.condition("Ready") or {}).get(
                             "message", ""), "Ready False naming the orders loop", cluster)
        assert served.settings_checks() > checks
        assert f"fix the Secret {simon}" in cluster.condition("Ready")["message"]  # type: ignore[index]
        assert any(f"fix the Secret {simon} (keys username, password and licenseKey)" in m
                   for m in cluster.messages("LoopFailed")), cluster.messages("LoopFailed")

        cluster.secrets[simon] = right
        service.secrets_changed()
        await wait_until(lambda: cluster.condition_is("Ready", "True"), "Ready again", cluster)
        assert cluster.generation == generation
        assert cluster.reasons().count("Activated") == 1


async def test_a_wrong_password_at_the_first_start_is_shown_and_tried_again(
        served: ServedTenant) -> None:
    """S-72, S-82: with a wrong Simon password the first activation's wipe is refused; the
    service does not end: Ready is False (StartFailed) naming the Secret to fix, and once the
    Secret is fixed the start is tried again, the wipe done and the tenant Ready."""
    cluster = served.cluster
    simon = next(name for name in cluster.secrets if name.endswith("simon"))
    right = dict(cluster.secrets[simon])
    cluster.secrets[simon] = {**right, "password": "not-the-password"}
    async with serving(served.service()) as service:
        await wait_until(lambda: cluster.condition_is("Ready", "False", "StartFailed"),
                         "Ready False (StartFailed)", cluster)
        message = cluster.condition("Ready")["message"]  # type: ignore[index]
        assert f"fix the Secret {simon} (keys username, password and licenseKey)" in message
        assert "not-the-password" not in str(cluster.resource["status"])
        assert "StartFailed" in cluster.reasons()

        cluster.secrets[simon] = right
        service.secrets_changed()
        await served.ready()
        assert "Wiped" in cluster.reasons()


async def test_a_secret_change_that_changes_no_data_reconnects_nothing(
        served: ServedTenant) -> None:
    """The watch tells of any change to a Secret (its labels, a re-apply of the same data):
    the service reads the Secrets again but keeps its clients when the data is the same (no
    new token, no settings check)."""
    cluster = served.cluster
    async with serving(served.service()) as service:
        await served.ready()
        checks, tokens, loops = served.settings_checks(), served.tokens(), service._loops
        service.secrets_changed()
        await wait_until(lambda: not service._secrets_dirty, "the Secrets read again", cluster)
        await run_now(served, "after-the-secret-event")  # a full round of passes later
        assert (served.settings_checks(), served.tokens()) == (checks, tokens)
        assert service._loops is loops


async def test_the_service_names_its_secrets_for_the_watch(served: ServedTenant) -> None:
    """The operator's Secret watch reaches a tenant through the index: the service names its
    two Secrets when it starts, the new one when a ref changes, and none once stopped."""
    cluster = served.cluster
    cluster.secrets["acme-visma-2"] = dict(cluster.secrets["demo-visma"])
    index = SecretIndex()
    service = TenantService(cluster.kubernetes(), served.world.store, FAST, poll_seconds=0.02,
                            secret_index=index)
    namespace = cluster.resource["metadata"]["namespace"]
    async with serving(service):
        await wait_until(lambda: index.referenced(namespace, "demo-visma"), "the index filled",
                         cluster)
        assert index.referenced(namespace, "demo-simon")
        assert not index.referenced("elsewhere", "demo-visma")
        await served.ready()
        cluster.change_spec({"visma": {"credentialsSecretRef": {"name": "acme-visma-2"}}})
        await wait_until(lambda: index.referenced(namespace, "acme-visma-2"),
                         "the new Secret named", cluster)
        assert not index.referenced(namespace, "demo-visma")
        assert index.changed(namespace, "acme-visma-2") == 1
        assert index.changed(namespace, "demo-visma") == 0
    assert not index.referenced(namespace, "acme-visma-2")
    assert not index.referenced(namespace, "demo-simon")


async def test_a_change_the_watch_tells_is_followed_at_once(served: ServedTenant) -> None:
    """The service looks at its resource when the operator's watch tells it of a change, not
    on a short poll (a thousand tenants polling every second kept one core busy): with an hour
    between polls, a run request and a spec change are still followed at once."""
    cluster = served.cluster
    service = TenantService(cluster.kubernetes(), served.world.store, FAST, poll_seconds=3600,
                            recheck=timedelta(seconds=1))
    async with serving(service):
        await served.ready()
        await run_now(served, "told")
        cluster.change_spec({"enabled": False})
        await wait_until(lambda: cluster.condition_is("Active", "False", "Disabled"),
                         "the tenant disabled", cluster)


# --- run now --------------------------------------------------------------------------------

async def test_a_run_request_runs_every_loop_now_even_cleanup(served: ServedTenant) -> None:
    """A new value of the run-now annotation (no spec change, no new generation) runs every
    loop once now, the 48-hour cleanup too; status.lastRunRequest says it was handled once
    each loop completed that pass. The same value again runs nothing."""
    cluster = served.cluster
    async with serving(served.service()) as service:
        await served.ready()
        before = {loop: await served.last_success(loop)
                  for loop in ("masterdata", "cleanup", "orders", "imports")}
        generation = cluster.generation

        await run_now(served, "2031-05-06T12:00:00Z")
        for loop, passed in before.items():
            assert await served.last_success(loop) != passed, loop
        assert cluster.generation == generation
        cleanup = await served.world.state.schedules.get("cleanup")
        assert cleanup is not None and cleanup.next_run_at is not None
        assert cleanup.next_run_at - cleanup.updated_at == timedelta(hours=48)
        requested = service._wakeup.requested

        request_run(cluster, "2031-05-06T12:00:00Z")  # the same value, written again
        await run_now(served, "witness")  # the next request: the one before was not new
        assert service._wakeup.requested == requested + 1


async def test_a_restart_does_not_run_again_for_a_request_already_handled(
        served: ServedTenant) -> None:
    """status.lastRunRequest survives the operator: a service started on a resource whose
    annotation it already answered runs nothing extra (the 48-hour cleanup stays put)."""
    cluster = served.cluster
    async with serving(served.service()):
        await served.ready()
        await run_now(served, "once")
    cleaned = await served.last_success("cleanup")
    key = f"{cluster.resource['metadata']['namespace']}/{cluster.resource['metadata']['name']}"

    async with serving(served.service()) as service:
        await wait_until(lambda: service.loops_running and (key, "cleanup") in DUE,
                         "the loops running again", cluster)
        await wait_until(lambda: cluster.observed() and service._run_request is None,
                         "the annotation looked at", cluster)
        assert service._wakeup.requested == 0
        assert service.run_request_handled == "once"
        await run_now(served, "twice")  # and a new value does run
    assert await served.last_success("cleanup") != cleaned


async def test_a_run_request_starts_a_waiting_tenant_again_at_once(
        served: ServedTenant) -> None:
    """A tenant whose Secret was missing retries its start every minute (here: a second); a
    run request tries it at once, and is answered once the loops, started, ran."""
    cluster = served.cluster
    simon = next(name for name in cluster.secrets if name.endswith("simon"))
    secret = cluster.secrets.pop(simon)
    service = TenantService(cluster.kubernetes(), served.world.store, FAST, poll_seconds=0.02,
                            recheck=timedelta(hours=1))
    async with serving(service):
        await wait_until(lambda: cluster.condition_is("Ready", "False", "SecretInvalid"),
                         "SecretInvalid", cluster)
        cluster.secrets[simon] = secret
        await run_now(served, "the-secret-is-there-now")
        assert service.loops_running
        assert cluster.condition_is("Ready", "True")


