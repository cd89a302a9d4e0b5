"""Two installations of the operator, each with a database of its own, whose namespaces
overlap: each tenant is served by exactly one of them (the hold on the resource), the other
stays idle and says who serves it, every work order becomes one Visma.net document (S-4), and a
tenant both watch can still be deleted (S-74). Holds last 30 s here, so the serving installation
renews each several times while the test runs and the idle one keeps seeing it renewed."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from emulators.server import EmulatorServer
from reconcilers.kube.holds import hold_of
from tests.cluster.conftest import Kube, condition_is, emulated_tenant, wait_for
from tests.cluster.operator_process import OperatorProcess
from tests.cluster.test_operator import archive_work_order
from tests.cluster.test_replicas import (
    SCHEDULE,
    SETTLE_TIMEOUT,
    assert_only_owners_run_passes,
    documents_per_order,
    replica_env,
    resources,
)

pytestmark = pytest.mark.cluster

SHARED = 4
"""Tenants in the namespace both installations watch."""
HOLD = {"SIMON_VISMA_HOLD_SECONDS": "30"}


@pytest.fixture
def servers() -> Iterator[list[EmulatorServer]]:
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(EmulatorServer()) for _ in range(SHARED + 2)]


def test_two_installations_never_serve_one_tenant(
    kube: Kube, new_namespace: Callable[[], str], servers: list[EmulatorServer],
    start_operator: Callable[..., OperatorProcess],
) -> None:
    operators, blue_only, shared, green_only = (new_namespace() for _ in range(4))
    placed = [(blue_only, "blue-only")] + [(shared, f"shared-{i}") for i in range(SHARED)] + [
        (green_only, "green-only")]
    tenants = [emulated_tenant(server, namespace, name, customers=3, items=2, seed=i + 1,
                               spec={"schedule": SCHEDULE})
               for i, (server, (namespace, name)) in enumerate(zip(servers, placed, strict=True))]
    processes = {  # each installation on a database of its own (a SQLite file)
        "blue-0": start_operator(namespaces=[blue_only, shared], verbose=False,
                                 env=replica_env(operators, "blue-0", "blue") | HOLD),
        "green-0": start_operator(namespaces=[shared, green_only], verbose=False,
                                  env=replica_env(operators, "green-0", "green") | HOLD),
    }
    kube.apply(*[m for t in tenants for m in t.manifests()])

    def all_served() -> dict[str, dict[str, Any]] | None:
        found: dict[str, dict[str, Any]] = {}
        for namespace in (blue_only, shared, green_only):
            found.update(resources(kube, namespace))
        if len(found) != len(tenants) or not all(
                condition_is(obj, "Ready", "True") and obj["status"].get("servedBy")
                for obj in found.values()):
            return None
        return found

    served = wait_for(all_served, SETTLE_TIMEOUT, "every tenant Ready and served")
    assert served["blue-only"]["status"]["servedBy"] == "blue-0"
    assert served["green-only"]["status"]["servedBy"] == "green-0"
    assert_only_owners_run_passes(processes, served)
    events = kube.events(shared)
    for i in range(SHARED):
        holder = served[f"shared-{i}"]["status"]["servedBy"]
        idle = "green" if holder == "blue-0" else "blue"
        assert any(e["reason"] == "ServedElsewhere" and e["involvedObject"]["name"] == f"shared-{i}"
                   and e["message"].startswith(f"Served by {holder} of the operator installation")
                   and f"the installation {idle} leaves this tenant alone" in e["message"]
                   for e in events), f"shared-{i}"
    for pod, process in processes.items():  # the idle one keeps nothing about the others'
        mine = {f"{obj['metadata']['namespace']}/{name}" for name, obj in served.items()
                if obj["status"]["servedBy"] == pod}
        assert set(process.stored_tenants()) == mine, pod

    orders = {t.name: archive_work_order(t.server, seed=201)["Id"] for t in tenants}

    def all_sent() -> bool:
        return all(documents_per_order(t, [orders[t.name]]) != [0] for t in tenants)

    wait_for(all_sent, SETTLE_TIMEOUT, "a document for each archived work order")
    for tenant in tenants:
        assert documents_per_order(tenant, [orders[tenant.name]]) == [1], tenant.key

    # The serving installation renews its holds; the idle one keeps leaving the tenants alone.
    holds = {name: hold_of(obj) for name, obj in resources(kube, shared).items()}

    def all_renewed() -> bool:  # by the same holder: a hold left to expire changes hands
        now = {name: hold_of(obj) for name, obj in resources(kube, shared).items()}
        return all(before is not None and (after := now.get(name)) is not None
                   and after.pod == before.pod and after.renewed_at > before.renewed_at
                   for name, before in holds.items())

    wait_for(all_renewed, SETTLE_TIMEOUT, "every shared tenant's hold renewed")
    moves = [e["involvedObject"]["name"] for e in kube.events(shared) if e["reason"] == "Serving"]
    assert sorted(moves) == sorted(holds), moves  # each taken once, never over again
    assert_only_owners_run_passes(processes, served)

    # A tenant both installations watch can be deleted: the one serving it stops and forgets
    # it, the idle one waits for that, and the finalizer goes.
    assert kube.delete_vi(shared, "shared-0", timeout=60).returncode == 0
    assert kube.vi(shared, "shared-0") is None
    for process in processes.values():
        assert f"{shared}/shared-0" not in process.stored_tenants()
