"""Prometheus metrics per tenant (`namespace`, `name`) and loop, served on the operator's
metrics address and port.

Per loop: passes run and failed, how late a pass started, and when it last completed (a Unix
timestamp, 0 until the tenant's first success). How long passes take is a histogram per namespace
and loop: its buckets per tenant would be most of a thousand tenants' series. Per tenant: whether it
is switched on and whether it is Ready, whether the cleanup brake holds, how many archived work
orders wait to be sent, records written and documents sent.

A tenant's series exist from its start (`started`): an alert on the last-success timestamp or
on Ready also fires for a tenant that never got going. The status gauges and the last-success
timestamps follow the status the service reports (`report`), so they survive a restart of the
operator with the status. A deleted tenant's series are all removed (`forget`).
"""

from __future__ import annotations

from prometheus_client import (
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)

from reconcilers.loops.base import field_named
from reconcilers.resource.status import ConditionStatus, ConditionType, VismaIntegrationStatus
from reconcilers.runtime.runner import LOOPS, LoopOutcome

TENANT = ["namespace", "name"]
LOOP = [*TENANT, "loop"]
NAMESPACE_LOOP = ["namespace", "loop"]

# A scrape lists every series of every tenant: no `_created` series beside each counter and
# histogram (a thousand tenants would add tens of thousands of lines nobody alerts on).
disable_created_metrics()

PASS_BUCKETS = (0.01, 0.05, 0.25, 1.0, 5.0, 30.0, 120.0, 600.0)
"""Seconds, from an orders pass with nothing to send to a first master-data import."""

RUNS = Counter("simon_visma_loop_runs", "Loop passes run", LOOP)
FAILURES = Counter("simon_visma_loop_failures", "Loop passes that could not complete", LOOP)
PASS_DURATION = Histogram("simon_visma_loop_pass_duration_seconds",
                          "How long a loop's pass took, over the tenants of a namespace",
                          NAMESPACE_LOOP, buckets=PASS_BUCKETS)
LAST_SUCCESS = Gauge("simon_visma_loop_last_success_timestamp_seconds",
                     "When the loop last completed a pass (Unix time); 0 until the first",
                     LOOP)
LAG = Gauge("simon_visma_schedule_lag_seconds",
            "How late the loop's last pass started after it was due", LOOP)
READY = Gauge("simon_visma_tenant_ready", "1 while the tenant's Ready condition is True",
              TENANT)
ENABLED = Gauge("simon_visma_tenant_enabled",
                "1 while the tenant is switched on (spec.enabled, the Active condition)", TENANT)
CLEANUP_HELD = Gauge("simon_visma_cleanup_held",
                     "1 while the cleanup brake holds removals back (CleanupHeld)", TENANT)
ORDERS_WAITING = Gauge("simon_visma_orders_waiting",
                       "Archived work orders waiting to be sent to Visma.net", TENANT)
RECORDS = Counter("simon_visma_records_written", "Records written to Simon by master data",
                  [*TENANT, "kind"])
DOCUMENTS = Counter("simon_visma_documents_sent", "Work orders sent to Visma.net as documents",
                    TENANT)
TENANTS_SERVED = Gauge("simon_visma_tenants_served",
                       "Tenants this operator process serves (runs the loops of)")

PER_LOOP = (RUNS, FAILURES, LAST_SUCCESS, LAG)
PER_TENANT = (READY, ENABLED, CLEANUP_HELD, ORDERS_WAITING, RECORDS, DOCUMENTS)


def labels_of(key: str) -> tuple[str, str]:
    """A tenant key ("namespace/name") as its `namespace` and `name` labels."""
    namespace, _, name = key.partition("/")
    return namespace, name


class _TenantMeter:
    """What a loop's result counts (`reconcilers.loops.base.Meter`), for one tenant."""

    def __init__(self, key: str) -> None:
        self.tenant = labels_of(key)

    def records_written(self, kind: str, count: int) -> None:
        RECORDS.labels(*self.tenant, kind).inc(count)

    def documents_sent(self, count: int) -> None:
        DOCUMENTS.labels(*self.tenant).inc(count)


def started(key: str) -> None:
    """A tenant starts: its loops' runs, failures and last success (0 until the first), and
    its Ready, cleanup-held and orders-waiting gauges exist from now on; values it already
    has (a restart of its service in this process) stay."""
    tenant = labels_of(key)
    for loop in LOOPS:
        for metric in (RUNS, FAILURES, LAST_SUCCESS):
            metric.labels(*tenant, loop.key)
    for gauge in (READY, ENABLED, CLEANUP_HELD, ORDERS_WAITING):
        gauge.labels(*tenant)


def observe(key: str, outcome: LoopOutcome) -> None:
    """One pass of a loop: its run, duration, lag and failure, and what a completed pass
    counts."""
    namespace, name = labels_of(key)
    labels = (namespace, name, outcome.loop.key)
    RUNS.labels(*labels).inc()
    PASS_DURATION.labels(namespace, outcome.loop.key).observe(outcome.duration)
    LAG.labels(*labels).set(outcome.lag)
    if not outcome.ok:
        FAILURES.labels(*labels).inc()
        return
    if outcome.result is not None:
        outcome.result.observe(_TenantMeter(key))


def report(key: str, status: VismaIntegrationStatus) -> None:
    """The status the service reports: Ready, Active and CleanupHeld (1 when True), the work
    orders waiting, and when each loop last completed (its section's lastSuccessTime)."""
    tenant = labels_of(key)
    for gauge, kind in ((READY, ConditionType.READY), (ENABLED, ConditionType.ACTIVE),
                        (CLEANUP_HELD, ConditionType.CLEANUP_HELD)):
        condition = status.get_condition(kind.value)
        held = condition is not None and condition.status == ConditionStatus.TRUE
        gauge.labels(*tenant).set(1 if held else 0)
    ORDERS_WAITING.labels(*tenant).set((status.orders.waiting or 0) if status.orders else 0)
    for loop in LOOPS:
        section = getattr(status, field_named(VismaIntegrationStatus, loop.name))
        when = getattr(section, "last_success_time", None)
        LAST_SUCCESS.labels(*tenant, loop.key).set(when.timestamp() if when else 0)


def forget(key: str) -> None:
    """Remove every series of a deleted tenant (S-74); the namespace's pass durations keep
    its passes."""
    namespace, name = labels_of(key)
    for metric in (*PER_LOOP, *PER_TENANT):
        metric.remove_by_labels({"namespace": namespace, "name": name})


def serve(address: str, port: int) -> None:
    """Serve the metrics on `address`:`port` (a thread of this process; scrapes are not
    logged)."""
    start_http_server(port, addr=address)
