"""The CRD through the chart, as cert-manager ships its CRDs: a template (so `helm upgrade`
updates it) behind `crds.enabled`, kept on `helm uninstall` with `crds.keep`, and rendering
exactly the CRD of `crds/vismaintegrations.yaml` (the copy for `kubectl apply`).

tests/cluster/test_chart_upgrade.py shows `helm upgrade` changing an installed CRD.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from reconcilers.resource.crd import CHART_CRD, PLAIN_CRD, chart_template, render
from tests.chart.conftest import CHART, RELEASE, REPO, Helm

Render = Callable[..., list[dict[str, Any]]]
KEEP = {"helm.sh/resource-policy": "keep"}


def crds(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == "CustomResourceDefinition"]


def plain_crd() -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / PLAIN_CRD).read_text()))


def test_chart_has_no_crds_folder_that_helm_upgrade_would_ignore() -> None:
    assert not (CHART / "crds").exists()
    assert (REPO / CHART_CRD).parent == CHART / "templates"


def test_crd_is_rendered_and_kept_by_default(render: Render) -> None:
    (crd,) = crds(render())
    assert crd["metadata"]["annotations"] == KEEP
    del crd["metadata"]["annotations"]
    assert crd == plain_crd()


def test_crd_without_keep_has_no_resource_policy(render: Render) -> None:
    (crd,) = crds(render({"crds": {"keep": False}}))
    assert "annotations" not in crd["metadata"]
    assert crd == plain_crd()


def test_crd_can_be_left_out(render: Render) -> None:
    assert crds(render({"crds": {"enabled": False}})) == []
    assert crds(render({"crds": {"enabled": False, "keep": True}})) == []


def test_template_braces_in_the_crd_reach_the_cluster_as_written(
    helm: Helm, tmp_path: Path
) -> None:
    """A description or CEL rule with `{{` must not be read by Helm as a template action."""
    text = render().replace("\nspec:\n", "\nspec:\n  # see {{ .Values.crds }} and {{- x }}\n", 1)
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    (chart / "templates" / CHART_CRD.name).write_text(chart_template(text))
    result = helm("template", RELEASE, str(chart), "--show-only", f"templates/{CHART_CRD.name}",
                  "--set", "crds.keep=false")
    assert result.returncode == 0, result.stderr
    assert "# see {{ .Values.crds }} and {{- x }}\n" in result.stdout
    assert yaml.safe_load(result.stdout) == yaml.safe_load(text)
