"""The chart installed on a real kube-apiserver: the objects are accepted, and the operator's
ServiceAccount can do exactly what it needs and no more (DESIGN.md section 4, S-82).

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
    # Secrets: get by name only (S-82).
    for verb in ("list", "watch", "create", "update", "patch", "delete"):
        assert not op.can(verb, "secrets", tenant), verb
    # Nothing kopf would need without --standalone and disabled scanning, nothing else at all.
    assert not op.can("list", "namespaces", tenant)
    assert not op.can("list", "apiextensions.k8s.io/customresourcedefinitions", tenant)
    assert not op.can("get", "kopf.dev/clusterkopfpeerings", tenant)
    assert not op.can("get", "configmaps", tenant)
    assert not op.can("create", "pods", tenant)


def test_default_install_reads_secrets_cluster_wide(control_plane: Any, install: Any) -> None:
    op = install({})
    tenant = new_namespace(control_plane)
    assert_operator_permissions(op, tenant)
    assert op.can("get", "secrets", tenant)
    assert op.can("get", "secrets", new_namespace(control_plane))
    assert "kubectl get vismaintegrations" in op.stdout  # NOTES.txt

    kinds = control_plane.kubectl(
        "get",
        "deployment,serviceaccount,service,poddisruptionbudget,persistentvolumeclaim",
        "-n",
        op.namespace,
        "-l",
        f"app.kubernetes.io/instance={op.release}",
        "-o",
        "jsonpath={.items[*].kind}",
        check=True,
    ).stdout.split()
    assert sorted(kinds) == sorted(
        ["Deployment", "ServiceAccount", "Service", "PodDisruptionBudget", "PersistentVolumeClaim"]
    )


def test_secret_namespaces_limit_secret_reads_to_those_namespaces(
    control_plane: Any, install: Any
) -> None:
    tenant, other = new_namespace(control_plane), new_namespace(control_plane)
    op = install(
        {
            "rbac": {"secretNamespaces": [tenant]},
            "database": {"type": "postgresql", "existingSecret": "simon-visma-db"},
        }
    )
    assert_operator_permissions(op, tenant)
    assert op.can("get", "secrets", tenant)
    assert not op.can("get", "secrets", other)
    assert not op.can("get", "secrets", op.namespace)
    assert_operator_permissions(op, other)  # everything else is still cluster-wide
