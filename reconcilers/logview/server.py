"""The log view: a read-only HTTP endpoint of the operator for tenants' integration logs.

    GET /tenants/{namespace}/{name}/log?severity=info|warning|error&limit=N&all=true

answers ``{"tenant": "ns/name", "entries": [...]}`` (newest first, entries of at least
`severity`, at most `limit` of them, resolved ones only with ``all=true``), read from the
store the operator has open. Every other answer is JSON too: ``{"message": "..."}`` with 400
for a bad query, 404 for a tenant this operator's database knows nothing of or another path,
405 for any method but GET, 500 when the store cannot be read (the details go to the
operator's log, never to the caller: a database error may quote its URL).

Nothing here checks who asks: the Kubernetes API server's service proxy does (``get`` on
``services/proxy`` of the log view Service). The kubectl plugin reads the VismaIntegration
with the caller's credentials first. Environment: SIMON_VISMA_LOG_VIEW_ADDRESS (default
0.0.0.0) and SIMON_VISMA_LOG_VIEW_PORT (default 8081; 0 turns the log view off).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Awaitable, Callable
from functools import partial

from aiohttp import web

from reconcilers.store import Severity, Store

from .entries import DEFAULT_LIMIT, LIMIT_MAX, to_json
from .names import NAME, NAMESPACE

DEFAULT_ADDRESS = "0.0.0.0"
DEFAULT_PORT = 8081
STORE_KEY = web.AppKey("store", Store)

log = logging.getLogger(__name__)
_dumps = partial(json.dumps, ensure_ascii=True)


def _answer(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status, dumps=_dumps)


class QueryError(Exception):
    """A query parameter the log view cannot use: 400 with this text."""


def _severity(text: str) -> Severity:
    try:
        return Severity(text)
    except ValueError:
        raise QueryError(f"severity must be one of {', '.join(s.value for s in Severity)}, "
                         f"not {text[:40]!r}") from None


def _limit(text: str) -> int:
    value = int(text) if text.isascii() and text.isdigit() else None
    if value is None or not 1 <= value <= LIMIT_MAX:
        raise QueryError(f"limit must be a whole number from 1 to {LIMIT_MAX}, not {text[:40]!r}")
    return value


def _flag(text: str) -> bool:
    if text not in ("true", "false"):
        raise QueryError(f"all must be true or false, not {text[:40]!r}")
    return text == "true"


async def tenant_log(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    namespace, name = request.match_info["namespace"], request.match_info["name"]
    try:
        severity = _severity(request.query.get("severity", Severity.INFO.value))
        limit = _limit(request.query.get("limit", str(DEFAULT_LIMIT)))
        include_resolved = _flag(request.query.get("all", "false"))
    except QueryError as error:
        return _answer(400, str(error))
    key = f"{namespace}/{name}"
    if not (NAMESPACE.fullmatch(namespace) and NAME.fullmatch(name)):
        return _answer(404, f"no VismaIntegration can be named {key[:120]!r}")
    entries = await store.tenant(key).log.entries(
        min_severity=severity, limit=limit, include_resolved=include_resolved)
    # Whether the store knows the tenant at all costs a look at every table: only asked
    # when it has no entry to show.
    if not entries and key not in await store.tenants():
        return _answer(404, f"the operator has no integration log for {key}: it has not "
                            "served this tenant yet, or serves it from another installation")
    return web.json_response({"tenant": key, "entries": [to_json(e) for e in entries]},
                             dumps=_dumps)


@web.middleware
async def json_errors(request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                      ) -> web.StreamResponse:
    """Every answer is JSON: aiohttp's own 404 and 405 too; a failure is logged, and the
    caller only learns that the log could not be read."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        answer = _answer(error.status, error.reason)
        if "Allow" in error.headers:
            answer.headers["Allow"] = error.headers["Allow"]
        return answer
    except Exception:
        log.exception("the log view could not read the integration log for %s", request.path)
        return _answer(500, "the integration log could not be read now; the operator's log "
                            "says why")


def application(store: Store) -> web.Application:
    app = web.Application(middlewares=[json_errors])
    app[STORE_KEY] = store
    app.router.add_get("/tenants/{namespace}/{name}/log", tenant_log, allow_head=False)
    return app


class LogView:
    """The endpoint, served on the running event loop until `stop()`."""

    def __init__(self, store: Store) -> None:
        self._runner = web.AppRunner(application(store), access_log=None)
        self.port = 0

    async def start(self, address: str = DEFAULT_ADDRESS, port: int = DEFAULT_PORT) -> LogView:
        """Listen on `address`:`port` (port 0: any free port, then in `self.port`)."""
        await self._runner.setup()
        site = web.TCPSite(self._runner, address, port)
        try:
            await site.start()
        except OSError:
            await self._runner.cleanup()
            raise
        self.port = self._runner.addresses[0][1]
        log.info("serving tenants' integration logs on %s:%s", address, self.port)
        return self

    async def stop(self) -> None:
        await self._runner.cleanup()


async def serve_from_environment(store: Store) -> LogView | None:
    """The log view as the environment asks for it; None when its port is 0 (off)."""
    port = int(os.environ.get("SIMON_VISMA_LOG_VIEW_PORT", str(DEFAULT_PORT)))
    if not port:
        return None
    address = os.environ.get("SIMON_VISMA_LOG_VIEW_ADDRESS", DEFAULT_ADDRESS)
    return await LogView(store).start(address, port)
