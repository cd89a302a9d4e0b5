"""The operator and a `simon-visma run` on one tenant and one database, side by side (issue 11;
S-4 across processes): whenever one of them runs the tenant's orders pass the other skips
it, and every work order archived meanwhile becomes exactly one Visma.net document.

In every round Visma.net holds each create until the round has seen the two meet, and the
operator is asked to run its loops now (the annotation): in every other round before the CLI
starts (the CLI finds the operator's pass running), in the others while the CLI's create is
held (the operator finds the CLI's pass running).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from emulators.server import EmulatorServer
from tests.cluster.conftest import RUN_REQUESTED, Kube, emulated_tenant, wait_for, wait_ready
from tests.cluster.operator_process import REPO, OperatorProcess
from tests.cluster.test_operator import archive_work_order, sales_orders

pytestmark = pytest.mark.cluster

ROUNDS = 25
SCHEDULE = {"masterData": "5m", "orders": "10s", "imports": "5m"}
SKIPPED = "another process is running the orders pass of this tenant (holder "
SETTLE_TIMEOUT = 300


def test_operator_and_cli_side_by_side_send_each_work_order_once(
    kube: Kube, namespace: str, emulators: EmulatorServer, tmp_path: Path,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    operator = start_operator(namespaces=[namespace])
    tenant = emulated_tenant(emulators, namespace, customers=3, items=2,
                             spec={"schedule": SCHEDULE, "orders": {"attachments": "None"}})
    kube.apply(*tenant.manifests())
    wait_ready(kube, tenant, operator)

    # The same tenant and Secrets as files for the CLI, on the operator's database.
    tenant_file, secrets_file = tmp_path / "tenant.yaml", tmp_path / "secrets.yaml"
    tenant_file.write_text(yaml.safe_dump(tenant.resource))
    secrets_file.write_text(yaml.safe_dump_all(tenant.secrets))
    argv = [sys.executable, "-m", "reconcilers.cli", "run", "--tenant", str(tenant_file),
            "--secrets", str(secrets_file), "--database", operator.database_url,
            "--loop", "orders", "--once", "--json"]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SIMON_VISMA_")}
    environment["PYTHONPATH"] = str(REPO)

    archived: list[int] = []
    cli_skipped = cli_sent = 0

    def creates() -> int:
        return emulators.call(emulators.visma.stats.count, "POST", "/api/v3/SalesOrders")

    def create_sent(before: int, cli: subprocess.Popen[str] | None = None
                    ) -> Callable[[], bool]:
        """A create reached Visma.net since `before` (or the CLI ended without one)."""
        return lambda: creates() > before or (cli is not None and cli.poll() is not None)

    for round_ in range(ROUNDS):
        archived.append(archive_work_order(emulators, seed=500 + round_,
                                           with_used_items=False)["Id"])
        run_now = ["annotate", "--overwrite", "vismaintegrations.simon-visma.io", tenant.name,
                   "-n", namespace, f"{RUN_REQUESTED}=round-{round_}"]
        before = creates()
        hold = emulators.call(emulators.visma.faults.add, "hold", path=r"^/api/v3/SalesOrders$",
                              method="POST")
        ended: tuple[str, str] | None = None
        try:
            if round_ % 2 == 0:  # the operator first, the CLI while its create is held
                kube.kubectl(*run_now)
                wait_for(create_sent(before), 60, "the operator's create")
                cli = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True, cwd=tmp_path, env=environment)
                ended = cli.communicate(timeout=300)
            else:  # the CLI first, the operator while the CLI's create is held
                cli = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True, cwd=tmp_path, env=environment)
                wait_for(create_sent(before, cli), 120, "the CLI's create")
                seen = operator.output().count(SKIPPED)
                kube.kubectl(*run_now)
                # The operator's pass finds the CLI's running (unless the CLI ended: it found
                # a scheduled pass of the operator running, whose create is the one held).
                wait_for(lambda seen=seen, cli=cli: operator.output().count(SKIPPED) > seen
                         or cli.poll() is not None, 120, "the operator to skip its pass")
        finally:
            emulators.call(emulators.visma.faults.remove, hold)
        out, err = ended or cli.communicate(timeout=300)
        assert cli.returncode == 0, err
        for value in tenant.secret_values:
            assert value not in out + err
        orders = json.loads(out)["loops"]["orders"]
        assert orders["ok"], orders
        if orders.get("ran") is False:
            assert orders["reason"].startswith(SKIPPED), orders
            cli_skipped += 1
        else:
            cli_sent += orders["sent"]

    def markers() -> list[str]:
        return [o["received"]["customer"].get("order") for o in sales_orders(tenant)]

    wanted = [f"SIMON-WO-{order_id}" for order_id in archived]
    wait_for(lambda: all(m in markers() for m in wanted), SETTLE_TIMEOUT,
             "a document for every archived work order", explain=lambda: operator.tail())
    counts = {m: markers().count(m) for m in wanted}
    assert {m: n for m, n in counts.items() if n != 1} == {}
    assert len([m for m in markers() if m and m.startswith("SIMON-WO-")]) == len(wanted)
    operator_skipped = operator.output().count(SKIPPED)
    print(f"\nside by side: {ROUNDS} rounds; the CLI sent {cli_sent} and skipped {cli_skipped} "
          f"passes, the operator skipped {operator_skipped}")
    # They did meet, both ways: each found the other running the pass.
    assert cli_skipped > 0 and operator_skipped > 0, (cli_skipped, operator_skipped, cli_sent)
