"""Two `simon-visma run --loop orders --once` processes on one tenant and one database, racing
round after round while work orders are archived in Simon (issue 11; S-4 across processes):
every work order ends up as exactly one Visma.net document, none is lost, and a process that
finds the other running the pass says it skipped it (exit 0).

Each create in Visma.net is slowed, so that the two processes' passes overlap.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from emulators.server import EmulatorServer
from emulators.visma import DEFAULT_TENANT_ID
from reconcilers.loops.orders import marker_of
from tests.integration.test_cli import (
    KERKSTRAAT,
    Cli,
    assert_no_secret,
    command,
    environment,
    sales_company,
)

ROUNDS = 100
SLOW_CREATE_SECONDS = 0.5
SKIPPED = "another process is running the orders pass of this tenant (holder "


@pytest.fixture
def race(emulators: EmulatorServer, tmp_path: Path) -> Cli:
    """A company with one customer, mirrored to Simon by one master-data run; the tenant
    sends sales orders without attachments."""
    company = sales_company(emulators)
    company.add_customer("10023", "Bakker", address=KERKSTRAAT)
    race = Cli(emulators, tmp_path)
    race.write({"activation": {"wipeOnFirstActivation": []},
                "orders": {"attachments": "None"}})
    return race


def mirrored(race: Cli) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run master data once; the customer and its main work address as Simon has them."""
    done = race.run("--once", "--json", "--loop", "masterdata")
    assert done.returncode == 0, done.stderr
    server = race.server
    internal_id = server.call(lambda: race.visma.customer_numbers["10023"])
    customer = server.call(server.simon.by_ext_key, "customer", str(internal_id))
    location = server.call(server.simon.by_ext_key, "location", f"{internal_id}/main")
    assert customer is not None and location is not None
    return customer, location


def start(race: Cli) -> subprocess.Popen[str]:
    argv = ["run", "--tenant", str(race.tenant_file), "--secrets", str(race.secrets_file),
            "--database", race.database, "--loop", "orders", "--once", "--json"]
    return subprocess.Popen(command(*argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=race.folder, env=environment())


def finish(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=300)
    assert_no_secret(out, err)
    assert process.returncode == 0, err
    lines = out.splitlines()
    assert len(lines) == 1, out
    summary: dict[str, Any] = json.loads(lines[0])
    return summary


def archived_work_order(server: EmulatorServer, customer: dict[str, Any],
                        location: dict[str, Any]) -> int:
    def make() -> int:
        simon = server.simon
        order = simon.seed("workorder", LocationId=location["Id"], CustomerId=customer["Id"],
                           Description="Cv-ketel onderhoud", WorkPerformed="Ketel gereinigd.",
                           Status="InProgress", PlannedDate="2025-03-10")
        simon.seed("timesheet", WorkOrderId=order["Id"], Date="2025-03-10", Start="08:00",
                   End="09:00", Minutes=60, Kind="Work")
        simon.archive_work_order(order["Id"])
        return int(order["Id"])

    return server.call(make)


def documents_by_marker(server: EmulatorServer) -> Counter[str]:
    def read() -> Counter[str]:
        company = server.visma.company(DEFAULT_TENANT_ID)
        return Counter(json.loads(order.raw).get("customer", {}).get("order")
                       for order in company.sales_orders.values())

    return server.call(read)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_cli_processes_race_for_100_rounds_without_duplicates_or_losses(
        race: Cli, backend: str, request: pytest.FixtureRequest) -> None:
    if backend == "postgresql":
        race.database = request.getfixturevalue("postgres_database")
    customer, location = mirrored(race)
    server = race.server
    server.visma.faults.add("slow", path=r"^/api/v3/SalesOrders$", method="POST",
                            delay=SLOW_CREATE_SECONDS)

    archived: list[int] = []
    outcomes: Counter[str] = Counter()
    for _ in range(ROUNDS):
        archived.append(archived_work_order(server, customer, location))
        first, second = start(race), start(race)
        for summary in (finish(first), finish(second)):
            orders = summary["loops"]["orders"]
            assert orders["ok"], orders
            if orders.get("ran") is False:
                assert orders["reason"].startswith(SKIPPED), orders
                outcomes["skipped"] += 1
            else:
                outcomes["ran"] += 1
                outcomes["sent"] += orders["sent"]

    documents = documents_by_marker(server)
    print(f"\n{backend}: {ROUNDS} rounds, {len(archived)} work orders, {dict(outcomes)}, "
          f"{sum(documents.values())} documents")
    duplicates = {marker: n for marker, n in documents.items() if n > 1}
    lost = [wid for wid in archived if documents[marker_of(wid)] == 0]
    assert duplicates == {}
    assert lost == []
    assert sum(documents.values()) == len(archived) == outcomes["sent"]
    # The passes did overlap: in some rounds one process found the other running.
    assert outcomes["skipped"] > 0, outcomes


def test_a_run_that_finds_the_pass_running_says_it_skipped_it(race: Cli) -> None:
    """While another process holds the tenant's orders lease, a run skips that pass, says so
    in its text summary and exits 0."""
    customer, location = mirrored(race)
    server = race.server
    server.visma.faults.add("slow", path=r"^/api/v3/SalesOrders$", method="POST", delay=120)
    archived_work_order(server, customer, location)

    holder = start(race)
    try:
        # The first process holds the lease while its create waits in Visma.net.
        while server.call(server.visma.stats.count, "POST", "/api/v3/SalesOrders") == 0:
            assert holder.poll() is None, holder.communicate()
            time.sleep(0.05)
        done = race.run("--once", "--loop", "orders")
    finally:
        holder.kill()
        holder.communicate()
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith(f"  orders: {SKIPPED}") and line.endswith("; skipped")
               for line in lines), done.stdout
    assert documents_by_marker(server) == Counter()


def test_two_processes_starting_a_tenant_together_wipe_once(race: Cli) -> None:
    """The activation wipe runs under a lease of its own: of two runs that activate the tenant
    at the same time, one wipes; the other skips the wipe or finds it done."""
    race.write({"activation": {"wipeOnFirstActivation": ["Customers"]},
                "orders": {"attachments": "None"}})
    server = race.server

    def seed() -> None:
        for n in range(4):
            server.simon.seed("customer", Name=f"Eigen klant {n}")

    server.call(seed)
    server.simon.faults.add("slow", path=r"/delete$", method="POST", delay=0.5)
    argv = ["run", "--tenant", str(race.tenant_file), "--secrets", str(race.secrets_file),
            "--database", race.database, "--loop", "masterdata", "--once", "--json"]
    first, second = (subprocess.Popen(command(*argv), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, cwd=race.folder,
                                      env=environment()) for _ in range(2))
    activations = [finish(first)["activation"], finish(second)["activation"]]

    wiped = [a for a in activations if a["wiped"]]
    assert len(wiped) == 1, activations
    (other,) = [a for a in activations if not a["wiped"]]
    if "wipeSkipped" in other:  # it came while the other wiped; else it came after
        assert other["wipeSkipped"].startswith(
            "another process is running the activation wipe of this tenant (holder "), other
    log = race.call("log", "--tenant", "demo", "--database", race.database, "--json")
    entries = [json.loads(line) for line in log.stdout.splitlines()]
    assert sum(e["message"].startswith("Activation wipe:") for e in entries) == 1, entries
