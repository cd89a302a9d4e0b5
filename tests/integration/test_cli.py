"""The `simon-visma` command as a real subprocess against the emulators (DESIGN.md section 4):
exit codes, the JSON summary, one-line errors for bad files, the integration log, and never a
secret value in anything it prints (S-82)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import pty
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from emulators.launch import TENANT_NAME, TENANT_NAMESPACE, tenant_manifests
from emulators.server import EmulatorServer
from emulators.visma import DEFAULT_TENANT_ID
from reconcilers.logview.terminal import print_log
from reconcilers.store import LogEntry, LogTable, Severity, open_store
from tests.fixtures.world import merge

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


def sales_company(emulators: EmulatorServer) -> Any:
    """The tenant's Visma.net client and Simon login, and a company with the warehouse, order
    type and items the tenant file names."""
    emulators.visma.add_client(CLIENT_ID, VISMA_SECRET, [DEFAULT_TENANT_ID])
    emulators.simon.add_login(SIMON_LICENCE, SIMON_USER, SIMON_PASSWORD)
    company = emulators.visma.company(DEFAULT_TENANT_ID)
    company.add_warehouse("MAIN", "Hoofdmagazijn")
    company.add_order_type("SO", "Verkooporder")
    company.add_item("UUR", "Arbeid", type="LaborItem", base_unit="UUR")
    company.add_item("REIS", "Reistijd", type="LaborItem", base_unit="UUR")
    company.add_item("VOORRIJ", "Voorrijkosten", type="ServiceItem")
    return company


@pytest.fixture
def cli(emulators: EmulatorServer, tmp_path: Path) -> Cli:
    """A small company with its own Visma.net client and Simon login (so that the secret
    values are distinctive enough to look for in the output)."""
    company = sales_company(emulators)
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


def wait_for_line(process: subprocess.Popen[bytes], needle: str) -> list[str]:
    """The child's stdout lines up to and including the first that holds `needle` (reading
    blocks until the child prints; pytest's timeout guards a child that never does)."""
    assert process.stdout is not None
    lines: list[str] = []
    for raw in process.stdout:
        lines.append(raw.decode(errors="replace"))
        if needle in lines[-1]:
            return lines
    raise AssertionError(f"the command ended without printing {needle!r}: {lines}")


