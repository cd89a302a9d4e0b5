"""The optional NetworkPolicy: in, only the metrics and the log view from where the values say;
out, only DNS, the API server, PostgreSQL and the two APIs."""

from __future__ import annotations

from typing import Any

from tests.chart.conftest import RELEASE, Render, deployment, of_kind, only

ON: dict[str, Any] = {"networkPolicy": {"enabled": True}}
POSTGRES = {"database": {"type": "postgresql", "existingSecret": "simon-visma-db"}}


def policy(render: Render, values: dict[str, Any]) -> dict[str, Any]:
    return dict(only(render(values), "NetworkPolicy")["spec"])


def ports(rule: dict[str, Any]) -> list[Any]:
    return [p["port"] for p in rule["ports"]]


def egress_to(spec: dict[str, Any], port: int) -> list[dict[str, Any]]:
    return [rule for rule in spec["egress"] if port in ports(rule)]


def test_no_network_policy_by_default(render: Render) -> None:
    assert not of_kind(render(), "NetworkPolicy")


def test_network_policy_selects_the_operator_pods_both_ways(render: Render) -> None:
    objects = render(ON)
    spec = only(objects, "NetworkPolicy")["spec"]
    pod_labels = deployment(objects)["spec"]["template"]["metadata"]["labels"]
    assert spec["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert spec["policyTypes"] == ["Ingress", "Egress"]


def test_defaults_let_in_prometheus_and_let_out_dns_api_server_and_apis(render: Render) -> None:
    spec = policy(render, ON)
    (metrics,) = spec["ingress"]
    assert ports(metrics) == ["metrics"]
    assert metrics["from"] == [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "monitoring"}}}]
    (dns,) = egress_to(spec, 53)
    assert {p["protocol"] for p in dns["ports"]} == {"UDP", "TCP"}
    assert dns["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    (api_server,) = egress_to(spec, 6443)
    assert ports(api_server) == [443, 6443] and "to" not in api_server
    apis = [rule for rule in egress_to(spec, 443) if rule is not api_server]
    assert [ports(rule) for rule in apis] == [[443]]
    assert not egress_to(spec, 5432)  # SQLite: no database to reach
    assert len(spec["egress"]) == 3


def test_addresses_and_ports_can_be_narrowed(render: Render) -> None:
    database = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "db"}},
                 "podSelector": {"matchLabels": {"app": "postgresql"}}}]
    values = {**POSTGRES, "networkPolicy": {
        "enabled": True,
        "apiServer": {"cidrs": ["10.96.0.1/32", "172.18.0.2/32"], "ports": [6443]},
        "postgresql": {"to": database, "port": 6432},
        "apis": {"cidrs": ["203.0.113.0/24"], "ports": [443, 8443]},
        "metrics": {"from": [{"namespaceSelector": {"matchLabels": {"team": "observability"}}}]},
    }}
    spec = policy(render, values)
    (api_server,) = egress_to(spec, 6443)
    assert api_server["to"] == [{"ipBlock": {"cidr": "10.96.0.1/32"}},
                                {"ipBlock": {"cidr": "172.18.0.2/32"}}]
    (postgresql,) = egress_to(spec, 6432)
    assert postgresql["to"] == database
    (apis,) = egress_to(spec, 8443)
    assert ports(apis) == [443, 8443]
    assert apis["to"] == [{"ipBlock": {"cidr": "203.0.113.0/24"}}]
    metrics = next(rule for rule in spec["ingress"] if ports(rule) == ["metrics"])
    assert metrics["from"] == [{"namespaceSelector": {"matchLabels": {"team": "observability"}}}]


def test_postgresql_anywhere_on_its_port_when_no_peers_are_given(render: Render) -> None:
    (postgresql,) = egress_to(policy(render, {**POSTGRES, **ON}), 5432)
    assert "to" not in postgresql


def test_log_view_is_reached_through_the_api_server_or_labelled_namespaces(
    render: Render,
) -> None:
    values = {"networkPolicy": {"enabled": True, "apiServer": {"cidrs": ["172.18.0.2/32"]},
                                "logView": {"from": [{"namespaceSelector": {
                                    "matchLabels": {"team": "support"}}}]}}}
    spec = policy(render, values)
    (log_view,) = [rule for rule in spec["ingress"] if ports(rule) == ["log-view"]]
    assert log_view["from"] == [
        {"namespaceSelector": {"matchLabels": {"team": "support"}}},
        {"ipBlock": {"cidr": "172.18.0.2/32"}},
    ]


def test_log_view_port_stays_closed_when_nobody_is_named(render: Render) -> None:
    """The log view does not check who asks: without API server addresses or namespaces, no
    pod may reach it."""
    spec = policy(render, ON)
    assert not [rule for rule in spec["ingress"] if "log-view" in ports(rule)]
    metrics_off = policy(render, {"networkPolicy": {"enabled": True, "metrics": {"from": []}}})
    assert not metrics_off.get("ingress")


def test_named_ports_exist_on_the_container(render: Render) -> None:
    objects = render({"networkPolicy": {"enabled": True, "apiServer": {"cidrs": ["10.0.0.1/32"]}}})
    container_ports = {p["name"] for p in deployment(objects)["spec"]["template"]["spec"][
        "containers"][0]["ports"]}
    spec = only(objects, "NetworkPolicy")["spec"]
    for rule in spec["ingress"]:
        assert set(ports(rule)) <= container_ports, RELEASE
