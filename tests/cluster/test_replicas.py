"""Several replicas of one installation share the tenants (DESIGN section 4, scale out).

Three operator processes on one PostgreSQL database, each a "replica" with a pod name and a
Lease of its own in the operator's namespace, serve 30 tenants (each on emulators of its own):
every tenant becomes Ready, is served by exactly the replica that rendezvous hashing of its uid
over the live replicas names (`status.servedBy`), and only that replica runs its passes. A
replica killed with SIGKILL drops out once its Lease expires and its tenants are served by the
others; a fourth replica joining takes its share; a replica stopped cleanly deletes its Lease
and hands its tenants over. Work orders archived before, between and
after those moves have exactly one Visma.net document each (S-4).

Holds on the resources last an hour here: every move waits on what the replicas tell each
other (a Lease that expires or is deleted, a hold released and seen through the watch), never
on a hold running out.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from emulators.server import EmulatorServer
from reconcilers.runtime.sharding import owner
from tests.cluster.conftest import (
    EmulatedTenant,
    Kube,
    condition_is,
    emulated_tenant,
    wait_for,
)
from tests.cluster.operator_process import OperatorProcess
from tests.cluster.test_operator import archive_work_order, sales_orders

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]

TENANTS = 30
SCHEDULE = {"masterData": "5m", "orders": "10s", "imports": "5m"}
"""The orders loop is the one that matters here; the other loops run once at the start."""
SETTLE_TIMEOUT = 420


@pytest.fixture
def servers() -> Iterator[list[EmulatorServer]]:
    """Emulators (Visma.net and Simon) for each tenant: one Simon per tenant."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(EmulatorServer()) for _ in range(TENANTS)]


def replica_env(lease_namespace: str, pod: str, installation: str = "simon-visma", *,
                database_url: str | None = None) -> dict[str, str]:
    """A replica's environment as the chart sets it (the database: the process's own SQLite
    file unless given)."""
    env = {"SIMON_VISMA_POD_NAME": pod, "SIMON_VISMA_POD_NAMESPACE": lease_namespace,
           "SIMON_VISMA_INSTALLATION": installation}
    return env | ({"SIMON_VISMA_DATABASE_URL": database_url} if database_url else {})


def resources(kube: Kube, namespace: str) -> dict[str, dict[str, Any]]:
    """Every VismaIntegration of the namespace by name (one kubectl call)."""
    listed = json.loads(kube.kubectl("get", "vismaintegrations.simon-visma.io", "-n", namespace,
                                     "-o", "json").stdout)
    return {obj["metadata"]["name"]: obj for obj in listed["items"]}


def served_as_hashed(kube: Kube, namespace: str, pods: list[str]
                     ) -> Callable[[], dict[str, dict[str, Any]] | None]:
    """A probe: every tenant Ready and `status.servedBy` the replica rendezvous hashing over
    `pods` names for its uid."""

    def probe() -> dict[str, dict[str, Any]] | None:
        found = resources(kube, namespace)
        if len(found) != TENANTS:
            return None
        for obj in found.values():
            status = obj.get("status") or {}
            if (status.get("servedBy") != owner(obj["metadata"]["uid"], pods)
                    or not condition_is(obj, "Ready", "True")):
                return None
        return found

    return probe


def explain_served(kube: Kube, namespace: str,
                   processes: dict[str, OperatorProcess]) -> Callable[[], str]:
    """What differs from the expected: per tenant servedBy, the hashed owner, Ready, the hold;
    and the end of each replica's output."""

    def text() -> str:
        lines = []
        for name, obj in sorted(resources(kube, namespace).items()):
            status = obj.get("status") or {}
            expected = owner(obj["metadata"]["uid"], list(processes))
            ready = condition_is(obj, "Ready", "True")
            if status.get("servedBy") != expected or not ready:
                hold = (obj["metadata"].get("annotations") or {}).get("simon-visma.io/served-by")
                lines.append(f"{name}: servedBy {status.get('servedBy')}, expected {expected}, "
                             f"Ready {ready}, hold {hold}")
        for pod, process in processes.items():
            lines.append(f"--- {pod} (running: {process.running()}):\n{process.tail(2500)}")
        return "\n".join(lines)

    return text


def replica_leases(kube: Kube, namespace: str) -> set[str]:
    """The names of the installation's replica Leases."""
    listed = json.loads(kube.kubectl("get", "leases.coordination.k8s.io", "-n", namespace, "-l",
                                     "simon-visma.io/installation=simon-visma",
                                     "-o", "json").stdout)
    return {lease["metadata"]["name"] for lease in listed["items"]}


def orders_runs(process: OperatorProcess) -> dict[str, int]:
    """tenant name -> orders passes this process finished (its metrics)."""
    runs: dict[str, int] = {}
    for line in process.metrics().splitlines():
        if line.startswith("simon_visma_loop_runs_total{") and 'loop="orders"' in line:
            name = re.search(r'name="([^"]+)"', line)
            if name:
                runs[name.group(1)] = int(float(line.rsplit(" ", 1)[1]))
    return runs


def tenants_served(process: OperatorProcess) -> int:
    found = re.search(r"^simon_visma_tenants_served ([0-9.]+)$", process.metrics(), re.MULTILINE)
    return int(float(found.group(1))) if found else -1


