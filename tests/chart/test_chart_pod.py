"""The operator pod: replicas and their rollout, what a replica is told about itself, the
security contexts and the topology spread, each on its defaults and overridden."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.chart.conftest import (
    CHART,
    RELEASE,
    Helm,
    Render,
    container,
    deployment,
    env_of,
    only,
    pod_spec,
    values_file,
)

POSTGRES = {"database": {"type": "postgresql", "existingSecret": "simon-visma-db"}}
THREE = {**POSTGRES, "replicaCount": 3}
SELECTOR = {"app.kubernetes.io/name": "simon-visma", "app.kubernetes.io/instance": RELEASE}


# --------------------------------------------------------------------------- replicas


def test_one_replica_is_recreated(render: Render) -> None:
    spec = deployment(render())["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}


def test_several_replicas_roll_one_new_pod_in_before_an_old_one_goes(render: Render) -> None:
    spec = deployment(render(THREE))["spec"]
    assert spec["replicas"] == 3
    assert spec["strategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


def test_strategy_can_be_set(render: Render) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "50%"}}
    assert deployment(render({**THREE, "strategy": strategy}))["spec"]["strategy"] == strategy


def test_pdb_allows_one_eviction_at_a_time_with_several_replicas(render: Render) -> None:
    pdb = only(render(THREE), "PodDisruptionBudget")
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": SELECTOR}}


def test_sqlite_with_several_replicas_is_refused_saying_what_to_change(
    helm: Helm, tmp_path: Path
) -> None:
    result = helm("template", RELEASE, str(CHART), *values_file(tmp_path, {"replicaCount": 2}))
    assert result.returncode != 0
    assert "'/database/type': value must be 'postgresql'" in result.stderr, result.stderr
    assert "'/replicaCount': maximum: got 2, want 1" in result.stderr, result.stderr


def test_each_replica_knows_its_pod_and_installation(render: Render) -> None:
    env = env_of(render(THREE))
    assert env["SIMON_VISMA_POD_NAME"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.name"}}
    assert env["SIMON_VISMA_POD_NAMESPACE"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["SIMON_VISMA_INSTALLATION"]["value"] == RELEASE
    other = env_of(render({"fullnameOverride": "acme-operator"}))
    assert other["SIMON_VISMA_INSTALLATION"]["value"] == "acme-operator"


# --------------------------------------------------------------------------- security


def test_security_contexts_default_to_hardened(render: Render) -> None:
    objects = render()
    assert pod_spec(objects)["securityContext"] == {
        "runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001,
        "fsGroupChangePolicy": "OnRootMismatch", "seccompProfile": {"type": "RuntimeDefault"}}
    assert container(objects)["securityContext"] == {
        "runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
        "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "privileged": False,
        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}


def test_security_contexts_can_be_overridden(render: Render) -> None:
    """e.g. for OpenShift's restricted SCC, which picks the user and group itself: Helm merges
    the given values into the defaults, and null takes a default out."""
    no_ids = {"runAsUser": None, "runAsGroup": None}
    objects = render({"podSecurityContext": {**no_ids, "fsGroup": None},
                      "securityContext": {**no_ids, "readOnlyRootFilesystem": False}})
    assert pod_spec(objects)["securityContext"] == {
        "runAsNonRoot": True, "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"}}
    box = container(objects)["securityContext"]
    assert "runAsUser" not in box and "runAsGroup" not in box
    assert box["readOnlyRootFilesystem"] is False
    assert box["capabilities"] == {"drop": ["ALL"]}


# --------------------------------------------------------------------------- topology


def test_one_replica_has_no_topology_spread(render: Render) -> None:
    assert "topologySpreadConstraints" not in pod_spec(render())


def test_several_replicas_spread_softly_across_nodes(render: Render) -> None:
    assert pod_spec(render(THREE))["topologySpreadConstraints"] == [{
        "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": SELECTOR}}]


@pytest.mark.parametrize("replicas", [1, 3])
def test_topology_spread_can_be_set_and_gets_the_pods_selector(
    render: Render, replicas: int
) -> None:
    zones: dict[str, Any] = {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                             "whenUnsatisfiable": "DoNotSchedule"}
    own = {**zones, "labelSelector": {"matchLabels": {"team": "x"}}}
    values = {**POSTGRES, "replicaCount": replicas, "topologySpreadConstraints": [zones, own]}
    assert pod_spec(render(values))["topologySpreadConstraints"] == [
        {**zones, "labelSelector": {"matchLabels": SELECTOR}}, own]
