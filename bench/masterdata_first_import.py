"""The master-data first import (S-15) and a no-change pass (S-13), against the emulators.

Generates a Visma.net company (default 50,000 customers and 10,000 items), starts both
emulators in this process (`EmulatorServer`, a background thread) with an empty Simon, and runs
`MasterDataSync` for a tenant built the way the CLI builds it, on a fresh SQLite store. It
prints figures beside the DESIGN.md section 6 targets; it asserts nothing.

Measured for the first import: wall time and records/s; requests to Visma.net per kind against
the minimum (ceil(totalCount / pageSize) per kind); requests to Simon against the minimum (one
write per record made); operator CPU per record (process CPU minus the emulator thread's CPU,
which `time.thread_time` measures inside that thread); peak RSS. Then a pass with no changes,
beside a naive full re-sync measured in the same run: the same pass with every stored content
hash and high-water mark forgotten, so that it reads everything and rewrites every record.

    .venv/bin/python bench/masterdata_first_import.py [--customers N] [--items M] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emulators.launch import tenant_manifests  # noqa: E402
from emulators.server import EmulatorServer  # noqa: E402
from emulators.simon import SimonEmulator  # noqa: E402
from emulators.visma import VismaEmulator, generate_visma_tenant  # noqa: E402
from reconcilers.clients.simon.models import Customer as SimonCustomer  # noqa: E402
from reconcilers.loops.masterdata import MasterDataResult, MasterDataSync  # noqa: E402
from reconcilers.resource.credentials import resolve  # noqa: E402
from reconcilers.resource.tenant import tenant_from_body  # noqa: E402
from reconcilers.runtime.runner import TenantRun, build_clients  # noqa: E402
from reconcilers.store import LinkKind, LinkUpdate, open_store  # noqa: E402

CUSTOMERS_PATH, ITEMS_PATH = "/v1/customer", "/v1/inventory"


def rss_mb() -> float:
    """Current resident set size in MB (Linux /proc), else the peak so far."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mb()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


@dataclass
class Measured:
    """One pass: time, CPU, and what each emulator was asked."""

    wall: float
    process_cpu: float
    emulator_cpu: float
    visma_requests: dict[str, int]
    visma_total: int
    simon_requests: int
    simon_writes: int
    result: MasterDataResult

    @property
    def operator_cpu(self) -> float:
        return self.process_cpu - self.emulator_cpu

    @property
    def records_read(self) -> int:
        return self.result.customers.seen + self.result.items.seen


async def measure(server: EmulatorServer, run: TenantRun) -> Measured:
    visma, simon = server.visma, server.simon
    server.call(visma.stats.reset)
    server.call(simon.stats.reset)
    writes_before = server.call(lambda: simon.writes)
    emulator_before = server.call(time.thread_time)
    cpu_before, started = time.process_time(), time.perf_counter()

    result = await MasterDataSync(run.visma, run.simon, run.state).run()

    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_before
    emulator_cpu = server.call(time.thread_time) - emulator_before
    return Measured(
        wall=wall, process_cpu=cpu, emulator_cpu=emulator_cpu,
        visma_requests={path: server.call(visma.stats.count, "GET", path)
                        for path in (CUSTOMERS_PATH, ITEMS_PATH)},
        visma_total=server.call(lambda: visma.stats.total),
        simon_requests=server.call(lambda: simon.stats.total),
        simon_writes=server.call(lambda: simon.writes) - writes_before,
        result=result,
    )


async def forget_hashes_and_marks(run: TenantRun) -> None:
    """Make the next pass a naive full re-sync: read everything, rewrite every record."""
    state = run.state
    for kind in LinkKind:
        links = await state.links.all(kind)
        await state.links.put_many(kind, [LinkUpdate(link.visma_key, link.simon_id, "")
                                          for link in links])
    for kind in ("customers", "items"):
        await state.marks.clear(kind)
        await state.first_imports.reset(kind)


def build_run(server: EmulatorServer, tenant_id: str, store: Any) -> TenantRun:
    body, secrets = tenant_manifests(server.url, tenant_id)
    tenant = tenant_from_body(body)
    by_name = {f"{s['metadata']['namespace']}/{s['metadata']['name']}": s["stringData"]
               for s in secrets}
    visma_credentials, simon_credentials = resolve(tenant, by_name)
    visma, simon = build_clients(tenant, visma_credentials, simon_credentials)
    return TenantRun(tenant, visma, simon, store.tenant(tenant.key))


def row(what: str, figure: str, target: str = "") -> None:
    print(f"  {what:<34} {figure:<46} {target}")


