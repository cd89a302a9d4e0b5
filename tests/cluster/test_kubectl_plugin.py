"""`kubectl simon-visma log` on the real kube-apiserver: the plugin reads the VismaIntegration
with the caller's token, then the operator's log view through the API server's service proxy.

No pods run here, so the operator runs as a process on this machine, a Pod object stands for
it (its status gives this machine's non-loopback address: the API server refuses to proxy to
loopback, and proxies only to endpoints that are pods), and the log view Service has no
selector but an EndpointSlice naming that Pod and the operator's log view port. The
callers are ServiceAccount tokens with exactly the log-reader permissions (get on
vismaintegrations, get on services/proxy of that one Service), or less.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconcilers.store import open_store
from tests.cluster.conftest import Kube
from tests.cluster.operator_process import REPO, OperatorProcess
from tests.fixtures.cluster import ControlPlane

pytestmark = pytest.mark.cluster

SERVICE = "simon-visma-log-view"
POD = "simon-visma-operator"
BIN = Path(sys.executable).parent
PLUGIN = BIN / "kubectl-simon_visma"
HOSTILE_KEY = "WO-1\x1b[2J\u202e"
HOSTILE_MESSAGE = "Klant \x1b]0;pwned\x07 weg\x1b[31m rood\tand\nmore \ud83d"


def this_machine_address() -> str:
    """This machine's address on its default route: the API server may proxy to it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.254", 9))  # no packet is sent: this only picks the route
        except OSError:
            pytest.skip("this machine has no IPv4 route, so no address the API server may "
                        "proxy to")
        address = str(probe.getsockname()[0])
    if ipaddress.ip_address(address).is_loopback:
        pytest.skip("this machine has only a loopback address, to which the API server "
                    "refuses to proxy")
    return address


def tenant_resource(namespace: str, name: str) -> dict[str, Any]:
    resource = yaml.safe_load((REPO / "examples" / "tenant.yaml").read_text())
    resource["metadata"] = {"name": name, "namespace": namespace}
    return dict(resource)


def service(namespace: str, name: str, port: int) -> dict[str, Any]:
    """A Service without selector, port `http`, as the chart's log view Service (whose pods
    are the operator's)."""
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"ports": [{"name": "http", "port": 8081, "targetPort": port,
                                "protocol": "TCP"}]}}


def operator_pod(kube: Kube, namespace: str, name: str, address: str) -> None:
    """A Pod object standing for the operator's pod: the API server proxies only to an
    endpoint that names a Pod with that address. No kubelet runs it; its status says where
    it is (this machine, where the operator runs as a process)."""
    kube.apply({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"containers": [{"name": "operator", "image": "simon-visma:test"}]}})
    kube.kubectl("patch", "pod", name, "-n", namespace, "--subresource=status", "--type=merge",
                 "-p", json.dumps({"status": {"podIP": address, "podIPs": [{"ip": address}]}}))


def endpoint_slice(namespace: str, service: str, pod: str, address: str,
                   port: int) -> dict[str, Any]:
    """What the EndpointSlice controller would make for the Service selecting that pod."""
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{service}-1", "namespace": namespace,
                         "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [address], "conditions": {"ready": True},
                           "targetRef": {"kind": "Pod", "namespace": namespace, "name": pod}}],
            "ports": [{"name": "http", "port": port, "protocol": "TCP"}]}


@dataclass
class Setup:
    cp: ControlPlane
    operator: OperatorProcess
    tenant_namespace: str
    operator_namespace: str
    reader: Path
    """A kubeconfig with the log-reader permissions."""
    outsider: Path
    """A kubeconfig with get on services/proxy of the Service only."""