def test_cleanup_schedule_survives_a_restart(cli: Cli) -> None:
    """S-30: run without --once, the cleanup runs at start and is next due after its
    interval (48 h); a restart does not run it again but waits for that time."""
    argv = command("run", "--tenant", str(cli.tenant_file), "--secrets", str(cli.secrets_file),
                   "--loop", "cleanup", "--database", cli.database)
    started = subprocess.Popen(argv, cwd=cli.folder, env=environment(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    try:
        first = wait_for_line(started, "cleanup: next pass at")
    finally:
        started.send_signal(signal.SIGINT)
        out, err = started.communicate(timeout=60)
    assert started.returncode == 0, err
    assert_no_secret("".join(first), out, err)
    assert any(line.split()[1:] == ["cleanup:", "ok"] for line in first), first
    schedule = asyncio.run(_cleanup_schedule(cli.database))
    assert schedule.last_success_at is not None
    hours = (schedule.next_run_at - schedule.last_success_at).total_seconds() / 3600
    assert 47.9 < hours <= 48.1
    assert f"next pass at {schedule.next_run_at:%Y-%m-%d %H:%M:%S} UTC" in first[-1]
    reads = cli.customer_list_reads()
    assert reads == 1

    again = subprocess.Popen(argv, cwd=cli.folder, env=environment(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        waiting = wait_for_line(again, "cleanup: next pass at")
    finally:
        again.send_signal(signal.SIGINT)
        out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    assert_no_secret("".join(waiting), out, err)
    assert len(waiting) == 1, waiting  # it went straight to waiting: no pass ran
    assert f"next pass at {schedule.next_run_at:%Y-%m-%d %H:%M:%S} UTC" in waiting[0]
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
    text = on_terminal(command("log", "--tenant", TENANT_NAME, "--database", logged.database),
                       logged.folder)
    assert "\x1b[31m" in text and "\x1b[33m" in text
    assert_no_secret(text)


def test_log_of_an_unknown_tenant_exits_2(logged: Cli) -> None:
    """S-80: asking for the log of a tenant the database does not know is a usage error
    that names the tenants it does know."""
    done = logged.call("log", "--tenant", "nobody", "--database", logged.database)
    assert done.returncode == 2
    assert "nobody" in one_line(done.stderr) and TENANT_NAME in done.stderr


# --- malformed input: one line, never a traceback --------------------------------------------

class Files:
    """A valid tenant and secrets file in `folder` (their URLs on a closed port, so a case
    that wrongly got past the checks would fail with 1, not 2), and helpers for bad ones."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.closed = f"http://127.0.0.1:{free_port()}"
        self.tenant, self.secrets = tenant_manifests(self.closed, DEFAULT_TENANT_ID)
        self.tenant_file = self.write("tenant.yaml", yaml.safe_dump(self.tenant))
        self.secrets_file = self.write("secrets.yaml", yaml.safe_dump_all(self.secrets))
        self.database = f"sqlite:///{folder / 'state.db'}"

    def write(self, name: str, content: str | bytes) -> Path:
        path = self.folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return path

    def tenant_with(self, **spec: Any) -> Path:
        """A tenant file with `spec` merged into the valid one."""
        tenant = {**self.tenant, "spec": merge(self.tenant["spec"], spec)}
        return self.write("changed-tenant.yaml", yaml.safe_dump(tenant))

    def run(self, tenant: Path | str | None = None, secrets: Path | str | None = None,
            database: str | None = None, *extra: str) -> list[str]:
        return ["run", "--once", "--tenant", str(tenant or self.tenant_file),
                "--secrets", str(secrets or self.secrets_file),
                "--database", database or self.database, *extra]

    def log(self, *extra: str, database: str | None = None) -> list[str]:
        return ["log", "--tenant", TENANT_NAME, "--database", database or self.database,
                *extra]

    def fifo(self) -> Path:
        path = self.folder / "fifo.yaml"
        os.mkfifo(path)
        return path

    def regular_file(self) -> Path:
        return self.write("plain-file", "not a folder\n")

    def random_bytes(self, name: str, *, nul: bool = True) -> Path:
        data = bytes(range(256)) * 16
        return self.write(name, data if nul else data.replace(b"\x00", b"\xff"))


def alias_bomb(levels: int = 9) -> str:
    """Nine lines that expand to a billion strings."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 10)}]")
    return "\n".join(lines) + "\n"


def tenant_with_bomb(files: Files) -> Path:
    bomb = "\n".join("  " + line for line in alias_bomb().splitlines())
    text = yaml.safe_dump({k: v for k, v in files.tenant.items() if k != "spec"})
    return files.write("bomb.yaml", f"{text}spec:\n{bomb}\n  bomb: *a9\n")


def deep_tenant(files: Files, depth: int = 500) -> Path:
    text = yaml.safe_dump({k: v for k, v in files.tenant.items() if k != "spec"})
    return files.write("deep.yaml", f"{text}spec: {'[' * depth}{']' * depth}\n")


def two_tenants(files: Files) -> Path:
    second = {**files.tenant, "metadata": {"name": "other", "namespace": TENANT_NAMESPACE}}
    return files.write("two.yaml", yaml.safe_dump_all([files.tenant, second]))


def secrets_without(files: Files, key: str) -> Path:
    secrets = [dict(s, stringData=dict(s["stringData"])) for s in files.secrets]
    del secrets[0]["stringData"][key]
    return files.write("short-secrets.yaml", yaml.safe_dump_all(secrets))


def schedule(duration: str) -> Callable[[Files], list[str]]:
    return lambda f: f.run(f.tenant_with(schedule={"orders": duration}))


# (case id, command line built on the files, exit code, text the one line must hold)
MALFORMED: list[tuple[str, Callable[[Files], list[str]], int, str]] = [
    # The command line.
    ("no-command", lambda f: [], 2, "COMMAND"),
    ("unknown-command", lambda f: ["serve"], 2, "serve"),
    ("unknown-loop", lambda f: f.run(None, None, None, "--loop", "invoices"), 2, "invoices"),
    ("unknown-option", lambda f: f.run(None, None, None, "--fast"), 2, "--fast"),
    ("missing-secrets-option", lambda f: ["run", "--tenant", str(f.tenant_file)], 2,
     "--secrets"),
    ("bad-severity", lambda f: f.log("--severity", "fatal"), 2, "fatal"),
    ("negative-limit", lambda f: f.log("--limit", "-5"), 2, "--limit"),
    ("zero-limit", lambda f: f.log("--limit", "0"), 2, "--limit"),
    ("word-limit", lambda f: f.log("--limit", "abc"), 2, "--limit"),
    ("huge-limit", lambda f: f.log("--limit", "9" * 30), 2, "--limit"),
    ("port-out-of-range", lambda f: ["emulate", "--port", "99999"], 2, "--port"),
    ("escape-in-argument", lambda f: f.log("--severity", "\x1b[2Jx"), 2, "\\x1b[2Jx"),
    # The tenant file.
    ("missing-tenant-file", lambda f: f.run(f.folder / "nope.yaml"), 2, "nope.yaml"),
    ("folder-as-tenant-file", lambda f: f.run(f.folder), 2, "cannot read the tenant file"),
    ("dev-zero-as-tenant-file", lambda f: f.run("/dev/zero"), 2, "not a regular file"),
    ("fifo-as-tenant-file", lambda f: f.run(f.fifo()), 2, "not a regular file"),
    ("binary-tenant-file", lambda f: f.run(f.random_bytes("tenant.bin")), 2, "binary"),
    ("latin-1-tenant-file", lambda f: f.run(f.write("latin.yaml", "naam: caf\xe9\n".encode(
        "latin-1"))), 2, "UTF-8"),
    ("empty-tenant-file", lambda f: f.run(f.write("empty.yaml", "")), 2,
     "no VismaIntegration resource"),
    ("huge-tenant-file", lambda f: f.run(f.write("huge.yaml", "# padding\n" * 200_000)), 2,
     "larger than 1 MiB"),
    ("not-yaml", lambda f: f.run(f.write("bad.yaml", "spec: [unclosed\n")), 2,
     "not valid YAML"),
    ("list-not-mapping", lambda f: f.run(f.write("list.yaml", "- a\n- b\n")), 2,
     "not a Kubernetes object"),
    ("scalar-not-mapping", lambda f: f.run(f.write("scalar.yaml", "just some words\n")), 2,
     "not a Kubernetes object"),
    ("two-tenants", lambda f: f.run(two_tenants(f)), 2, "holds 2 VismaIntegration"),
    ("wrong-kind", lambda f: f.run(f.write("kind.yaml", yaml.safe_dump(
        {**f.tenant, "kind": "VismaIntegrations"}))), 2, "no VismaIntegration resource"),
    ("number-keys", lambda f: f.run(f.write("keys.yaml", yaml.safe_dump(
        {**f.tenant, 1: "x"}, sort_keys=False))), 2, "unknown field"),
    ("deep-nesting", lambda f: f.run(deep_tenant(f)), 2, "levels deep"),
    ("alias-bomb-under-spec", lambda f: f.run(tenant_with_bomb(f)), 2, "aliases"),
    ("recursive-alias", lambda f: f.run(f.write("loop.yaml", "a: &a [*a]\n")), 2, "aliases"),
    # Durations (the CRD's schedule fields).
    ("duration-far-too-long", schedule("99999999999999h"), 2, "spec.schedule.orders"),
    ("duration-too-long", schedule("999999999h"), 2, "spec.schedule.orders"),
    ("duration-just-too-long", schedule("168h1s"), 2, "at most 168h"),
    ("duration-rounds-to-zero", schedule("0.0001ms"), 2, "spec.schedule.orders"),
    ("duration-too-short", schedule("1ms"), 2, "at least 10s"),
    ("duration-negative", schedule("-5m"), 2, "spec.schedule.orders"),
    ("duration-bad-unit", schedule("5x"), 2, "spec.schedule.orders"),
    # The secrets file.
    ("missing-secrets-file", lambda f: f.run(None, f.folder / "nope-secrets.yaml"), 2,
     "nope-secrets.yaml"),
    ("dev-zero-as-secrets-file", lambda f: f.run(None, "/dev/zero"), 2, "not a regular file"),
    ("binary-secrets-file", lambda f: f.run(None, f.random_bytes("secrets.bin")), 2, "binary"),
    ("secret-missing-a-key", lambda f: f.run(None, secrets_without(f, "clientSecret")), 2,
     "clientSecret"),
    ("alias-bomb-in-secrets", lambda f: f.run(None, f.write("bomb-secrets.yaml",
                                                            alias_bomb())), 2, "aliases"),
    ("huge-secrets-file", lambda f: f.run(None, f.write("huge-secrets.yaml",
                                                        "x" * (1024 * 1024 + 1))), 2,
     "larger than 1 MiB"),
    # The database URL.
    ("unsupported-database", lambda f: f.run(database="mysql://db.example/state"), 2,
     "unsupported database"),
    ("not-a-database-url", lambda f: f.log(database="::not a url::"), 2, "not a database URL"),
    ("in-memory-sqlite", lambda f: f.log(database="sqlite://"), 2, "SQLite file"),
    ("sqlite-under-a-file", lambda f: f.run(database=f"sqlite:///{f.regular_file()}/state.db"),
     2, "plain-file"),
    ("sqlite-random-bytes", lambda f: f.log(database=f"sqlite:///{f.random_bytes('x.db')}"), 2,
     "not a database"),
    ("sqlite-is-a-folder", lambda f: f.run(database=f"sqlite:///{f.folder}"), 2, "folder"),
    ("postgresql-unreachable", lambda f: f.run(
        database=f"postgresql://user:pw@127.0.0.1:{free_port()}/state"), 1, "127.0.0.1"),
    ("postgresql-unreachable-log", lambda f: f.log(
        database=f"postgresql://user:pw@127.0.0.1:{free_port()}/state"), 1, "127.0.0.1"),
]


@pytest.mark.parametrize(("build", "code", "says"), [case[1:] for case in MALFORMED],
                         ids=[case[0] for case in MALFORMED])
def test_malformed_input_is_one_line(tmp_path: Path, build: Callable[[Files], list[str]],
                                     code: int, says: str) -> None:
    """DESIGN 4: a bad command line, tenant file, secrets file or database URL exits 2 (an
    unreachable database 1) with exactly one line on stderr that says what to fix, nothing
    on stdout, and never a traceback; a device, FIFO, huge file or alias bomb neither hangs
    the command nor fills its memory."""
    done = subprocess.run(command(*build(Files(tmp_path))), capture_output=True, cwd=tmp_path,
                          env=environment(), timeout=120, check=False)
    stderr = done.stderr.decode(errors="replace")
    assert "Traceback" not in stderr
    assert done.returncode == code, stderr
    assert done.stdout == b""
    assert stderr.endswith("\n") and stderr.count("\n") == 1, stderr
    assert stderr.startswith("simon-visma: ") and says in stderr, stderr
    assert "\x1b" not in stderr and "pw@" not in stderr


# --- the log shows outside text safely -------------------------------------------------------

HOSTILE_KEY = "WO-1\x1b[2J\u202e"
HOSTILE_MESSAGE = "Klant \x1b]0;title\x07 gone\x1b[31m red\tand\nmore " + "x" * 3000


async def _add_hostile_entry(database: str) -> None:
    store = await open_store(database)
    try:
        await store.tenant(f"{TENANT_NAMESPACE}/{TENANT_NAME}").log.error(
            "workorder", HOSTILE_KEY, HOSTILE_MESSAGE, "check \x1b[H the customer")
    finally:
        await store.close()


def on_terminal(argv: list[str], folder: Path) -> str:
    """What the command prints when its stdout is a terminal."""
    controller, terminal = pty.openpty()
    shown = subprocess.Popen(argv, cwd=folder, env=environment(), stdout=terminal,
                             stderr=subprocess.PIPE)
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
    return output.decode(errors="replace")


def test_log_shows_escape_sequences_escaped(tmp_path: Path) -> None:
    """A work order number and a message holding terminal escape sequences (clear screen,
    retitle, colours, a right-to-left override) are shown escaped, piped and on a terminal,
    and a long message is cut with a marker; JSON lines are ASCII and give the text back."""
    files = Files(tmp_path)
    asyncio.run(_add_hostile_entry(files.database))

    piped = subprocess.run(command(*files.log()), capture_output=True, text=True,
                           cwd=tmp_path, env=environment(), timeout=120, check=False)
    assert piped.returncode == 0, piped.stderr
    for raw in ("\x1b", "\x07", "\u202e", "\t"):
        assert raw not in piped.stdout
    assert "WO-1\\x1b[2J\\u202e" in piped.stdout
    assert "\\x1b]0;title\\x07" in piped.stdout and "\\t" in piped.stdout
    assert "check \\x1b[H the customer" in piped.stdout
    assert f"... ({len(HOSTILE_MESSAGE)} characters)" in piped.stdout
    assert len(piped.stdout) < 2000
    entry, action = piped.stdout.splitlines()[1:]
    assert ENTRY_LINE.match(entry) and action.strip().startswith("->")

    coloured = on_terminal(command(*files.log()), tmp_path)
    assert "\x1b[31m" in coloured  # errors in red
    assert "\x1b" not in ANSI.sub("", coloured) and "\x07" not in coloured
    assert "WO-1\\x1b[2J" in coloured

    as_json = subprocess.run(command(*files.log("--json")), capture_output=True, cwd=tmp_path,
                             env=environment(), timeout=120, check=False)
    assert as_json.returncode == 0, as_json.stderr
    assert as_json.stdout.isascii() and b"\x1b" not in as_json.stdout
    [line] = as_json.stdout.decode().splitlines()
    assert json.loads(line)["key"] == HOSTILE_KEY
    assert json.loads(line)["message"] == HOSTILE_MESSAGE


def test_print_log_shows_a_lone_surrogate_safely() -> None:
    """A lone surrogate (which the store cannot hold, but a LogEntry can) is shown as U+FFFD
    in the table and as an ASCII escape in JSON: printing never fails."""
    entry = LogEntry(id=1, time=datetime(2025, 5, 1, 12, tzinfo=UTC), severity=Severity.ERROR,
                     table=LogTable.CUSTOMER, key="K\ud800\x1b[2J",
                     message="lone \udc00 \x1b]0;title\x07", action=None, resolved_at=None)
    table = io.StringIO()
    print_log([entry], as_json=False, out=table)
    shown = table.getvalue()
    assert "K\ufffd\\x1b[2J" in shown and "lone \ufffd \\x1b]0;title\\x07" in shown
    assert shown.encode("utf-8")  # no lone surrogate left
    assert "\x1b" not in shown and "\x07" not in shown

    lines = io.StringIO()
    print_log([entry], as_json=True, out=lines)
    assert lines.getvalue().isascii() and "\\ud800" in lines.getvalue()
    assert json.loads(lines.getvalue())["key"] == "K\ud800\x1b[2J"
