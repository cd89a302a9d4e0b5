"""Prometheus metrics per tenant and loop: runs, failures, records and documents sent, and
seconds since the last success (served on the operator's metrics port)."""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Gauge, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from reconcilers.runtime.runner import LoopOutcome

RUNS = Counter("simon_visma_loop_runs", "Loop passes run", ["tenant", "loop"])
FAILURES = Counter("simon_visma_loop_failures", "Loop passes that could not complete",
                   ["tenant", "loop"])
RECORDS = Counter("simon_visma_records_written", "Records written to Simon by master data",
                  ["tenant", "kind"])
LAG = Gauge("simon_visma_schedule_lag_seconds",
            "How late the loop's last pass started after it was due", ["tenant", "loop"])
DOCUMENTS = Counter("simon_visma_documents_sent", "Work orders sent to Visma.net as documents",
                    ["tenant"])
TENANTS_SERVED = Gauge("simon_visma_tenants_served",
                       "Tenants this operator process serves (runs the loops of)")


class _SinceLastSuccess(Collector):
    def __init__(self) -> None:
        self.last: dict[tuple[str, str], float] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "simon_visma_seconds_since_last_success",
            "Seconds since the loop last completed", labels=["tenant", "loop"])
        now = time.time()
        for (tenant, loop), when in sorted(self.last.items()):
            family.add_metric([tenant, loop], now - when)
        yield family


SINCE_LAST_SUCCESS = _SinceLastSuccess()
REGISTRY.register(SINCE_LAST_SUCCESS)


class _TenantMeter:
    """What a loop's result counts (`reconcilers.loops.base.Meter`), for one tenant."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant

    def records_written(self, kind: str, count: int) -> None:
        RECORDS.labels(self.tenant, kind).inc(count)

    def documents_sent(self, count: int) -> None:
        DOCUMENTS.labels(self.tenant).inc(count)


def observe(tenant: str, outcome: LoopOutcome) -> None:
    """One pass of a loop: its run, lag and failure, and what a completed pass counts."""
    loop = outcome.loop.key
    RUNS.labels(tenant, loop).inc()
    LAG.labels(tenant, loop).set(outcome.lag)
    if not outcome.ok:
        FAILURES.labels(tenant, loop).inc()
        return
    SINCE_LAST_SUCCESS.last[(tenant, loop)] = time.time()
    if outcome.result is not None:
        outcome.result.observe(_TenantMeter(tenant))


def forget(tenant: str) -> None:
    """Drop a deleted tenant's series (S-74)."""
    for metric in (RUNS, FAILURES, RECORDS, DOCUMENTS, LAG):
        for key in [k for k in metric._metrics if k[0] == tenant]:
            metric.remove(*key)
    for key in [k for k in SINCE_LAST_SUCCESS.last if k[0] == tenant]:
        del SINCE_LAST_SUCCESS.last[key]


def serve(port: int) -> None:
    start_http_server(port)
