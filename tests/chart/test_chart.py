"""The Helm chart: lint, rendered objects, least-privilege RBAC and the values schema.

The chart of DESIGN.md section 4; Secrets are read only where tenants are served (S-82).
Everything here is offline: ``helm lint`` and ``helm template``, checked in Python. The CRD,
the namespace-scoped install, metrics, the NetworkPolicy and the pod settings have test
modules of their own.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.conftest import (
    CHART,
    OPERATOR_RULES,
    POSTGRES_VALUES,
    RELEASE,
    RELEASE_NAMESPACE,
    TENANT_NAMESPACES,
    Helm,
    Render,
    container,
    env_of,
    flat_rules,
    named,
    of_kind,
    only,
    values_file,
)

# --------------------------------------------------------------------------- helm lint


EVERYTHING_ON: dict[str, Any] = {
    **POSTGRES_VALUES,
    "replicaCount": 3,
    "metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True},
                "dashboard": {"enabled": True}},
    "networkPolicy": {"enabled": True, "apiServer": {"cidrs": ["10.96.0.1/32"]}},
}


@pytest.mark.parametrize("values", [None, POSTGRES_VALUES, EVERYTHING_ON],
                         ids=["default", "postgresql", "everything-on"])
def test_helm_lint_strict_is_clean(helm: Helm, tmp_path: Path, values: dict | None) -> None:
    result = helm("lint", "--strict", str(CHART), *values_file(tmp_path, values))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout


# --------------------------------------------------------------------------- default values


def test_default_render_has_the_operator_objects(render: Render) -> None:
    objects = render()
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == sorted(
        [
            "ServiceAccount",
            "ClusterRole",  # the operator's
            "ClusterRoleBinding",
            "ClusterRole",  # the log readers', bound by the platform team
            "Role",  # the replicas' Leases
            "RoleBinding",
            "Role",  # the log view's service proxy, for the log readers
            "Deployment",
            "PersistentVolumeClaim",
            "Service",  # metrics
            "Service",  # log view
            "PodDisruptionBudget",
            "CustomResourceDefinition",
        ]
    )
    for o in objects:
        if o["kind"] not in ("ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"):
            assert o["metadata"]["namespace"] == RELEASE_NAMESPACE, o["kind"]


def test_deployment_is_single_replica_recreate_and_hardened(render: Render) -> None:
    objects = render()
    deployment = only(objects, "Deployment")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    assert deployment["metadata"]["name"] == RELEASE  # `kubectl exec deploy/<release>` in NOTES
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    assert pod["terminationGracePeriodSeconds"] == 30
    assert pod["serviceAccountName"] == only(objects, "ServiceAccount")["metadata"]["name"]

    pod_security = pod["securityContext"]
    assert pod_security["runAsNonRoot"] is True
    assert pod_security["runAsUser"] == 10001
    assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}

    c = container(objects)
    security = c["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == 10001
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}

    assert c["resources"]["requests"].keys() >= {"cpu", "memory"}
    assert c["resources"]["limits"].keys() >= {"memory"}


def test_operator_command_liveness_and_metrics(render: Render) -> None:
    objects = render()
    c = container(objects)
    assert c["command"][:3] == ["kopf", "run", "/app/operator/main.py"]
    assert {"--all-namespaces", "--standalone", "--log-format=json"} <= set(c["command"])
    assert "--liveness=http://0.0.0.0:8080/healthz" in c["command"]
    assert not any(arg.startswith("--namespace") for arg in c["command"])

    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"healthz": 8080, "metrics": 9090, "log-view": 8081}
    probe = c["livenessProbe"]
    assert probe["httpGet"]["path"] == "/healthz"
    assert probe["httpGet"]["port"] in ("healthz", 8080)
    # Conservative: a restart only after well over a minute of failures, never on one blip.
    assert probe["failureThreshold"] >= 3
    assert probe["timeoutSeconds"] >= 1
    assert probe["periodSeconds"] * probe["failureThreshold"] >= 60
    assert "readinessProbe" not in c  # kopf: readiness makes no sense for an operator

    env = env_of(objects)
    assert env["SIMON_VISMA_DATABASE_URL"]["value"] == "sqlite:////data/simon-visma.db"
    assert env["SIMON_VISMA_METRICS_ADDRESS"]["value"] == "0.0.0.0"
    assert env["SIMON_VISMA_METRICS_PORT"]["value"] == "9090"
    assert "SIMON_VISMA_LOG_FORMAT" not in env  # kopf's --log-format does the job

    service = named(objects, "Service", f"{RELEASE}-metrics")
    assert service["spec"]["ports"][0]["port"] == 9090
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    assert service["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert service["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"


def test_sqlite_lives_on_the_pvc_and_tmp_on_an_empty_dir(render: Render) -> None:
    objects = render()
    pod = only(objects, "Deployment")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container(objects)["volumeMounts"]}
    assert volumes[mounts["/tmp"]] == {"name": "tmp", "emptyDir": {}}
    pvc = only(objects, "PersistentVolumeClaim")
    assert volumes[mounts["/data"]]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_without_persistence_data_is_an_empty_dir(render: Render) -> None:
    objects = render({"persistence": {"enabled": False}})
    assert not of_kind(objects, "PersistentVolumeClaim")
    pod = only(objects, "Deployment")["spec"]["template"]["spec"]
    assert {"name": "data", "emptyDir": {}} in pod["volumes"]


def test_pdb_allows_drains(render: Render) -> None:
    pdb = only(render(), "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert "minAvailable" not in pdb["spec"]  # minAvailable 1 with one replica blocks drains


def test_labels_follow_helm_conventions_and_selectors_match(render: Render) -> None:
    objects = [o for o in render() if o["kind"] != "CustomResourceDefinition"]  # one per cluster
    for o in objects:
        labels = o["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "simon-visma", o["kind"]
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/version"] == "0.1.0"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["helm.sh/chart"] == "simon-visma-0.1.0"
    deployment = only(objects, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    for selector in (
        deployment["spec"]["selector"]["matchLabels"],
        *(service["spec"]["selector"] for service in of_kind(objects, "Service")),
        only(objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= pod_labels.items()
        assert "app.kubernetes.io/version" not in selector  # selectors never change


def test_cluster_role_is_exactly_least_privilege_with_secrets_watched_everywhere(
    render: Render,
) -> None:
    objects = render()
    role = named(objects, "ClusterRole", RELEASE)
    assert flat_rules(role) == OPERATOR_RULES
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"]
        assert "*" not in rule.get("apiGroups", [])
        assert "resourceNames" not in rule and "nonResourceURLs" not in rule

    binding = only(objects, "ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    sa = only(objects, "ServiceAccount")["metadata"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": sa["name"], "namespace": RELEASE_NAMESPACE}
    ]


# --------------------------------------------------------------------------- PostgreSQL


def test_postgresql_url_comes_from_the_existing_secret(render: Render) -> None:
    objects = render(POSTGRES_VALUES)
    url = env_of(objects)["SIMON_VISMA_DATABASE_URL"]
    assert "value" not in url
    assert url["valueFrom"] == {"secretKeyRef": {"name": "simon-visma-db", "key": "url"}}
    assert not of_kind(objects, "PersistentVolumeClaim")
    pod = only(objects, "Deployment")["spec"]["template"]["spec"]
    assert {"name": "data", "emptyDir": {}} in pod["volumes"]


def test_operator_namespaces_replace_all_namespaces(render: Render) -> None:
    command = container(render(POSTGRES_VALUES))["command"]
    assert "--all-namespaces" not in command
    assert [a for a in command if a.startswith("--namespace")] == [
        f"--namespace={ns}" for ns in TENANT_NAMESPACES
    ]


def test_rbac_can_be_left_to_the_platform_team(render: Render) -> None:
    objects = render({"rbac": {"create": False}, "serviceAccount": {"create": False, "name": "op"}})
    assert not {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ServiceAccount"} & {
        o["kind"] for o in objects
    }
    assert only(objects, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "op"


# --------------------------------------------------------------------------- values.schema.json


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"imagee": {"tag": "dev"}}, "imagee"),  # top level
        ({"persistence": {"enabeld": False}}, "enabeld"),  # nested
        ({"operator": {"namespace": ["tenant-a"]}}, "namespace"),
        # Removed: Secret access follows operator.namespaces.
        ({"rbac": {"secretNamespaces": ["tenant-a"]}}, "secretNamespaces"),
    ],
    ids=["top-level", "nested", "singular", "removed"],
)
def test_schema_rejects_a_typo_and_names_it(
    helm: Helm, tmp_path: Path, values: dict, named: str
) -> None:
    result = helm("template", RELEASE, str(CHART), *values_file(tmp_path, values))
    assert result.returncode != 0
    assert named in result.stderr, result.stderr
    assert "schema" in result.stderr.lower()


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"database": {"type": "postgres"}}, "database"),
        ({"database": {"type": "postgresql"}}, "existingSecret"),
        ({"podDisruptionBudget": {"maxUnavailable": 0}}, "maxUnavailable"),
        ({"operator": {"namespaces": ["Tenant_A"]}}, "namespaces"),
        # kopf runs with namespace scanning disabled: a glob would silently serve nothing.
        ({"operator": {"namespaces": ["tenant-*"]}}, "namespaces"),
    ],
    ids=["bad-enum", "postgresql-without-secret", "pdb-zero", "bad-namespace", "glob"],
)
def test_schema_rejects_bad_values(helm: Helm, tmp_path: Path, values: dict, named: str) -> None:
    result = helm("template", RELEASE, str(CHART), *values_file(tmp_path, values))
    assert result.returncode != 0
    assert named in result.stderr, result.stderr


def test_values_yaml_documents_every_key_of_the_schema() -> None:
    """Every value has a schema entry and every schema entry a default in values.yaml."""
    import json

    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def check(value: dict[str, Any], node: dict[str, Any], path: str) -> None:
        props = node.get("properties", {})
        for key, child in value.items():
            assert key in props, f"{path}{key} has no schema"
            if isinstance(child, dict) and props[key].get("additionalProperties") is False:
                check(child, props[key], f"{path}{key}.")
        for key in props:
            assert key in value or key == "global", f"{path}{key} has no default in values.yaml"

    check(values, schema, "")


# --------------------------------------------------------------------------- NOTES.txt


def render_notes(helm: Helm, tmp_path: Path, values: dict[str, Any]) -> str:
    """NOTES.txt rendered offline: ``helm install --dry-run`` needs a cluster, ``helm template``
    leaves NOTES out, so a copy of the chart wraps NOTES.txt in a template of a ConfigMap."""
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    notes = (chart / "templates" / "NOTES.txt").read_text()
    (chart / "templates" / "NOTES.txt").unlink()
    (chart / "templates" / "_notes.tpl").write_text(
        f'{{{{- define "notes" -}}}}{notes}{{{{- end }}}}'
    )
    (chart / "templates" / "notes.yaml").write_text(
        "kind: ConfigMap\napiVersion: v1\nmetadata: {name: notes}\n"
        'data: {notes: {{ include "notes" . | toJson }}}\n'
    )
    result = helm(
        "template",
        RELEASE,
        str(chart),
        "--namespace",
        RELEASE_NAMESPACE,
        "--show-only",
        "templates/notes.yaml",
        *values_file(tmp_path, values),
    )
    assert result.returncode == 0, result.stderr
    return str(yaml.safe_load(result.stdout)["data"]["notes"])


def test_notes_tell_how_to_start(helm: Helm, tmp_path: Path) -> None:
    notes = render_notes(helm, tmp_path, POSTGRES_VALUES)
    assert "kind: VismaIntegration" in notes
    assert "--from-literal=clientSecret=" in notes and "--from-literal=licenseKey=" in notes
    assert "kubectl get vismaintegrations" in notes
    assert f"exec deploy/{RELEASE} -- simon-visma log --tenant tenant-acme/acme" in notes
    assert "tenant-a, tenant-b" in notes  # where the operator may read tenants and Secrets
    assert "add\nit to operator.namespaces" in notes
    assert "PostgreSQL" in notes

    default_notes = render_notes(helm, tmp_path / "default", {})
    assert "SQLite on PVC simon-visma-data" in default_notes
    assert "every namespace" in default_notes


def test_notes_tell_how_to_read_a_tenants_log_and_who_may(helm: Helm, tmp_path: Path) -> None:
    notes = render_notes(helm, tmp_path, {})
    assert "kubectl simon-visma log -n tenant-acme acme" in notes
    assert f"--operator-namespace {RELEASE_NAMESPACE} --service {RELEASE}-log-view" in notes
    assert f"ClusterRole {RELEASE}-log-reader" in notes
    namespaced = render_notes(helm, tmp_path / "namespaced", POSTGRES_VALUES)
    assert f"Role {RELEASE}-log-reader in the tenant's namespace" in namespaced
    assert "ClusterRole" not in namespaced
    without = render_notes(helm, tmp_path / "without", {"logView": {"enabled": False}})
    assert "kubectl simon-visma log" not in without
    assert "simon-visma log --tenant tenant-acme/acme" in without  # through the pod still
