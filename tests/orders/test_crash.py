"""S-4 "nothing lost, nothing doubled" under crashes, lost answers and timeouts.

The orders loop runs as its own process, exactly as a user runs it
(`simon-visma run --tenant ... --secrets ... --loop orders --once --database ... -v`), and
is killed with SIGKILL at seeded random moments spread over the whole push; the emulators
run in this test process (the `emulators` fixture), so they outlive every kill. A kill's
moment is measured on the push's own clock: the child's n-th HTTP request (each one logged
with `-v`) plus a random part of a request's time, n drawn over the whole push as measured
by an uninterrupted run first. Wall-clock delays would put the kills elsewhere whenever the
machine's load changed between calibration and kill. After a final uninterrupted run every
archived, sendable work order must have exactly one Visma.net sales order carrying its
marker, with its PDFs, and the ledger must say `done` for it (0 duplicates, 0 lost).

The same invariants are checked with injected `lose_response` faults (the sales order or
the attachment is made, the answer never arrives) and with `slow` answers longer than the
client's timeout (in-process, with a short `RetryPolicy.timeout`: the CLI's default of 60 s
is too long for a test).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from pypdf import PdfReader

from emulators.launch import tenant_manifests
from emulators.server import EmulatorServer
from emulators.simon.data import add_work_orders
from emulators.visma import DEFAULT_TENANT_ID
from reconcilers.clients.http import RetryPolicy
from reconcilers.documents.rendering import forms_filename, work_order_filename
from reconcilers.loops.masterdata import MasterDataLoop
from reconcilers.loops.orders import OrdersLoop, marker_of
from reconcilers.store import WorkOrderState, open_store
from reconcilers.store.records import parse_timestamp
from tests.fixtures.world import opened_world
from tests.orders.conftest import World, pushed, seed_company, seed_users

SKIP_WORD = "NIETFACTUREREN"
PER_ROUND = 10
MIN_KILLS = {"sqlite": 50, "postgres": 10}
SEED = 20250310
REQUEST_LINE = b"HTTP Request:"  # what httpx logs for every request (at INFO, with -v)
IN_FLIGHT = ("claimed", "creating", "created", "attached")
FINISHED = ("done", "failed", "skipped")
ALL_STATES = IN_FLIGHT + FINISHED


def _command() -> list[str]:
    """The `simon-visma` console script of this environment (else the same module)."""
    script = shutil.which("simon-visma", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "reconcilers.cli"]


@dataclass
class CrashStats:
    kills: int = 0
    completed_runs: int = 0
    rounds: int = 0
    work_orders: int = 0
    in_flight_after_kill: Counter[str] = field(default_factory=Counter)
    kills_leaving_work_in_flight: int = 0
    kill_points: list[float] = field(default_factory=list)
    """Where each kill landed: the share of the pending push done (requests made / expected)."""


class Cli:
    """The tenant's files and database, and `simon-visma run` as a child process."""

    def __init__(self, folder: Path, emulators: EmulatorServer, database: str,
                 name: str = "demo") -> None:
        manifest, secrets = tenant_manifests(emulators.url, DEFAULT_TENANT_ID)
        manifest["metadata"]["name"] = name
        # The generated tenant's settings as they are (SalesOrder, hour items, the fixed
        # item, the skip word, warehouse MAIN, both PDFs), plus a user's warehouse.
        manifest["spec"]["orders"]["warehouseByUser"] = {"jan@acme.example": "BUS1"}
        self.folder = folder
        self.tenant = folder / "tenant.yaml"
        self.secrets = folder / "secrets.yaml"
        folder.mkdir(parents=True, exist_ok=True)
        self.tenant.write_text(yaml.safe_dump(manifest, sort_keys=False))
        self.secrets.write_text(yaml.safe_dump_all(secrets, sort_keys=False))
        self.database = database
        self.key = f"{manifest['metadata']['namespace']}/{manifest['metadata']['name']}"

    def start(self, *loops: str) -> subprocess.Popen[bytes]:
        """`simon-visma run ... --once -v`: `-v` logs every HTTP request to stderr, which is
        how a test follows the push's progress."""
        args = [*_command(), "run", "--tenant", str(self.tenant), "--secrets",
                str(self.secrets), "--once", "--json", "-v", "--database", self.database]
        for loop in loops or ("orders",):
            args += ["--loop", loop]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        return subprocess.Popen(args, cwd=self.folder, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)

    def run(self, *loops: str, timeout: float = 300) -> tuple[int, dict[str, Any], int]:
        """An uninterrupted run: (exit code, its JSON summary, HTTP requests it made)."""
        process = self.start(*loops)
        out, err = process.communicate(timeout=timeout)
        lines = [line for line in out.decode().splitlines() if line.startswith("{")]
        assert lines, f"no summary; stderr: {err.decode()[-2000:]}"
        return process.returncode, json.loads(lines[-1]), err.count(REQUEST_LINE)

    def run_to_the_end(self, attempts: int = 4) -> dict[str, Any]:
        """Uninterrupted runs until one completes with nothing left in flight."""
        summary: dict[str, Any] = {}
        for _ in range(attempts):
            code, summary, _ = self.run()
            if code == 0 and not asyncio.run(ledger_states(self.database, self.key,
                                                           IN_FLIGHT)):
                return summary
        raise AssertionError(f"work left in flight after {attempts} runs: {summary}")


