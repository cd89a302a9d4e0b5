"""The CRD through the chart on a real kube-apiserver: `helm install` creates it, `helm upgrade`
changes it (a chart's crds/ folder would be installed once and never upgraded), `helm uninstall`
leaves it with crds.keep (and removes it without), and a CRD applied before with kubectl is taken
over once labelled and annotated for the release, as the README's upgrade path says.

The chart is a copy whose CRD has a group of its own (`<random>.test.simon-visma.io`), so the
session's VismaIntegration CRD, which the other cluster tests use, is never touched.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconcilers.resource.crd import CHART_CRD, PLAIN_CRD
from tests.cluster.operator_process import REPO
from tests.fixtures.cluster import ControlPlane

pytestmark = pytest.mark.cluster

CHART = REPO / "charts" / "simon-visma"
TEMPLATE = CHART_CRD.relative_to(Path("charts") / "simon-visma")
UPGRADED = """\
        - name: Upgraded
          type: string
          description: A column only the upgraded chart has.
          jsonPath: .spec.visma.tenantId
"""


class ChartCopy:
    """A copy of the chart whose CRD is `vismaintegrations.<group>`."""

    def __init__(self, directory: Path) -> None:
        self.group = f"u{uuid.uuid4().hex[:8]}.test.simon-visma.io"
        self.crd = f"vismaintegrations.{self.group}"
        self.path = directory / "chart"
        shutil.copytree(CHART, self.path)
        self.template = self.path / TEMPLATE
        self.template.write_text(self.regrouped((REPO / CHART_CRD).read_text()))

    def regrouped(self, text: str) -> str:
        text = text.replace("  name: vismaintegrations.simon-visma.io\n",
                            f"  name: {self.crd}\n", 1)
        return text.replace("  group: simon-visma.io\n", f"  group: {self.group}\n", 1)

    def plain_crd(self) -> str:
        return self.regrouped((REPO / PLAIN_CRD).read_text())

    def add_column(self) -> None:
        """The next version of the chart: one more printer column."""
        text = self.template.read_text()
        marker = "      additionalPrinterColumns:\n"
        assert marker in text
        self.template.write_text(text.replace(marker, marker + UPGRADED, 1))


@pytest.fixture
def chart(tmp_path: Path) -> ChartCopy:
    return ChartCopy(tmp_path)


@pytest.fixture
def helm(control_plane: ControlPlane, namespace: str, tmp_path: Path,
         chart: ChartCopy) -> Iterator[Callable[..., Any]]:
    """`helm <command> <release> <chart copy> -n <namespace> [args]`; the releases are
    uninstalled and the test CRD deleted at the end."""
    releases: set[str] = set()

    def run(command: str, release: str, *args: str) -> Any:
        # No pod runs on this API server: the image does not matter.
        chart_args = ([str(chart.path), "--set", "image.repository=registry.invalid/simon-visma"]
                      if command in ("install", "upgrade") else [])
        result = control_plane.helm(command, release, *chart_args, "-n", namespace, *args)
        if command == "install" and result.returncode == 0:
            releases.add(release)
        return result

    yield run
    for release in releases:
        control_plane.helm("uninstall", release, "-n", namespace)
    control_plane.kubectl("delete", "crd", chart.crd, "--ignore-not-found")


def installed_crd(cp: ControlPlane, name: str) -> dict[str, Any] | None:
    result = cp.kubectl("get", "crd", name, "-o", "json")
    if result.returncode != 0:
        assert "NotFound" in result.stderr, result.stderr
        return None
    return dict(json.loads(result.stdout))


def columns(crd: dict[str, Any]) -> list[str]:
    (version,) = crd["spec"]["versions"]
    return [c["name"] for c in version["additionalPrinterColumns"]]


def test_helm_upgrade_changes_the_installed_crd_and_uninstall_keeps_it(
    control_plane: ControlPlane, chart: ChartCopy, helm: Callable[..., Any]
) -> None:
    release = f"crd-{uuid.uuid4().hex[:6]}"
    installed = helm("install", release)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    crd = installed_crd(control_plane, chart.crd)
    assert crd is not None
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert crd["metadata"]["annotations"]["meta.helm.sh/release-name"] == release
    assert "Upgraded" not in columns(crd)

    chart.add_column()
    upgraded = helm("upgrade", release)
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    crd = installed_crd(control_plane, chart.crd)
    assert crd is not None and "Upgraded" in columns(crd)
    assert columns(crd)[0] == "Upgraded"

    uninstalled = helm("uninstall", release)
    assert uninstalled.returncode == 0, uninstalled.stderr
    assert installed_crd(control_plane, chart.crd) is not None  # kept, with every tenant


def test_without_keep_uninstall_removes_the_crd(
    control_plane: ControlPlane, chart: ChartCopy, helm: Callable[..., Any]
) -> None:
    release = f"crd-{uuid.uuid4().hex[:6]}"
    installed = helm("install", release, "--set", "crds.keep=false")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    crd = installed_crd(control_plane, chart.crd)
    assert crd is not None and "helm.sh/resource-policy" not in crd["metadata"].get(
        "annotations", {})
    assert helm("uninstall", release).returncode == 0
    # Helm deleted it; the API server finishes the deletion in its own time (its CRD
    # finalizer), which on a busy machine may take a while: gone or going both show it.
    crd = installed_crd(control_plane, chart.crd)
    assert crd is None or crd["metadata"].get("deletionTimestamp"), crd


def test_a_crd_applied_with_kubectl_is_taken_over_once_labelled_for_the_release(
    control_plane: ControlPlane, namespace: str, chart: ChartCopy, helm: Callable[..., Any]
) -> None:
    """The upgrade path from the chart's old crds/ folder (or `kubectl apply`): Helm refuses
    a CRD it does not own, and takes it over once it carries the release's label and
    annotations."""
    control_plane.kubectl("apply", "-f", "-", input=chart.plain_crd(), check=True)
    release = f"crd-{uuid.uuid4().hex[:6]}"
    refused = helm("install", release)
    assert refused.returncode != 0
    assert "invalid ownership metadata" in refused.stderr, refused.stderr
    helm("uninstall", release)  # a failed install leaves a failed release behind

    control_plane.kubectl("label", "crd", chart.crd, "app.kubernetes.io/managed-by=Helm",
                          check=True)
    control_plane.kubectl("annotate", "crd", chart.crd,
                          f"meta.helm.sh/release-name={release}",
                          f"meta.helm.sh/release-namespace={namespace}", check=True)
    chart.add_column()
    adopted = helm("install", release)
    assert adopted.returncode == 0, adopted.stdout + adopted.stderr
    crd = installed_crd(control_plane, chart.crd)
    assert crd is not None and "Upgraded" in columns(crd)
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
