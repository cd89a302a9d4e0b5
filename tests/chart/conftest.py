"""Helpers for the chart and image tests: the chart's path and the helm binary.

helm is the one ``controlplane/build.sh`` builds into
``${SIMON_VISMA_BIN:-~/.cache/simon-visma/bin}`` (``make test`` builds it before pytest
runs). When it is missing, the tests that need it fail if ``CI`` is set and are skipped
otherwise.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "simon-visma"

RELEASE = "simon-visma"
RELEASE_NAMESPACE = "simon-visma"

Helm = Callable[..., subprocess.CompletedProcess[str]]

TENANT_NAMESPACES = ["tenant-a", "tenant-b"]
POSTGRES_VALUES: dict[str, Any] = {
    "database": {"type": "postgresql", "existingSecret": "simon-visma-db", "secretKey": "url"},
    "operator": {"namespaces": TENANT_NAMESPACES},
}

GROUP = "simon-visma.io"
# (apiGroup, resource, verb): exactly what the operator may do where it serves tenants.
OPERATOR_RULES = {
    *((GROUP, "vismaintegrations", v) for v in ("get", "list", "watch", "patch")),
    *((GROUP, "vismaintegrations/status", v) for v in ("get", "patch")),
    *(("", "events", v) for v in ("create", "patch")),
    *(("events.k8s.io", "events", v) for v in ("create", "patch")),
    *(("", "secrets", v) for v in ("get", "list", "watch")),
}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def missing_tool(message: str) -> None:
    """Fail when running in CI, skip otherwise."""
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def tool_path(name: str) -> Path:
    """A binary of ``controlplane/build.sh``'s cache dir."""
    directory = os.environ.get("SIMON_VISMA_BIN") or str(Path.home() / ".cache/simon-visma/bin")
    return Path(directory) / name


def helm_path() -> Path:
    return tool_path("helm")


@pytest.fixture
def helm(tmp_path: Path) -> Helm:
    """Run the cached helm binary offline, with its config, cache and data dirs in tmp_path."""
    binary = helm_path()
    if not os.access(binary, os.X_OK):
        missing_tool(
            f"helm is missing at {binary}: run controlplane/build.sh "
            "(SIMON_VISMA_BIN moves the cache dir)"
        )
    env = dict(
        os.environ,
        HELM_CACHE_HOME=str(tmp_path / "helm-cache"),
        HELM_CONFIG_HOME=str(tmp_path / "helm-config"),
        HELM_DATA_HOME=str(tmp_path / "helm-data"),
        KUBECONFIG=str(tmp_path / "no-kubeconfig"),
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(binary), *args], env=env, text=True, capture_output=True, timeout=120
        )

    return run


Promtool = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def promtool() -> Promtool:
    """Run the cached promtool (Prometheus' rule checker, built by controlplane/build.sh)."""
    binary = tool_path("promtool")
    if not os.access(binary, os.X_OK):
        missing_tool(
            f"promtool is missing at {binary}: run controlplane/build.sh "
            "(SIMON_VISMA_BIN moves the cache dir)"
        )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(binary), *args], text=True, capture_output=True, timeout=120)

    return run


def values_file(directory: Path, values: dict[str, Any] | None) -> list[str]:
    """``-f <file>`` arguments for a values dict (none for None)."""
    if values is None:
        return []
    path = directory / f"values-{len(list(directory.glob('values-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(values))
    return ["-f", str(path)]


@pytest.fixture
def render(helm: Helm, tmp_path: Path) -> Callable[..., list[dict[str, Any]]]:
    """``helm template`` the chart with a values dict; the rendered objects as dicts."""

    def run(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        result = helm(
            "template",
            RELEASE,
            str(CHART),
            "--namespace",
            RELEASE_NAMESPACE,
            *values_file(tmp_path, values),
        )
        assert result.returncode == 0, result.stderr
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]

    return run


Objects = list[dict[str, Any]]
Render = Callable[..., Objects]


def of_kind(objects: Objects, kind: str) -> Objects:
    return [o for o in objects if o["kind"] == kind]


def only(objects: Objects, kind: str) -> dict[str, Any]:
    found = of_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def named(objects: Objects, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
    found = [
        o for o in of_kind(objects, kind)
        if o["metadata"]["name"] == name
        and (namespace is None or o["metadata"].get("namespace") == namespace)
    ]
    assert len(found) == 1, f"expected one {kind} {name} in {namespace}, got {len(found)}"
    return found[0]


def flat_rules(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) of every rule that has no resourceNames."""
    return {
        (group, resource, verb)
        for rule in role["rules"]
        if "resourceNames" not in rule
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule["verbs"]
    }


def deployment(objects: Objects) -> dict[str, Any]:
    return only(objects, "Deployment")


def pod_spec(objects: Objects) -> dict[str, Any]:
    return dict(deployment(objects)["spec"]["template"]["spec"])


def container(objects: Objects) -> dict[str, Any]:
    containers = pod_spec(objects)["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def env_of(objects: Objects) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container(objects)["env"]}
