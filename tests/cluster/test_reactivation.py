"""A resource deleted and applied again (a GitOps prune and re-create) is a re-activation
(SPEC S-74): the operator keeps that the Simon licence and the Visma.net company were
activated together, so it never empties a live Simon a second time."""

from __future__ import annotations

from emulators.server import EmulatorServer
from tests.cluster.conftest import (
    Kube,
    assert_no_secret_leaks,
    emulated_tenant,
    wait_event,
    wait_for,
    wait_ready,
)
from tests.cluster.operator_process import OperatorProcess


def test_deleted_and_applied_again_is_a_reactivation(
    kube: Kube, namespace: str, emulators: EmulatorServer, operator: OperatorProcess
) -> None:
    """Delete the resource and apply it again: the Activated Event says re-activation, and
    nothing in Simon is deleted (the default `wipeOnReactivation` lists nothing)."""
    tenant = emulated_tenant(emulators, namespace)
    kube.apply(*tenant.manifests())
    obj = wait_ready(kube, tenant, operator)
    assert obj["status"]["activation"]["event"] == "first"
    wait_event(kube, tenant, operator, "Activated", "first")
    wait_event(kube, tenant, operator, "Wiped")
    simon_deletes = emulators.call(emulators.simon.write_count, None, "delete")

    deleted = kube.delete_vi(namespace, tenant.name, timeout=30)
    assert deleted.returncode == 0, deleted.stderr
    wait_for(lambda: tenant.key not in operator.stored_tenants(), 10,
             "the tenant's state to be gone from the store")

    kube.apply(*tenant.manifests())
    wait_event(kube, tenant, operator, "Activated", "reactivation")
    obj = wait_ready(kube, tenant, operator)
    assert obj["status"]["activation"]["event"] == "reactivation"
    assert tenant.key in operator.stored_tenants()
    assert emulators.call(emulators.simon.write_count, None, "delete") == simon_deletes
    assert operator.running()

    assert_no_secret_leaks(kube, operator, [namespace], tenant)
