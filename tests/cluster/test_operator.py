"""The operator as a process against the real kube-apiserver, with both emulators behind it.

Each test starts `kopf run operator/main.py --all-namespaces --standalone` with its own SQLite
database (tests/cluster/operator_process.py), applies a tenant the way a platform team does and
reads the outcome the way a user does: `kubectl get vismaintegrations`, status conditions,
Events, the emulators' state. Every test also checks that no secret value (Visma.net client
secret, Simon licence key and password) shows up in the operator's output, in an Event or in
the resource (S-82).
"""

from __future__ import annotations

import re
import socket
from typing import Any

import pytest

from emulators.server import EmulatorServer
from emulators.simon.data import add_work_orders
from tests.cluster.conftest import (
    FINALIZER,
    EmulatedTenant,
    Kube,
    assert_no_secret_leaks,
    condition,
    condition_is,
    emulated_tenant,
    wait_event,
    wait_for,
    wait_passes,
    wait_ready,
    wait_until,
)
from tests.cluster.operator_process import OperatorProcess

pytestmark = pytest.mark.cluster

MIRRORED_CUSTOMER_STATUSES = {"Active", "OnHold", "CreditHold"}


# --------------------------------------------------------------------------- helpers


def assert_conditions_observe_generation(obj: dict[str, Any],
                                         only: tuple[str, ...] | None = None) -> None:
    """status.observedGeneration and the conditions' observedGeneration are the resource's
    generation (for `only` these conditions; the others may be older, never newer)."""
    generation = obj["metadata"]["generation"]
    assert obj["status"]["observedGeneration"] == generation
    for c in obj["status"]["conditions"]:
        if only is None or c["type"] in only:
            assert c["observedGeneration"] == generation, c
        else:
            assert c["observedGeneration"] <= generation, c