def report_first(first: Measured, made: dict[str, int], page_size: int, non_stock: int,
                 items_in_company: int, limit_per_s: float, rss_before: float) -> None:
    total_customers, total_items = first.result.customers.total, first.result.items.total
    minimum = {CUSTOMERS_PATH: math.ceil((total_customers or 0) / page_size),
               ITEMS_PATH: math.ceil((total_items or 0) / page_size)}
    records_made = sum(made.values())
    read = first.records_read
    print(f"\nFirst import (S-15): {total_customers:,} customers and {total_items:,} non-stock "
          f"items read ({non_stock:,} of {items_in_company:,} items are non-stock), "
          f"Visma.net page size {page_size}")
    row("", "figure", "DESIGN.md section 6 target")
    row("wall time", f"{first.wall:.1f} s")
    row("records read / s", f"{read / first.wall:,.0f} ({read:,} records)")
    row("Simon records made / s", f"{records_made / first.wall:,.0f} ({made['customer']:,} "
        f"customers, {made['location']:,} work addresses, {made['item']:,} items)")
    row("Visma.net requests: customers", f"{first.visma_requests[CUSTOMERS_PATH]} "
        f"(minimum {minimum[CUSTOMERS_PATH]})", "<= 1 per kind and page")
    row("Visma.net requests: items", f"{first.visma_requests[ITEMS_PATH]} "
        f"(minimum {minimum[ITEMS_PATH]})", "<= 1 per kind and page")
    row("Visma.net requests: all routes", f"{first.visma_total}")
    row("Visma.net request rate", f"{first.visma_total / first.wall:.2f}/s of "
        f"{limit_per_s:.2f}/s allowed", ">= 90% of the allowed rate when API-bound")
    row("Simon requests", f"{first.simon_requests:,} (minimum {records_made:,}: one write "
        "per record made)")
    row("Simon writes", f"{first.simon_writes:,}")
    row("process CPU", f"{first.process_cpu:.1f} s (emulator thread {first.emulator_cpu:.1f} s)")
    row("operator CPU per record read", f"{first.operator_cpu / read * 1000:.3f} ms",
        "<= 1 ms per record")
    row("operator CPU per Simon record made",
        f"{first.operator_cpu / max(records_made, 1) * 1000:.3f} ms")
    row("peak RSS (whole process)", f"{peak_rss_mb():,.0f} MB (emulators with data: "
        f"{rss_before:,.0f} MB before the import)", "<= 500 MB per replica (1,000 tenants)")


def report_steady(steady: Measured, naive: Measured, page_size: int) -> None:
    print("\nA pass with no changes (S-13) beside a naive full re-sync, same data, same run:")
    row("", "no-change pass", "naive full re-sync")
    for label, path, seen in (
            ("Visma.net requests: customers", CUSTOMERS_PATH, steady.result.customers.seen),
            ("Visma.net requests: items", ITEMS_PATH, steady.result.items.seen)):
        pages = max(1, math.ceil(seen / page_size))
        row(label, f"{steady.visma_requests[path]} ({seen:,} read, those in the mark's overlap: "
            f"{pages} page{'s' if pages > 1 else ''})", f"{naive.visma_requests[path]}")
    row("records read", f"{steady.records_read:,}", f"{naive.records_read:,}")
    row("Simon requests", f"{steady.simon_requests:,}", f"{naive.simon_requests:,}")
    row("Simon writes", f"{steady.simon_writes:,}", f"{naive.simon_writes:,}")
    row("wall time", f"{steady.wall:.2f} s", f"{naive.wall:.1f} s")
    row("operator CPU", f"{steady.operator_cpu:.2f} s", f"{naive.operator_cpu:.1f} s")
    print("  target (DESIGN.md section 6): <= 1 request per entity kind and page, "
          "0 writes to Simon")


async def main(customers: int, items: int) -> None:
    print(f"Generating a Visma.net company: {customers:,} customers, {items:,} items ...",
          flush=True)
    visma_emulator, simon_emulator = VismaEmulator(), SimonEmulator()
    summary = generate_visma_tenant(visma_emulator, customers=customers, items=items, seed=1)
    company = visma_emulator.company(summary["tenantId"])
    page_size = visma_emulator.max_page_size
    non_stock = sum(1 for r in company.items.values() if not r.dto["stockItem"])
    limit_per_s = visma_emulator.rate_limit.limit / visma_emulator.rate_limit.window
    rss_before = rss_mb()

    with tempfile.TemporaryDirectory(prefix="simon-visma-bench-") as folder, \
            EmulatorServer(visma_emulator, simon_emulator) as server:
        store = await open_store(f"sqlite:///{Path(folder) / 'state.db'}")
        run = build_run(server, summary["tenantId"], store)
        try:
            await run.visma.warehouses()  # log in to both APIs outside the measurement
            await run.simon.find(SimonCustomer, 1)
            print("Measuring the first import ...", flush=True)
            first = await measure(server, run)
            made = {table: len(server.call(simon_emulator.list, table))
                    for table in ("customer", "location", "item")}
            report_first(first, made, page_size, non_stock, len(company.items), limit_per_s,
                         rss_before)
            sys.stdout.flush()
            steady = await measure(server, run)
            await forget_hashes_and_marks(run)
            naive = await measure(server, run)
            report_steady(steady, naive, page_size)
        finally:
            await run.close()
            await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="2,000 customers and 500 items")
    args = parser.parse_args()
    if args.quick:
        args.customers, args.items = 2_000, 500
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(args.customers, args.items))