async def ledger_states(database: str, key: str, states: tuple[str, ...]) -> Counter[str]:
    store = await open_store(database, migrate=False)
    try:
        entries = await store.tenant(key).ledger.entries(states=list(states))
    finally:
        await store.close()
    return Counter(e.state.value for e in entries)


async def ledger_entries(database: str, key: str) -> dict[str, Any]:
    store = await open_store(database, migrate=False)
    try:
        state = store.tenant(key)
        entries = await state.ledger.entries()
        activated = await state.activation.earliest_archive_time()
    finally:
        await store.close()
    return {"entries": {e.work_order_id: e for e in entries}, "activated": activated}


def archive_work_orders(emulators: EmulatorServer, n: int, seed: int) -> list[dict[str, Any]]:
    """`n` generated work orders, completed and archived now (some with the skip word, some
    without a customer: those must not be sent)."""
    return emulators.call(add_work_orders, emulators.simon, n, seed)


# --- the expectation, worked out from Simon's data alone ------------------------------------------

def sendable(emulators: EmulatorServer, activated: Any) -> tuple[dict[int, dict], dict[int, str]]:
    """(work orders that must become exactly one document, by Id; why the others must not)."""

    def read() -> tuple[dict[int, dict], dict[int, str]]:
        simon, visma = emulators.simon, emulators.visma.company()
        visma_ids = {str(r.dto["internalId"]) for r in visma.customers.values()}
        items = {i["Id"]: i for i in simon.list("item")}
        used = simon.list("useditem")
        send, other = {}, {}
        for wo in simon.list("workorder"):
            if not (wo["Archived"] and wo["Status"] == "Completed"):
                continue
            if parse_timestamp(wo["ArchivedAt"]) < activated:
                other[wo["Id"]] = "archived before the activation"
                continue
            customer_id = wo["CustomerId"]
            if customer_id is None:
                location = simon.get("location", wo["LocationId"])
                customer_id = location["CustomerId"] if location else None
            customer = simon.get("customer", customer_id) if customer_id else None
            text = f"{wo['WorkPerformed'] or ''} {wo['Description'] or ''}".casefold()
            lines = [u for u in used if u["WorkOrderId"] == wo["Id"]]
            if customer is None or customer["ExtKey"] not in visma_ids:
                other[wo["Id"]] = "no Visma.net customer"
            elif SKIP_WORD.casefold() in text:
                other[wo["Id"]] = "skip word"
            elif any(u["ItemId"] is None or not items[u["ItemId"]]["ExtKey"] for u in lines):
                other[wo["Id"]] = "an item not from Visma.net"
            else:
                send[wo["Id"]] = wo
        return send, other

    return emulators.call(read)


