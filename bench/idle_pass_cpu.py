"""Operator CPU of an idle pass (DESIGN.md section 6: a pass with nothing new costs a few ms).

One tenant as the operator runs it (`TenantRun`, its clients over real HTTP, a SQLite store)
against the emulators in a process of their own (their CPU is not counted). The tenant is
activated and every loop runs until nothing is new; then each loop runs --passes more times,
as its schedule runs it (`scheduled_pass`: the lease taken and released around the pass, its
success and next due time stored), and the process CPU time per pass is printed: an idle
orders pass, an idle imports pass and a steady-state master-data pass, with the store
statements, write transactions (commits) and HTTP requests each one makes (those do not vary
with the machine's load, the CPU time does). With --profile, cProfile's
view of those passes is printed too (where the CPU goes, in process CPU time). The last row is
what the operator adds to each pass: the tenant's status built after an idle orders pass.

    python bench/idle_pass_cpu.py [--passes 50] [--profile orders|imports|masterdata]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402

from emulators.launch import tenant_manifests  # noqa: E402
from reconcilers.resource.credentials import resolve  # noqa: E402
from reconcilers.resource.status import VismaIntegrationStatus  # noqa: E402
from reconcilers.resource.tenant import tenant_from_body  # noqa: E402
from reconcilers.runtime.runner import (  # noqa: E402
    AnyLoop,
    LoopOutcome,
    TenantRun,
    build_clients,
    loop_named,
)
from reconcilers.runtime.schedule import scheduled_pass  # noqa: E402
from reconcilers.runtime.status import StoreReads, build_status  # noqa: E402
from reconcilers.store import open_store  # noqa: E402
from reconcilers.store.records import utc_now  # noqa: E402
from tests.cluster.operator_process import free_port, http_get  # noqa: E402

LOOPS = ("masterdata", "orders", "imports")

EMULATOR = """
import asyncio, sys
from emulators.server import serve
from emulators.simon import SimonEmulator
from emulators.simon.data import populate
from emulators.visma import VismaEmulator
from emulators.visma.data import generate_visma_tenant
visma, simon = VismaEmulator(), SimonEmulator()
generate_visma_tenant(visma, customers=int(sys.argv[2]), items=int(sys.argv[2]) // 4 + 5,
                      seed=1, orders=0)
populate(simon, seed=1)
asyncio.run(serve(visma, simon, "127.0.0.1", int(sys.argv[1])))
"""


def tenant_body(base: str, tenant_id: str) -> tuple[dict, dict]:
    tenant, secrets = tenant_manifests(base, tenant_id)
    tenant["spec"]["imports"] = {"salesOrders": {"enabled": True}}
    return tenant, {s["metadata"]["name"]: s["stringData"] for s in secrets}


async def measure(base: str, passes: int,
                  profile: str | None) -> dict[str, tuple[float, float, float, float]]:
    from emulators.visma import DEFAULT_TENANT_ID

    folder = tempfile.mkdtemp(prefix="bench-idle-")
    store = await open_store(f"sqlite:///{folder}/state.db")
    body, secrets = tenant_body(base, DEFAULT_TENANT_ID)
    tenant = tenant_from_body(body)
    visma, simon = build_clients(tenant, *resolve(tenant, secrets))
    run = TenantRun(tenant, visma, simon, store.tenant(tenant.key))
    statements = transactions = 0

    def count(*_: object) -> None:
        nonlocal statements
        statements += 1

    def commit(*_: object) -> None:
        nonlocal transactions
        transactions += 1

    event.listen(store.engine.sync_engine, "before_cursor_execute", count)
    event.listen(store.engine.sync_engine, "commit", commit)
    await run.activate()
    loops: list[AnyLoop] = [loop_named(name) for name in LOOPS]
    outcomes: dict[str, LoopOutcome] = {}
    for _ in range(3):  # the first import, then passes until nothing is new
        for loop in loops:
            outcome = outcomes[loop.key] = (await scheduled_pass(run, loop, 0))[0]
            if not outcome.ok:
                raise SystemExit(f"the {loop.key} pass failed: {outcome.error}")
    costs: dict[str, tuple[float, float, float, float]] = {}
    for loop in loops:
        profiler = cProfile.Profile(time.process_time) if profile == loop.key else None
        statements, transactions = 0, 0
        requests = visma.requests_sent + simon.requests_sent
        cpu = time.process_time()
        if profiler:
            profiler.enable()
        for _ in range(passes):
            await scheduled_pass(run, loop, 0)
        if profiler:
            profiler.disable()
        costs[loop.key] = (1000 * (time.process_time() - cpu) / passes, statements / passes,
                           transactions / passes,
                           (visma.requests_sent + simon.requests_sent - requests) / passes)
        if profiler:
            print(f"\n== cProfile of {passes} {loop.key} passes (top by own time)")
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    # the status the operator builds after each pass (here after an idle orders pass), with
    # what it read before, as the operator keeps it
    reads = StoreReads()
    status = await build_status(run, VismaIntegrationStatus(), outcomes, run.settings,
                                utc_now(), reads)
    spent, made = 0.0, 0
    for _ in range(passes):
        outcomes["orders"] = (await scheduled_pass(run, loop_named("orders"), 0))[0]
        before, cpu = statements, time.process_time()
        status = await build_status(run, status, outcomes, run.settings, utc_now(), reads)
        spent += time.process_time() - cpu
        made += statements - before
    costs["status"] = (1000 * spent / passes, made / passes, 0.0, 0.0)
    await run.close()
    await store.close()
    shutil.rmtree(folder, ignore_errors=True)
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=50)
    parser.add_argument("--customers", type=int, default=50,
                        help="customers in the Visma.net company (a quarter as many items)")
    parser.add_argument("--profile", choices=LOOPS)
    args = parser.parse_args()

    port = free_port()
    emulator = subprocess.Popen([sys.executable, "-c", EMULATOR, str(port), str(args.customers)],
                                cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    base = f"http://127.0.0.1:{port}"
    try:
        while http_get(f"{base}/_emulator/visma/stats", timeout=1)[0] != 200:
            if emulator.poll() is not None:
                raise SystemExit("the emulators exited")
            time.sleep(0.2)
        costs = asyncio.run(measure(base, args.passes, args.profile))
    finally:
        emulator.terminate()
        emulator.wait(10)
    print(f"\nOperator CPU per idle pass ({args.customers} customers, nothing new; mean of "
          f"{args.passes} passes; target: a few ms)")
    print(f"  {'loop':<11} {'CPU':>9} {'statements':>10} {'commits':>7} {'requests':>8}")
    for loop, (ms, statements, commits, requests) in costs.items():
        print(f"  {loop:<11} {ms:6.2f} ms {statements:>10.1f} {commits:>7.1f} {requests:>8.1f}")


if __name__ == "__main__":
    main()
