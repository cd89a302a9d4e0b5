"""Integration fixtures: one emulator-backed tenant run end to end over real HTTP.

`world` gives a `World`: both emulators (the `emulators` fixture), a store on `database_url`
(SQLite and PostgreSQL), and `world.run(**spec changes)` to build a `TenantRun` exactly as the
CLI does: the tenant YAML and Secrets from `emulators.launch.tenant_manifests`, decoded with
`tenant_from_body`, credentials from `resolve`, clients from `build_clients`.

Visma.net's ERP API is reached through `RecordingProxy`, a plain forwarding HTTP proxy that
notes every request line, because the emulator counts requests per route but keeps no log of
their query strings (page numbers, `lastModifiedDateTime` filters). The token URL and Simon are
reached directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from emulators.launch import tenant_manifests
from emulators.server import EmulatorServer
from emulators.simon import SimonEmulator
from emulators.visma import DEFAULT_TENANT_ID
from emulators.visma.company import Company
from reconcilers.clients.http import RetryPolicy
from reconcilers.resource.credentials import resolve
from reconcilers.resource.tenant import tenant_from_body
from reconcilers.runtime.runner import TenantRun, build_clients
from reconcilers.store import Store, TenantState, open_store

# Quick retries, so that injected faults cost milliseconds; three attempts per request.
FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, timeout=20.0)

_HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding",
    "host", "te", "trailer", "upgrade", "proxy-authorization", "proxy-authenticate",
})


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass(frozen=True)
class Received:
    """One request line as it went to the emulator."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.query if k == name), None)


Hook = Callable[[Received], None]
"""Called in the proxy's thread just before a request goes on to the emulator."""
Rewrite = Callable[[Received, int, bytes], tuple[int, bytes] | None]
"""Given a request and the emulator's answer (status, body), a changed answer or None."""


