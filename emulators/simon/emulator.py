"""`SimonEmulator`: one Simon tenant over HTTP (api/simon.md section 5), with handles for
tests (seed, read back, archive a work order, count writes) and an inspection API for tests
that drive the emulator from another process."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from emulators.common import Clock, Faults, Handler, RateLimit, Stats, inspection_routes
from emulators.simon import api
from emulators.simon.auth import (
    DEFAULT_LICENSE_KEY,
    DEFAULT_PASSWORD,
    DEFAULT_TOKEN_TTL,
    DEFAULT_USER,
    Login,
    Tokens,
)
from emulators.simon.schema import SimonError, parse_datetime
from emulators.simon.store import SimonStore, table_of

TOKEN_HEADER = "Token"
API_KEY_HEADER = "ApiKey"


class SimonEmulator:
    """A Simon tenant. Constructed with no arguments it has empty tables, one login
    (`DEFAULT_LICENSE_KEY` / `DEFAULT_USER` / `DEFAULT_PASSWORD`, no API key), tokens valid
    for an hour and no rate limit."""

    def __init__(
        self,
        *,
        token_ttl: float = DEFAULT_TOKEN_TTL,
        token_header: str = TOKEN_HEADER,
        api_key_header: str = API_KEY_HEADER,
        default_login: bool = True,
    ) -> None:
        self.clock = Clock()
        self.store = SimonStore(self.clock)
        self.tokens = Tokens(self.clock, token_ttl)
        self.stats = Stats()
        self.faults = Faults(api.error_body, self.tokens.expire_all)
        self.token_header = token_header
        self.api_key_header = api_key_header
        self.rate_limit: RateLimit | None = None
        self.default_login: Login | None = None
        if default_login:
            self.default_login = self.add_login(DEFAULT_LICENSE_KEY, DEFAULT_USER,
                                                DEFAULT_PASSWORD)

    # --- configuration ----------------------------------------------------------------

    @property
    def token_ttl(self) -> float:
        return self.tokens.ttl

    @token_ttl.setter
    def token_ttl(self, seconds: float) -> None:
        self.tokens.ttl = seconds

    def add_login(self, key: str, user: str, password: str, api_key: str | None = None) -> Login:
        return self.tokens.add_login(key, user, password, api_key)

    def set_rate_limit(self, limit: int | None, window: float = 60.0) -> None:
        """`limit` requests per `window` seconds per licence key; None switches it off."""
        if limit is None:
            self.rate_limit = None
            return

        def key(request: web.Request) -> str:
            login = self.tokens.login_of(request.headers.get(self.token_header))
            return login.key if login else (request.remote or "anonymous")

        self.rate_limit = RateLimit(limit, window, key, api.error_body,
                                    policy=f"{limit};w={window:g}")

    # --- handles for tests ------------------------------------------------------------

    def seed(self, table: str, record: dict[str, Any] | None = None,
             **fields: Any) -> dict[str, Any]:
        """Put a record straight into a table (no HTTP, not counted as a write) and return it
        as `read/{id}` would. Validated like an insert; `Modified` may be given (str or
        datetime) to make ties or old records."""
        values = {**(record or {}), **fields}
        modified = values.pop("Modified", None)
        values.pop("Created", None)
        if isinstance(modified, str):
            modified = parse_datetime(modified)
        return self.store.insert(table, values, count=False, modified=modified)

    def get(self, table: str, record_id: int) -> dict[str, Any] | None:
        return self.store.find(table, record_id)

    def by_ext_key(self, table: str, ext_key: str) -> dict[str, Any] | None:
        return self.store.by_ext_key(table, ext_key)

    def list(self, table: str) -> list[dict[str, Any]]:
        return self.store.all(table)

    def update(self, table: str, record_id: int, **fields: Any) -> dict[str, Any]:
        """Change a record the way a Simon user would (bumps `Modified`, not counted)."""
        return self.store.update(table, {"Id": record_id, **fields}, count=False)

    def set_raw(self, table: str, record_id: int, field: str, value: Any) -> None:
        """Serve `field` of a record as `value` on every `read/{id}`, unvalidated (what a
        real Simon may send: `"Quantity": "veel"`, a lone surrogate)."""
        self.store.set_raw(table, record_id, field, value)

    def archive_work_order(self, work_order_id: int, when: datetime | None = None,
                           work_performed: str | None = None) -> dict[str, Any]:
        """Complete and archive a work order (Status Completed, CompletedAt, Archived,
        ArchivedAt; bumps Modified)."""
        return self.store.archive_work_order(work_order_id, when, work_performed)

    @property
    def writes(self) -> int:
        """Inserts, updates and deletes made over HTTP (seeding does not count)."""
        return sum(self.store.writes.values())

    def write_count(self, table: str | None = None, verb: str | None = None) -> int:
        return sum(n for (t, v), n in self.store.writes.items()
                   if (table is None or t == table) and (verb is None or v == verb))

    # --- what emulators/server.py mounts ----------------------------------------------

    def middlewares(self) -> list[Callable[..., Any]]:
        return [self.stats.middleware, self._rate_limit_middleware, self.faults.middleware,
                api.guard(self)]

    @web.middleware
    async def _rate_limit_middleware(self, request: web.Request,
                                     handler: Handler) -> web.StreamResponse:
        if self.rate_limit is None:
            return await handler(request)
        return await self.rate_limit.middleware(request, handler)

    def routes(self) -> list[web.RouteDef]:
        return api.routes(self)

    def inspection_routes(self, prefix: str) -> list[web.RouteDef]:
        """Under `prefix` (e.g. `/_emulator/simon`):
        POST `/tables/{table}` (a record or a list: seed, 201 with the records),
        GET `/tables/{table}` (every full record), GET `/tables/{table}/{id}`,
        POST `/workorders/{id}/archive` (optional `{"At": iso}`),
        POST `/logins` (`{"Key","Usr","Pwd","ApiKey"?}`),
        POST `/clock` (`{"advance": seconds}`), POST `/config`
        (`{"tokenTtl"?, "rateLimit"?: {"limit","window"} | null}`),
        GET `/writes`, POST `/generate` (`{"seed","workOrders","archived"}`),
        and the common `/faults` and `/stats`."""

        def answer(fn: Callable[[web.Request, Any], Any], status: int = 200) -> Handler:
            async def handler(request: web.Request) -> web.StreamResponse:
                try:
                    body = await api.json_body(request) if request.can_read_body else None
                    return web.json_response(fn(request, body), status=status)
                except SimonError as error:
                    return api.error_response(error)
            return handler

        def seed(request: web.Request, body: Any) -> Any:
            table = request.match_info["table"]
            if isinstance(body, list):
                return [self.seed(table, record) for record in body]
            return self.seed(table, body)

        def list_table(request: web.Request, body: Any) -> Any:
            return self.list(table_of(request.match_info["table"]).name)

        def get_one(request: web.Request, body: Any) -> Any:
            return self.store.get(request.match_info["table"], int(request.match_info["id"]))

        def archive(request: web.Request, body: Any) -> Any:
            when = parse_datetime(body["At"]) if body and body.get("At") else None
            return self.archive_work_order(int(request.match_info["id"]), when)

        def add_login(request: web.Request, body: Any) -> Any:
            login = self.add_login(body["Key"], body["Usr"], body["Pwd"], body.get("ApiKey"))
            return {"Usr": login.user}

        def clock(request: web.Request, body: Any) -> Any:
            self.clock.advance(float((body or {}).get("advance", 0)))
            return {"now": self.clock.now().isoformat()}

        def config(request: web.Request, body: Any) -> Any:
            body = body or {}
            if "tokenTtl" in body:
                self.token_ttl = float(body["tokenTtl"])
            if "rateLimit" in body:
                limit = body["rateLimit"]
                if limit is None:
                    self.set_rate_limit(None)
                else:
                    self.set_rate_limit(int(limit["limit"]), float(limit.get("window", 60)))
            return {"tokenTtl": self.token_ttl, "rateLimited": self.rate_limit is not None}

        def writes(request: web.Request, body: Any) -> Any:
            return {"total": self.writes,
                    "byTable": [{"table": t, "verb": v, "count": n}
                                for (t, v), n in sorted(self.store.writes.items())]}

        def generate(request: web.Request, body: Any) -> Any:
            from emulators.simon import data

            body = body or {}
            seed_value = int(body.get("seed", 1))
            made = data.populate(self, seed=seed_value)
            orders = data.add_work_orders(self, int(body.get("workOrders", 0)), seed=seed_value,
                                          archived=bool(body.get("archived", True)))
            return {**made, "workOrders": len(orders)}

        return [
            *inspection_routes(prefix, self.faults, self.stats),
            web.post(f"{prefix}/tables/{{table}}", answer(seed, 201)),
            web.get(f"{prefix}/tables/{{table}}", answer(list_table)),
            web.get(rf"{prefix}/tables/{{table}}/{{id:\d+}}", answer(get_one)),
            web.post(rf"{prefix}/workorders/{{id:\d+}}/archive", answer(archive)),
            web.post(f"{prefix}/logins", answer(add_login, 201)),
            web.post(f"{prefix}/clock", answer(clock)),
            web.post(f"{prefix}/config", answer(config)),
            web.get(f"{prefix}/writes", answer(writes)),
            web.post(f"{prefix}/generate", answer(generate, 201)),
        ]
