"""One HTTP server for both emulators: Visma.net at the root, Simon under `/simon`.

Visma.net answers at `/connect/token`, `/v1`, `/v2` and `/api/v3` (so one base URL serves as
token URL, ERP URL and SalesOrders URL); Simon at `/simon/...`; each emulator's inspection API
(seeding, read-back, faults, request counts) at `/_emulator/visma/...` and `/_emulator/simon/...`.

`EmulatorServer` runs it in a background thread on a free port, for tests and benchmarks;
`serve()` runs it in the foreground for `simon-visma emulate`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

from emulators.common import Handler

if TYPE_CHECKING:
    from emulators.simon import SimonEmulator
    from emulators.visma import VismaEmulator

T = TypeVar("T")

SIMON_PREFIX = "/simon"
INSPECTION_PREFIX = "/_emulator"


def _visma_only(middleware: Callable[..., Any]) -> Callable[..., Any]:
    """Apply a Visma.net middleware only to Visma.net's own paths."""

    @web.middleware
    async def scoped(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith((SIMON_PREFIX + "/", INSPECTION_PREFIX + "/")):
            return await handler(request)
        return await middleware(request, handler)

    return scoped


def build_app(visma: VismaEmulator, simon: SimonEmulator) -> web.Application:
    app = web.Application(
        middlewares=[_visma_only(m) for m in visma.middlewares()],
        client_max_size=64 * 1024 * 1024,
    )
    app.add_routes(visma.routes())
    app.add_routes(visma.inspection_routes(f"{INSPECTION_PREFIX}/visma"))
    app.add_routes(simon.inspection_routes(f"{INSPECTION_PREFIX}/simon"))
    simon_app = web.Application(middlewares=simon.middlewares(), client_max_size=64 * 1024 * 1024)
    simon_app.add_routes(simon.routes())
    app.add_subapp(SIMON_PREFIX, simon_app)
    return app


class EmulatorServer:
    """Both emulators on 127.0.0.1 in a background thread, over real HTTP.

    Tests seed and read the emulators' state through `server.visma` and `server.simon`.
    Do that while no request is in flight, or through `call()`, which runs a function on the
    server's own event loop between requests.
    """

    def __init__(
        self,
        visma: VismaEmulator | None = None,
        simon: SimonEmulator | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        from emulators.simon import SimonEmulator
        from emulators.visma import VismaEmulator

        self.visma = visma or VismaEmulator()
        self.simon = simon or SimonEmulator()
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def visma_url(self) -> str:
        return self.url

    @property
    def simon_url(self) -> str:
        return self.url + SIMON_PREFIX

    def start(self) -> EmulatorServer:
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start_site())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup() if self._runner else asyncio.sleep(0))
            loop.close()

        self._thread = threading.Thread(target=run, name="emulators", daemon=True)
        self._thread.start()
        started.wait(30)
        if failure:
            raise failure[0]
        return self

    async def _start_site(self) -> None:
        self._runner = web.AppRunner(build_app(self.visma, self.simon), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn(*args, **kwargs)` on the server's loop and return its result."""
        assert self._loop is not None, "server not started"
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return future.result(30)

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
            self._loop = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def serve(visma: VismaEmulator, simon: SimonEmulator, host: str, port: int) -> None:
    """Serve both emulators until cancelled."""
    runner = web.AppRunner(build_app(visma, simon), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