def check_nothing_lost_nothing_doubled(emulators: EmulatorServer, cli: Cli) -> dict[str, int]:
    """S-4 over everything Simon holds; returns the figures for the report."""
    recorded = asyncio.run(ledger_entries(cli.database, cli.key))
    entries, activated = recorded["entries"], recorded["activated"]
    send, other = sendable(emulators, activated)

    def documents() -> tuple[list[dict[str, Any]], dict[int, bool]]:
        simon = emulators.simon
        company = emulators.visma.company()
        orders = [{"orderId": o.order_id, "type": o.type, "marker": o.customer.get("order"),
                   "body": json.loads(o.raw),
                   "files": {a.name: a.content for a in o.attachments},
                   "revisions": [a.revision for a in o.attachments]}
                  for o in company.sales_orders.values()]
        surveys = {wid: any(s["WorkOrderId"] == wid for s in simon.list("workordersurvey"))
                   for wid in send}
        return orders, surveys

    orders, has_surveys = emulators.call(documents)
    assert not emulators.call(lambda: emulators.visma.company().invoices)
    by_marker = Counter(o["marker"] for o in orders)
    duplicates = sum(n - 1 for n in by_marker.values() if n > 1)
    lost = [wid for wid in send if by_marker[marker_of(wid)] == 0]
    stray = [o for o in orders if o["marker"] not in {marker_of(w) for w in send}]
    assert (duplicates, lost, stray) == (0, [], []), (duplicates, lost, stray)

    pdfs = 0
    for order in orders:
        wid = int(order["marker"].removeprefix("SIMON-WO-"))
        number = send[wid]["Number"]
        assert order["type"] == "SO"
        assert order["body"]["description"] == f"Werkbon {number}"
        expected = {work_order_filename(number)}
        if has_surveys[wid]:
            expected.add(forms_filename(number))
        assert set(order["files"]) == expected, (wid, sorted(order["files"]))
        for content in order["files"].values():
            # Whole files (not cut off by a kill or a lost answer), read back with pypdf.
            assert content.startswith(b"%PDF-") and b"%%EOF" in content[-64:]
            assert len(PdfReader(io.BytesIO(content)).pages) >= 1
            pdfs += 1
        entry = entries.get(wid)
        assert entry is not None and entry.state is WorkOrderState.DONE, (wid, entry)
        assert (entry.document_type, entry.document_number) == ("SO", order["orderId"])
        assert set(entry.attachments_done) == expected
    for wid, why in other.items():
        entry = entries.get(wid)
        assert entry is not None, (wid, why)
        assert entry.state in (WorkOrderState.FAILED, WorkOrderState.SKIPPED), (wid, why, entry)
    return {"workOrders": len(send) + len(other), "sendable": len(send),
            "documents": len(orders), "duplicates": duplicates, "lost": len(lost),
            "pdfs": pdfs, "notSent": len(other),
            "reuploads": sum(r - 1 for o in orders for r in o["revisions"])}


# --- the world of these tests -------------------------------------------------------------------

def prepare(emulators: EmulatorServer, folder: Path, database: str, name: str = "demo") -> Cli:
    """The company, Simon's users, the first activation and one master-data pass via the CLI."""
    seed_company(emulators)
    seed_users(emulators)
    cli = Cli(folder, emulators, database, name)
    code, summary, _ = cli.run("masterdata")
    assert code == 0, summary
    assert summary["activation"]["event"] == "first"
    return cli


def kind_of(database_url: str) -> str:
    return "postgres" if database_url.startswith("postgresql") else "sqlite"


@dataclass
class Lane:
    """One tenant with its own emulators, killed over and over by one thread."""

    emulators: EmulatorServer
    cli: Cli
    rng: random.Random
    stats: CrashStats = field(default_factory=CrashStats)
    made: int = 0
    startup_requests: int = 0
    requests_per_work_order: float = 0.0

    def calibrate(self) -> None:
        """One uninterrupted push of a round, then a run with nothing to do: how many
        requests the start-up makes (token, settings check, readsync) and each work order."""
        archive_work_orders(self.emulators, PER_ROUND, seed=0)
        self.made = PER_ROUND
        code, summary, full = self.cli.run()
        assert code == 0, summary
        assert summary["loops"]["orders"]["sent"] > 0
        code, _, idle = self.cli.run()
        assert code == 0
        self.startup_requests = idle
        self.requests_per_work_order = (full - idle) / PER_ROUND

    def kill_until(self, wanted: int) -> None:
        """Each kill comes after a seeded random number of the child's HTTP requests, drawn
        uniformly from its start-up to the end of the work still pending, plus a random
        part of a request's time: kills land anywhere in a push (recovering the previous
        victim's work, claiming, creating, attaching, finishing), whatever the machine's
        load does to wall-clock times."""
        stats, pending = self.stats, 0
        while stats.kills < wanted:
            if pending == 0:
                stats.rounds += 1
                assert stats.rounds <= 40, f"only {stats.kills} kills in 40 rounds"
                archive_work_orders(self.emulators, PER_ROUND, seed=stats.rounds)
                self.made += PER_ROUND
                stats.work_orders += PER_ROUND
                pending = PER_ROUND
            # A fifth past the expected end, so that now and then an attempt finishes the
            # round instead of every kill landing on its last work order.
            expected = self.startup_requests + pending * self.requests_per_work_order
            at = self.rng.randint(max(1, self.startup_requests - 2),
                                  max(2, round(self.startup_requests +
                                               pending * self.requests_per_work_order * 1.2)))
            killed = kill_at_request(self.cli.start(), at, self.rng.uniform(0.0, 0.03))
            states = asyncio.run(ledger_states(self.cli.database, self.cli.key, ALL_STATES))
            pending = self.made - sum(states[s] for s in FINISHED)
            if killed:
                stats.kills += 1
                stats.kill_points.append(
                    max(0.0, at - self.startup_requests) / max(1.0, expected -
                                                              self.startup_requests))
                left = Counter({s: states[s] for s in IN_FLIGHT if states[s]})
                stats.in_flight_after_kill.update(left)
                stats.kills_leaving_work_in_flight += bool(left)
            else:
                stats.completed_runs += 1


