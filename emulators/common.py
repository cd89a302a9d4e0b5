"""What both emulators share: a clock, fault injection by rule, rate limits and request counts.

Each emulator builds its own aiohttp routes and error bodies; this module supplies the
machinery around them as aiohttp middlewares:

- `Faults`: rules such as "every 10th call to /v1/customer answers 500" or "the next POST to
  /api/v3/SalesOrders is carried out but its answer is lost". Fault kinds:
  `status` (answer `status`, with `Retry-After` for 429), `slow` (wait `delay` seconds first),
  `drop` (close the connection without an answer; nothing is carried out),
  `lose_response` (carry the request out, then close the connection without an answer),
  `expire_tokens` (every issued token expires before the request is handled), and
  `flag` (handler-level faults: the handler finds `name` in `request[FLAGS]`, e.g. Simon's
  overlapping `readsync` pages).
- `RateLimit`: a fixed window per key (Visma.net: per company and client), `X-RateLimit-*`
  headers on every answer and 429 + `Retry-After` past the limit.
- `Stats`: requests per (method, route) and per status, for tests and benchmarks that count
  what a pass cost.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ErrorBody = Callable[[int, str], dict[str, Any]]

FaultKind = Literal["status", "slow", "hold", "drop", "lose_response", "expire_tokens", "flag"]
FLAGS = web.RequestKey("faults", set)
"""The names of the `flag` faults that fired on a request: `name in request[FLAGS]`."""


class Clock:
    """UTC time for an emulator; tests may move it forward (token expiry, modified dates)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@dataclass
class FaultRule:
    """One fault. It applies to requests whose path matches `path` (a regex searched in the
    path) and whose method is `method` (any when None). Which of those it hits:
    `nth` = only the n-th matching request (1-based, counted from when the rule was added);
    `every` = every n-th matching request; neither = every matching request.
    `times` caps how often it fires (None = no cap). A `hold` keeps the requests it hits
    waiting until the rule is removed (`Faults.remove`)."""

    fault: FaultKind
    path: str = ""
    method: str | None = None
    status: int = 500
    retry_after: int = 1
    delay: float = 0.0
    name: str = ""
    nth: int | None = None
    every: int | None = None
    times: int | None = None
    seen: int = 0
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return re.search(self.path, path) is not None

    def hit(self) -> bool:
        """Count one matching request; True when the fault fires on it."""
        self.seen += 1
        if self.times is not None and self.fired >= self.times:
            return False
        if self.nth is not None:
            fires = self.seen == self.nth
        elif self.every is not None:
            fires = self.seen % self.every == 0
        else:
            fires = True
        if fires:
            self.fired += 1
        return fires

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultRule:
        allowed = {
            "fault", "path", "method", "status", "retry_after", "delay", "name",
            "nth", "every", "times",
        }
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault rule fields: {sorted(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


class Faults:
    """The fault rules of one emulator, applied by `middleware`."""

    def __init__(self, error_body: ErrorBody, expire_tokens: Callable[[], None]) -> None:
        self.rules: list[FaultRule] = []
        self._error_body = error_body
        self._expire_tokens = expire_tokens
        self._lock = threading.Lock()

    def add(self, fault: FaultKind | FaultRule, **kwargs: Any) -> FaultRule:
        rule = fault if isinstance(fault, FaultRule) else FaultRule(fault=fault, **kwargs)
        with self._lock:
            self.rules.append(rule)
        return rule

    def remove(self, rule: FaultRule) -> None:
        """Take one rule out; the requests a `hold` rule keeps waiting go on."""
        with self._lock:
            self.rules = [r for r in self.rules if r is not rule]

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def _holding(self, rule: FaultRule) -> bool:
        with self._lock:
            return any(r is rule for r in self.rules)

    def _firing(self, method: str, path: str) -> list[FaultRule]:
        with self._lock:
            return [r for r in self.rules if r.matches(method, path) and r.hit()]

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        request[FLAGS] = set()
        lose_response = False
        for rule in self._firing(request.method, request.path):
            if rule.fault == "slow":
                await asyncio.sleep(rule.delay)
            elif rule.fault == "hold":  # until the test removes the rule (from any thread)
                while self._holding(rule):  # noqa: ASYNC110 - no event crosses the threads
                    await asyncio.sleep(0.05)
            elif rule.fault == "expire_tokens":
                self._expire_tokens()
            elif rule.fault == "flag":
                request[FLAGS].add(rule.name)
            elif rule.fault == "drop":
                _drop_connection(request)
                raise asyncio.CancelledError
            elif rule.fault == "lose_response":
                lose_response = True
            elif rule.fault == "status":
                headers = {"Retry-After": str(rule.retry_after)} if rule.status == 429 else {}
                message = "Too many requests" if rule.status == 429 else "Injected server error"
                return web.json_response(
                    self._error_body(rule.status, message), status=rule.status, headers=headers
                )
        response = await handler(request)
        if lose_response:
            _drop_connection(request)
            raise asyncio.CancelledError
        return response


def _drop_connection(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


class RateLimit:
    """A fixed window of `limit` requests per `window` seconds for each key."""

    def __init__(
        self,
        limit: int,
        window: float,
        key: Callable[[web.Request], str | None],
        error_body: ErrorBody,
        policy: str = "4-fixed-window",
    ) -> None:
        self.limit = limit
        self.window = window
        self.policy = policy
        self._key = key
        self._error_body = error_body
        self._windows: dict[str, tuple[float, int]] = {}

    def _take(self, key: str) -> tuple[int, float, bool]:
        """Count one request: (remaining, seconds to reset, allowed)."""
        now = time.monotonic()
        started, used = self._windows.get(key, (now, 0))
        if now - started >= self.window:
            started, used = now, 0
        allowed = used < self.limit
        if allowed:
            used += 1
        self._windows[key] = (started, used)
        return self.limit - used, max(0.0, started + self.window - now), allowed

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        key = self._key(request)
        if key is None:
            return await handler(request)
        remaining, reset, allowed = self._take(key)
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, remaining)),
            "X-RateLimit-Reset": str(int(reset + 0.999)),
            "X-RateLimit-Policy": self.policy,
        }
        if not allowed:
            headers["Retry-After"] = str(max(1, int(reset + 0.999)))
            return web.json_response(
                self._error_body(429, "Rate limit is exceeded."), status=429, headers=headers
            )
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers.update(headers)
            raise
        response.headers.update(headers)
        return response


