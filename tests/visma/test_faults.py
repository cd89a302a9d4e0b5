"""The client under faults injected at the emulator (DESIGN: retry 429/5xx/network with
backoff, never other 4xx, one re-login on 401, creates never repeated; SPEC S-4).
Attempts are counted at the emulator, not in the client."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
import pytest

from reconcilers.clients.http import (
    InDoubtError,
    RateLimitedError,
    RequestRejectedError,
    RetryPolicy,
    TransientApiError,
)
from reconcilers.clients.visma.models import (
    DocumentLine,
    NewCustomerInvoice,
    NewSalesOrder,
)
from tests.fixtures.emulators import FAST
from tests.visma.conftest import run, seed_basics

ORDER = NewSalesOrder(customer_number="10001", description="Werkbon 5", marker="sv:t:wo-5",
                      lines=[DocumentLine(item_number="UUR", quantity=Decimal(1),
                                          warehouse="MAIN")])
INVOICE = NewCustomerInvoice(customer_number="10001", external_reference="sv:t:wo-6",
                             lines=[DocumentLine(item_number="UUR", quantity=Decimal(1))])


def _fault(emulators, fault, path, method="GET", **options):
    emulators.call(emulators.visma.faults.add, fault, path=path, method=method, **options)


def _count(emulators, method, route):
    return emulators.visma.stats.count(method, route)


def _warehouses(make_client, **options):
    async def scenario():
        async with make_client(**options) as client:
            return await client.warehouses()

    return run(scenario())


def test_429_retry_after_is_honoured(emulators, make_client, sleep):
    seed_basics(emulators)
    _fault(emulators, "status", "^/v1/warehouse$", status=429, retry_after=7, nth=1)
    assert len(_warehouses(make_client)) == 3
    assert sleep.delays == [7.0]
    assert _count(emulators, "GET", "/v1/warehouse") == 2


def test_rate_limit_headers_and_429_past_the_limit(emulators, raw):
    emulators.visma.rate_limit.limit = 3
    answers = [raw.get("/v1/warehouse") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert int(answers[3].headers["Retry-After"]) >= 1
    assert "message" in answers[3].json()
    v3 = raw.get("/api/v3/SalesOrders")
    assert v3.status_code == 429 and v3.json()["status"] == 429  # ProblemDetails on v3


def test_rate_limit_is_per_tenant_and_client(emulators, raw):
    emulators.call(emulators.visma.add_client, "second-app", "pw", [emulators.visma
                                                                    .default_tenant_id])
    emulators.visma.rate_limit.limit = 1
    assert raw.get("/v1/warehouse").status_code == 200
    assert raw.get("/v1/warehouse").status_code == 429
    other = httpx.post(emulators.url + "/connect/token", data={
        "grant_type": "client_credentials", "client_id": "second-app", "client_secret": "pw",
        "tenant_id": emulators.visma.default_tenant_id}).json()["access_token"]
    response = httpx.get(emulators.url + "/v1/warehouse",
                         headers={"Authorization": f"Bearer {other}"})
    assert response.status_code == 200


def test_still_throttled_gives_rate_limited_error_capped_wait(emulators, make_client, sleep,
                                                               raw):
    emulators.visma.rate_limit.limit = 1
    assert raw.get("/v1/warehouse").status_code == 200  # the window's one request
    policy = RetryPolicy(max_attempts=3, base_delay=0.01, max_retry_after=300.0)
    with pytest.raises(RateLimitedError):
        _warehouses(make_client, policy=policy)
    assert _count(emulators, "GET", "/v1/warehouse") == 1 + 3
    assert len(sleep.delays) == 2
    assert all(d == 300.0 for d in sleep.delays)  # Retry-After ~3600 s, capped by the policy


def test_500_retried_then_success(emulators, make_client, sleep):
    seed_basics(emulators)
    _fault(emulators, "status", "^/v1/warehouse$", status=500, times=2)
    assert len(_warehouses(make_client)) == 3
    assert _count(emulators, "GET", "/v1/warehouse") == 3
    assert len(sleep.delays) == 2


def test_500_forever_gives_transient_error_after_max_attempts(emulators, make_client, sleep):
    _fault(emulators, "status", "^/v1/warehouse$", status=503)
    with pytest.raises(TransientApiError) as caught:
        _warehouses(make_client)
    assert caught.value.status == 503
    assert _count(emulators, "GET", "/v1/warehouse") == FAST.max_attempts
    assert len(sleep.delays) == FAST.max_attempts - 1


def test_dropped_connection_is_retried_for_reads(emulators, make_client):
    seed_basics(emulators)
    _fault(emulators, "drop", "^/v1/warehouse$", nth=1)
    assert len(_warehouses(make_client)) == 3
    assert _count(emulators, "GET", "/v1/warehouse") == 2


def _create_order(make_client):
    async def scenario():
        async with make_client() as client:
            return await client.create_sales_order(ORDER)

    return run(scenario())


def _find_order(make_client):
    async def scenario():
        async with make_client() as client:
            return await client.find_sales_orders("sv:t:wo-5", "SO")

    return run(scenario())


def test_lost_answer_to_create_is_in_doubt_after_one_request_and_findable(
        emulators, make_client):
    seed_basics(emulators)
    _fault(emulators, "lose_response", "^/api/v3/SalesOrders$", method="POST", nth=1)
    with pytest.raises(InDoubtError):
        _create_order(make_client)
    assert _count(emulators, "POST", "/api/v3/SalesOrders") == 1
    stored = emulators.call(emulators.visma.received_sales_orders)
    assert [s["received"]["customer"]["order"] for s in stored] == ["sv:t:wo-5"]
    found = _find_order(make_client)
    assert [(o.order_type, o.order_id, o.marker) for o in found] == [("SO", "000001",
                                                                      "sv:t:wo-5")]


def test_dropped_create_is_in_doubt_after_one_request(emulators, make_client):
    seed_basics(emulators)
    _fault(emulators, "drop", "^/api/v3/SalesOrders$", method="POST", nth=1)
    with pytest.raises(InDoubtError):
        _create_order(make_client)
    assert _count(emulators, "POST", "/api/v3/SalesOrders") == 1
    assert emulators.call(emulators.visma.received_sales_orders) == []
    assert _find_order(make_client) == []


def test_500_on_create_is_in_doubt_not_retried(emulators, make_client):
    seed_basics(emulators)
    _fault(emulators, "status", "^/api/v3/SalesOrders$", method="POST", status=500, nth=1)
    with pytest.raises(InDoubtError) as caught:
        _create_order(make_client)
    assert caught.value.status == 500
    assert _count(emulators, "POST", "/api/v3/SalesOrders") == 1


def test_429_on_create_is_safely_retried(emulators, make_client, sleep):
    seed_basics(emulators)
    _fault(emulators, "status", "^/api/v3/SalesOrders$", method="POST", status=429,
           retry_after=2, nth=1)
    assert _create_order(make_client) == ("SO", "000001")
    assert _count(emulators, "POST", "/api/v3/SalesOrders") == 2
    assert sleep.delays == [2.0]


def test_lost_invoice_answer_is_in_doubt_and_findable_by_external_reference(
        emulators, make_client):
    seed_basics(emulators)
    _fault(emulators, "lose_response", "^/v2/customerinvoice$", method="POST", nth=1)

    async def scenario():
        async with make_client() as client:
            try:
                await client.create_customer_invoice(INVOICE)
            except InDoubtError:
                return await client.find_customer_invoice("sv:t:wo-6")
            raise AssertionError("expected InDoubtError")

    found = run(scenario())
    assert found is not None and found.external_reference == "sv:t:wo-6"
    assert _count(emulators, "POST", "/v2/customerinvoice") == 1


def test_validation_error_is_never_retried(emulators, make_client, sleep):
    seed_basics(emulators)
    bad = ORDER.model_copy(update={"customer_number": "10002"})  # Inactive

    async def scenario():
        async with make_client() as client:
            await client.create_sales_order(bad)

    with pytest.raises(RequestRejectedError) as caught:
        run(scenario())
    assert caught.value.code == "1407-InvalidCustomerStatus"
    assert _count(emulators, "POST", "/api/v3/SalesOrders") == 1
    assert sleep.delays == []


def test_expired_token_by_clock_gives_one_relogin(emulators, make_client):
    seed_basics(emulators)

    async def scenario():
        async with make_client() as client:
            await client.warehouses()
            emulators.call(emulators.visma.clock.advance, 3601)
            warehouses = await client.warehouses()
            return warehouses, client.logins

    warehouses, logins = run(scenario())
    assert len(warehouses) == 3 and logins == 2
    assert _count(emulators, "POST", "/connect/token") == 2
    assert _count(emulators, "GET", "/v1/warehouse") == 3  # ok, 401, ok
    assert emulators.visma.stats.by_status[401] == 1


def test_expire_tokens_fault_gives_one_relogin_on_v3_too(emulators, make_client):
    seed_basics(emulators)
    _fault(emulators, "expire_tokens", "^/api/v3/SalesOrders$", nth=1)

    async def scenario():
        async with make_client() as client:
            return await client.sales_orders().all(), client.logins

    orders, logins = run(scenario())
    assert orders == [] and logins == 2
    assert _count(emulators, "GET", "/api/v3/SalesOrders") == 2


class SteppedClock:
    """The client's monotonic clock, moved by the test instead of by waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_is_refreshed_before_it_expires(emulators, make_client):
    emulators.visma.token_lifetime = 120  # renewed at half its life when that is < 60 s
    clock = SteppedClock()

    async def scenario():
        async with make_client(clock=clock) as client:
            await client.warehouses()
            clock.now += 59  # still in the token's good time: no new login
            await client.warehouses()
            logins_before = client.logins
            clock.now += 2  # within the last minute of the token's life
            await client.warehouses()
            return logins_before, client.logins

    assert run(scenario()) == (1, 2)
    assert emulators.visma.stats.by_status[401] == 0


