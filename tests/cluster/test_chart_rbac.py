"""The chart's RBAC is enough for the operator's whole job and no more (DESIGN.md section 4,
S-82), shown with the operator process itself running as the chart's ServiceAccount.

`helm install` puts the chart on the real kube-apiserver (the CRD is the session's, hence
`crds.enabled=false`; the image values do not matter because no pod ever starts there). The
operator then runs with a token of the chart's ServiceAccount and the environment the chart
gives a replica (its pod, namespace and installation): its Lease is kept in the release
namespace, a tenant becomes Ready, its status is patched, Events are posted, its Secrets are
read and watched, and deletion removes the finalizer. With `operator.namespaces` everything is
limited to the listed namespaces, with nothing cluster-wide; `kubectl auth can-i` shows every
verb the operator does not use is refused.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from emulators.server import EmulatorServer
from tests.cluster.conftest import (
    FINALIZER,
    Kube,
    assert_no_secret_leaks,
    condition_is,
    emulated_tenant,
    wait_event,
    wait_for,
    wait_ready,
    wait_until,
)
from tests.cluster.operator_process import REPO, OperatorProcess
from tests.fixtures.cluster import ControlPlane

pytestmark = pytest.mark.cluster

CHART = REPO / "charts" / "simon-visma"
VI = "vismaintegrations.simon-visma.io"
LEASES = "leases.coordination.k8s.io"


class Release:
    """One installed release of the chart and its ServiceAccount."""

    def __init__(self, cp: ControlPlane, name: str, namespace: str, service_account: str,
                 kubeconfig: Path) -> None:
        self.cp, self.name, self.namespace = cp, name, namespace
        self.service_account, self.kubeconfig = service_account, kubeconfig

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"

    def can_i(self, verb: str, resource: str, namespace: str | None = None) -> bool:
        """`kubectl auth can-i <verb> <resource> [-n ns] --as <the ServiceAccount>`."""
        scope = ["-n", namespace] if namespace else ["--all-namespaces"]
        result = self.cp.kubectl("auth", "can-i", verb, resource, *scope, "--as", self.user)
        answer = result.stdout.strip()
        assert answer in ("yes", "no"), result.stdout + result.stderr
        return answer == "yes"


@pytest.fixture
def install(control_plane: ControlPlane, crd: str, namespace: str,
            tmp_path: Path) -> Iterator[Callable[..., Release]]:
    """`helm install` the chart into `namespace` with values; uninstalled at the end."""
    releases: list[Release] = []

    def run(values: dict[str, Any] | None = None) -> Release:
        name = f"sv-{uuid.uuid4().hex[:6]}"
        path = tmp_path / f"{name}-values.yaml"
        path.write_text(yaml.safe_dump(values or {}))
        installed = control_plane.helm(
            "install", name, str(CHART), "-n", namespace, "-f", str(path),
            "--set", "crds.enabled=false",
            "--set", "image.repository=registry.invalid/simon-visma", "--set", "image.tag=test",
            "--wait=false")
        assert installed.returncode == 0, installed.stdout + installed.stderr
        accounts = json.loads(control_plane.kubectl(
            "get", "serviceaccounts", "-n", namespace, "-l",
            f"app.kubernetes.io/instance={name}", "-o", "json", check=True).stdout)["items"]
        (account,) = [a["metadata"]["name"] for a in accounts]
        token = control_plane.service_account_token(account, namespace)
        kubeconfig = control_plane.kubeconfig_for_token(token, tmp_path / f"{name}.kubeconfig")
        release = Release(control_plane, name, namespace, account, kubeconfig)
        releases.append(release)
        # The RBAC authoriser reads Roles from an informer cache: wait until it sees them.
        wait_for(lambda: release.can_i("watch", LEASES, namespace), 10,
                 "the chart's RBAC to take effect")
        return release

    yield run
    for release in releases:
        control_plane.helm("uninstall", release.name, "-n", namespace)


def assert_least_privilege(release: Release, tenant_namespace: str) -> None:
    """Exactly the verbs the operator uses, on exactly its resources, where it serves."""
    for verb in ("get", "list", "watch", "patch"):
        assert release.can_i(verb, VI, tenant_namespace), verb
    for verb in ("create", "update", "delete", "deletecollection"):
        assert not release.can_i(verb, VI, tenant_namespace), verb
    assert release.can_i("patch", f"{VI}/status", tenant_namespace)
    assert not release.can_i("update", f"{VI}/status", tenant_namespace)
    assert release.can_i("create", "events", tenant_namespace)
    assert release.can_i("create", "events.events.k8s.io", tenant_namespace)
    for verb in ("get", "list", "delete"):
        assert not release.can_i(verb, "events", tenant_namespace), f"{verb} events"
    for verb in ("get", "list", "watch"):  # watched: a rotated password takes effect at once
        assert release.can_i(verb, "secrets", tenant_namespace), f"{verb} secrets"
    for verb in ("create", "update", "patch", "delete"):
        assert not release.can_i(verb, "secrets", tenant_namespace), f"{verb} secrets"
    assert not release.can_i("get", LEASES, tenant_namespace)  # only in its own namespace
    for verb, resource in (("create", "pods"), ("get", "pods"), ("get", "configmaps"),
                           ("list", "namespaces"), ("create", "serviceaccounts/token"),
                           ("list", "customresourcedefinitions.apiextensions.k8s.io"),
                           ("get", "clusterkopfpeerings.kopf.dev"),
                           ("create", "rolebindings.rbac.authorization.k8s.io"),
                           ("impersonate", "serviceaccounts"), ("*", "*")):
        assert not release.can_i(verb, resource, tenant_namespace), f"{verb} {resource}"


def assert_leases_at_home(release: Release) -> None:
    for verb in ("get", "list", "watch", "create", "update", "patch", "delete"):
        assert release.can_i(verb, LEASES, release.namespace), f"{verb} leases"
    assert not release.can_i("get", LEASES)  # not across namespaces


def assert_nothing_in(release: Release, namespace: str) -> None:
    for verb, resource in (("get", VI), ("watch", VI), ("patch", f"{VI}/status"),
                           ("get", "secrets"), ("watch", "secrets"), ("create", "events")):
        assert not release.can_i(verb, resource, namespace), f"{verb} {resource} in {namespace}"


def replica(release: Release) -> dict[str, str]:
    """What the chart tells each operator pod about itself (the downward API and the release's
    full name)."""
    return {"SIMON_VISMA_POD_NAME": f"{release.name}-simon-visma-0",
            "SIMON_VISMA_POD_NAMESPACE": release.namespace,
            "SIMON_VISMA_INSTALLATION": f"{release.name}-simon-visma"}


def leases_of(kube: Kube, release: Release) -> list[str]:
    result = release.cp.kubectl("get", "leases", "-n", release.namespace, "-o", "json",
                                check=True)
    return [lease["metadata"]["name"] for lease in json.loads(result.stdout)["items"]]


def assert_no_permission_errors(operator: OperatorProcess) -> None:
    output = operator.output()
    for sign in ("Forbidden", "forbidden"):
        assert sign not in output, f"{sign!r} in the operator's output:\n{operator.tail()}"


def test_operator_does_its_whole_job_as_the_charts_service_account(
    kube: Kube, namespace: str, new_namespace: Callable[[], str], emulators: EmulatorServer,
    install: Callable[..., Release], start_operator: Callable[..., OperatorProcess],
) -> None:
    """Default values (every namespace): its Lease, watch, finalizer, status, Events, Secrets,
    deletion, all with the chart's RBAC only."""
    release = install()
    tenant_namespace = new_namespace()
    assert_least_privilege(release, tenant_namespace)
    assert release.can_i("watch", VI) and release.can_i("watch", "secrets")  # every namespace
    assert_leases_at_home(release)

    operator = start_operator(release.kubeconfig, env=replica(release))
    wait_for(lambda: leases_of(kube, release) or None, 30, "the replica's Lease")
    tenant = emulated_tenant(emulators, tenant_namespace)
    kube.apply(*tenant.manifests())

    obj = wait_ready(kube, tenant, operator)  # Secrets read, status patched
    assert obj["metadata"]["finalizers"] == [FINALIZER]  # the resource patched
    assert obj["status"]["masterData"]["customers"] > 0
    activated = wait_event(kube, tenant, operator, "Activated")  # Events posted
    assert activated["type"] == "Normal"

    # A settings change is seen (watch) and a Warning Event posted.
    kube.patch_spec(tenant_namespace, tenant.name, {"orders": {"workTimeItem": "GEENUUR"}})
    wait_until(kube, tenant, operator, "SettingsValid=False",
               lambda o: condition_is(o, "SettingsValid", "False", "SettingsInvalid"))
    assert wait_event(kube, tenant, operator, "SettingsInvalid")["type"] == "Warning"

    # Deletion: the operator forgets the tenant and removes its finalizer.
    deleted = kube.delete_vi(tenant_namespace, tenant.name, timeout=30)
    assert deleted.returncode == 0, deleted.stderr + operator.tail()
    assert kube.vi(tenant_namespace, tenant.name) is None
    wait_for(lambda: tenant.key not in operator.stored_tenants(), 10,
             "the tenant's state to be gone")

    assert_no_permission_errors(operator)
    assert_no_secret_leaks(kube, operator, [tenant_namespace], tenant)