@dataclass
class Stats:
    """Requests seen by one emulator, by route and status."""

    by_route: Counter[tuple[str, str]] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)
    total: int = 0

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        info = request.match_info.route.resource
        route = info.canonical if info is not None else request.path
        self.total += 1
        self.by_route[(request.method, route)] += 1
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            self.by_status[exc.status] += 1
            raise
        self.by_status[response.status] += 1
        return response

    def count(self, method: str | None = None, route: str | None = None) -> int:
        """Requests whose method and route template (e.g. `/{table}/insert`) contain the given
        strings (`route` is a substring match)."""
        return sum(
            n
            for (m, r), n in self.by_route.items()
            if (method is None or m == method) and (route is None or route in r)
        )

    def reset(self) -> None:
        self.by_route.clear()
        self.by_status.clear()
        self.total = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "byRoute": [{"method": m, "route": r, "count": n} for (m, r), n in
                        sorted(self.by_route.items())],
            "byStatus": {str(k): v for k, v in sorted(self.by_status.items())},
        }


def inspection_routes(prefix: str, faults: Faults, stats: Stats) -> list[web.RouteDef]:
    """`/_emulator/<api>/faults` and `/stats`, for tests that drive an emulator in another
    process: POST a rule (JSON of FaultRule's fields), DELETE all, GET both lists."""

    async def add_fault(request: web.Request) -> web.Response:
        try:
            rule = faults.add(FaultRule.from_dict(await request.json()))
        except (TypeError, ValueError) as exc:
            return web.json_response({"message": str(exc)}, status=400)
        return web.json_response(rule.to_dict(), status=201)

    async def list_faults(request: web.Request) -> web.Response:
        return web.json_response([r.to_dict() for r in faults.rules])

    async def clear_faults(request: web.Request) -> web.Response:
        faults.clear()
        return web.Response(status=204)

    async def get_stats(request: web.Request) -> web.Response:
        return web.json_response(stats.to_dict())

    async def reset_stats(request: web.Request) -> web.Response:
        stats.reset()
        return web.Response(status=204)

    return [
        web.post(f"{prefix}/faults", add_fault),
        web.get(f"{prefix}/faults", list_faults),
        web.delete(f"{prefix}/faults", clear_faults),
        web.get(f"{prefix}/stats", get_stats),
        web.delete(f"{prefix}/stats", reset_stats),
    ]
