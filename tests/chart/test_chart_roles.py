"""The chart's roles: the operator's (cluster-wide, or only in operator.namespaces with nothing
cluster-wide at all), the replicas' Leases in the release namespace, and the log readers' roles
that the platform team binds (S-82: Secrets only where tenants are served).

tests/cluster/test_chart_rbac.py asks the real API server the same questions.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.chart.conftest import (
    OPERATOR_RULES,
    POSTGRES_VALUES,
    RELEASE,
    RELEASE_NAMESPACE,
    TENANT_NAMESPACES,
    Objects,
    Render,
    flat_rules,
    named,
    of_kind,
    only,
)

LEASES = {("coordination.k8s.io", "leases", v)
          for v in ("get", "list", "watch", "create", "update", "patch", "delete")}
READ_TENANT = {("simon-visma.io", "vismaintegrations", "get")}
LOG_VIEW_PROXY = {
    "apiGroups": [""],
    "resources": ["services/proxy"],
    "verbs": ["get"],
    "resourceNames": [f"{RELEASE}-log-view", f"{RELEASE}-log-view:http"],
}


def bound_to_operator(objects: Objects, role: dict[str, Any]) -> None:
    kind = role["kind"]
    binding = named(objects, f"{kind}Binding", role["metadata"]["name"],
                    role["metadata"].get("namespace"))
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": kind,
                                  "name": role["metadata"]["name"]}
    account = only(objects, "ServiceAccount")["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account, "namespace": RELEASE_NAMESPACE}]


def not_bound(objects: Objects, role: dict[str, Any]) -> None:
    name, namespace = role["metadata"]["name"], role["metadata"].get("namespace")
    assert not [b for b in of_kind(objects, f"{role['kind']}Binding")
                if b["roleRef"]["name"] == name
                and b["metadata"].get("namespace") == namespace]


def test_namespaced_install_has_roles_in_exactly_those_namespaces(render: Render) -> None:
    objects = render(POSTGRES_VALUES)
    assert not of_kind(objects, "ClusterRole") and not of_kind(objects, "ClusterRoleBinding")
    operator_roles = [r for r in of_kind(objects, "Role") if r["metadata"]["name"] == RELEASE]
    assert sorted(r["metadata"]["namespace"] for r in operator_roles) == TENANT_NAMESPACES
    for role in operator_roles:
        assert flat_rules(role) == OPERATOR_RULES
        bound_to_operator(objects, role)


def test_cluster_wide_install_has_no_operator_roles_in_namespaces(render: Render) -> None:
    objects = render()
    assert flat_rules(named(objects, "ClusterRole", RELEASE)) == OPERATOR_RULES
    assert {r["metadata"]["namespace"] for r in of_kind(objects, "Role")} == {RELEASE_NAMESPACE}
    assert not any(("", "secrets", "get") in flat_rules(r) for r in of_kind(objects, "Role"))


@pytest.mark.parametrize("values", [{}, POSTGRES_VALUES], ids=["cluster-wide", "namespaced"])
def test_leases_only_in_the_release_namespace(render: Render, values: dict[str, Any]) -> None:
    objects = render(values)
    role = named(objects, "Role", f"{RELEASE}-leases", RELEASE_NAMESPACE)
    assert flat_rules(role) == LEASES
    bound_to_operator(objects, role)
    for other in [*of_kind(objects, "Role"), *of_kind(objects, "ClusterRole")]:
        if other is not role:
            assert not flat_rules(other) & LEASES, other["metadata"]


def test_log_readers_get_tenants_everywhere_and_the_proxy_in_the_release_namespace(
    render: Render,
) -> None:
    objects = render()
    reader = named(objects, "ClusterRole", f"{RELEASE}-log-reader")
    assert reader["rules"] == [{"apiGroups": ["simon-visma.io"],
                                "resources": ["vismaintegrations"], "verbs": ["get"]}]
    proxy = named(objects, "Role", f"{RELEASE}-log-reader", RELEASE_NAMESPACE)
    assert proxy["rules"] == [LOG_VIEW_PROXY]
    not_bound(objects, reader)
    not_bound(objects, proxy)
    service = named(objects, "Service", f"{RELEASE}-log-view")
    assert [p["name"] for p in service["spec"]["ports"]] == ["http"]


def test_namespaced_log_readers_are_roles_in_the_tenant_namespaces(render: Render) -> None:
    objects = render(POSTGRES_VALUES)
    readers = [r for r in of_kind(objects, "Role")
               if r["metadata"]["name"] == f"{RELEASE}-log-reader"]
    by_namespace = {r["metadata"]["namespace"]: r for r in readers}
    assert sorted(by_namespace) == sorted([*TENANT_NAMESPACES, RELEASE_NAMESPACE])
    for namespace in TENANT_NAMESPACES:
        assert flat_rules(by_namespace[namespace]) == READ_TENANT
        not_bound(objects, by_namespace[namespace])
    assert by_namespace[RELEASE_NAMESPACE]["rules"] == [LOG_VIEW_PROXY]


def test_release_namespace_among_the_tenants_gets_one_log_reader_role(render: Render) -> None:
    values = {**POSTGRES_VALUES, "operator": {"namespaces": ["tenant-a", RELEASE_NAMESPACE]}}
    objects = render(values)
    role = named(objects, "Role", f"{RELEASE}-log-reader", RELEASE_NAMESPACE)
    assert flat_rules(role) == READ_TENANT
    assert LOG_VIEW_PROXY in role["rules"]
    named(objects, "Role", RELEASE, RELEASE_NAMESPACE)  # and the operator's own Role there


def test_without_log_view_there_is_no_service_nor_reader_roles(render: Render) -> None:
    objects = render({"logView": {"enabled": False}})
    names = {o["metadata"]["name"] for o in objects}
    assert f"{RELEASE}-log-view" not in names and f"{RELEASE}-log-reader" not in names
    env = {e["name"]: e for e in only(objects, "Deployment")["spec"]["template"]["spec"][
        "containers"][0]["env"]}
    assert env["SIMON_VISMA_LOG_VIEW_PORT"]["value"] == "0"


def test_log_view_port_is_a_value(render: Render) -> None:
    objects = render({"logView": {"port": 8181}})
    container = only(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["SIMON_VISMA_LOG_VIEW_PORT"]["value"] == "8181"
    assert {"name": "log-view", "containerPort": 8181, "protocol": "TCP"} in container["ports"]
    (port,) = named(objects, "Service", f"{RELEASE}-log-view")["spec"]["ports"]
    assert port == {"name": "http", "port": 8181, "targetPort": "log-view", "protocol": "TCP"}
