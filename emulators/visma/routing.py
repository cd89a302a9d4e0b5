"""Paths in any letter case, as Visma.net's ASP.NET services route them: `/v1/Customer` is
`/v1/customer`, `/api/v3/salesorders` is `/api/v3/SalesOrders`.

aiohttp matches literally, so the emulator adds one last route for the API prefixes: a path no
route matched is compared, segment by segment and ignoring case, with the route templates; the
request is then handed to the matched route's handler with the template's spelling (the
id segments keep theirs). Nothing matched: 404, a matched path with another method: 405,
in the service's error shape.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from aiohttp import web
from yarl import URL

from emulators.visma.wire import error_for_path

_PARAM = re.compile(r"^\{[^}]+\}$")
FALLBACK_PATH = r"/{_any_case_path:(?i:(v1|v2|api/v3)(/.*)?)}"


class AnyCaseRoutes:
    """The fallback route for `routes` (the emulator's own route definitions)."""

    def __init__(self, routes: Iterable[web.RouteDef]) -> None:
        self._templates: list[tuple[str, list[str]]] = [
            (route.method.upper(), [s for s in route.path.split("/") if s])
            for route in routes
        ]

    def _canonical(self, method: str, raw_path: str) -> tuple[str | None, set[str]]:
        """The path in the spelling of the template that matches it for `method`, if any;
        and the methods of every template that matches the path."""
        segments = [s for s in raw_path.split("/") if s]
        methods: set[str] = set()
        found: str | None = None
        for route_method, template in self._templates:
            if len(template) != len(segments) or not all(
                _PARAM.match(t) or t.lower() == s.lower()
                for t, s in zip(template, segments, strict=True)
            ):
                continue
            methods.add(route_method)
            if found is None and (route_method == method
                                  or method == "HEAD" and route_method == "GET"):
                found = "/" + "/".join(s if _PARAM.match(t) else t
                                       for t, s in zip(template, segments, strict=True))
        return found, methods

    async def handle(self, request: web.Request) -> web.StreamResponse:
        canonical, methods = self._canonical(request.method.upper(), request.rel_url.raw_path)
        if canonical is None or canonical == request.rel_url.raw_path:
            if methods and canonical is None:
                return error_for_path(request.path, 405, f"{request.method} is not allowed.")
            return error_for_path(request.path, 404, f"No resource at {request.path}.")
        url = URL.build(path=canonical, query_string=request.rel_url.raw_query_string,
                        encoded=True)
        routed = request.clone(rel_url=url)
        for key, value in request.items():
            routed[key] = value
        match = await request.app.router.resolve(routed)
        match.add_app(request.app)
        match.freeze()
        routed._match_info = match  # the clone is routed like a fresh request
        return await match.handler(routed)

    def route(self) -> web.RouteDef:
        return web.route("*", FALLBACK_PATH, self.handle)
