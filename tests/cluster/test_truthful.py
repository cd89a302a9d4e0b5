"""An operator that tells the truth, against the real kube-apiserver: Ready names the loop
that cannot complete (and follows a Secret changed in the cluster, which the operator
watches), and the liveness endpoint fails while a loop is stuck in a pass."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from emulators.server import EmulatorServer
from tests.cluster.conftest import (
    Kube,
    assert_no_secret_leaks,
    condition,
    emulated_tenant,
    explain,
    wait_event,
    wait_for,
    wait_ready,
    wait_until,
)
from tests.cluster.operator_process import OperatorProcess, http_get

pytestmark = pytest.mark.cluster


def test_a_wrong_simon_password_makes_ready_false_naming_the_orders_loop(
    kube: Kube, namespace: str, emulators: EmulatorServer, operator: OperatorProcess
) -> None:
    """The tenant's Simon Secret changed to a wrong password, with no spec change: the
    operator's watch of Secrets tells the tenant (it no longer reads them every few seconds),
    so at its next orders pass Ready turns False naming the orders loop and the Secret to fix,
    and the Errors column counts it; the Secret changed back makes the tenant Ready again,
    without a restart. The operator leaves the Secret as it was (no finalizer, no annotation
    of its own) and prints none of its values."""
    tenant = emulated_tenant(emulators, namespace)
    kube.apply(*tenant.manifests())
    wait_ready(kube, tenant, operator)

    simon = tenant.secrets[1]
    wrong = copy.deepcopy(simon)
    wrong["stringData"]["password"] = f"wrong-password-{uuid.uuid4().hex}"
    tenant.secret_values.append(wrong["stringData"]["password"])
    kube.apply(wrong)

    def refused(obj: dict[str, Any]) -> bool:
        ready = condition(obj, "Ready") or {}
        return (ready.get("status") == "False" and ready.get("reason", "").endswith("Failing")
                and "The orders loop could not complete" in ready.get("message", "")
                and f"fix the Secret {simon['metadata']['name']}" in ready.get("message", "")
                and (obj["status"].get("errorCount") or 0) >= 1)

    wait_until(kube, tenant, operator, "Ready False naming the orders loop", refused)
    failed = wait_event(kube, tenant, operator, "LoopFailed",
                        f"fix the Secret {simon['metadata']['name']} (keys username, password")
    assert failed["type"] == "Warning" and "The orders loop could not complete" in failed["message"]

    kube.apply(simon)
    wait_ready(kube, tenant, operator)
    for secret in tenant.secrets:
        metadata = kube.get("secret", secret["metadata"]["name"], namespace)["metadata"]  # type: ignore[index]
        assert not metadata.get("finalizers"), metadata
        assert not [key for key in metadata.get("annotations") or {}
                    if key.startswith(("simon-visma.io", "kopf.zalando.org"))], metadata
    assert_no_secret_leaks(kube, operator, [namespace], tenant)


def test_healthz_fails_while_a_loop_is_stuck_and_recovers(
    kube: Kube, namespace: str, emulators: EmulatorServer,
    start_operator: Callable[..., OperatorProcess]
) -> None:
    """Simon holding the orders loop's question far longer than a few of its intervals makes
    the loop overdue: /healthz fails (the liveness probe would restart the process); once the
    answer comes and the loop is on time again, /healthz answers 200 again."""
    operator = start_operator(env={"SIMON_VISMA_OVERDUE_MARGIN_SECONDS": "2"})
    tenant = emulated_tenant(emulators, namespace)
    kube.apply(*tenant.manifests())
    wait_ready(kube, tenant, operator)
    assert http_get(operator.liveness_url)[0] == 200

    # Longer than three orders intervals (10 s) and the margin, shorter than the clients'
    # timeout (60 s).
    rule = emulators.call(emulators.simon.faults.add, "slow", path=r"workorder", method="GET",
                          delay=45.0, times=1)
    why = explain(kube, tenant, operator)
    wait_for(lambda: http_get(operator.liveness_url)[0] == 500, 90,
             "/healthz failing for the overdue orders loop", why)
    assert rule.fired == 1
    wait_for(lambda: http_get(operator.liveness_url)[0] == 200, 120,
             "/healthz answering 200 again", why)
    assert "the orders loop of" in operator.output()
