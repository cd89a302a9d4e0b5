"""The operator's metrics as Prometheus scrapes them: over HTTP from the metrics server
(`metrics.serve`), while the service serves an emulator-backed tenant.

Series carry `namespace` and `name` (and `loop`) labels; a tenant's last-success timestamps exist
from its start at 0; a pass counts in its namespace's pass-duration histogram; the Ready gauge
follows the Ready condition; `forget` removes every series of the tenant."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconcilers.resource.status import ConditionType, VismaIntegrationStatus
from reconcilers.runtime import metrics
from reconcilers.runtime.runner import LOOPS
from tests.cluster.operator_process import free_port
from tests.runtime.conftest import ServedTenant, serving, wait_until

pytestmark = pytest.mark.anyio

SCHEDULE = {"schedule": {"masterData": "10s", "orders": "10s", "imports": "10s",
                         "cleanup": "48h"}}
"""Each loop's first pass comes at the start; the tests need no second one."""

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def scrape() -> Callable[[], Samples]:
    """Serve the metrics on a free local port; a scrape's samples by (name, labels)."""
    port = free_port()
    metrics.serve("127.0.0.1", port)

    def get() -> Samples:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
        return {(sample.name, frozenset(sample.labels.items())): sample.value
                for family in text_string_to_metric_families(text)
                for sample in family.samples}

    return get


def of(samples: Samples, metric: str, namespace: str, name: str | None) -> dict[str, float]:
    """The samples of one metric for one tenant (with `name` None: for the namespace, a
    series without a name), by their other labels ("loop=orders")."""
    found = {}
    for (sample, labels), value in samples.items():
        given = dict(labels)
        if (sample == metric and given.pop("namespace", None) == namespace
                and given.pop("name", None) == name):
            found[",".join(f"{k}={v}" for k, v in sorted(given.items()))] = value
    return found


async def test_a_tenant_is_measured_from_its_start_to_its_deletion(
        served: ServedTenant, scrape: Callable[[], Samples]) -> None:
    """A tenant whose Simon Secret is missing never completes a pass: its last-success timestamps
    exist at 0 for every loop and Ready is 0, so alerts on them fire. With the Secret there,
    every loop passes: the timestamps are the status's lastSuccessTime, the namespace's
    histogram counts the pass, Ready is 1. A Secret reference to a missing Secret makes Ready 0
    again. When the service stops (the resource is deleted, or another replica serves it now),
    no series of the tenant is left."""
    served = ServedTenant(served.world, SCHEDULE)
    cluster = served.cluster
    namespace, name = (cluster.resource["metadata"][k] for k in ("namespace", "name"))
    key = f"{namespace}/{name}"
    metrics.forget(key)  # another test of this process may have served the same tenant
    simon = cluster.resource["spec"]["simon"]["credentialsSecretRef"]["name"]
    secret = cluster.secrets.pop(simon)
    loops = {f"loop={loop.key}" for loop in LOOPS}

    async with serving(served.service()):
        await wait_until(lambda: cluster.condition_is("Ready", "False", "SecretInvalid"),
                         "Ready False for the missing Secret", cluster)
        samples = scrape()
        last = of(samples, "simon_visma_loop_last_success_timestamp_seconds", namespace, name)
        assert last == dict.fromkeys(loops, 0.0)
        assert of(samples, "simon_visma_tenant_ready", namespace, name) == {"": 0.0}
        assert of(samples, "simon_visma_loop_failures_total", namespace, name) == (
            dict.fromkeys(loops, 0.0))
        assert of(samples, "simon_visma_loop_pass_duration_seconds_count", namespace,
                  name) == {}
        # other tests of this process may have run passes in the namespace
        counted = of(samples, "simon_visma_loop_pass_duration_seconds_count", namespace, None)
        summed = of(samples, "simon_visma_loop_pass_duration_seconds_sum", namespace, None)

        cluster.secrets[simon] = secret  # the start is retried and the loops run
        await served.ready()
        await wait_until(lambda: of(scrape(), "simon_visma_tenant_ready", namespace, name)
                         == {"": 1.0}, "the Ready gauge at 1", cluster)
        samples = scrape()
        sections = {loop.key: loop.name for loop in LOOPS}
        last = of(samples, "simon_visma_loop_last_success_timestamp_seconds", namespace, name)
        for loop, section in sections.items():
            when = datetime.fromisoformat(cluster.last_success(section) or "")
            assert last[f"loop={loop}"] == when.replace(tzinfo=when.tzinfo or UTC).timestamp()
        counts = of(samples, "simon_visma_loop_pass_duration_seconds_count", namespace, None)
        assert loops <= set(counts)
        assert all(counts[loop] >= counted.get(loop, 0) + 1 for loop in loops)
        sums = of(samples, "simon_visma_loop_pass_duration_seconds_sum", namespace, None)
        assert all(sums[loop] > summed.get(loop, 0) for loop in loops)  # each took its time
        buckets = of(samples, "simon_visma_loop_pass_duration_seconds_bucket", namespace, None)
        for loop in loops:
            assert buckets[f"le=+Inf,{loop}"] == counts[loop]
            assert f"le=0.01,{loop}" in buckets and f"le=600.0,{loop}" in buckets
        runs = of(samples, "simon_visma_loop_runs_total", namespace, name)
        assert set(runs) == loops and all(value >= 1 for value in runs.values())

        cluster.change_spec({"simon": {"credentialsSecretRef": {"name": "not-there"}}})
        await wait_until(lambda: of(scrape(), "simon_visma_tenant_ready", namespace, name)
                         == {"": 0.0}, "the Ready gauge at 0", cluster)
        assert cluster.condition_is("Ready", "False")

    left = [sample for sample, labels in scrape()
            if ("namespace", namespace) in labels and ("name", name) in labels]
    assert left == []


def test_the_status_gauges_follow_the_reported_status(
        scrape: Callable[[], Samples]) -> None:
    """CleanupHeld and Active True are 1, the work orders waiting are status.orders.waiting; a
    status without them is 0 for each. No series has the old one-label tenant."""
    namespace, name = "runtime-test", "gauges"
    key = f"{namespace}/{name}"
    status = VismaIntegrationStatus.model_validate({"orders": {"waiting": 3}})
    status.set_condition(ConditionType.CLEANUP_HELD.value, True, "TooManyRemovals",
                         "Cleanup would remove too many records.", now=datetime.now(UTC))
    status.set_condition(ConditionType.ACTIVE.value, True, "Enabled", "Switched on.",
                         now=datetime.now(UTC))
    try:
        metrics.started(key)
        metrics.report(key, status)
        samples = scrape()
        assert of(samples, "simon_visma_cleanup_held", namespace, name) == {"": 1.0}
        assert of(samples, "simon_visma_orders_waiting", namespace, name) == {"": 3.0}
        assert of(samples, "simon_visma_tenant_enabled", namespace, name) == {"": 1.0}
        assert not any(dict(labels).get("tenant") for _, labels in samples)
        assert not any("seconds_since" in sample for sample, _ in samples)
        # The loop counters exist from the start, without a `_created` series beside each.
        assert of(samples, "simon_visma_loop_runs_total", namespace, name)
        assert not any(sample.endswith("_created") for sample, _ in samples)

        metrics.report(key, VismaIntegrationStatus())
        samples = scrape()
        assert of(samples, "simon_visma_cleanup_held", namespace, name) == {"": 0.0}
        assert of(samples, "simon_visma_orders_waiting", namespace, name) == {"": 0.0}
        assert of(samples, "simon_visma_tenant_enabled", namespace, name) == {"": 0.0}
    finally:
        metrics.forget(key)
