"""Metrics in the chart: bind address and port, the optional ServiceMonitor, PrometheusRule and
Grafana dashboard, and that every metric an alert or a panel reads is one the operator exports
(reconcilers.runtime.metrics, as Prometheus names its series).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

import reconcilers.runtime.metrics  # noqa: F401  (registers the operator's metrics)
from tests.chart.conftest import (
    CHART,
    RELEASE,
    RELEASE_NAMESPACE,
    Helm,
    Objects,
    Render,
    env_of,
    named,
    of_kind,
    only,
    values_file,
)

METRIC = re.compile(r"\b(simon_visma_[a-z_]+)\b")
CONTRACT = {
    "simon_visma_loop_runs", "simon_visma_loop_failures", "simon_visma_loop_pass_duration_seconds",
    "simon_visma_loop_last_success_timestamp_seconds", "simon_visma_schedule_lag_seconds",
    "simon_visma_tenant_ready", "simon_visma_cleanup_held", "simon_visma_orders_waiting",
    "simon_visma_records_written", "simon_visma_documents_sent", "simon_visma_tenants_served",
}
"""The operator's metrics (reconcilers.runtime.metrics), by family name."""
ALERTS = {
    "SimonVismaLoopFailing",
    "SimonVismaLoopWithoutSuccess",
    "SimonVismaTenantNotReady",
    "SimonVismaOrdersNotSent",
    "SimonVismaCleanupHeld",
}


def exported_series() -> set[str]:
    """Every series name the operator's registry can expose: a counter as <name>_total, a
    histogram as <name>_bucket, _sum and _count."""
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"],
                "gauge": [""], "summary": ["", "_sum", "_count"]}
    return {
        family.name + suffix
        for family in REGISTRY.collect()
        if family.name.startswith("simon_visma_")
        for suffix in suffixes.get(family.type, [""])
    }


def rules(objects: Objects) -> list[dict[str, Any]]:
    (rule,) = of_kind(objects, "PrometheusRule")
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def dashboard(objects: Objects) -> dict[str, Any]:
    config_map = named(objects, "ConfigMap", f"{RELEASE}-dashboard")
    return dict(json.loads(config_map["data"]["simon-visma.json"]))


def panel_exprs(board: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in board["panels"] for t in p.get("targets", [])]


ALL_ON = {"metrics": {"prometheusRule": {"enabled": True}, "dashboard": {"enabled": True}}}


# --------------------------------------------------------------------------- endpoint


def test_metrics_bind_address_and_port_are_values(render: Render) -> None:
    objects = render({"metrics": {"bindAddress": "127.0.0.1", "port": 9100}})
    env = env_of(objects)
    assert env["SIMON_VISMA_METRICS_ADDRESS"]["value"] == "127.0.0.1"
    assert env["SIMON_VISMA_METRICS_PORT"]["value"] == "9100"
    service = named(objects, "Service", f"{RELEASE}-metrics")
    assert service["metadata"]["annotations"]["prometheus.io/port"] == "9100"


# --------------------------------------------------------------------------- ServiceMonitor


def test_no_service_monitor_by_default(render: Render) -> None:
    assert not of_kind(render(), "ServiceMonitor")


def test_service_monitor_scrapes_the_metrics_service_keeping_tenant_labels(
    render: Render,
) -> None:
    objects = render({"metrics": {"serviceMonitor": {
        "enabled": True, "interval": "15s", "labels": {"release": "kube-prometheus-stack"}}}})
    monitor = only(objects, "ServiceMonitor")
    assert monitor["metadata"]["namespace"] == RELEASE_NAMESPACE
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["interval"] == "15s"
    # The series' namespace label is the tenant's, not the operator pod's.
    assert endpoint["honorLabels"] is True
    service = named(objects, "Service", f"{RELEASE}-metrics")
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"][
        "labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [RELEASE_NAMESPACE]}


def test_service_monitor_needs_the_metrics_service(helm: Helm, tmp_path: Path) -> None:
    result = helm("template", RELEASE, str(CHART), *values_file(tmp_path, {"metrics": {
        "serviceMonitor": {"enabled": True}, "service": {"enabled": False}}}))
    assert result.returncode != 0
    assert "/metrics/service/enabled" in result.stderr, result.stderr


# --------------------------------------------------------------------------- PrometheusRule


