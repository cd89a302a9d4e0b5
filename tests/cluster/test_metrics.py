"""The operator's metrics and logs as a platform team sees them: `kopf run --log-format=json`
against the real API server, metrics on the address and port it is given (and no other).

One tenant from apply to deletion: its series carry `namespace` and `name`, Ready is 1 and
each loop's last success and pass duration are there once it is Ready; a Simon that refuses
its password is a JSON line naming the tenant and the loop, and Ready 0; a liveness probe
leaves no line; no line holds a credential; deleting the tenant removes its series."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from emulators.server import EmulatorServer
from reconcilers.runtime.logs import LIVENESS_PATH
from tests.cluster.conftest import (
    Kube,
    assert_no_secret_leaks,
    emulated_tenant,
    wait_for,
    wait_ready,
)
from tests.cluster.operator_process import OperatorProcess, http_get

pytestmark = pytest.mark.cluster

LOOPS = ("masterdata", "cleanup", "orders", "imports")
SCHEDULE = {"masterData": "10s", "orders": "10s", "imports": "10s", "cleanup": "48h"}
"""Every loop passes once at the start; the test waits for no second pass."""


ADDRESS = "127.0.0.2"
"""The metrics address the operator is given: a loopback address of its own."""


def scrape(operator: OperatorProcess) -> str:
    status, text = http_get(f"http://{ADDRESS}:{operator.metrics_port}/metrics")
    assert status == 200, f"the metrics endpoint answered {status}"
    return text


def series(operator: OperatorProcess, namespace: str, name: str | None) -> dict[str, float]:
    """The tenant's samples in a scrape (with `name` None: the namespace's, series without a
    name), as "metric{other labels}" -> value."""
    found = {}
    for family in text_string_to_metric_families(scrape(operator)):
        for sample in family.samples:
            labels = dict(sample.labels)
            if labels.pop("namespace", None) == namespace and labels.pop("name", None) == name:
                found[f"{sample.name}{json.dumps(labels, sort_keys=True)}"] = sample.value
    return found


def json_lines(operator: OperatorProcess) -> list[dict[str, Any]]:
    return [json.loads(line) for line in operator.output().splitlines()
            if line.startswith("{")]


def test_a_tenant_in_the_metrics_and_the_json_logs_from_apply_to_deletion(
        kube: Kube, namespace: str, emulators: EmulatorServer, start_operator: Any) -> None:
    operator = start_operator(verbose=False, env={"KOPF_RUN_LOG_FORMAT": "json",
                                                  "SIMON_VISMA_METRICS_ADDRESS": ADDRESS})
    tenant = emulated_tenant(emulators, namespace, spec={"schedule": SCHEDULE})
    kube.apply(*tenant.manifests())
    wait_ready(kube, tenant, operator)

    def ready_is(value: float) -> bool:
        return series(operator, namespace, tenant.name).get("simon_visma_tenant_ready{}") == value

    wait_for(lambda: ready_is(1.0), 30, "the Ready gauge at 1")
    found = series(operator, namespace, tenant.name)
    durations = series(operator, namespace, None)
    for loop in LOOPS:
        labels = json.dumps({"loop": loop})
        assert found[f"simon_visma_loop_last_success_timestamp_seconds{labels}"] > 0, loop
        assert durations[f"simon_visma_loop_pass_duration_seconds_count{labels}"] >= 1, loop
        assert found[f"simon_visma_loop_runs_total{labels}"] >= 1, loop
    assert "tenant=" not in scrape(operator)
    assert http_get(operator.metrics_url)[0] == 0  # only on the address it was given

    # Simon refuses the password of another Secret the tenant is pointed at.
    simon = copy.deepcopy(tenant.secrets[1])
    simon["metadata"]["name"] = f"{tenant.name}-simon-wrong"
    simon["stringData"]["password"] = "wrong-password-7d1e0c55b2a94f3e"
    tenant.secret_values.append(simon["stringData"]["password"])
    kube.apply(simon)
    kube.patch_spec(namespace, tenant.name,
                    {"simon": {"credentialsSecretRef": {"name": simon["metadata"]["name"]}}})

    def refused() -> list[dict[str, Any]]:
        return [line for line in json_lines(operator)
                if "loop could not complete" in str(line.get("message"))
                and line.get("namespace") == namespace]

    lines = wait_for(refused, 60, "a JSON line about a refused pass")
    assert all(line["name"] == tenant.name and line["loop"] in LOOPS for line in lines)
    wait_for(lambda: ready_is(0.0), 60, "the Ready gauge at 0")

    # The liveness probe answers, and leaves no line (kopf's nor the HTTP server's); nor
    # does a scrape.
    for _ in range(3):
        assert operator.liveness()[0] == 200
        scrape(operator)
    quiet = [line for line in json_lines(operator)
             if LIVENESS_PATH in str(line.get("message"))
             or "/metrics" in str(line.get("message"))
             or "Activity 'loops'" in str(line.get("message"))]
    assert quiet == []
    assert_no_secret_leaks(kube, operator, [namespace], tenant)

    assert kube.delete_vi(namespace, tenant.name).returncode == 0
    wait_for(lambda: not series(operator, namespace, tenant.name) or None, 30,
             "every series of the deleted tenant gone")
