"""Fixtures for the cluster tests: the CRD on the session's kube-apiserver, a `kube` helper that
applies, reads and cleans up VismaIntegrations, emulator-backed tenants, and the operator as a
real process (`tests/cluster/operator_process.py`).

The emulators run in the test process; the operator runs as a subprocess that reaches them over
HTTP and reaches the API server with a kubeconfig (admin, or a ServiceAccount token).
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from emulators.launch import tenant_manifests
from emulators.server import EmulatorServer
from emulators.simon.data import populate
from emulators.visma.data import generate_visma_tenant
from tests.cluster.operator_process import REPO, OperatorProcess
from tests.fixtures.cluster import ControlPlane

CRD = REPO / "crds" / "vismaintegrations.yaml"
CRD_NAME = "vismaintegrations.simon-visma.io"
FINALIZER = "simon-visma.io/finalizer"
RUN_REQUESTED = "simon-visma.io/run-requested-at"
POLL = 0.25

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], timeout: float, what: str,
              explain: Callable[[], str] | None = None) -> T:
    """Poll `probe` every POLL seconds until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f"\n{explain()}" if explain else ""
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}{detail}")
        time.sleep(POLL)


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return c
    return None


def condition_is(obj: dict[str, Any] | None, kind: str, status: str,
                 reason: str | None = None) -> bool:
    c = condition(obj or {}, kind)
    return c is not None and c["status"] == status and (reason is None or c["reason"] == reason)


@pytest.fixture(scope="session")
def crd(control_plane: ControlPlane) -> str:
    """The VismaIntegration CRD, applied once and Established."""
    control_plane.kubectl("apply", "-f", str(CRD), check=True)
    control_plane.kubectl("wait", "--for=condition=Established", f"crd/{CRD_NAME}",
                          "--timeout=60s", check=True)
    return CRD_NAME


