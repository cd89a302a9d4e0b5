"""The `simon-visma` command as a real subprocess against the emulators (DESIGN.md section 4):
exit codes, the JSON summary, one-line errors for bad files, the integration log, and never a
secret value in anything it prints (S-82)."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from emulators.launch import TENANT_NAME, TENANT_NAMESPACE, tenant_manifests
from emulators.server import EmulatorServer
from emulators.visma import DEFAULT_TENANT_ID
from reconcilers.store import open_store
from tests.integration.conftest import merge

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID = "cli-client"
VISMA_SECRET = "cli-Visma-secret-5f0e9a"
SIMON_LICENCE = "9876543210987654"
SIMON_USER = "cli@simon.example"
SIMON_PASSWORD = "cli-Simon-pw-77c1b"
SECRET_VALUES = (VISMA_SECRET, SIMON_LICENCE, SIMON_PASSWORD)
KERKSTRAAT = {"addressLine1": "Kerkstraat 12 A", "postalCode": "1011 AB", "city": "Amsterdam",
              "country": "NL"}
ENTRY_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  (?P<severity>info|warning|error) +"
    r"(?P<table>customer|work address|item|work order) +")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def free_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "SIMON_VISMA_DATABASE_URL")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "reconcilers.cli", *args]


def assert_no_secret(*outputs: str | bytes) -> None:
    """S-82: no secret value in anything the command printed."""
    for output in outputs:
        text = output.decode(errors="replace") if isinstance(output, bytes) else output
        for secret in SECRET_VALUES:
            assert secret not in text, "a secret value was printed"


class Cli:
    """A tenant of the emulators written to files, and the command run on them."""

    def __init__(self, server: EmulatorServer, folder: Path) -> None:
        self.server = server
        self.folder = folder
        self.database = f"sqlite:///{folder / 'state.db'}"
        self.tenant_file = folder / "tenant.yaml"
        self.secrets_file = folder / "secrets.yaml"
        self.write()

    @property
    def visma(self) -> Any:
        return self.server.visma.company(DEFAULT_TENANT_ID)

    def write(self, spec: dict[str, Any] | None = None, *, drop_key: str | None = None,
              tenant_path: Path | None = None) -> Path:
        """Write the tenant (with `spec` merged in) and its Secrets with the CLI's own
        credentials (`drop_key`: leave that key out of the Visma.net Secret)."""
        tenant, secrets = tenant_manifests(self.server.url, DEFAULT_TENANT_ID)
        tenant["spec"] = merge(tenant["spec"], spec or {})
        secrets[0]["stringData"] = {"clientId": CLIENT_ID, "clientSecret": VISMA_SECRET}
        secrets[1]["stringData"] = {"licenseKey": SIMON_LICENCE, "username": SIMON_USER,
                                    "password": SIMON_PASSWORD}
        if drop_key:
            del secrets[0]["stringData"][drop_key]
        path = tenant_path or self.tenant_file
        path.write_text(yaml.safe_dump(tenant, sort_keys=False))
        self.secrets_file.write_text(yaml.safe_dump_all(secrets, sort_keys=False))
        return path

    def run(self, *args: str, tenant: Path | None = None, database: bool = True,
            timeout: float = 180) -> subprocess.CompletedProcess[str]:
        argv = ["run", "--tenant", str(tenant or self.tenant_file),
                "--secrets", str(self.secrets_file), *args]
        if database:
            argv += ["--database", self.database]
        return self.call(*argv, timeout=timeout)

    def call(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(command(*args), capture_output=True, text=True, cwd=self.folder,
                              env=environment(), timeout=timeout, check=False)
        assert_no_secret(done.stdout, done.stderr)
        return done

    def requests(self) -> tuple[int, int]:
        """Requests both emulators have answered so far: (Visma.net, Simon)."""
        return self.server.visma.stats.total, self.server.simon.stats.total

    def customer_list_reads(self) -> int:
        return self.server.visma.stats.by_route[("GET", "/v1/customer")]


@pytest.fixture
def cli(emulators: EmulatorServer, tmp_path: Path) -> Cli:
    """A small company with its own Visma.net client and Simon login (so that the secret
    values are distinctive enough to look for in the output)."""
    emulators.visma.add_client(CLIENT_ID, VISMA_SECRET, [DEFAULT_TENANT_ID])
    emulators.simon.add_login(SIMON_LICENCE, SIMON_USER, SIMON_PASSWORD)
    company = emulators.visma.company(DEFAULT_TENANT_ID)
    company.add_warehouse("MAIN", "Hoofdmagazijn")
    company.add_order_type("SO", "Verkooporder")
    company.add_item("UUR", "Arbeid", type="LaborItem", base_unit="UUR")
    company.add_item("REIS", "Reistijd", type="LaborItem", base_unit="UUR")
    company.add_item("VOORRIJ", "Voorrijkosten", type="ServiceItem")
    company.add_customer("10023", "Bakker", address=KERKSTRAAT, email="info@bakker.example")
    company.add_customer("10024", "Smit", address=KERKSTRAAT, invoice_address={
        "addressLine1": "Postbus 100", "postalCode": "1000 AA", "city": "Amsterdam"})
    return Cli(emulators, tmp_path)


def summary_of(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    return json.loads(lines[0])


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


# --- run ------------------------------------------------------------------------------------

def test_run_once_json_prints_one_summary_and_exits_0(cli: Cli) -> None:
    """S-10, S-13, S-31: `run --once --json` runs every loop once, prints exactly one JSON
    summary line and exits 0; a second run writes nothing to Simon."""
    done = cli.run("--once", "--json")

    assert done.returncode == 0, done.stderr
    summary = summary_of(done)
    assert summary["exitCode"] == 0 and summary["tenant"] == f"{TENANT_NAMESPACE}/{TENANT_NAME}"
    assert {"masterdata", "cleanup"} <= set(summary["loops"])
    assert all(loop["ok"] for loop in summary["loops"].values())
    assert summary["loops"]["masterdata"]["customers"]["written"] == 2
    assert summary["activation"]["event"] == "first"
    assert {c["Number"] for c in cli.server.simon.list("customer")} == {"10023", "10024"}
    if "orders" in summary["loops"]:  # what test_loop_masterdata_runs_only_masterdata counts
        assert cli.server.simon.stats.count("GET", "/{table}/readsync") > 0

    writes = cli.server.simon.writes
    again = summary_of(cli.run("--once", "--json", "--loop", "masterdata"))
    assert again["loops"]["masterdata"]["simonWrites"] == 0
    assert cli.server.simon.writes == writes


def test_loop_masterdata_runs_only_masterdata(cli: Cli) -> None:
    """S-10: `--loop masterdata` runs the master-data pass and no other loop: a customer made
    in Simon (which a cleanup would remove) survives, and Visma.net's customer list is read
    once."""
    cli.write({"activation": {"wipeOnFirstActivation": []}})
    own = cli.server.simon.seed("customer", Name="Eigen klant")

    done = cli.run("--once", "--json", "--loop", "masterdata")

    assert done.returncode == 0, done.stderr
    summary = summary_of(done)
    assert list(summary["loops"]) == ["masterdata"]
    assert cli.server.simon.get("customer", own["Id"]) is not None
    assert cli.customer_list_reads() == 1
    assert cli.server.simon.stats.count("GET", "/{table}/readsync") == 0  # no orders loop
    assert cli.server.visma.stats.count(route="/api/v3/SalesOrders") == 0  # no imports loop


def test_unknown_loop_is_a_usage_error(cli: Cli) -> None:
    """DESIGN 4: a loop the command does not know is a bad command line: exit 2, nothing
    fetched."""
    done = cli.run("--once", "--loop", "invoices")
    assert done.returncode == 2
    assert "invoices" in done.stderr and "masterdata" in done.stderr
    assert cli.requests() == (0, 0)


@pytest.mark.parametrize(("change", "field"), [
    ({"orders": {"bogusField": 1}}, "spec.orders.bogusField"),
    ({"visma": {"tenantId": None}}, "spec.visma.tenantId"),
    ({"orders": {"defaultWarehouse": None}}, "spec.orders.defaultWarehouse"),
])
def test_bad_tenant_file_exits_2_with_one_line(cli: Cli, change: dict[str, Any],
                                                field: str) -> None:
    """S-70: an unknown field, a missing required field and a SalesOrder tenant without
    defaultWarehouse each exit 2 with one line naming the field; nothing is fetched."""
    cli.write(change)
    done = cli.run("--once")
    assert done.returncode == 2
    assert field in one_line(done.stderr) and done.stdout == ""
    assert cli.requests() == (0, 0)


def test_secrets_file_missing_a_key_exits_2_naming_secret_and_key(cli: Cli) -> None:
    """S-82: a Secret without `clientSecret` exits 2 with one line naming the Secret and
    the key, and no secret value anywhere in the output."""
    cli.write(drop_key="clientSecret")
    done = cli.run("--once", "--json")
    assert done.returncode == 2
    line = one_line(done.stderr)
    assert "demo-visma" in line and "clientSecret" in line
    assert cli.requests() == (0, 0)


def test_unreachable_visma_exits_1(cli: Cli) -> None:
    """S-71: with Visma.net unreachable (its URLs on a closed port) the run cannot complete:
    exit 1, a message saying so, Simon untouched (no wipe)."""
    closed = f"http://127.0.0.1:{free_port()}"
    cli.write({"visma": {"apiUrl": closed, "salesOrderUrl": closed,
                         "tokenUrl": f"{closed}/connect/token"}})
    done = cli.run("--once", "--json")
    assert done.returncode == 1, done.stderr
    summary = summary_of(done)
    assert summary["exitCode"] == 1 and not summary["settings"]["valid"]
    assert any("not reachable" in p for p in summary["settings"]["problems"])
    assert cli.server.simon.stats.total == 0


def test_invalid_settings_exit_1_but_master_data_goes_on(cli: Cli) -> None:
    """S-71: a settings check that fails on a missing item (company reachable) exits 1 and
    names the field, while the master-data pass still runs."""
    cli.write({"orders": {"workTimeItem": "BESTAATNIET"}})
    done = cli.run("--once", "--json")
    assert done.returncode == 1
    summary = summary_of(done)
    [problem] = summary["settings"]["problems"]
    assert "spec.orders.workTimeItem" in problem and "BESTAATNIET" in problem
    assert summary["loops"]["masterdata"]["ok"]
    assert len(cli.server.simon.list("customer")) == 2
    if "orders" in summary["loops"]:
        assert not summary["loops"]["orders"]["ok"]


def test_disabled_tenant_fetches_nothing(cli: Cli) -> None:
    """S-73: `enabled: false` fetches nothing (zero requests at both emulators) and exits 0."""
    cli.write({"enabled": False})
    done = cli.run("--once", "--json")
    assert done.returncode == 0, done.stderr
    assert summary_of(done)["enabled"] is False
    assert cli.requests() == (0, 0)


async def _cleanup_schedule(database: str) -> Any:
    store = await open_store(database)
    try:
        return await store.tenant(f"{TENANT_NAMESPACE}/{TENANT_NAME}").schedules.get("cleanup")
    finally:
        await store.close()


def _wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_cleanup_schedule_survives_a_restart(cli: Cli) -> None:
    """S-30: run without --once, the cleanup runs at start and is next due after its
    interval (48 h); a restart does not run it again."""
    started = subprocess.Popen(
        command("run", "--tenant", str(cli.tenant_file), "--secrets", str(cli.secrets_file),
                "--loop", "cleanup", "--database", cli.database),
        cwd=cli.folder, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: (s := asyncio.run(_cleanup_schedule(cli.database))) is not None
                  and s.next_run_at is not None)
    finally:
        started.send_signal(signal.SIGINT)
        out, err = started.communicate(timeout=60)
    assert started.returncode == 0, err
    assert_no_secret(out, err)
    schedule = asyncio.run(_cleanup_schedule(cli.database))
    assert schedule.last_success_at is not None
    hours = (schedule.next_run_at - schedule.last_success_at).total_seconds() / 3600
    assert 47.9 < hours <= 48.1
    reads = cli.customer_list_reads()
    assert reads == 1

    again = subprocess.Popen(
        command("run", "--tenant", str(cli.tenant_file), "--secrets", str(cli.secrets_file),
                "--loop", "cleanup", "--database", cli.database),
        cwd=cli.folder, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(3)
    finally:
        again.send_signal(signal.SIGINT)
        out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    assert_no_secret(out, err)
    assert cli.customer_list_reads() == reads
    assert asyncio.run(_cleanup_schedule(cli.database)).next_run_at == schedule.next_run_at


# --- log ------------------------------------------------------------------------------------

@pytest.fixture
def logged(cli: Cli) -> Cli:
    """A database whose log holds info (first import), warnings (cleanup kept records an
    open work order uses) and an error (Simon refused a customer)."""
    cli.visma.add_customer("10099", "Lange Telefoon", address=KERKSTRAAT, phone="0" * 60)
    cli.write({"activation": {"wipeOnFirstActivation": []}})
    own = cli.server.simon.seed("customer", Name="Eigen klant", Number="E1")
    location = cli.server.simon.seed("location", Name="Eigen werkadres", CustomerId=own["Id"])
    cli.server.simon.seed("workorder", LocationId=location["Id"], CustomerId=own["Id"])
    done = cli.run("--once", "--loop", "masterdata", "--loop", "cleanup")
    assert done.returncode == 0, done.stderr
    return cli


def test_log_shows_warnings_and_errors_in_columns(logged: Cli) -> None:
    """S-80: `log --tenant NAME --severity warning` shows warnings and errors only ("at
    least"), in the columns time, severity, table, key, message, with the action below; the
    key is what users see (the customer number); piped output has no colour codes."""
    done = logged.call("log", "--tenant", TENANT_NAME, "--severity", "warning",
                       "--database", logged.database)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:4] == ["TIME", "SEVERITY", "TABLE", "KEY"]
    entries = [ENTRY_LINE.match(line) for line in lines[1:] if not line.startswith(" ")]
    assert entries and all(entries), done.stdout
    assert {m["severity"] for m in entries if m} == {"warning", "error"}
    severity_column = lines[0].index("SEVERITY")
    assert all(line.index(m["severity"]) == severity_column
               for line, m in zip([x for x in lines[1:] if not x.startswith(" ")], entries,
                                  strict=True) if m)
    assert any("10099" in line and "error" in line for line in lines)
    assert any(line.strip().startswith("->") for line in lines[1:])
    assert not ANSI.search(done.stdout)

    everything = logged.call("log", "--tenant", TENANT_NAME, "--database", logged.database)
    assert any(m and m["severity"] == "info"
               for m in map(ENTRY_LINE.match, everything.stdout.splitlines()))
    errors = logged.call("log", "--tenant", TENANT_NAME, "--severity", "error",
                         "--database", logged.database)
    assert {m["severity"] for m in map(ENTRY_LINE.match, errors.stdout.splitlines()) if m} == {
        "error"}


def test_log_json_gives_json_lines(logged: Cli) -> None:
    """S-80: `log --json` prints one JSON object per entry with time, severity, table, key,
    message and action."""
    done = logged.call("log", "--tenant", f"{TENANT_NAMESPACE}/{TENANT_NAME}", "--severity",
                       "warning", "--json", "--database", logged.database)
    assert done.returncode == 0, done.stderr
    entries = [json.loads(line) for line in done.stdout.splitlines()]
    assert entries
    assert {e["severity"] for e in entries} == {"warning", "error"}
    assert all({"time", "severity", "table", "key", "message", "action"} <= set(e)
               for e in entries)
    assert {"customer", "workaddress"} <= {e["table"] for e in entries}
    assert any(e["key"] == "10099" and e["severity"] == "error" for e in entries)


def test_log_on_a_terminal_is_coloured(logged: Cli) -> None:
    """S-80: on a terminal errors show in red and warnings in yellow (and piped, not: see
    test_log_shows_warnings_and_errors_in_columns)."""
    controller, terminal = pty.openpty()
    shown = subprocess.Popen(
        command("log", "--tenant", TENANT_NAME, "--database", logged.database),
        cwd=logged.folder, env=environment(), stdout=terminal, stderr=subprocess.PIPE)
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    assert shown.wait(60) == 0
    text = output.decode(errors="replace")
    assert "\x1b[31m" in text and "\x1b[33m" in text
    assert_no_secret(text)


def test_log_of_an_unknown_tenant_exits_2(logged: Cli) -> None:
    """S-80: asking for the log of a tenant the database does not know is a usage error
    that names the tenants it does know."""
    done = logged.call("log", "--tenant", "nobody", "--database", logged.database)
    assert done.returncode == 2
    assert "nobody" in one_line(done.stderr) and TENANT_NAME in done.stderr