@pytest.fixture
def setup(control_plane: ControlPlane, kube: Kube, namespace: str,
          new_namespace: Callable[[], str],
          start_operator: Callable[..., OperatorProcess], tmp_path: Path) -> Iterator[Setup]:
    address = this_machine_address()
    operator_namespace = new_namespace()
    # The operator serves no tenant (its own namespace only): the test writes the log.
    operator = start_operator(namespaces=[operator_namespace])
    kube.apply(tenant_resource(namespace, "acme"), tenant_resource(namespace, "beta"))
    operator_pod(kube, operator_namespace, POD, address)
    kube.apply(service(operator_namespace, SERVICE, operator.log_view_port),
               endpoint_slice(operator_namespace, SERVICE, POD, address,
                              operator.log_view_port))
    asyncio.run(write_log(operator.database_url, f"{namespace}/acme"))

    role = f"log-reader-{uuid.uuid4().hex[:8]}"
    rbac = [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": "reader", "namespace": operator_namespace}},
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": "outsider", "namespace": operator_namespace}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": role},
         "rules": [{"apiGroups": ["simon-visma.io"], "resources": ["vismaintegrations"],
                    "verbs": ["get"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": role},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": role},
         "subjects": [{"kind": "ServiceAccount", "name": "reader",
                       "namespace": operator_namespace}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": "log-reader", "namespace": operator_namespace},
         "rules": [{"apiGroups": [""], "resources": ["services/proxy"], "verbs": ["get"],
                    "resourceNames": [SERVICE, f"{SERVICE}:http"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "log-reader", "namespace": operator_namespace},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                     "name": "log-reader"},
         "subjects": [{"kind": "ServiceAccount", "name": account,
                       "namespace": operator_namespace}
                      for account in ("reader", "outsider")]},
    ]
    kube.apply(*rbac)
    kubeconfigs = {
        account: control_plane.kubeconfig_for_token(
            control_plane.service_account_token(account, operator_namespace),
            tmp_path / f"{account}.kubeconfig")
        for account in ("reader", "outsider")}
    try:
        yield Setup(control_plane, operator, namespace, operator_namespace,
                    kubeconfigs["reader"], kubeconfigs["outsider"])
    finally:
        kube.kubectl("delete", "clusterrolebinding,clusterrole", role, "--ignore-not-found",
                     check=False)


async def write_log(database_url: str, tenant: str) -> None:
    store = await open_store(database_url)
    try:
        log = store.tenant(tenant).log
        await log.info("customer", "C-1", "customer added")
        await log.warning("item", "I-7", "description cut to 30 characters",
                          "shorten it in Visma.net")
        await log.error("workorder", HOSTILE_KEY, HOSTILE_MESSAGE, "check \x1b[H the customer")
        await log.error("workorder", "WO-2", "no customer", "link a customer in Simon")
        await log.resolve("workorder", "WO-2")
    finally:
        await store.close()


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "NO_COLOR")}
    env.update(extra)
    return env


def plugin(s: Setup, *args: str, kubeconfig: Path | None = None,
           operator_namespace: str | None = None) -> subprocess.CompletedProcess[str]:
    """`kubectl-simon_visma log ...` as the reader unless another kubeconfig is given."""
    return subprocess.run(
        [str(PLUGIN), "log", *args, "--operator-namespace",
         operator_namespace or s.operator_namespace,
         "--kubeconfig", str(kubeconfig or s.reader)],
        capture_output=True, text=True, env=environment(), timeout=120, check=False)


def simon_visma_log(s: Setup, *args: str) -> str:
    """What `simon-visma log` prints for the same tenant from the operator's database."""
    done = subprocess.run(
        [str(BIN / "simon-visma"), "log", "--tenant", f"{s.tenant_namespace}/acme",
         "--database", s.operator.database_url, *args],
        capture_output=True, text=True, env=environment(), timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def one_line_error(done: subprocess.CompletedProcess[str], says: str) -> None:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("kubectl simon-visma: ") and says in done.stderr, done.stderr


def test_the_plugin_prints_what_simon_visma_log_prints(setup: Setup) -> None:
    """Through the API server's service proxy, with only the log-reader permissions: the
    same table, the same at-least severities, the same JSON lines, escapes shown escaped."""
    s = setup
    for args in ([], ["--severity", "warning"], ["--severity", "error"], ["--all"],
                 ["--limit", "1"], ["--json"], ["--json", "--all", "--severity", "error"]):
        done = plugin(s, "-n", s.tenant_namespace, "acme", *args)
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
        assert done.stdout == simon_visma_log(s, *args), args
    table = plugin(s, "-n", s.tenant_namespace, "acme").stdout
    assert "description cut to 30 characters" in table and "WO-1\\x1b[2J\\u202e" in table
    assert "\x1b" not in table and "WO-2" not in table  # resolved: only with --all
    lines = plugin(s, "-n", s.tenant_namespace, "acme", "--json", "--severity", "error").stdout
    assert lines.isascii()
    assert [json.loads(line)["key"] for line in lines.splitlines()] == [HOSTILE_KEY]


def test_kubectl_finds_the_plugin_on_path(setup: Setup) -> None:
    """`kubectl simon-visma log` runs the console script; KUBECONFIG and the context's
    namespace are kubectl's."""
    s = setup
    config = yaml.safe_load(s.reader.read_text())
    config["contexts"][0]["context"]["namespace"] = s.tenant_namespace
    s.reader.write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [str(s.cp.bin / "kubectl"), "simon-visma", "log", "acme", "--severity", "error",
         "--operator-namespace", s.operator_namespace],
        capture_output=True, text=True, timeout=120, check=False,
        env=environment(PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                        KUBECONFIG=str(s.reader)))
    assert done.returncode == 0, done.stderr
    assert done.stdout == simon_visma_log(s, "--severity", "error")