def test_operator_namespaces_limit_the_operator_to_those_namespaces(
    kube: Kube, namespace: str, new_namespace: Callable[[], str], emulators: EmulatorServer,
    install: Callable[..., Release], start_operator: Callable[..., OperatorProcess],
) -> None:
    """operator.namespaces: Roles in the listed namespaces only and nothing cluster-wide (S-82);
    the operator started as the chart starts it serves a tenant there without a single refusal,
    and a tenant elsewhere is none of its business."""
    listed, other = new_namespace(), new_namespace()
    release = install({"operator": {"namespaces": [listed]},
                       "database": {"type": "postgresql", "existingSecret": "simon-visma-db"}})
    wait_for(lambda: release.can_i("get", "secrets", listed), 10, "the Role to take effect")

    assert_least_privilege(release, listed)
    assert_nothing_in(release, other)
    assert_nothing_in(release, namespace)  # not even the release's own, beyond its Leases
    for verb, resource in (("watch", VI), ("list", "secrets"), ("get", "secrets"),
                           ("create", "events")):
        assert not release.can_i(verb, resource), f"{verb} {resource} across namespaces"
    assert_leases_at_home(release)

    with EmulatorServer() as elsewhere:
        ignored = emulated_tenant(elsewhere, other, "bolt")
        kube.apply(*ignored.manifests())  # applied first, never served

        operator = start_operator(release.kubeconfig, namespaces=[listed], env=replica(release))
        served = emulated_tenant(emulators, listed, "acme")
        kube.apply(*served.manifests())
        wait_ready(kube, served, operator)

        # A spec change is seen through the watch the Role allows.
        kube.patch_spec(listed, served.name, {"orders": {"workTimeItem": "GEENUUR"}})
        wait_until(kube, served, operator, "SettingsValid=False",
                   lambda o: condition_is(o, "SettingsValid", "False", "SettingsInvalid"))

        bolt = kube.vi(other, ignored.name)
        assert bolt is not None and "status" not in bolt and not bolt["metadata"].get(
            "finalizers"), bolt
        assert elsewhere.call(lambda: elsewhere.visma.stats.total
                              + elsewhere.simon.stats.total) == 0

    assert_no_permission_errors(operator)
    assert_no_secret_leaks(kube, operator, [listed], served)