def test_no_prometheus_rule_by_default(render: Render) -> None:
    assert not of_kind(render(), "PrometheusRule")


def test_prometheus_rule_has_the_alerts_in_plain_words(render: Render) -> None:
    objects = render({"metrics": {"prometheusRule": {
        "enabled": True, "labels": {"release": "kube-prometheus-stack"}}}})
    rule = only(objects, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    alerts = {r["alert"]: r for r in rules(objects)}
    assert set(alerts) == ALERTS
    for name, alert in alerts.items():
        annotations = alert["annotations"]
        assert annotations["summary"] and "{{ $labels.name }}" in annotations["summary"], name
        assert "What to do:" in annotations["description"], name
        assert "kubectl" in annotations["description"], name
        assert not re.search(r"\bS-\d+|DESIGN", json.dumps(alert)), name
        assert alert["labels"]["severity"] in ("warning", "critical")
    assert alerts["SimonVismaOrdersNotSent"]["labels"]["severity"] == "critical"
    # The orders alert needs work waiting and the orders loop's last success.
    orders = alerts["SimonVismaOrdersNotSent"]["expr"]
    assert "simon_visma_orders_waiting" in orders and 'loop="orders"' in orders


def test_prometheus_rule_thresholds_and_severities_can_be_set(render: Render) -> None:
    objects = render({"metrics": {"prometheusRule": {
        "enabled": True, "criticalSeverity": "page", "warningSeverity": "ticket",
        "thresholds": {"loopFailingMinutes": 5, "loopWithoutSuccessMinutes": 45,
                       "notReadyMinutes": 7, "ordersWaitingMinutes": 90,
                       "cleanupHeldMinutes": 3}}}})
    alerts = {r["alert"]: r for r in rules(objects)}
    assert alerts["SimonVismaLoopFailing"]["for"] == "5m"
    assert "> 45 * 60" in alerts["SimonVismaLoopWithoutSuccess"]["expr"]
    assert "[45m]" in alerts["SimonVismaLoopWithoutSuccess"]["expr"]
    assert alerts["SimonVismaTenantNotReady"]["for"] == "7m"
    assert "> 90 * 60" in alerts["SimonVismaOrdersNotSent"]["expr"]
    assert alerts["SimonVismaCleanupHeld"]["for"] == "3m"
    assert alerts["SimonVismaOrdersNotSent"]["labels"]["severity"] == "page"
    assert alerts["SimonVismaTenantNotReady"]["labels"]["severity"] == "ticket"


# --------------------------------------------------------------------------- dashboard


def test_no_dashboard_by_default(render: Render) -> None:
    assert not of_kind(render(), "ConfigMap")


def test_dashboard_config_map_is_labelled_for_the_grafana_sidecar(render: Render) -> None:
    objects = render({"metrics": {"dashboard": {
        "enabled": True, "namespace": "monitoring", "annotations": {"grafana_folder": "Ops"}}}})
    config_map = named(objects, "ConfigMap", f"{RELEASE}-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["namespace"] == "monitoring"
    assert config_map["metadata"]["annotations"] == {"grafana_folder": "Ops"}
    board = dashboard(objects)
    assert board["uid"] == "simon-visma"
    assert len(board["panels"]) >= 8
    for panel in board["panels"]:
        assert panel["title"] and panel["targets"], panel
        assert panel["datasource"]["uid"] == "${datasource}"


def test_dashboard_shows_every_metric_of_the_contract(render: Render) -> None:
    used = {m for expr in panel_exprs(dashboard(render(ALL_ON))) for m in METRIC.findall(expr)}
    families = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in used}
    assert CONTRACT <= families, f"not on the dashboard: {sorted(CONTRACT - families)}"


# --------------------------------------------------------------------------- metric names


@pytest.mark.parametrize("where", ["alerts", "dashboard"])
def test_every_metric_read_is_one_the_operator_exports(render: Render, where: str) -> None:
    objects = render(ALL_ON)
    exprs = ([r["expr"] for r in rules(objects)] if where == "alerts"
             else panel_exprs(dashboard(objects)))
    used = {m for expr in exprs for m in METRIC.findall(expr)}
    assert used, "no metric found"
    assert used <= exported_series(), f"not exported: {sorted(used - exported_series())}"