class Kube:
    """kubectl as a user would use it, plus clean-up of every VismaIntegration it made."""

    def __init__(self, cp: ControlPlane) -> None:
        self.cp = cp
        self.made: list[tuple[str, str]] = []

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                kubeconfig: Path | None = None) -> Any:
        result = self.cp.kubectl(*args, input=input, kubeconfig=kubeconfig)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result

    def apply(self, *objects: dict[str, Any], strict: bool = True, check: bool = True) -> Any:
        """`kubectl apply --validate=strict` of the objects (one YAML stream, so the API
        server validates each); remembers tenants."""
        stream = "\n---\n".join(json.dumps(obj) for obj in objects)
        args = ["apply", "-f", "-"] + (["--validate=strict"] if strict else [])
        result = self.kubectl(*args, input=stream, check=check)
        for obj in objects:
            if obj["kind"] == "VismaIntegration" and result.returncode == 0:
                key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
                if key not in self.made:
                    self.made.append(key)
        return result

    def get(self, resource: str, name: str, namespace: str) -> dict[str, Any] | None:
        result = self.kubectl("get", resource, name, "-n", namespace, "-o", "json", check=False)
        if result.returncode != 0:
            if "NotFound" in result.stderr or "not found" in result.stderr:
                return None
            raise AssertionError(result.stderr)
        return json.loads(result.stdout)

    def vi(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.get("vismaintegrations.simon-visma.io", name, namespace)

    def patch_spec(self, namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        result = self.kubectl("patch", "vismaintegrations.simon-visma.io", name, "-n", namespace,
                              "--type=merge", "-p", json.dumps({"spec": spec}), "-o", "json")
        return json.loads(result.stdout)

    def run_now(self, namespace: str, name: str, timeout: float = 60) -> dict[str, Any]:
        """Ask the operator to run every loop of a tenant now, as a user does (a fresh value of
        the run-now annotation), and wait until status says it was handled: every loop
        completed a pass that began after the request (or none could run). The resource."""
        value = f"{uuid.uuid4().hex}"
        self.kubectl("annotate", "--overwrite", "vismaintegrations.simon-visma.io", name, "-n",
                     namespace, f"{RUN_REQUESTED}={value}")

        def handled() -> dict[str, Any] | None:
            obj = self.vi(namespace, name)
            return obj if obj and (obj.get("status") or {}).get("lastRunRequest") == value \
                else None

        return wait_for(handled, timeout, f"{namespace}/{name}: the run request handled",
                        lambda: json.dumps((self.vi(namespace, name) or {}).get("status")))

    def events(self, namespace: str, name: str | None = None) -> list[dict[str, Any]]:
        """Core v1 Events of the namespace, those about VismaIntegration `name` when given."""
        items = json.loads(self.kubectl("get", "events", "-n", namespace, "-o",
                                        "json").stdout)["items"]
        return [e for e in items
                if name is None or (e["involvedObject"].get("kind") == "VismaIntegration"
                                    and e["involvedObject"].get("name") == name)]

    def reasons(self, namespace: str, name: str) -> set[str]:
        return {e["reason"] for e in self.events(namespace, name)}

    def delete_vi(self, namespace: str, name: str, timeout: float = 30) -> Any:
        return self.kubectl("delete", "vismaintegrations.simon-visma.io", name, "-n", namespace,
                            f"--timeout={timeout:g}s", check=False)

    def cleanup(self) -> None:
        """Delete every tenant made here; strip finalizers no operator removes any more, so
        no later operator finds a stray tenant."""
        for namespace, name in self.made:
            self.kubectl("delete", "vismaintegrations.simon-visma.io", name, "-n", namespace,
                         "--wait=false", "--ignore-not-found", check=False)
            if self.vi(namespace, name) is not None:
                self.kubectl("patch", "vismaintegrations.simon-visma.io", name, "-n", namespace,
                             "--type=merge", "-p", '{"metadata":{"finalizers":null}}',
                             check=False)


@pytest.fixture
def kube(control_plane: ControlPlane, crd: str) -> Iterator[Kube]:
    helper = Kube(control_plane)
    yield helper
    helper.cleanup()


@pytest.fixture
def new_namespace(control_plane: ControlPlane) -> Callable[[], str]:
    """Make one more fresh namespace (the `namespace` fixture gives the first)."""

    def make() -> str:
        name = f"test-{uuid.uuid4().hex[:10]}"
        control_plane.kubectl("create", "namespace", name, check=True)
        return name

    return make


# --------------------------------------------------------------------------- tenants


FAST_SCHEDULE = {"masterData": "10s", "orders": "10s", "imports": "10s"}
"""The shortest intervals the CRD allows; a test that needs a pass now asks for one
(`Kube.run_now`)."""


@dataclass
class EmulatedTenant:
    """A VismaIntegration for a Visma.net company and a Simon in `server`, with credentials
    of its own whose values are unique strings (so a leak is easy to find, S-82)."""

    server: EmulatorServer
    namespace: str
    name: str
    tenant_id: str
    resource: dict[str, Any]
    secrets: list[dict[str, Any]]
    secret_values: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def manifests(self) -> list[dict[str, Any]]:
        return [*self.secrets, self.resource]

    def company(self) -> Any:
        return self.server.visma.company(self.tenant_id)


def emulated_tenant(server: EmulatorServer, namespace: str, name: str = "acme", *,
                    customers: int = 12, items: int = 8, seed: int = 1,
                    spec: dict[str, Any] | None = None) -> EmulatedTenant:
    """A generated Visma.net company (own tenant id) and a populated Simon in `server`, their
    credentials (fresh random values) and the tenant's manifests, for a fast schedule."""
    tenant_id = str(uuid.uuid4())
    tag = uuid.uuid4().hex
    client_id, client_secret = f"client-{tag[:8]}", f"visma-secret-{tag}"
    license_key, user, password = f"licence-{tag}", f"api-{tag[:8]}", f"simon-password-{tag}"

    def seed_data() -> None:
        generate_visma_tenant(server.visma, customers=customers, items=items, seed=seed,
                              tenant_id=tenant_id)
        server.visma.add_client(client_id, client_secret, [tenant_id])
        populate(server.simon, seed=seed)
        server.simon.add_login(license_key, user, password)

    server.call(seed_data)
    resource, secrets = tenant_manifests(server.url, tenant_id)
    resource["metadata"] = {"name": name, "namespace": namespace}
    resource["spec"]["schedule"] = dict(FAST_SCHEDULE)
    resource["spec"]["visma"]["credentialsSecretRef"]["name"] = f"{name}-visma"
    resource["spec"]["simon"]["credentialsSecretRef"]["name"] = f"{name}-simon"
    for key, value in (spec or {}).items():
        if isinstance(value, dict) and isinstance(resource["spec"].get(key), dict):
            resource["spec"][key].update(value)
        else:
            resource["spec"][key] = value
    visma_secret, simon_secret = secrets
    visma_secret["metadata"] = {"name": f"{name}-visma", "namespace": namespace}
    visma_secret["stringData"] = {"clientId": client_id, "clientSecret": client_secret}
    simon_secret["metadata"] = {"name": f"{name}-simon", "namespace": namespace}
    simon_secret["stringData"] = {"licenseKey": license_key, "username": user,
                                  "password": password}
    return EmulatedTenant(server, namespace, name, tenant_id, resource, secrets,
                          [client_secret, license_key, password])


@pytest.fixture
def start_operator(control_plane: ControlPlane, kube: Kube,
                   tmp_path: Path) -> Iterator[Callable[..., OperatorProcess]]:
    """Start operator processes (admin kubeconfig unless given); all are stopped at the end.
    Depends on `kube`, so tenants are cleaned up after the operators stopped."""
    started: list[OperatorProcess] = []

    def start(kubeconfig: Path | None = None, **options: Any) -> OperatorProcess:
        workdir = tmp_path / f"operator-{len(started)}"
        process = OperatorProcess(workdir, kubeconfig or control_plane.kubeconfig, **options)
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def operator(start_operator: Callable[..., OperatorProcess]) -> OperatorProcess:
    """One operator process with the control plane's admin kubeconfig, `--all-namespaces`."""
    return start_operator()


# --------------------------------------------------------------------------- waiting

READY_TIMEOUT = 60


def explain(kube: Kube, tenant: EmulatedTenant,
            operator: OperatorProcess) -> Callable[[], str]:
    def text() -> str:
        obj = kube.vi(tenant.namespace, tenant.name) or {}
        events = [(e["type"], e["reason"], e["message"])
                  for e in kube.events(tenant.namespace, tenant.name)]
        return (f"status: {json.dumps(obj.get('status'), indent=1)}\nevents: {events}\n"
                f"operator output (tail):\n{operator.tail()}")

    return text


def wait_until(kube: Kube, tenant: EmulatedTenant, operator: OperatorProcess, what: str,
               check: Any, timeout: float = READY_TIMEOUT) -> dict[str, Any]:
    """Poll the resource until `check(obj)` holds; the resource."""

    def probe() -> dict[str, Any] | None:
        obj = kube.vi(tenant.namespace, tenant.name)
        return obj if obj is not None and check(obj) else None

    return wait_for(probe, timeout, f"{tenant.key}: {what}", explain(kube, tenant, operator))


def wait_ready(kube: Kube, tenant: EmulatedTenant, operator: OperatorProcess,
               timeout: float = READY_TIMEOUT) -> dict[str, Any]:
    def ready(obj: dict[str, Any]) -> bool:
        generation = obj["metadata"]["generation"]
        return (condition_is(obj, "Ready", "True")
                and obj["status"].get("observedGeneration") == generation
                and condition(obj, "Ready")["observedGeneration"] == generation)  # type: ignore[index]

    return wait_until(kube, tenant, operator, "Ready=True", ready, timeout)


def wait_event(kube: Kube, tenant: EmulatedTenant, operator: OperatorProcess, reason: str,
               containing: str = "", timeout: float = 20) -> dict[str, Any]:
    """The latest Event about the tenant with this reason (and text in its message)."""

    def probe() -> dict[str, Any] | None:
        found = [e for e in kube.events(tenant.namespace, tenant.name)
                 if e["reason"] == reason and containing in e["message"]]
        found.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
        return found[-1] if found else None

    return wait_for(probe, timeout, f"{tenant.key}: an Event {reason} {containing!r}",
                    explain(kube, tenant, operator))


def loop_runs(operator: OperatorProcess, tenant_key: str, loop: str) -> int:
    """How many passes of `loop` the operator has finished for a tenant (its metrics)."""
    namespace, _, name = tenant_key.partition("/")
    pattern = (rf'^simon_visma_loop_runs_total\{{loop="{re.escape(loop)}",'
               rf'name="{re.escape(name)}",namespace="{re.escape(namespace)}"\}} ([0-9.]+)$')
    found = re.search(pattern, operator.metrics(), re.MULTILINE)
    return int(float(found.group(1))) if found else 0


def wait_passes(operator: OperatorProcess, tenant_key: str, loop: str, more: int,
                timeout: float = 120) -> None:
    """Wait until the operator finished `more` further passes of `loop` for a tenant: how a
    test lets time pass on the operator's own clock when it checks that something does NOT
    happen (another tenant of the same process is the witness)."""
    start = loop_runs(operator, tenant_key, loop)
    wait_for(lambda: loop_runs(operator, tenant_key, loop) >= start + more, timeout,
             f"{more} more {loop} passes of {tenant_key}", explain=lambda: operator.tail())


def assert_no_secret_leaks(kube: Kube, operator: OperatorProcess, namespaces: list[str],
                           *tenants: EmulatedTenant) -> None:
    """S-82: no secret value (plain or base64) in the operator's stdout/stderr, an Event or a
    VismaIntegration (status, annotations, anything)."""
    plain = [v for t in tenants for v in t.secret_values]
    assert plain and all(len(v) > 20 for v in plain)
    values = plain + [base64.b64encode(v.encode()).decode().rstrip("=") for v in plain]
    places = {"operator stdout": operator.stdout(), "operator stderr": operator.stderr()}
    for namespace in namespaces:
        places[f"events in {namespace}"] = json.dumps(kube.events(namespace))
        places[f"vismaintegrations in {namespace}"] = kube.kubectl(
            "get", "vismaintegrations", "-n", namespace, "-o", "json").stdout
    assert places["operator stderr"], "the operator printed nothing at all"
    for where, text in places.items():
        for value in values:
            assert value not in text, f"a secret value appears in {where}"
