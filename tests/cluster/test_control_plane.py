"""The local control plane itself: version, apply, RBAC enforcement, helm."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.fixtures.cluster import ControlPlane, local

pytestmark = pytest.mark.cluster


def test_version_is_the_pinned_kubernetes(control_plane: ControlPlane) -> None:
    expected = local.kubernetes_version()
    server = json.loads(control_plane.kubectl("get", "--raw", "/version", check=True).stdout)
    assert server["gitVersion"] == expected
    assert (server["major"], server["minor"]) == ("1", expected.split(".")[1])

    both = json.loads(control_plane.kubectl("version", "-o", "json", check=True).stdout)
    assert both["clientVersion"]["gitVersion"] == expected
    assert both["serverVersion"]["gitVersion"] == expected


def test_apply_namespaced_object(control_plane: ControlPlane, namespace: str) -> None:
    manifest = f"""
apiVersion: v1
kind: ConfigMap
metadata:
  name: greeting
  namespace: {namespace}
data:
  hello: world
"""
    applied = control_plane.kubectl("apply", "-f", "-", input=manifest)
    assert applied.returncode == 0, applied.stderr
    assert "configmap/greeting created" in applied.stdout

    got = control_plane.kubectl(
        "get", "configmap", "greeting", "-n", namespace, "-o", "json", check=True
    )
    assert json.loads(got.stdout)["data"] == {"hello": "world"}


def _get_secret(
    cp: ControlPlane, namespace: str, kubeconfig: Path, want_ok: bool, timeout: float = 10.0
) -> str:
    """``get secret`` as the token user; retry briefly because the RBAC authorizer reads
    Roles from an informer cache."""
    deadline = time.monotonic() + timeout
    while True:
        result = cp.kubectl(
            "get", "secret", "s3cret", "-n", namespace, "-o", "name", kubeconfig=kubeconfig
        )
        if (result.returncode == 0) == want_ok or time.monotonic() > deadline:
            return result.stdout + result.stderr
        time.sleep(0.2)


def test_rbac_is_enforced_for_service_account_tokens(
    control_plane: ControlPlane, namespace: str
) -> None:
    cp, ns = control_plane, namespace
    cp.kubectl("create", "serviceaccount", "reader", "-n", ns, check=True)
    cp.kubectl("create", "secret", "generic", "s3cret", "--from-literal=k=v", "-n", ns, check=True)
    sa_kubeconfig = cp.kubeconfig_for_token(cp.service_account_token("reader", ns))

    whoami = cp.kubectl(
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
        kubeconfig=sa_kubeconfig,
        check=True,
    )
    assert whoami.stdout == f"system:serviceaccount:{ns}:reader"

    refused = _get_secret(cp, ns, sa_kubeconfig, want_ok=False)
    assert "forbidden" in refused.lower(), refused

    cp.kubectl(
        "create", "role", "secret-reader", "--verb=get", "--resource=secrets", "-n", ns, check=True
    )
    cp.kubectl(
        "create",
        "rolebinding",
        "reader-can-read",
        "--role=secret-reader",
        f"--serviceaccount={ns}:reader",
        "-n",
        ns,
        check=True,
    )
    allowed = _get_secret(cp, ns, sa_kubeconfig, want_ok=True)
    assert allowed.strip() == "secret/s3cret", allowed

    # The Role grants get only: list is still refused.
    listed = cp.kubectl("get", "secrets", "-n", ns, kubeconfig=sa_kubeconfig)
    assert listed.returncode != 0 and "forbidden" in listed.stderr.lower()


def test_helm_runs_and_installs_a_chart(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    version = control_plane.helm("version", "--short", check=True)
    assert version.stdout.startswith("v3."), version.stdout

    chart = tmp_path / "tiny"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: tiny\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\n"
        "data:\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n"
    )
    installed = control_plane.helm("install", "tiny", str(chart), "-n", namespace)
    assert installed.returncode == 0, installed.stderr

    cm = control_plane.kubectl(
        "get", "configmap", "tiny-cm", "-n", namespace, "-o", "json", check=True
    )
    assert json.loads(cm.stdout)["data"]["kube"] == local.kubernetes_version()