def assert_only_owners_run_passes(processes: dict[str, OperatorProcess],
                                  served: dict[str, dict[str, Any]]) -> None:
    """Until every tenant's serving replica finished another orders pass, no other replica
    finishes one; each replica's metrics have the series of its own tenants only."""
    before = {pod: orders_runs(process) for pod, process in processes.items()}
    owners = {name: obj["status"]["servedBy"] for name, obj in served.items()}

    def owners_ran() -> bool:
        now = {pod: orders_runs(process) for pod, process in processes.items()}
        return all(now[pod].get(name, 0) > before[pod].get(name, 0)
                   for name, pod in owners.items())

    wait_for(owners_ran, SETTLE_TIMEOUT, "another orders pass of every tenant by its replica")
    after = {pod: orders_runs(process) for pod, process in processes.items()}
    for name, serving in owners.items():
        ran = {pod for pod in processes if after[pod].get(name, 0) > before[pod].get(name, 0)}
        assert ran == {serving}, (name, ran)
    for pod, process in processes.items():  # a replica reports only the tenants it serves
        mine = {name for name, serving in owners.items() if serving == pod}
        assert tenants_served(process) == len(mine)
        assert set(after[pod]) == mine, pod


def archive_for_each(tenants: list[EmulatedTenant], seed: int) -> dict[str, int]:
    """One archived work order per tenant; tenant name -> work order id."""
    return {t.name: archive_work_order(t.server, seed=seed)["Id"] for t in tenants}


def documents_per_order(tenant: EmulatedTenant, order_ids: list[int]) -> list[int]:
    markers = [o["received"]["customer"].get("order") for o in sales_orders(tenant)]
    return [markers.count(f"SIMON-WO-{order_id}") for order_id in order_ids]


def test_replicas_share_the_tenants_and_hand_them_over(
    kube: Kube, namespace: str, new_namespace: Callable[[], str],
    servers: list[EmulatorServer], postgres_database: str,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    operators_namespace = new_namespace()
    tenants = [emulated_tenant(server, namespace, f"tenant-{i:02d}", customers=3, items=2,
                               seed=i + 1, spec={"schedule": SCHEDULE})
               for i, server in enumerate(servers)]
    processes: dict[str, OperatorProcess] = {}

    def start(pod: str) -> None:
        processes[pod] = start_operator(
            namespaces=[namespace], verbose=False,
            env=replica_env(operators_namespace, pod, database_url=postgres_database)
            | {"SIMON_VISMA_HOLD_SECONDS": "3600"})

    for pod in ("replica-a", "replica-b", "replica-c"):
        start(pod)
    kube.apply(*[m for t in tenants for m in t.manifests()])

    # Every tenant Ready, served by the replica rendezvous hashing names; only it runs passes.
    served = wait_for(served_as_hashed(kube, namespace, list(processes)), SETTLE_TIMEOUT,
                      "every tenant Ready and served by its replica",
                      explain_served(kube, namespace, processes))
    assert len({obj["status"]["servedBy"] for obj in served.values()}) == 3
    assert replica_leases(kube, operators_namespace) == set(processes)
    assert_only_owners_run_passes(processes, served)
    orders = {name: [order] for name, order in archive_for_each(tenants, seed=101).items()}

    # SIGKILL one replica: after its Lease expires the others serve its tenants.
    killed = "replica-b"
    processes[killed].process.kill()  # type: ignore[union-attr]
    processes[killed].process.wait()  # type: ignore[union-attr]
    del processes[killed]
    moved = [name for name, obj in served.items() if obj["status"]["servedBy"] == killed]
    served = wait_for(served_as_hashed(kube, namespace, list(processes)), SETTLE_TIMEOUT,
                      f"the tenants of {killed} served by the others",
                      explain_served(kube, namespace, processes))
    expected = {(name, f"Now served by {served[name]['status']['servedBy']} (before: {killed}).")
                for name in moved}

    def moves_told() -> bool:  # kopf posts Events in the background: they may come later
        told = {(e["involvedObject"]["name"], e["message"]) for e in kube.events(namespace)
                if e["reason"] == "Serving"}
        return expected <= told

    wait_for(moves_told, SETTLE_TIMEOUT, "an Event Serving for each tenant that moved",
             lambda: json.dumps([(e["involvedObject"]["name"], e["reason"], e["message"])
                                 for e in kube.events(namespace)], indent=0))
    for name, order in archive_for_each(tenants, seed=102).items():
        orders[name].append(order)

    # A fourth replica joins: the tenants rebalance over three again.
    start("replica-d")
    served = wait_for(served_as_hashed(kube, namespace, list(processes)), SETTLE_TIMEOUT,
                      "the tenants rebalanced over replica-a, replica-c and replica-d",
                      explain_served(kube, namespace, processes))
    assert any(obj["status"]["servedBy"] == "replica-d" for obj in served.values())
    assert_only_owners_run_passes(processes, served)
    for name, order in archive_for_each(tenants, seed=103).items():
        orders[name].append(order)

    # A clean stop (SIGTERM) hands the replica's tenants over and deletes its Lease.
    processes.pop("replica-d").stop()
    assert replica_leases(kube, operators_namespace) == {*processes, killed}  # b's expired
    wait_for(served_as_hashed(kube, namespace, list(processes)), SETTLE_TIMEOUT,
             "the tenants of replica-d served by replica-a and replica-c after its stop",
             explain_served(kube, namespace, processes))

    # Every work order archived throughout has exactly one Visma.net document.
    def all_sent() -> bool:
        return all(n >= 1 for t in tenants for n in documents_per_order(t, orders[t.name]))

    wait_for(all_sent, SETTLE_TIMEOUT, "a document for each archived work order")
    for tenant in tenants:
        assert documents_per_order(tenant, orders[tenant.name]) == [1, 1, 1], tenant.key
