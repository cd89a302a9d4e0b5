"""Visma Connect for the emulator: registered clients, the token endpoint and token checks.

Behaviour chosen where the sources leave it open (visma-net.md section 2):
- unknown client or wrong secret: 400 `{"error": "invalid_client"}` (standard OAuth);
- no `tenant_id`, or one that is not a tenant id (a GUID): 400 `{"error": "invalid_request"}`
  with an `error_description`; the ERP and SalesOrders APIs are tenant-based, and Visma Connect
  needs `tenant_id` for those (D-svc), so no company-less token is issued;
- a well-formed `tenant_id` the client is not registered for is still granted a token (as
  Visma Connect does for a wrong *company* tenant id, D-401); every API call with it answers
  401 (ERP: IPPException 12027 "No license for this company.", v3: no body);
- scopes are granted as asked (all registered scopes when `scope` is omitted). Each call needs
  the scope for what it does: ERP reads `...:read`, creates (POST) `...:create`, actions and
  updates (`/action/`, PUT, PATCH) `...:update`, DELETE `...:delete` (service or interactive
  flavour); v3 reads `visma.net.erp.salesorder:read`, every other method `...:write`. Without
  it: 403, ERP `{"message"}`, v3 no body (section 11).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aiohttp import web

from emulators.common import Clock, Handler
from emulators.visma.wire import erp_message, ipp_exception, is_v3

ERP_SCOPES = (
    "vismanet_erp_service_api:read",
    "vismanet_erp_service_api:create",
    "vismanet_erp_service_api:update",
    "vismanet_erp_service_api:delete",
)
SALES_ORDER_SCOPES = ("visma.net.erp.salesorder:read", "visma.net.erp.salesorder:write")
TENANT = web.RequestKey("tenant", str)
"""The company tenant id of an authenticated request."""
ALL_SCOPES = ERP_SCOPES + SALES_ORDER_SCOPES
KNOWN_SCOPES = frozenset(ALL_SCOPES) | {
    "vismanet_erp_interactive_api:read", "vismanet_erp_interactive_api:create",
    "vismanet_erp_interactive_api:update", "vismanet_erp_interactive_api:delete",
}
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
API_PREFIXES = ("/v1/", "/v2/", "/api/v3/")


def is_api_path(path: str) -> bool:
    """An ERP or v3 path, in any letter case (the services route case-insensitively)."""
    lower = path.lower()
    return lower.startswith(API_PREFIXES) or lower in ("/v1", "/v2")


def needed_scopes(method: str, path: str) -> tuple[str, ...]:
    """The scopes of which a token must hold one for `method` on `path`."""
    method = method.upper()
    if path.lower().startswith("/api/v3/"):
        action = "read" if method in ("GET", "HEAD", "OPTIONS") else "write"
        return (f"visma.net.erp.salesorder:{action}",)
    if method in ("GET", "HEAD", "OPTIONS"):
        action = "read"
    elif method == "DELETE":
        action = "delete"
    elif method in ("PUT", "PATCH") or "/action/" in path.lower():
        action = "update"
    else:
        action = "create"
    return (f"vismanet_erp_service_api:{action}", f"vismanet_erp_interactive_api:{action}")


@dataclass
class Client:
    client_id: str
    secret: str = field(repr=False)
    tenant_ids: set[str]


@dataclass
class Token:
    client_id: str
    tenant_id: str
    scopes: frozenset[str]
    expires_at: datetime

    @property
    def key(self) -> str:
        return f"{self.tenant_id}:{self.client_id}"


class VismaConnect:
    """Clients, issued tokens and the checks every API request passes."""

    def __init__(self, clock: Clock, expires_in: int = 3600) -> None:
        self.clock = clock
        self.expires_in = expires_in
        self.clients: dict[str, Client] = {}
        self.tokens: dict[str, Token] = {}
        self.logins = 0

    def add_client(self, client_id: str, secret: str, tenant_ids: list[str] | set[str]) -> None:
        known = self.clients.get(client_id)
        if known and known.secret == secret:
            known.tenant_ids |= set(tenant_ids)
        else:
            self.clients[client_id] = Client(client_id, secret, set(tenant_ids))

    def expire_tokens(self) -> None:
        past = self.clock.now() - timedelta(seconds=1)
        for token in self.tokens.values():
            token.expires_at = past

    def token_for(self, request: web.Request) -> Token | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        return self.tokens.get(header[len("Bearer "):].strip())

    def rate_key(self, request: web.Request) -> str | None:
        if request.path == "/connect/token":
            return None
        token = self.token_for(request)
        return token.key if token else "anonymous"

    async def token_endpoint(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        client = self.clients.get(str(form.get("client_id", "")))
        if client is None or not secrets.compare_digest(
            client.secret.encode(), str(form.get("client_secret", "")).encode()
        ):
            return web.json_response({"error": "invalid_client"}, status=400)
        asked = str(form.get("scope", "")).split()
        if any(scope not in KNOWN_SCOPES for scope in asked):
            return web.json_response({"error": "invalid_scope"}, status=400)
        scopes = frozenset(asked or ALL_SCOPES)
        tenant = str(form.get("tenant_id") or "").strip()
        if not tenant:
            return web.json_response({
                "error": "invalid_request",
                "error_description": "tenant_id is required for this client's APIs.",
            }, status=400)
        if not _GUID.fullmatch(tenant):
            return web.json_response({
                "error": "invalid_request",
                "error_description": "tenant_id is not a valid tenant id.",
            }, status=400)
        access_token = secrets.token_urlsafe(32)
        self.tokens[access_token] = Token(
            client.client_id, tenant, scopes,
            self.clock.now() + timedelta(seconds=self.expires_in),
        )
        self.logins += 1
        return web.json_response({
            "access_token": access_token,
            "expires_in": self.expires_in,
            "token_type": "Bearer",
            "scope": " ".join(sorted(scopes)),
        })

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Checks the bearer token of every ERP and v3 request; sets `request["tenant"]`."""

        path = request.path
        if not is_api_path(path):
            return await handler(request)
        v3 = is_v3(path)
        token = self.token_for(request)
        if token is None or token.expires_at <= self.clock.now():
            if v3:
                return web.Response(status=401, headers={"WWW-Authenticate": "Bearer"})
            return erp_message("Authorization has been denied for this request.", 401,
                               headers={"WWW-Authenticate": "Bearer"})
        if not self.registered(token.client_id, token.tenant_id):
            if v3:
                return web.Response(status=401)
            return ipp_exception("12027", "No license for this company.", 401)
        needed = needed_scopes(request.method, path)
        if not token.scopes.intersection(needed):
            if v3:
                return web.Response(status=403)
            return erp_message(f"The access token does not grant the scope {needed[0]} this "
                               "request needs.", 403)
        request[TENANT] = token.tenant_id
        return await handler(request)

    def registered(self, client_id: str, tenant_id: str) -> bool:
        client = self.clients.get(client_id)
        return client is not None and tenant_id in client.tenant_ids