def test_slow_read_beyond_timeout_is_retried_then_given_up(emulators, make_client):
    _fault(emulators, "slow", "^/v1/warehouse$", delay=1.5)
    policy = RetryPolicy(max_attempts=2, base_delay=0.01, timeout=0.3)
    with pytest.raises(TransientApiError) as caught:
        _warehouses(make_client, policy=policy)
    # The emulator answers 200 in the end: failing at all means the client gave up on its
    # timeout instead of waiting for the answers.
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
    assert _count(emulators, "GET", "/v1/warehouse") == 2


def test_slow_create_beyond_timeout_is_in_doubt(emulators, make_client):
    seed_basics(emulators)
    _fault(emulators, "slow", "^/api/v3/SalesOrders$", method="POST", delay=1.0, nth=1)

    async def scenario():
        async with make_client(policy=RetryPolicy(timeout=0.3)) as client:
            await client.create_sales_order(ORDER)

    with pytest.raises(InDoubtError):
        run(scenario())
    assert _count(emulators, "POST", "/api/v3/SalesOrders") == 1


def test_concurrency_limit_is_honoured(emulators, make_client):
    seed_basics(emulators)
    _fault(emulators, "slow", "^/v1/customer/", delay=0.3)
    policy = RetryPolicy(max_concurrency=3, timeout=10.0)

    async def scenario():
        async with make_client(policy=policy) as client:
            return await asyncio.gather(*(client.customer("10001") for _ in range(12)))

    emulators.visma.max_in_flight = 0
    results = run(scenario())
    assert all(r is not None for r in results)
    assert emulators.visma.max_in_flight == 3
    assert _count(emulators, "GET", "/v1/customer/{number}") == 12
