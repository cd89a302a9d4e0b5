"""Archive -> Visma.net document latency (S-3; DESIGN.md section 6: p99 <= 60 s, the old
integration about 5 minutes) and push throughput. Prints figures; asserts nothing.

Both emulators run in this process (generated Dutch company, Simon users). The integration
runs as the user runs it, in its own process:

1. `simon-visma run --once --loop masterdata` (first activation, customers and items);
2. latency: `simon-visma run --loop orders` on its schedule (no `--once`: the loop runs
   every `spec.schedule.orders`, 30 s by default) while this script archives work orders in
   Simon at seeded random moments over `--duration` seconds. Latency is the time from a
   work order's `ArchivedAt` to the moment Visma.net stored its sales order (and to its
   last PDF), both on the emulators' clock;
3. throughput: `--work-orders` work orders archived at once, one `--once` pass; its wall
   time minus that of a pass with nothing to do (the process start-up).

The expected latency of a schedule is about interval/2 + push time: the next pass is due one
interval after the previous one ended, so passes start every interval + push; a work order
waits on average half of that for the next pass to read it, then half a push for its turn.
p99 is about interval + 2 x push (archived just after a pass read Simon: the rest of that
pass, the interval, then last in the next pass). With a shorter `--interval` (to save wall
time) the figure the default 30 s schedule implies is printed beside the measured one.

    .venv/bin/python bench/orders_latency.py [--work-orders 200] [--interval 30]
        [--duration 180] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emulators.launch import tenant_manifests  # noqa: E402
from emulators.server import EmulatorServer  # noqa: E402
from emulators.simon.data import add_work_orders, populate  # noqa: E402
from emulators.simon.schema import parse_datetime  # noqa: E402
from emulators.visma import DEFAULT_TENANT_ID, generate_visma_tenant  # noqa: E402
from reconcilers.loops.orders import marker_of  # noqa: E402

DEFAULT_INTERVAL = 30.0
TARGET_P99 = 60.0
OLD_INTEGRATION = 300.0


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (share in 0..1)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


class Integration:
    """The tenant's files, its database and `simon-visma run` as a child process."""

    def __init__(self, folder: Path, server: EmulatorServer, interval: float) -> None:
        manifest, secrets = tenant_manifests(server.url, DEFAULT_TENANT_ID)
        manifest["spec"]["schedule"] = {"orders": f"{interval:g}s"}
        self.folder = folder
        self.tenant, self.secrets = folder / "tenant.yaml", folder / "secrets.yaml"
        self.tenant.write_text(yaml.safe_dump(manifest, sort_keys=False))
        self.secrets.write_text(yaml.safe_dump_all(secrets, sort_keys=False))
        self.database = f"sqlite:///{folder / 'simon-visma.db'}"

    def args(self, *extra: str) -> list[str]:
        return [sys.executable, "-m", "reconcilers.cli", "run", "--tenant", str(self.tenant),
                "--secrets", str(self.secrets), "--database", self.database, *extra]

    def once(self, loop: str) -> tuple[dict[str, Any], float]:
        started = time.perf_counter()
        done = subprocess.run(self.args("--once", "--json", "--loop", loop), cwd=self.folder,
                              capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        if done.returncode != 0:
            print(f"  (exit {done.returncode}: {summary})", file=sys.stderr)
        return summary, seconds

    def scheduled(self) -> subprocess.Popen[str]:
        return subprocess.Popen(self.args("--loop", "orders"), cwd=self.folder,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def documents(server: EmulatorServer) -> dict[str, dict[str, Any]]:
    """Sales orders by marker: when stored, when their last file was."""

    def read() -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for order in server.visma.company().sales_orders.values():
            marker = order.customer.get("order")
            if not marker:
                continue
            entry = found.setdefault(marker, {"count": 0})
            entry["count"] += 1
            entry["created"] = order.created
            entry["complete"] = max([order.created, *(a.created for a in order.attachments)])
        return found

    return server.call(read)


def latency_phase(server: EmulatorServer, integration: Integration, count: int,
                  duration: float, interval: float, rng: random.Random) -> dict[str, Any]:
    made = server.call(add_work_orders, server.simon, count, 11, archived=False,
                       skip_share=0.0, without_customer_share=0.0)
    moments = sorted(rng.uniform(0, duration) for _ in made)
    order = list(made)
    rng.shuffle(order)
    process = integration.scheduled()
    started = time.monotonic()
    archived: dict[int, datetime] = {}
    for moment, work_order in zip(moments, order, strict=True):
        time.sleep(max(0.0, started + moment - time.monotonic()))
        record = server.call(server.simon.archive_work_order, work_order["Id"])
        archived[work_order["Id"]] = parse_datetime(record["ArchivedAt"])
    # Wait for the last work orders: at most one interval plus a pass.
    deadline = time.monotonic() + interval + 120
    while time.monotonic() < deadline:
        found = documents(server)
        if all(marker_of(wid) in found for wid in archived):
            break
        time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=60)
    passes = sum(1 for line in out.splitlines() if " orders: " in line)
    found = documents(server)
    to_document, to_complete, missing, duplicates = [], [], 0, 0
    for wid, moment in archived.items():
        entry = found.get(marker_of(wid))
        if entry is None:
            missing += 1
            continue
        duplicates += entry["count"] - 1
        to_document.append((entry["created"] - moment).total_seconds())
        to_complete.append((entry["complete"] - moment).total_seconds())
    return {"archived": len(archived), "passes": passes, "document": to_document,
            "complete": to_complete, "missing": missing, "duplicates": duplicates}


def throughput_phase(server: EmulatorServer, integration: Integration,
                     count: int) -> dict[str, Any]:
    _, idle = integration.once("orders")
    server.call(add_work_orders, server.simon, count, 12, skip_share=0.0,
                without_customer_share=0.0)
    simon_before, visma_before = server.simon.stats.total, server.visma.stats.total
    summary, seconds = integration.once("orders")
    push = max(seconds - idle, 1e-9)
    sent = summary["loops"]["orders"].get("sent", 0)
    return {"sent": sent, "wall": seconds, "startup": idle, "push": push,
            "rate": sent / push if sent else 0.0,
            "simonRequests": (server.simon.stats.total - simon_before) / max(sent, 1),
            "vismaRequests": (server.visma.stats.total - visma_before) / max(sent, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-orders", type=int, default=200)
    parser.add_argument("--interval", type=float, default=DEFAULT_INTERVAL,
                        help="spec.schedule.orders in seconds (default 30, the product's)")
    parser.add_argument("--duration", type=float, default=180.0,
                        help="seconds over which the work orders are archived")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    with EmulatorServer() as server, tempfile.TemporaryDirectory() as tmp:
        server.call(generate_visma_tenant, server.visma, customers=200, items=60,
                    seed=args.seed)
        server.call(populate, server.simon, seed=args.seed)
        integration = Integration(Path(tmp), server, args.interval)
        integration.once("masterdata")

        print(f"orders latency (S-3): {args.work_orders} work orders archived at random "
              f"moments over {args.duration:g} s; `simon-visma run --loop orders` every "
              f"{args.interval:g} s" + ("" if args.interval == DEFAULT_INTERVAL else
                                        f" (scaled down from the default "
                                        f"{DEFAULT_INTERVAL:g} s)"), flush=True)
        latency = latency_phase(server, integration, args.work_orders, args.duration,
                                args.interval, rng)
        throughput = throughput_phase(server, integration, args.work_orders)

    document, complete = latency["document"], latency["complete"]
    per_work_order = throughput["push"] / max(throughput["sent"], 1)
    batch = args.work_orders / max(args.duration, 1e-9) * args.interval
    print(f"  {latency['archived']} archived, {len(document)} documents, "
          f"{latency['missing']} missing, {latency['duplicates']} duplicates; "
          f"{latency['passes']} passes, about {batch:.1f} work orders each")
    if document:
        print(f"  archive -> sales order:            p50 {percentile(document, .5):6.1f} s   "
              f"p90 {percentile(document, .9):6.1f} s   p99 {percentile(document, .99):6.1f} s"
              f"   max {max(document):6.1f} s   mean {statistics.fmean(document):6.1f} s")
        print(f"  archive -> sales order with PDFs:  p50 {percentile(complete, .5):6.1f} s   "
              f"p90 {percentile(complete, .9):6.1f} s   p99 {percentile(complete, .99):6.1f} s"
              f"   max {max(complete):6.1f} s")
    for interval in sorted({args.interval, DEFAULT_INTERVAL}):
        push = args.work_orders / max(args.duration, 1e-9) * interval * per_work_order
        print(f"  expected at a {interval:g} s schedule (this arrival rate: {push:.1f} s "
              f"push per pass at {per_work_order * 1000:.0f} ms per work order): mean ~ "
              f"interval/2 + push = {interval / 2 + push:.1f} s, p99 ~ interval + 2 x push = "
              f"{interval + 2 * push:.1f} s")
    print(f"  targets: p99 <= {TARGET_P99:g} s (DESIGN.md section 6); old integration about "
          f"{OLD_INTEGRATION / 60:g} min ({OLD_INTEGRATION:g} s)")
    print(f"push throughput: {throughput['sent']} archived work orders in one pass: "
          f"{throughput['wall']:.1f} s wall, of which {throughput['startup']:.1f} s process "
          f"start-up and settings check -> {throughput['push']:.1f} s push, "
          f"{throughput['rate']:.2f} work orders/s ({per_work_order * 1000:.0f} ms each; "
          f"{throughput['simonRequests']:.1f} Simon and {throughput['vismaRequests']:.1f} "
          f"Visma.net requests per work order)")


if __name__ == "__main__":
    main()
