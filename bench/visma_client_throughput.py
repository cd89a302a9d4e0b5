"""Visma.net client throughput against the emulator, beside the emulator's own cost.

Reads 50,000 generated customers page by page (a first import, S-15) and makes many small
single-record GETs, each three ways: through `VismaClient` (models parsed), with raw httpx and
`json.loads` (the HTTP + JSON floor), and with raw httpx without parsing. The emulator's handler
time for each phase is measured in the same run. The emulator shares this process (a background
thread), so the figures include the GIL contention between the two.

    .venv/bin/python bench/visma_client_throughput.py [--customers 50000] [--singles 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emulators.server import EmulatorServer  # noqa: E402
from emulators.visma import (  # noqa: E402
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_TENANT_ID,
    generate_visma_tenant,
)
from reconcilers.clients.http import RetryPolicy  # noqa: E402
from reconcilers.clients.visma import VismaClient  # noqa: E402

PAGE_SIZE = 1000


def client_for(server: EmulatorServer, concurrency: int) -> VismaClient:
    return VismaClient(
        tenant_id=DEFAULT_TENANT_ID, client_id=DEFAULT_CLIENT_ID,
        client_secret=DEFAULT_CLIENT_SECRET, token_url=server.url + "/connect/token",
        api_url=server.url, sales_order_url=server.url,
        policy=RetryPolicy(max_concurrency=concurrency, timeout=120.0),
    )


async def raw_token(http: httpx.AsyncClient, server: EmulatorServer) -> dict[str, str]:
    response = await http.post(server.url + "/connect/token", data={
        "grant_type": "client_credentials", "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET, "tenant_id": DEFAULT_TENANT_ID})
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


class Phase:
    def __init__(self, server: EmulatorServer, name: str) -> None:
        self.server, self.name = server, name

    def __enter__(self) -> Phase:
        self.server.visma.handler_seconds = 0.0
        self.requests_before = self.server.visma.stats.total
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started
        self.handler = self.server.visma.handler_seconds
        self.requests = self.server.visma.stats.total - self.requests_before


async def read_all(server: EmulatorServer, customers: int) -> list[tuple[str, Phase, int]]:
    rows: list[tuple[str, Phase, int]] = []
    async with client_for(server, 4) as client:
        await client.warehouses()  # log in outside the measurement
        with Phase(server, "client (pydantic models)") as phase:
            count = 0
            async for page in client.customers(page_size=PAGE_SIZE):
                count += len(page.items)
        rows.append(("customers paged", phase, count))
    async with httpx.AsyncClient(timeout=120) as http:
        headers = await raw_token(http, server)
        pages = -(-customers // PAGE_SIZE)
        for name, parse in (("raw httpx + json.loads", True), ("raw httpx, no parsing", False)):
            with Phase(server, name) as phase:
                count = 0
                for number in range(1, pages + 1):
                    response = await http.get(server.url + "/v1/customer", headers=headers,
                                              params={"pageNumber": number,
                                                      "pageSize": PAGE_SIZE})
                    count += len(json.loads(response.content)) if parse else (
                        PAGE_SIZE if number < pages else customers - PAGE_SIZE * (pages - 1))
            rows.append(("customers paged", phase, count))
    return rows


async def singles(server: EmulatorServer, count: int) -> list[tuple[str, Phase, int]]:
    rows: list[tuple[str, Phase, int]] = []
    numbers = [str(10000 + i * 37 % 50_000) for i in range(count)]
    async with client_for(server, 4) as client:
        await client.warehouses()
        with Phase(server, "client (pydantic models)") as phase:
            await asyncio.gather(*(client.customer(n) for n in numbers))
        rows.append(("single GETs, 4 in flight", phase, count))
    async with httpx.AsyncClient(timeout=120) as http:
        headers = await raw_token(http, server)
        limit = asyncio.Semaphore(4)

        async def one(number: str) -> None:
            async with limit:
                response = await http.get(f"{server.url}/v1/customer/{number}", headers=headers)
                json.loads(response.content)

        with Phase(server, "raw httpx + json.loads") as phase:
            await asyncio.gather(*(one(n) for n in numbers))
        rows.append(("single GETs, 4 in flight", phase, count))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--singles", type=int, default=1000)
    args = parser.parse_args()
    with EmulatorServer() as server:
        started = time.perf_counter()
        server.call(generate_visma_tenant, server.visma, customers=args.customers, items=500,
                    seed=1, orders=0)
        generated = time.perf_counter() - started
        results = asyncio.run(read_all(server, args.customers))
        results += asyncio.run(singles(server, args.singles))
    print(f"generated {args.customers} customers in {generated:.1f} s "
          f"(page size {PAGE_SIZE}, emulator in-process)")
    header = (f"{'workload':<26}{'how':<27}{'records':>8}{'requests':>9}{'seconds':>9}"
              f"{'records/s':>11}{'requests/s':>11}{'emulator s':>11}{'emulator %':>11}")
    print(header)
    print("-" * len(header))
    for workload, phase, records in results:
        print(f"{workload:<26}{phase.name:<27}{records:>8}{phase.requests:>9}"
              f"{phase.seconds:>9.2f}{records / phase.seconds:>11.0f}"
              f"{phase.requests / phase.seconds:>11.1f}{phase.handler:>11.2f}"
              f"{100 * phase.handler / phase.seconds:>10.0f}%")


if __name__ == "__main__":
    main()