def kill_at_request(process: subprocess.Popen[bytes], requests: int, jitter: float) -> bool:
    """SIGKILL the process `jitter` seconds after it logged its `requests`-th HTTP request;
    False when it ended by itself first."""
    assert process.stderr is not None
    try:
        seen = 0
        for line in process.stderr:
            if REQUEST_LINE in line:
                seen += 1
                if seen >= requests:
                    time.sleep(jitter)
                    if process.poll() is None:
                        process.send_signal(signal.SIGKILL)
                        process.wait()
                        return True
                    break
        process.wait()
        return False
    finally:
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def in_threads(*jobs: Any) -> None:
    """Run the callables side by side; re-raise the first failure."""
    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()


def test_orders_loop_killed_at_random_points(emulators: EmulatorServer, database_url: str,
                                             tmp_path: Path) -> None:
    """S-4: SIGKILL at seeded random moments over the whole push, round after round; after
    a final uninterrupted run: exactly one sales order per sendable work order, with its
    PDFs, the ledger `done`; 0 duplicates, 0 lost.

    Two tenants are killed side by side (each with its own emulators; on PostgreSQL they
    share the database, as replicas do), so that the kills fit the time of a test run."""
    kind = kind_of(database_url)
    wanted = MIN_KILLS[kind]
    with EmulatorServer() as second:
        lanes = [Lane(server, prepare(server, tmp_path / f"tenant-{i}", database_url
                                      if kind == "postgres" or i == 0
                                      else f"sqlite:///{tmp_path / 'second.db'}",
                                      name=f"demo-{i}"),
                      random.Random(f"{SEED}-{i}"))
                 for i, server in enumerate((emulators, second))]
        in_threads(*(lane.calibrate for lane in lanes))
        in_threads(*(functools.partial(lane.kill_until, (wanted + i) // len(lanes))
                     for i, lane in enumerate(lanes)))
        figures = []
        for lane in lanes:
            lane.cli.run_to_the_end()
            figures.append(check_nothing_lost_nothing_doubled(lane.emulators, lane.cli))

    kills = sum(lane.stats.kills for lane in lanes)
    total = {key: sum(f[key] for f in figures) for key in figures[0]}
    in_flight = sum((lane.stats.in_flight_after_kill for lane in lanes), Counter())
    points = sorted(p for lane in lanes for p in lane.stats.kill_points)
    spread = Counter(min(int(p * 4), 3) for p in points)
    print(f"\ncrash test ({kind}): {kills} kills in "
          f"{sum(lane.stats.rounds for lane in lanes)} rounds of {PER_ROUND} work orders "
          f"(+{sum(lane.stats.completed_runs for lane in lanes)} runs that ended before their "
          f"kill), two tenants side by side; start-up {lanes[0].startup_requests} requests, "
          f"{lanes[0].requests_per_work_order:.1f} per work order; kills per quarter of the "
          f"pending push {[spread[q] for q in range(4)]}; "
          f"{sum(lane.stats.kills_leaving_work_in_flight for lane in lanes)} kills left work "
          f"in flight {dict(in_flight)}; {total}")
    assert kills >= wanted
    assert all(lane.stats.kills_leaving_work_in_flight > 0 for lane in lanes)
    assert total["duplicates"] == 0 and total["lost"] == 0


def test_lost_answers_to_creates_and_uploads(emulators: EmulatorServer, tmp_path: Path) -> None:
    """S-4: Visma.net makes the sales order (or stores the file) but the answer is lost:
    the order is found by its marker instead of made again, the file is uploaded again as a
    new revision of the same attachment, never as a second one."""
    cli = prepare(emulators, tmp_path / "tenant", f"sqlite:///{tmp_path / 'state.db'}")
    faults = emulators.visma.faults
    faults.add("lose_response", path=r"^/api/v3/SalesOrders$", method="POST", every=3)
    faults.add("lose_response", path=r"/attachment$", method="POST", every=4)
    archive_work_orders(emulators, PER_ROUND, seed=1)

    cli.run_to_the_end()
    figures = check_nothing_lost_nothing_doubled(emulators, cli)
    lost_creates, lost_uploads = (rule.fired for rule in faults.rules)
    print(f"\nlost answers: {lost_creates} sales orders and {lost_uploads} uploads made without "
          f"an answer; {figures}")
    assert lost_creates > 0 and lost_uploads > 0
    assert figures["reuploads"] == lost_uploads
    assert figures["duplicates"] == 0 and figures["lost"] == 0


@pytest.mark.anyio
async def test_answers_slower_than_the_client_timeout(emulators: EmulatorServer,
                                                      tmp_path: Path) -> None:
    """S-4: a create whose answer takes longer than the client waits is in doubt: that work
    order stays `creating` without being made again while the pass goes on with the others
    (one work order's doubt never holds up the rest); the next pass (once Visma.net has
    finished it) finds it by its marker. A slow upload is retried and lands as a revision of
    the same file."""
    seed_company(emulators)
    seed_users(emulators)
    policy = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, timeout=0.5)
    async with opened_world(emulators, f"sqlite:///{tmp_path / 'state.db'}", kind=World,
                            prepared=False) as world:
        run = world.run({"orders": {"attachments": "WorkOrder", "workTimeItem": "UUR"}},
                        policy=policy)
        assert (await run.activate()).settings.valid
        assert (await run.run_loop(MasterDataLoop())).ok
        made = emulators.call(add_work_orders, emulators.simon, 6, 3, skip_share=0.0,
                              without_customer_share=0.0)
        faults = emulators.visma.faults
        slow_create = faults.add("slow", path=r"^/api/v3/SalesOrders$", method="POST",
                                 delay=1.5, nth=2)
        slow_upload = faults.add("slow", path=r"/attachment$", method="POST", delay=1.5, nth=4)

        first = await run.run_loop(OrdersLoop())
        assert first.ok, first.error
        assert (pushed(first).sent, pushed(first).waiting) == (5, 1)
        in_doubt = await run.state.ledger.in_doubt()
        assert [e.state for e in in_doubt] == [WorkOrderState.CREATING]
        # Visma.net finishes the slow request after the client gave up on it.
        clock = asyncio.get_running_loop()
        deadline = clock.time() + 30
        while emulators.visma.in_flight:
            assert clock.time() < deadline, "Visma.net never finished the slow request"
            await asyncio.sleep(0.02)
        outcomes = [await run.run_loop(OrdersLoop()) for _ in range(2)]
        assert all(o.ok for o in outcomes), outcomes
        assert pushed(outcomes[0]).recovered == 1
        assert (slow_create.fired, slow_upload.fired) == (1, 1)

    def orders() -> Counter[str]:
        return Counter(o.customer.get("order")
                       for o in emulators.visma.company().sales_orders.values())

    by_marker = emulators.call(orders)
    assert by_marker == Counter({marker_of(wo["Id"]): 1 for wo in made
                                 if not _without_visma_item(emulators, wo)})
    revisions = emulators.call(lambda: sorted(
        a.revision for a in emulators.visma.company().attachments.values()))
    assert revisions.count(2) <= 1 and len(revisions) == len(by_marker)


def _without_visma_item(emulators: EmulatorServer, work_order: dict[str, Any]) -> bool:
    def check() -> bool:
        items = {i["Id"]: i for i in emulators.simon.list("item")}
        return any(u["WorkOrderId"] == work_order["Id"] and
                   (u["ItemId"] is None or not items[u["ItemId"]]["ExtKey"])
                   for u in emulators.simon.list("useditem"))

    return emulators.call(check)