def test_no_get_on_the_resource_is_refused(setup: Setup) -> None:
    """The caller's RBAC on the VismaIntegration decides, even with access to the proxy."""
    s = setup
    one_line_error(plugin(s, "-n", s.tenant_namespace, "acme", kubeconfig=s.outsider),
                   f"you may not read vismaintegration acme in namespace {s.tenant_namespace}: "
                   "ask for get on vismaintegrations.simon-visma.io")


def test_credentials_the_api_server_does_not_accept(setup: Setup, tmp_path: Path) -> None:
    s = setup
    stranger = s.cp.kubeconfig_for_token("not-a-token-of-this-cluster", tmp_path / "stranger")
    done = plugin(s, "-n", s.tenant_namespace, "acme", kubeconfig=stranger)
    one_line_error(done, "did not accept your credentials: log in again")
    assert "not-a-token-of-this-cluster" not in done.stderr


def test_no_such_resource(setup: Setup) -> None:
    one_line_error(plugin(setup, "-n", setup.tenant_namespace, "nobody"),
                   f"there is no vismaintegration nobody in namespace {setup.tenant_namespace}")


def test_a_resource_the_operator_has_no_log_for(setup: Setup) -> None:
    one_line_error(plugin(setup, "-n", setup.tenant_namespace, "beta"),
                   f"the operator has no integration log for {setup.tenant_namespace}/beta")


def test_no_proxy_permission_on_another_service(setup: Setup, kube: Kube) -> None:
    s = setup
    kube.apply(service(s.operator_namespace, "elsewhere", s.operator.log_view_port))
    done = plugin(s, "-n", s.tenant_namespace, "acme", "--service", "elsewhere")
    one_line_error(done, f"you may not read the integration log through the Service "
                         f"{s.operator_namespace}/elsewhere: ask for get on services/proxy")


def test_a_missing_service_as_a_log_reader(setup: Setup) -> None:
    """The API server answers a missing Service like one without endpoints, and a log reader
    may not read Services to tell them apart: the message names both."""
    s = setup
    cp = s.cp
    role = [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": "nowhere-reader", "namespace": s.operator_namespace},
         "rules": [{"apiGroups": [""], "resources": ["services/proxy"], "verbs": ["get"],
                    "resourceNames": ["nowhere", "nowhere:http"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "nowhere-reader", "namespace": s.operator_namespace},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                     "name": "nowhere-reader"},
         "subjects": [{"kind": "ServiceAccount", "name": "reader",
                       "namespace": s.operator_namespace}]}]
    cp.kubectl("apply", "-f", "-", input="\n---\n".join(json.dumps(o) for o in role),
               check=True)
    done = plugin(s, "-n", s.tenant_namespace, "acme", "--service", "nowhere")
    one_line_error(done, f"the log view Service {s.operator_namespace}/nowhere is missing or "
                         "has no ready endpoint: check that the operator is running")
    assert "logView.enabled" in done.stderr


def test_a_missing_or_unreachable_service_says_what_to_check(setup: Setup, kube: Kube) -> None:
    """With every permission (the admin): no Service, a Service without endpoints, and one
    whose endpoint has nothing listening each say what to check."""
    s = setup
    admin = s.cp.kubeconfig
    missing = plugin(s, "-n", s.tenant_namespace, "acme", "--service", "nowhere",
                     kubeconfig=admin)
    one_line_error(missing, f"there is no log view Service {s.operator_namespace}/nowhere: "
                            "check that the operator is installed there")

    kube.apply(service(s.operator_namespace, "idle", s.operator.log_view_port))
    idle = plugin(s, "-n", s.tenant_namespace, "acme", "--service", "idle", kubeconfig=admin)
    one_line_error(idle, f"the log view Service {s.operator_namespace}/idle has no ready "
                         f"endpoint: check that the operator is running (kubectl get pods "
                         f"-n {s.operator_namespace})")

    with socket.socket() as unused:
        unused.bind(("0.0.0.0", 0))  # bound, never listening: a connection is refused
        port = unused.getsockname()[1]
        kube.apply(service(s.operator_namespace, "stale", port),
                   endpoint_slice(s.operator_namespace, "stale", POD, this_machine_address(),
                                  port))
        stale = plugin(s, "-n", s.tenant_namespace, "acme", "--service", "stale",
                       kubeconfig=admin)
    one_line_error(stale, f"the API server could not reach the operator behind the Service "
                          f"{s.operator_namespace}/stale")
    assert "logView.port" in stale.stderr
