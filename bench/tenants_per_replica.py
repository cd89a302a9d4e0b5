"""How many tenants one operator process keeps on schedule (DESIGN.md section 6:
1,000 tenants, lag <= 10% of the interval, RSS <= 500 MB).

The emulators run in a separate process (their CPU is not the operator's). Every tenant is a
full TenantRun (its own clients, its state in one shared SQLite store, as the chart's default)
running the master-data, orders and imports loops through `reconcilers.runtime.schedule` with short
intervals, so many passes fall in a short run; the lag of every pass (how late it started after
it was due) is recorded. Steady state is measured: the first import and the settings check of
every tenant happen before the clock starts. A run with few tenants is the baseline.

    python bench/tenants_per_replica.py [--tenants 1000] [--seconds 60] [--interval 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emulators.launch import tenant_manifests  # noqa: E402
from reconcilers.resource.credentials import resolve  # noqa: E402
from reconcilers.resource.tenant import tenant_from_body  # noqa: E402
from reconcilers.runtime.runner import (  # noqa: E402
    LoopOutcome,
    TenantRun,
    build_clients,
    loop_named,
)
from reconcilers.runtime.schedule import run_on_schedule  # noqa: E402
from reconcilers.store import open_store  # noqa: E402

LOOPS = [loop_named(name) for name in ("masterData", "orders", "imports")]

EMULATOR = """
import asyncio, sys
from emulators.server import serve
from emulators.simon import SimonEmulator
from emulators.visma import VismaEmulator
from emulators.visma.data import generate_visma_tenant
visma, simon = VismaEmulator(), SimonEmulator()
generate_visma_tenant(visma, customers=5, items=20, seed=1, orders=0)
asyncio.run(serve(visma, simon, "127.0.0.1", int(sys.argv[1])))
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tenant_body(base: str, tenant_id: str, index: int, interval: int) -> tuple[dict, dict]:
    tenant, secrets = tenant_manifests(base, tenant_id)
    tenant["metadata"] = {"name": f"t{index:04d}", "namespace": f"tenant-{index:04d}"}
    tenant["spec"]["schedule"] = {"masterData": f"{interval}s", "orders": f"{interval}s",
                                  "imports": f"{interval}s", "cleanup": "48h"}
    # Every tenant shares one Simon here: no activation wipe, or they would wipe each other.
    tenant["spec"]["activation"] = {"wipeOnFirstActivation": [], "wipeOnReactivation": []}
    tenant["spec"]["imports"] = {"salesOrders": {"enabled": True}}
    data = {s["metadata"]["name"]: s["stringData"] for s in secrets}
    return tenant, data


async def measure(count: int, seconds: float, interval: int, base: str,
                  tenant_id: str) -> dict[str, float]:
    folder = tempfile.mkdtemp(prefix="bench-tenants-")
    store = await open_store(f"sqlite:///{folder}/state.db")
    runs: list[TenantRun] = []
    for i in range(count):
        body, secrets = tenant_body(base, tenant_id, i, interval)
        tenant = tenant_from_body(body)
        visma, simon = build_clients(tenant, *resolve(tenant, secrets))
        runs.append(TenantRun(tenant, visma, simon, store.tenant(tenant.key)))

    setup = time.perf_counter()
    semaphore = asyncio.Semaphore(50)

    async def prepare(run: TenantRun) -> None:
        async with semaphore:
            await run.activate()
            for loop in LOOPS:
                await run.run_loop(loop)

    await asyncio.gather(*(prepare(r) for r in runs))
    setup = time.perf_counter() - setup

    lags: list[float] = []
    failures = 0
    stop = asyncio.Event()

    async def record(outcome: LoopOutcome) -> None:
        nonlocal failures
        lags.append(outcome.lag)
        failures += not outcome.ok

    cpu = time.process_time()
    tasks = [asyncio.create_task(run_on_schedule(r, LOOPS, stop, record)) for r in runs]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks)
    cpu = time.process_time() - cpu
    for run in runs:
        await run.close()
    await store.close()
    ordered = sorted(lags) or [0.0]
    return {
        "tenants": count,
        "setup_s": setup,
        "passes": len(lags),
        "failures": failures,
        "lag_p50_s": statistics.median(ordered),
        "lag_p99_s": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "lag_max_s": ordered[-1],
        "cpu_s_per_pass_ms": 1000 * cpu / max(1, len(lags)),
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--baseline", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--interval", type=int, default=10)
    args = parser.parse_args()

    port = free_port()
    emulator = subprocess.Popen([sys.executable, "-c", EMULATOR, str(port)], cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        for _ in range(100):
            try:
                httpx.get(f"{base}/_emulator/visma/stats", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        from emulators.visma import DEFAULT_TENANT_ID

        os.environ["SIMON_VISMA_FIRST_RUN_SPREAD_SECONDS"] = str(args.interval)
        rows = [asyncio.run(measure(n, args.seconds, args.interval, base, DEFAULT_TENANT_ID))
                for n in (args.baseline, args.tenants)]
    finally:
        emulator.terminate()
        emulator.wait(10)

    target = 0.1 * args.interval
    names = ", ".join(loop.key for loop in LOOPS)
    print(f"\nTenants per replica: loops {names} every {args.interval}s for "
          f"{args.seconds:.0f}s (target: lag <= {target:.1f}s = 10% of the interval, "
          "RSS <= 500 MB at 1,000 tenants)")
    print(f"{'tenants':>8} {'setup s':>8} {'passes':>7} {'failed':>7} {'lag p50':>8} "
          f"{'lag p99':>8} {'lag max':>8} {'cpu/pass':>9} {'peak RSS':>9}")
    for row in rows:
        print(f"{row['tenants']:>8} {row['setup_s']:>8.1f} {row['passes']:>7} "
              f"{row['failures']:>7} {row['lag_p50_s']:>7.2f}s {row['lag_p99_s']:>7.2f}s "
              f"{row['lag_max_s']:>7.2f}s {row['cpu_s_per_pass_ms']:>7.2f}ms "
              f"{row['rss_mb']:>7.0f}MB")
    print("(peak RSS is the process's high-water mark, so the larger run includes the "
          "baseline's)")


if __name__ == "__main__":
    main()
