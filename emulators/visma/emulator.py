"""The Visma.net emulator: Visma Connect tokens, the ERP monolith API and SalesOrders v3,
one object per emulated service with any number of companies (tenants).

Handle methods for tests live on `Company` (`emulator.company(tenant_id)`); the emulator passes
every attribute it does not have itself on to the default company, so
`emulator.add_customer(...)` seeds the default tenant.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from emulators.common import Clock, Faults, Handler, RateLimit, Stats, inspection_routes
from emulators.visma.auth import VismaConnect
from emulators.visma.company import Company, SalesOrder
from emulators.visma.documents import create_sales_order
from emulators.visma.erp_routes import ErpRoutes
from emulators.visma.routing import AnyCaseRoutes
from emulators.visma.v3_routes import SalesOrderRoutes
from emulators.visma.wire import error_for_path, v3_error_shape

DEFAULT_TENANT_ID = "6f1c2b7e-0d4e-4a55-9b8e-000000000001"
DEFAULT_CLIENT_ID = "simon-visma-emulator"
DEFAULT_CLIENT_SECRET = "emulator-secret"  # noqa: S105 - a fixed, public emulator credential


class VismaEmulator:
    """Visma.net over HTTP for tests, benchmarks and `simon-visma emulate`.

    `rate_limit` requests per `rate_window` seconds per (tenant, client); `max_page_size` is the
    ERP lists' maxPageSize; `token_lifetime` is the `expires_in` of issued tokens.
    """

    def __init__(
        self,
        *,
        rate_limit: int = 10_000,
        rate_window: float = 3600.0,
        max_page_size: int = 1000,
        token_lifetime: int = 3600,
        register_default_client: bool = True,
    ) -> None:
        self.clock = Clock()
        self.stats = Stats()
        self.connect = VismaConnect(self.clock, token_lifetime)
        self.faults = Faults(problem_or_message, self.connect.expire_tokens)
        self.rate_limit = RateLimit(rate_limit, rate_window, self.connect.rate_key,
                                    problem_or_message)
        self.max_page_size = max_page_size
        self.default_tenant_id = DEFAULT_TENANT_ID
        self.companies: dict[str, Company] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.handler_seconds = 0.0
        self._erp = ErpRoutes(self)
        self._v3 = SalesOrderRoutes(self)
        if register_default_client:
            self.add_client(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, [DEFAULT_TENANT_ID])

    # --- tenants and clients -----------------------------------------------------------------

    def company(self, tenant_id: str | None = None) -> Company:
        """The company of `tenant_id` (the default tenant when None), made on first use."""
        tenant_id = tenant_id or self.default_tenant_id
        company = self.companies.get(tenant_id)
        if company is None:
            company = self.companies[tenant_id] = Company(tenant_id, self.clock)
        return company

    def add_client(self, client_id: str, secret: str, tenant_ids: list[str] | set[str]) -> None:
        """Register a Visma Connect client for these company tenant ids."""
        self.connect.add_client(client_id, secret, tenant_ids)
        for tenant_id in tenant_ids:
            self.company(tenant_id)

    @property
    def token_lifetime(self) -> int:
        return self.connect.expires_in

    @token_lifetime.setter
    def token_lifetime(self, seconds: int) -> None:
        self.connect.expires_in = seconds

    def expire_tokens(self) -> None:
        self.connect.expire_tokens()

    def add_sales_order(self, command: dict[str, Any], tenant_id: str | None = None
                        ) -> SalesOrder:
        """Store a sales order as if POSTed (same validation); for seeding."""
        import json

        raw = json.dumps(command).encode()
        return create_sales_order(self.company(tenant_id), json.loads(raw), raw)

    def __getattr__(self, name: str) -> Any:
        # Handle methods (add_customer, renumber_item, received_sales_orders, ...) of the
        # default company. Only public names, and never during construction.
        if name.startswith("_") or "companies" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.company(), name)

    # --- aiohttp wiring ------------------------------------------------------------------------

    @web.middleware
    async def _count_in_flight(self, request: web.Request, handler: Handler
                               ) -> web.StreamResponse:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await handler(request)
        finally:
            self.in_flight -= 1

    @web.middleware
    async def _time_handlers(self, request: web.Request, handler: Handler
                             ) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            return await handler(request)
        finally:
            self.handler_seconds += time.perf_counter() - started

    @web.middleware
    async def _unmatched(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return error_for_path(request.path, 404, f"No resource at {request.path}.")
        except web.HTTPMethodNotAllowed:
            return error_for_path(request.path, 405, f"{request.method} is not allowed.")

    def middlewares(self) -> list[Any]:
        return [
            self.stats.middleware,
            v3_error_shape,
            self._count_in_flight,
            self.rate_limit.middleware,
            self.faults.middleware,
            self._unmatched,
            self.connect.middleware,
            self._time_handlers,
            self._erp.errors,
            self._v3.errors,
        ]

    def routes(self) -> list[web.RouteDef]:
        api = [*self._erp.routes(), *self._v3.routes()]
        return [
            web.post("/connect/token", self.connect.token_endpoint),
            *api,
            AnyCaseRoutes(api).route(),  # last: paths spelled in another letter case
        ]

    def inspection_routes(self, prefix: str) -> list[web.RouteDef]:
        from emulators.visma.inspection import visma_inspection_routes

        return [*inspection_routes(prefix, self.faults, self.stats),
                *visma_inspection_routes(self, prefix)]


def problem_or_message(status: int, message: str) -> dict[str, Any]:
    """Error body for injected faults and 429s: `{"message"}`; the v3 error-shape middleware
    turns it into ProblemDetails on /api/v3 paths."""
    return {"message": message}
