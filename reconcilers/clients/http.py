"""What both API clients share: typed errors, the retry policy and the request loop.

Wire details (paths, field names, error bodies) stay in `visma/` and `simon/`; this module only
knows HTTP. The policy is the one DESIGN.md asks for: retry 429 (honouring `Retry-After`), 5xx
and network errors with backoff, never retry other 4xx, re-login once on 401, and a
per-tenant limit on requests in flight.

A request that creates something (`idempotent=False`) is never repeated once it may have reached
the server: a lost answer becomes `InDoubtError`, and the caller (the orders ledger) looks for
what the first attempt made before it tries again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


class ApiError(Exception):
    """An API answered with an error, or could not be reached. Never carries a secret."""

    def __init__(
        self,
        api: str,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        method: str = "",
        path: str = "",
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        self.api = api
        self.message = message
        self.status = status
        self.code = code
        self.method = method
        self.path = path
        self.details = details or []
        where = f" ({method} {path})" if method else ""
        status_text = f" {status}" if status is not None else ""
        code_text = f" [{code}]" if code else ""
        super().__init__(f"{api}{status_text}{code_text}: {message}{where}")


class UnreadableRecordError(Exception):
    """One record an API sent could not be read into what the integration needs (a required
    field missing or of no usable form). It concerns that record only: the pass logs it,
    naming the record, and goes on with the others. Never carries a secret."""

    def __init__(self, api: str, table: str, record_id: object, problems: list[str],
                 label: str | None = None, number: str | None = None) -> None:
        self.api = api
        self.table = table
        self.record_id = record_id
        """The record's key where it could be read (Simon Id, Visma.net internalId), else None."""
        self.problems = problems
        self.label = label
        """How users know the record (number and name, code and description), if readable."""
        self.number = number
        """The record's number or code alone, if readable: the key of its log entries."""
        super().__init__(f"{api} {table} {label or record_id}: " + "; ".join(problems))


class TransientApiError(ApiError):
    """Still failing after every retry the policy allows (429, 5xx, network)."""


class RateLimitedError(TransientApiError):
    """Still throttled (429) after every retry the policy allows."""


class InDoubtError(ApiError):
    """A create request may have been carried out, but its answer was lost."""


class AuthError(ApiError):
    """Credentials refused (401 after one fresh login) or not allowed (403)."""


class NotFoundError(ApiError):
    """404: the record does not exist."""


class ConflictError(ApiError):
    """409: a duplicate key, a record in use, or a stale version."""


class RequestRejectedError(ApiError):
    """400/422 and other 4xx: the request itself is wrong; repeating it cannot help."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long a client retries. Attempts include the first one."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 300.0
    timeout: float = 60.0
    max_concurrency: int = 4

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter for attempt 1, 2, ... (the one that failed)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)


RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})

# Errors that prove the request never reached the server: safe to repeat even a create.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def retry_after_seconds(response: httpx.Response, now: datetime | None = None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date), if any."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The one TLS context every client shares (what httpx would make for each: the system's
    CA bundle, or $SSL_CERT_FILE / $SSL_CERT_DIR). Each context loads the whole CA bundle:
    one per client cost about 0.8 MB and 20 ms of CPU, two clients per tenant."""
    return httpx.create_ssl_context()


KEEPALIVE_SECONDS = 300.0
"""How long an idle connection is kept for the next request (httpx keeps one 5 s): longer than
the default schedules' 2 minutes, so a tenant's next pass finds its connections open (one that
the server closed meanwhile is noticed and opened again). Opening a connection was most of the
CPU of a pass's requests (and a TLS handshake costs more)."""


class ApiClient:
    """Base of the Visma.net and Simon clients: one httpx client, auth, retries, limits.

    Subclasses provide `_auth_headers(refresh)` and `_error(response, method, path)`.
    """

    api_name = "api"

    def __init__(
        self,
        *,
        policy: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(self.policy.timeout, connect=min(10.0, self.policy.timeout)),
            transport=transport,
            verify=tls_context(),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20,
                                keepalive_expiry=KEEPALIVE_SECONDS),
        )
        self._limit = asyncio.Semaphore(self.policy.max_concurrency)
        self._sleep = sleep
        self.requests_sent = 0

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self):  # noqa: ANN204 - returns the subclass
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _auth_headers(self, refresh: bool) -> dict[str, str]:
        raise NotImplementedError

    def _error(self, response: httpx.Response, method: str, path: str) -> ApiError:
        raise NotImplementedError

    async def _request(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool = True,
        authenticated: bool = True,
        ok: tuple[int, ...] = (200, 201, 202, 204),
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one logical request; returns a response whose status is in `ok`.

        Raises the typed ApiError subclasses above for everything else.
        """
        path = httpx.URL(url).path
        extra_headers = dict(kwargs.pop("headers", None) or {})
        relogged = False
        attempt = 0
        while True:
            attempt += 1
            headers = dict(extra_headers)
            if authenticated:
                headers.update(await self._auth_headers(refresh=False))
            try:
                async with self._limit:
                    self.requests_sent += 1
                    response = await self._http.request(method, url, headers=headers, **kwargs)
            except httpx.TransportError as exc:
                if not idempotent and not isinstance(exc, _NOT_SENT):
                    raise InDoubtError(
                        self.api_name,
                        f"no answer to a create request ({type(exc).__name__}); "
                        "it may have been carried out",
                        method=method,
                        path=path,
                    ) from exc
                if attempt >= self.policy.max_attempts:
                    raise TransientApiError(
                        self.api_name,
                        f"unreachable after {attempt} attempts ({type(exc).__name__})",
                        method=method,
                        path=path,
                    ) from exc
                delay = self.policy.backoff(attempt)
                log.info("%s %s %s failed (%s); retry in %.1fs",
                         self.api_name, method, path, type(exc).__name__, delay)
                await self._sleep(delay)
                continue

            status = response.status_code
            if status in ok:
                return response
            if status == 401 and authenticated and not relogged:
                relogged = True
                attempt -= 1  # a fresh login is not a retry of the request
                await self._auth_headers(refresh=True)
                continue
            if status not in RETRYABLE_STATUSES:
                raise self._error(response, method, path)
            error = self._error(response, method, path)
            if status != 429 and not idempotent:
                # A 5xx answer to a create may mean it was carried out; a 429 means it was not.
                raise InDoubtError(self.api_name, error.message, status=status, code=error.code,
                                   method=method, path=path)
            if attempt >= self.policy.max_attempts:
                kind = RateLimitedError if status == 429 else TransientApiError
                raise kind(self.api_name, f"{error.message} (gave up after {attempt} attempts)",
                           status=status, code=error.code, method=method, path=path)
            wait = retry_after_seconds(response) if status == 429 else None
            wait = min(self.policy.backoff(attempt) if wait is None else wait,
                       self.policy.max_retry_after)
            log.info("%s %s %s answered %s; retry in %.1fs",
                     self.api_name, method, path, status, wait)
            await self._sleep(wait)


def error_class(status: int) -> type[ApiError]:
    """The typed error for a final, non-retryable status."""
    if status in (401, 403):
        return AuthError
    if status == 404:
        return NotFoundError
    if status == 409:
        return ConflictError
    if status in RETRYABLE_STATUSES:
        return TransientApiError
    return RequestRejectedError
