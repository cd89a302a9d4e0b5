"""The chart installed on a real kube-apiserver: the objects are accepted, and the operator's
ServiceAccount can do exactly what it needs, where it serves tenants, and no more (DESIGN.md
section 4, S-82).

No kubelet runs there, so no pod starts; the RBAC authoriser answers the same as in a real
cluster. Permissions are asked with SubjectAccessReviews for the operator's ServiceAccount.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.conftest import CHART

pytestmark = pytest.mark.cluster

VI = "simon-visma.io/vismaintegrations"


class Installed:
    def __init__(self, cp: Any, release: str, namespace: str, stdout: str) -> None:
        self.cp, self.release, self.namespace, self.stdout = cp, release, namespace, stdout
        self.service_account = f"{release}-simon-visma"

    def can(self, verb: str, resource: str, namespace: str, subresource: str = "") -> bool:
        """Ask the RBAC authoriser with a SubjectAccessReview (exact group and resource, so no
        discovery and no CRD are needed). ``resource`` is ``[group/]plural``."""
        group, _, plural = resource.rpartition("/")
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": f"system:serviceaccount:{self.namespace}:{self.service_account}",
                "groups": [
                    "system:serviceaccounts",
                    f"system:serviceaccounts:{self.namespace}",
                    "system:authenticated",
                ],
                "resourceAttributes": {
                    "namespace": namespace,
                    "verb": verb,
                    "group": group,
                    "resource": plural,
                    "subresource": subresource,
                },
            },
        }
        result = self.cp.kubectl(
            "create", "-f", "-", "-o", "json", input=json.dumps(review), check=True
        )
        return bool(json.loads(result.stdout)["status"].get("allowed"))


def new_namespace(cp: Any) -> str:
    name = f"test-{uuid.uuid4().hex[:10]}"
    cp.kubectl("create", "namespace", name, check=True)
    return name


@pytest.fixture
def install(control_plane: Any, namespace: str, tmp_path: Path) -> Iterator[Any]:
    releases: list[str] = []

    def run(values: dict[str, Any]) -> Installed:
        release = f"sv{len(releases)}-{namespace[-6:]}"
        path = tmp_path / f"{release}.yaml"
        path.write_text(yaml.safe_dump(values))
        # crds.enabled=false: the session's CRD is the cluster tests' business, not this test's.
        result = control_plane.helm(
            "install", release, str(CHART), "-n", namespace, "-f", str(path),
            "--set", "crds.enabled=false",
        )
        assert result.returncode == 0, result.stdout + result.stderr
        releases.append(release)
        return Installed(control_plane, release, namespace, result.stdout)

    yield run
    for release in releases:
        control_plane.helm("uninstall", release, "-n", namespace)


def assert_operator_permissions(op: Installed, tenant: str) -> None:
    for verb in ("get", "list", "watch", "patch"):
        assert op.can(verb, VI, tenant), verb
    for verb in ("create", "update", "delete", "deletecollection"):
        assert not op.can(verb, VI, tenant), verb
    for verb in ("get", "patch"):
        assert op.can(verb, VI, tenant, "status"), verb
    assert not op.can("update", VI, tenant, "status")
    for resource in ("events", "events.k8s.io/events"):
        assert op.can("create", resource, tenant) and op.can("patch", resource, tenant)
        assert not op.can("delete", resource, tenant) and not op.can("list", resource, tenant)
    # Secrets: read and watched (a rotated password takes effect at once), never written.
    for verb in ("get", "list", "watch"):
        assert op.can(verb, "secrets", tenant), verb
    for verb in ("create", "update", "patch", "delete"):
        assert not op.can(verb, "secrets", tenant), verb
    # Nothing kopf would need without --standalone and disabled scanning, nothing else at all.
    assert not op.can("list", "namespaces", tenant)
    assert not op.can("list", "apiextensions.k8s.io/customresourcedefinitions", tenant)
    assert not op.can("get", "kopf.dev/clusterkopfpeerings", tenant)
    assert not op.can("get", "configmaps", tenant)
    assert not op.can("create", "pods", tenant)
    assert not op.can("get", "coordination.k8s.io/leases", tenant)  # only its own namespace's


def assert_nothing_in(op: Installed, namespace: str) -> None:
    for verb, resource in (("get", VI), ("watch", VI), ("get", "secrets"), ("list", "secrets"),
                           ("create", "events"), ("create", "events.k8s.io/events")):
        assert not op.can(verb, resource, namespace), f"{verb} {resource} in {namespace}"


def assert_leases_at_home(op: Installed) -> None:
    for verb in ("get", "list", "watch", "create", "update", "patch", "delete"):
        assert op.can(verb, "coordination.k8s.io/leases", op.namespace), verb


def test_default_install_serves_every_namespace(control_plane: Any, install: Any) -> None:
    op = install({})
    tenant = new_namespace(control_plane)
    assert_operator_permissions(op, tenant)
    assert_operator_permissions(op, new_namespace(control_plane))
    assert op.can("list", "secrets", "")  # kopf watches Secrets across namespaces
    assert_leases_at_home(op)
    assert "kubectl get vismaintegrations" in op.stdout  # NOTES.txt

    kinds = control_plane.kubectl(
        "get",
        "deployment,serviceaccount,service,poddisruptionbudget,persistentvolumeclaim,role,"
        "rolebinding",
        "-n",
        op.namespace,
        "-l",
        f"app.kubernetes.io/instance={op.release}",
        "-o",
        "jsonpath={.items[*].kind}",
        check=True,
    ).stdout.split()
    assert sorted(kinds) == sorted(
        ["Deployment", "ServiceAccount", "Service", "Service", "PodDisruptionBudget",
         "PersistentVolumeClaim", "Role", "Role", "RoleBinding"]
    )


def test_namespaced_install_serves_only_those_namespaces(
    control_plane: Any, install: Any
) -> None:
    tenant, other = new_namespace(control_plane), new_namespace(control_plane)
    op = install(
        {
            "operator": {"namespaces": [tenant]},
            "database": {"type": "postgresql", "existingSecret": "simon-visma-db"},
        }
    )
    assert_operator_permissions(op, tenant)
    assert_nothing_in(op, other)
    assert_nothing_in(op, op.namespace)  # not even the release's own, beyond its Leases
    assert not op.can("list", "secrets", "") and not op.can("watch", VI, "")
    assert_leases_at_home(op)
    assert tenant in op.stdout  # NOTES.txt names the namespaces served


def test_the_options_are_objects_the_api_server_accepts(control_plane: Any, install: Any) -> None:
    """Replicas with their spread, the NetworkPolicy, the dashboard and overridden security
    contexts, validated by the API server itself (the ServiceMonitor and PrometheusRule need
    the Prometheus Operator's CRDs, which this API server does not have)."""
    tenant = new_namespace(control_plane)
    op = install(
        {
            "operator": {"namespaces": [tenant]},
            "database": {"type": "postgresql", "existingSecret": "simon-visma-db"},
            "replicaCount": 3,
            "metrics": {"dashboard": {"enabled": True}},
            "networkPolicy": {
                "enabled": True,
                "apiServer": {"cidrs": ["10.96.0.1/32"]},
                "postgresql": {"to": [{"podSelector": {"matchLabels": {"app": "postgresql"}}}]},
                "logView": {"from": [{"namespaceSelector": {"matchLabels": {"team": "x"}}}]},
            },
            "podSecurityContext": {"runAsUser": None, "fsGroup": None},
            "topologySpreadConstraints": [
                {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                 "whenUnsatisfiable": "DoNotSchedule"}
            ],
        }
    )
    found = control_plane.kubectl(
        "get", "deployment,networkpolicy,configmap,poddisruptionbudget", "-n", op.namespace,
        "-l", f"app.kubernetes.io/instance={op.release}", "-o", "json", check=True,
    )
    objects = {o["kind"]: o for o in json.loads(found.stdout)["items"]}
    assert sorted(objects) == ["ConfigMap", "Deployment", "NetworkPolicy", "PodDisruptionBudget"]
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    assert objects["Deployment"]["spec"]["replicas"] == 3
    assert pod["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"][
        "app.kubernetes.io/instance"] == op.release
    assert "runAsUser" not in pod["securityContext"]
    assert len(objects["NetworkPolicy"]["spec"]["egress"]) == 4