class RecordingProxy:
    """Forwards every request to `target` unchanged and records its method, path and query.

    Tests may make it behave as a real Visma.net can between two requests of one scan:
    `before(hook)` runs `hook` before a request goes on (say, a record deleted between two
    page reads), `rewrite(change)` lets `change` alter the answer (an empty or short page).
    """

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.received: list[Received] = []
        self.hooks: list[Hook] = []
        self.rewrites: list[Rewrite] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests(self, path: str, method: str = "GET") -> list[Received]:
        return [r for r in self.received if r.path == path and r.method == method]

    def pages(self, path: str) -> list[int]:
        """The pageNumber of every GET of `path`, in order."""
        return [int(r.param("pageNumber") or 1) for r in self.requests(path)]

    def clear(self) -> None:
        self.received.clear()

    def before(self, hook: Hook) -> None:
        self.hooks.append(hook)

    def rewrite(self, change: Rewrite) -> None:
        self.rewrites.append(change)

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        received = Received(request.method, request.path, tuple(request.query.items()))
        self.received.append(received)
        for hook in list(self.hooks):
            hook(received)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        if self.rewrites:
            headers = {k: v for k, v in headers.items() if k.lower() != "accept-encoding"}
        body = await request.read()
        url = URL(self.target + str(request.rel_url), encoded=True)
        async with self._session.request(request.method, url, headers=headers, data=body,
                                         allow_redirects=False) as answer:
            content = await answer.read()
            out = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP}
            status = answer.status
            for change in list(self.rewrites):
                changed = change(received, status, content)
                if changed is not None:
                    status, content = changed
            return web.Response(status=status, body=content, headers=out)

    def __enter__(self) -> RecordingProxy:
        started = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop

            async def start() -> web.AppRunner:
                self._session = aiohttp.ClientSession(auto_decompress=False)
                app = web.Application(client_max_size=64 * 1024 * 1024)
                app.router.add_route("*", "/{tail:.*}", self._forward)
                runner = web.AppRunner(app, access_log=None)
                await runner.setup()
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
                self.port = runner.addresses[0][1]
                return runner

            runner = loop.run_until_complete(start())
            started.set()
            loop.run_forever()
            loop.run_until_complete(self._session.close())
            loop.run_until_complete(runner.cleanup())
            loop.close()
            self._stopped.set()

        self._thread = threading.Thread(target=serve, name="recording-proxy", daemon=True)
        self._thread.start()
        started.wait(30)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._stopped.wait(30)


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`base` with `changes` merged in depth; a None value removes the key."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class World:
    """Both emulators, the recording proxy in front of Visma.net, and one store."""

    def __init__(self, server: EmulatorServer, proxy: RecordingProxy, store: Store) -> None:
        self.server = server
        self.proxy = proxy
        self.store = store
        self.tenant_id = DEFAULT_TENANT_ID
        self._runs: list[TenantRun] = []

    @property
    def visma(self) -> Company:
        """The emulated Visma.net company of the tenant."""
        return self.server.visma.company(self.tenant_id)

    @property
    def simon(self) -> SimonEmulator:
        return self.server.simon

    def manifests(self, spec: dict[str, Any] | None = None,
                  secrets: dict[str, dict[str, str | None]] | None = None
                  ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The tenant (Visma.net's ERP URLs through the proxy) and its Secrets; `spec` is
        merged into the spec, `secrets` into the stringData of the Secret of that name."""
        tenant, manifests = tenant_manifests(self.server.url, self.tenant_id)
        tenant["spec"]["visma"]["apiUrl"] = self.proxy.url
        tenant["spec"]["visma"]["salesOrderUrl"] = self.proxy.url
        tenant["spec"] = merge(tenant["spec"], spec or {})
        for manifest in manifests:
            change = (secrets or {}).get(manifest["metadata"]["name"])
            if change:
                manifest["stringData"] = merge(manifest["stringData"], change)
        return tenant, manifests

    def run(self, spec: dict[str, Any] | None = None,
            secrets: dict[str, dict[str, str | None]] | None = None) -> TenantRun:
        """A TenantRun for the emulator-backed tenant, built as the CLI builds it."""
        tenant_body, manifests = self.manifests(spec, secrets)
        tenant = tenant_from_body(tenant_body)
        by_name = {f"{m['metadata']['namespace']}/{m['metadata']['name']}": m["stringData"]
                   for m in manifests}
        visma_credentials, simon_credentials = resolve(tenant, by_name)
        visma, simon = build_clients(tenant, visma_credentials, simon_credentials, FAST)
        run = TenantRun(tenant, visma, simon, self.store.tenant(tenant.key))
        self._runs.append(run)
        return run

    @property
    def state(self) -> TenantState:
        tenant, _ = self.manifests()
        return self.store.tenant(tenant_from_body(tenant).key)

    async def close(self) -> None:
        for run in self._runs:
            await run.close()

    # --- reading Simon back -------------------------------------------------------------

    def simon_customer(self, internal_id: int) -> dict[str, Any] | None:
        return self.simon.by_ext_key("customer", str(internal_id))

    def locations_of(self, customer: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The Locations of a Simon customer by ExtKey ("" for user-made ones: by Name)."""
        return {loc["ExtKey"] or loc["Name"]: loc for loc in self.simon.list("location")
                if loc["CustomerId"] == customer["Id"]}


@pytest.fixture
def proxy(emulators: EmulatorServer) -> Iterator[RecordingProxy]:
    with RecordingProxy(emulators.url) as recording:
        yield recording


@contextlib.asynccontextmanager
async def opened_world(server: EmulatorServer, proxy: RecordingProxy,
                       database_url: str) -> AsyncIterator[World]:
    store = await open_store(database_url)
    made = World(server, proxy, store)
    made.visma.add_warehouse("MAIN", "Hoofdmagazijn")
    made.visma.add_order_type("SO", "Verkooporder")
    try:
        yield made
    finally:
        await made.close()
        await store.close()


@pytest.fixture
async def world(emulators: EmulatorServer, proxy: RecordingProxy,
                database_url: str) -> AsyncIterator[World]:
    """An emulator-backed tenant on a fresh store, once on SQLite and once on PostgreSQL."""
    async with opened_world(emulators, proxy, database_url) as made:
        yield made


@pytest.fixture
async def sqlite_world(emulators: EmulatorServer, proxy: RecordingProxy,
                       tmp_path: Path) -> AsyncIterator[World]:
    """Like `world`, on SQLite only (for tests whose use of the store is not database
    specific)."""
    async with opened_world(emulators, proxy, f"sqlite:///{tmp_path / 'store.db'}") as made:
        yield made