def table_row(kube: Kube, tenant: EmulatedTenant) -> dict[str, str]:
    """`kubectl get vismaintegrations` as a user sees it: column name -> cell."""
    header, *rows = kube.kubectl("get", "vismaintegrations", "-n",
                                 tenant.namespace).stdout.splitlines()
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    names = header.split()
    (row,) = [r for r in rows if r.split()[0] == tenant.name]
    cells = [row[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
    return dict(zip(names, cells, strict=True))


def archive_work_order(server: EmulatorServer, seed: int = 7,
                       with_used_items: bool = True) -> dict[str, Any]:
    """One completed and archived work order on a customer that came from Visma.net (the
    generator picks one of the Simon customers there are; after the first master-data pass all
    of them have an ExtKey)."""

    def make() -> dict[str, Any]:
        assert all(c["ExtKey"] for c in server.simon.list("customer"))
        if with_used_items:
            (order,) = add_work_orders(server.simon, 1, seed, skip_share=0,
                                       without_customer_share=0)
            return order
        (order,) = add_work_orders(server.simon, 1, seed, archived=False, skip_share=0,
                                   without_customer_share=0)
        for used in server.simon.list("useditem"):
            if used["WorkOrderId"] == order["Id"]:
                server.simon.store.delete("useditem", used["Id"], count=False)
        return server.simon.archive_work_order(order["Id"])

    return server.call(make)


def requests_seen(server: EmulatorServer) -> int:
    return server.call(lambda: server.visma.stats.total + server.simon.stats.total)


def sales_orders(tenant: EmulatedTenant) -> list[dict[str, Any]]:
    return tenant.server.call(lambda: tenant.company().received_sales_orders())


# --------------------------------------------------------------------------- tests


def test_tenant_goes_from_apply_to_ready_and_sends_archived_work_orders(
    kube: Kube, namespace: str, emulators: EmulatorServer, operator: OperatorProcess
) -> None:
    """S-81 status and columns, S-72 first activation, S-10/S-12 master data, S-40 push,
    liveness and metrics; S-82 no leaks."""
    tenant = emulated_tenant(emulators, namespace, customers=15, items=10)
    kube.apply(*tenant.manifests())

    obj = wait_ready(kube, tenant, operator)
    assert FINALIZER in obj["metadata"]["finalizers"]
    assert_conditions_observe_generation(obj)
    status = obj["status"]
    for kind in ("Active", "SettingsValid", "Synced", "Ready"):
        assert condition_is(obj, kind, "True"), kind
    mirrored = emulators.call(lambda: sum(
        1 for c in tenant.company().customers.values()
        if c.dto["status"] in MIRRORED_CUSTOMER_STATUSES))
    simon_customers = emulators.call(emulators.simon.list, "customer")
    simon_items = emulators.call(emulators.simon.list, "item")
    assert status["masterData"]["customers"] == len(simon_customers) == mirrored > 0
    assert status["masterData"]["items"] == len(simon_items) > 0
    assert all(c["ExtKey"] for c in simon_customers)  # S-72: the Simon-made ones were wiped
    assert sorted(status["activation"]["wiped"]) == ["Customers", "Items", "WorkAddresses"]
    assert status["masterData"]["lastSuccessTime"]

    row = table_row(kube, tenant)
    assert row["ACTIVE"] == "True" and row["READY"] == "True"
    assert row["CUSTOMERS"] == str(status["masterData"]["customers"])
    assert row["ITEMS"] == str(status["masterData"]["items"])
    assert re.fullmatch(r"\d+s", row["LAST-SYNC"]), row
    assert re.fullmatch(r"\d+[sm]", row["AGE"]), row

    activated = wait_event(kube, tenant, operator, "Activated", "first")
    wiped = wait_event(kube, tenant, operator, "Wiped")
    assert all(kind in wiped["message"] for kind in ("Customers", "Items", "WorkAddresses"))
    # Events come From simon-visma (kubectl describe), the instance is the operator's host.
    for event in (activated, wiped):
        assert event["source"]["component"] == "simon-visma"
        assert event["reportingComponent"] == "simon-visma"
        assert event["reportingInstance"] == socket.gethostname()

    # An archived work order becomes one sales order in Visma.net (S-40) at the next pass.
    before = len(sales_orders(tenant))
    order = archive_work_order(emulators)
    obj = kube.run_now(namespace, tenant.name)
    assert obj["status"]["orders"]["sent"] == 1
    received = sales_orders(tenant)
    assert len(received) == before + 1
    sent = received[-1]["received"]
    assert sent["customer"]["order"] == f"SIMON-WO-{order['Id']}"  # the operator's marker
    customer_id = order["CustomerId"] or emulators.call(
        emulators.simon.get, "location", order["LocationId"])["CustomerId"]
    customer = emulators.call(emulators.simon.get, "customer", customer_id)
    visma_customer = emulators.call(lambda: tenant.company().customers[int(customer["ExtKey"])])
    assert sent["customer"]["id"] == visma_customer.dto["number"]
    assert obj["status"]["orders"]["lastSuccessTime"]
    assert re.fullmatch(r"\d+s", table_row(kube, tenant)["LAST-PUSH"])

    # The liveness endpoint answers; the metrics port serves the tenant's loop runs.
    status_code, _ = operator.liveness()
    assert status_code == 200
    metrics = operator.metrics()
    for loop in ("masterdata", "orders", "cleanup", "imports"):
        pattern = (rf'^simon_visma_loop_runs_total\{{loop="{loop}",'
                   rf'name="{re.escape(tenant.name)}",'
                   rf'namespace="{re.escape(tenant.namespace)}"\}} ([0-9.]+)$')
        found = re.search(pattern, metrics, re.MULTILINE)
        assert found and float(found.group(1)) >= 1, (loop, metrics[-2000:])

    assert_no_secret_leaks(kube, operator, [namespace], tenant)


def test_disabling_stops_every_loop_and_enabling_resumes(
    kube: Kube, namespace: str, emulators: EmulatorServer, operator: OperatorProcess
) -> None:
    """S-73: enabled false stops everything at once; true resumes, wipes per
    wipeOnReactivation (S-72) and sends the work orders archived meanwhile."""
    tenant = emulated_tenant(emulators, namespace,
                             spec={"activation": {"wipeOnReactivation": ["Items"]}})
    kube.apply(*tenant.manifests())
    wait_ready(kube, tenant, operator)

    kube.patch_spec(namespace, tenant.name, {"enabled": False})
    obj = wait_until(kube, tenant, operator, "Active=False",
                     lambda o: condition_is(o, "Active", "False", "Disabled"))
    assert condition_is(obj, "Ready", "False", "Disabled")
    # Settings are not checked while disabled: SettingsValid and Synced keep the generation
    # they were last set for.
    assert_conditions_observe_generation(obj, only=("Active", "Ready"))
    assert row_cells(kube, tenant)[:2] == ("False", "False")
    wait_event(kube, tenant, operator, "Disabled")

    # Nothing is fetched or sent while disabled, not even when a run is asked for (it is
    # answered at once: no loop may run), nor on the schedule: a witness tenant of the same
    # operator, on emulators of its own, becomes Ready (any request of ours still on the wire
    # has arrived by then) and runs two more orders passes meanwhile, more than an interval.
    with EmulatorServer() as elsewhere:
        witness = emulated_tenant(elsewhere, namespace, "witness")
        kube.apply(*witness.manifests())
        wait_ready(kube, witness, operator)
        seen = requests_seen(emulators)
        order = archive_work_order(emulators, with_used_items=False)
        kube.run_now(namespace, tenant.name)
        wait_passes(operator, witness.key, "orders", 2)
        assert requests_seen(emulators) == seen
        assert (kube.vi(namespace, tenant.name) or {})["status"]["orders"].get("sent") == 0
        assert kube.delete_vi(namespace, witness.name).returncode == 0

    items_before = len(emulators.call(emulators.simon.list, "item"))
    kube.patch_spec(namespace, tenant.name, {"enabled": True})
    obj = wait_until(kube, tenant, operator, "re-activated, Ready and the waiting order sent",
                     lambda o: condition_is(o, "Active", "True") and condition_is(
                         o, "Ready", "True") and o["status"]["orders"].get("sent") == 1)
    assert_conditions_observe_generation(obj)
    assert obj["status"]["activation"]["wiped"] == ["Items"]
    wait_event(kube, tenant, operator, "Wiped", f"from Simon: {items_before} Items.")
    wait_event(kube, tenant, operator, "Activated", "reactivation")
    # The wiped items came back from Visma.net, and the waiting work order went out.
    assert len(emulators.call(emulators.simon.list, "item")) == items_before
    markers = [o["received"]["customer"].get("order") for o in sales_orders(tenant)]
    assert markers.count(f"SIMON-WO-{order['Id']}") == 1
    assert requests_seen(emulators) > seen

    assert_no_secret_leaks(kube, operator, [namespace], tenant)


def row_cells(kube: Kube, tenant: EmulatedTenant) -> tuple[str, str]:
    row = table_row(kube, tenant)
    return row["ACTIVE"], row["READY"]


def test_settings_change_reruns_the_settings_check(
    kube: Kube, namespace: str, emulators: EmulatorServer, operator: OperatorProcess
) -> None:
    """S-71: a spec change is checked against Visma.net again; a missing item is a clear
    condition and Event naming the field; fixing it makes the tenant Ready again."""
    tenant = emulated_tenant(emulators, namespace)
    kube.apply(*tenant.manifests())
    wait_ready(kube, tenant, operator)

    changed = kube.patch_spec(namespace, tenant.name, {"orders": {"workTimeItem": "GEENUUR"}})
    generation = changed["metadata"]["generation"]
    obj = wait_until(kube, tenant, operator, "SettingsValid=False",
                     lambda o: condition_is(o, "SettingsValid", "False")
                     and condition(o, "SettingsValid")["observedGeneration"] == generation)
    valid = condition(obj, "SettingsValid")
    assert valid is not None
    assert valid["reason"] == "SettingsInvalid"
    assert "spec.orders.workTimeItem" in valid["message"] and "GEENUUR" in valid["message"]
    ready = condition(obj, "Ready")
    assert ready is not None and ready["status"] == "False"
    assert "spec.orders.workTimeItem" in ready["message"]
    assert_conditions_observe_generation(obj)
    assert row_cells(kube, tenant) == ("True", "False")
    event = wait_event(kube, tenant, operator, "SettingsInvalid")
    assert event["type"] == "Warning"
    assert "spec.orders.workTimeItem" in event["message"]

    kube.patch_spec(namespace, tenant.name, {"orders": {"workTimeItem": "UUR"}})
    obj = wait_ready(kube, tenant, operator)
    assert condition_is(obj, "SettingsValid", "True", "SettingsValid")
    assert_conditions_observe_generation(obj)

    assert_no_secret_leaks(kube, operator, [namespace], tenant)


def test_deleting_the_resource_forgets_the_tenant_and_keeps_all_data(
    kube: Kube, namespace: str, emulators: EmulatorServer, operator: OperatorProcess
) -> None:
    """S-74: deletion completes (the finalizer goes), the operator's own state for the tenant
    is gone, nothing is deleted in Simon or Visma.net."""
    tenant = emulated_tenant(emulators, namespace)
    kube.apply(*tenant.manifests())
    obj = wait_ready(kube, tenant, operator)
    assert obj["metadata"]["finalizers"] == [FINALIZER]
    archive_work_order(emulators)
    assert kube.run_now(namespace, tenant.name)["status"]["orders"]["sent"] == 1
    assert tenant.key in operator.stored_tenants()

    def data() -> dict[str, int]:
        company = tenant.company()
        counts = {t: len(emulators.simon.list(t)) for t in
                  ("customer", "location", "item", "workorder", "useditem")}
        counts.update(visma_customers=len(company.customers), visma_items=len(company.items),
                      visma_orders=len(company.sales_orders))
        return counts

    before = emulators.call(data)
    simon_deletes = emulators.call(emulators.simon.write_count, None, "delete")

    deleted = kube.delete_vi(namespace, tenant.name, timeout=30)
    assert deleted.returncode == 0, deleted.stderr
    assert kube.vi(namespace, tenant.name) is None
    wait_for(lambda: tenant.key not in operator.stored_tenants(), 10,
             "the tenant's state to be gone from the store")
    # A loop that was still running would write again within an interval: a witness tenant
    # of the same operator, on emulators of its own, runs two orders passes meanwhile.
    with EmulatorServer() as elsewhere:
        witness = emulated_tenant(elsewhere, namespace, "witness")
        kube.apply(*witness.manifests())
        wait_ready(kube, witness, operator)
        wait_passes(operator, witness.key, "orders", 2)
        assert tenant.key not in operator.stored_tenants()
        assert kube.delete_vi(namespace, witness.name).returncode == 0

    # Its series are dropped too.
    assert f'name="{tenant.name}",namespace="{namespace}"' not in operator.metrics()
    assert emulators.call(data) == before
    assert emulators.call(emulators.simon.write_count, None, "delete") == simon_deletes
    assert emulators.call(lambda: emulators.visma.stats.count("DELETE")) == 0
    assert operator.running()

    assert_no_secret_leaks(kube, operator, [namespace], tenant)


def test_secrets_of_another_namespace_are_never_used(
    kube: Kube, namespace: str, new_namespace: Any, emulators: EmulatorServer,
    operator: OperatorProcess
) -> None:
    """S-82: two tenants in two namespaces; the one whose credentialsSecretRef names Secrets
    that exist only in the other namespace gets SecretInvalid and never reaches its APIs."""
    first = emulated_tenant(emulators, namespace, "acme")
    kube.apply(*first.manifests())

    other_namespace = new_namespace()
    with EmulatorServer() as elsewhere:
        second = emulated_tenant(elsewhere, other_namespace, "bolt")
        # The same Secret names as the first tenant's; the Secrets exist only in `namespace`.
        second.resource["spec"]["visma"]["credentialsSecretRef"]["name"] = "acme-visma"
        second.resource["spec"]["simon"]["credentialsSecretRef"]["name"] = "acme-simon"
        # Were they used, they would work: `elsewhere` knows the first tenant's credentials.
        visma_secret, simon_secret = (s["stringData"] for s in first.secrets)
        elsewhere.call(elsewhere.visma.add_client, visma_secret["clientId"],
                       visma_secret["clientSecret"], [second.tenant_id])
        elsewhere.call(elsewhere.simon.add_login, simon_secret["licenseKey"],
                       simon_secret["username"], simon_secret["password"])
        kube.apply(second.resource)

        obj = wait_until(kube, second, operator, "SecretInvalid",
                         lambda o: condition_is(o, "SettingsValid", "False", "SecretInvalid"))
        assert condition_is(obj, "Ready", "False", "SecretInvalid")
        message = condition(obj, "SettingsValid")["message"]  # type: ignore[index]
        assert "acme-visma" in message and other_namespace in message
        assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
        event = wait_event(kube, second, operator, "SecretInvalid")
        assert event["type"] == "Warning"
        wait_ready(kube, first, operator)
        # Asked to run now, the tenant tries its start again at once: still refused.
        kube.run_now(other_namespace, "bolt")
        assert condition_is(kube.vi(other_namespace, "bolt"), "SettingsValid", "False",
                            "SecretInvalid")
        assert requests_seen(elsewhere) == 0
        assert (kube.vi(other_namespace, "bolt") or {})["status"].get("masterData") is None

    assert_no_secret_leaks(kube, operator, [namespace, other_namespace], first, second)
