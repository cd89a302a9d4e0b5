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
import yaml
from prometheus_client import REGISTRY

import reconcilers.runtime.metrics  # noqa: F401  (registers the operator's metrics)
from tests.chart.conftest import (
    CHART,
    RELEASE,
    RELEASE_NAMESPACE,
    Helm,
    Objects,
    Promtool,
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
    "simon_visma_tenant_ready", "simon_visma_tenant_enabled", "simon_visma_cleanup_held",
    "simon_visma_orders_waiting",
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


# --------------------------------------------------------------------------- promtool


def rule_file(objects: Objects, path: Path, annotations: bool = True) -> Path:
    spec = only(objects, "PrometheusRule")["spec"]
    if not annotations:  # `promtool test rules` would compare them word for word
        for group in spec["groups"]:
            for r in group["rules"]:
                r.pop("annotations")
    path.write_text(yaml.safe_dump(spec))
    return path


def test_alert_rules_pass_promtool_check(
    render: Render, promtool: Promtool, tmp_path: Path
) -> None:
    """Expressions, durations and the annotations' templates, as Prometheus parses them."""
    rules_path = rule_file(render(ALL_ON), tmp_path / "rules.yaml")
    result = promtool("check", "rules", str(rules_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout


def series(metric: str, values: str, **labels: str) -> dict[str, str]:
    text = ",".join(f'{k}="{v}"' for k, v in {"pod": "op-0", **labels}.items())
    return {"series": f"{metric}{{{text}}}", "values": values}


def fires(alert: str, at: str, *expected: dict[str, str]) -> dict[str, Any]:
    return {"alertname": alert, "eval_time": at,
            "exp_alerts": [{"exp_labels": labels} for labels in expected]}


ACME = {"namespace": "tenant-a", "name": "acme"}
BOLT = {"namespace": "tenant-b", "name": "bolt"}
GAMMA = {"namespace": "tenant-c", "name": "gamma"}
WARN = {"severity": "warning"}


def test_alerts_fire_when_they_should_and_not_otherwise(
    render: Render, promtool: Promtool, tmp_path: Path
) -> None:
    """Series as the operator exports them, a sample a minute, through Prometheus' own rule
    evaluation (`promtool test rules`; time starts at 0): each alert fires for acme's trouble
    and stays quiet for bolt, which is fine, and for a loop that is switched off."""
    last_success = "simon_visma_loop_last_success_timestamp_seconds"
    tests = [
        {"name": "loop failing", "interval": "1m", "input_series": [
            series("simon_visma_loop_failures_total", "0+1x60", **ACME, loop="orders"),
            series("simon_visma_loop_failures_total", "0x60", **BOLT, loop="orders"),
        ], "alert_rule_test": [
            fires("SimonVismaLoopFailing", "10m"),  # not for 15 minutes yet
            fires("SimonVismaLoopFailing", "40m", {**ACME, "loop": "orders", **WARN}),
        ]},
        {"name": "loop without success", "interval": "1m", "input_series": [
            # acme's orders loop runs and never completes; its imports are switched off
            # (no runs, timestamp 0); bolt's orders complete every minute.
            series("simon_visma_loop_runs_total", "0+1x180", **ACME, loop="orders"),
            series(last_success, "0x180", **ACME, loop="orders"),
            series("simon_visma_loop_runs_total", "0x180", **ACME, loop="imports"),
            series(last_success, "0x180", **ACME, loop="imports"),
            series("simon_visma_loop_runs_total", "0+1x180", **BOLT, loop="orders"),
            series(last_success, "0+60x180", **BOLT, loop="orders"),
        ], "alert_rule_test": [
            fires("SimonVismaLoopWithoutSuccess", "100m"),  # not 2 hours yet
            fires("SimonVismaLoopWithoutSuccess", "150m", {**ACME, "loop": "orders", **WARN}),
        ]},
        {"name": "not ready", "interval": "1m", "input_series": [
            # acme is switched on and not Ready; bolt is Ready; gamma is switched off on
            # purpose (not Ready either), which is no reason to alert.
            series("simon_visma_tenant_ready", "0x40", **ACME),
            series("simon_visma_tenant_enabled", "1x40", **ACME),
            series("simon_visma_tenant_ready", "1x40", **BOLT),
            series("simon_visma_tenant_enabled", "1x40", **BOLT),
            series("simon_visma_tenant_ready", "0x40", **GAMMA),
            series("simon_visma_tenant_enabled", "0x40", **GAMMA),
        ], "alert_rule_test": [
            fires("SimonVismaTenantNotReady", "10m"),
            fires("SimonVismaTenantNotReady", "30m", {**ACME, **WARN}),
        ]},
        {"name": "orders not sent", "interval": "1m", "input_series": [
            # Both have work waiting; acme's orders loop last completed at 1 minute, bolt's
            # every minute; gamma has nothing waiting and an old success.
            series("simon_visma_orders_waiting", "3x60", **ACME),
            series(last_success, "60x60", **ACME, loop="orders"),
            series("simon_visma_orders_waiting", "3x60", **BOLT),
            series(last_success, "0+60x60", **BOLT, loop="orders"),
            series("simon_visma_orders_waiting", "0x60", **GAMMA),
            series(last_success, "60x60", **GAMMA, loop="orders"),
        ], "alert_rule_test": [
            fires("SimonVismaOrdersNotSent", "20m"),
            fires("SimonVismaOrdersNotSent", "40m", {**ACME, "severity": "critical"}),
        ]},
        {"name": "cleanup held", "interval": "1m", "input_series": [
            series("simon_visma_cleanup_held", "1x30", **ACME),
            series("simon_visma_cleanup_held", "0x30", **BOLT),
        ], "alert_rule_test": [
            fires("SimonVismaCleanupHeld", "5m"),
            fires("SimonVismaCleanupHeld", "20m", {**ACME, **WARN}),
        ]},
    ]
    rules_path = rule_file(render(ALL_ON), tmp_path / "rules.yaml", annotations=False)
    test_path = tmp_path / "alerts-test.yaml"
    test_path.write_text(yaml.safe_dump({
        "rule_files": [str(rules_path)], "evaluation_interval": "1m", "tests": tests}))
    result = promtool("test", "rules", str(test_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_dashboard_queries_are_promql_that_prometheus_parses(
    render: Render, promtool: Promtool
) -> None:
    """Grafana's variables filled in as Grafana would; each query through Prometheus' parser."""
    for expr in panel_exprs(dashboard(render(ALL_ON))):
        query = expr.replace("$__rate_interval", "2m").replace("$namespace", "tenant-a|tenant-b")
        result = promtool("--experimental", "promql", "format", query)
        assert result.returncode == 0, f"{expr}\n{result.stdout}{result.stderr}"
