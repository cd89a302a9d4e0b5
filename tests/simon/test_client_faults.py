"""SimonClient under injected faults (api/simon.md 5.1, 5.7; DESIGN.md retry policy):
every attempt is counted at the emulator, and the client never makes more than its policy
allows. Covers S-4 (nothing doubled) for inserts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from emulators.simon import SimonEmulator
from reconcilers.clients.http import (
    AuthError,
    InDoubtError,
    RateLimitedError,
    RetryPolicy,
    TransientApiError,
)
from reconcilers.clients.simon import SimonClient
from reconcilers.clients.simon.models import Change, Customer, Item, WorkOrder
from tests.fixtures.emulators import FAST
from tests.simon.conftest import RecordingSleep

pytestmark = pytest.mark.anyio

MakeClient = Callable[..., SimonClient]


def logins(simon: SimonEmulator) -> int:
    return simon.stats.count("POST", "/token")


async def test_expired_token_means_one_fresh_login(make_client: MakeClient,
                                                   simon: SimonEmulator) -> None:
    simon.token_ttl = 300
    simon.seed("customer", Name="A")
    async with make_client() as client:
        assert len([p async for p in client.keys(Customer)]) == 1
        simon.clock.advance(301)
        assert len([p async for p in client.keys(Customer)]) == 1
        assert client.logins == 2
    assert logins(simon) == 2
    assert simon.stats.by_status[401] == 1
    assert simon.stats.count("GET", "/read") == 3  # ok, 401, ok


async def test_expire_tokens_fault(make_client: MakeClient, simon: SimonEmulator) -> None:
    customer = simon.seed("customer", Name="A")
    async with make_client() as client:
        await client.get(Customer, customer["Id"])
        simon.faults.add("expire_tokens", path=r"/customer/read/", nth=1)
        assert (await client.get(Customer, customer["Id"])).name == "A"
        assert (await client.get(Customer, customer["Id"])).name == "A"
    assert logins(simon) == 2
    assert simon.stats.by_status[401] == 1


async def test_429_honours_retry_after(make_client: MakeClient, simon: SimonEmulator,
                                       sleep: RecordingSleep) -> None:
    simon.faults.add("status", status=429, retry_after=7, path=r"/item/read$", times=2)
    async with make_client() as client:
        assert [p async for p in client.keys(Item)] == []
    assert sleep.delays == [7, 7]
    assert simon.stats.count("GET", "/read") == 3


async def test_rate_limit_of_the_emulator(make_client: MakeClient, simon: SimonEmulator,
                                          sleep: RecordingSleep) -> None:
    simon.set_rate_limit(3, window=60)
    async with make_client() as client:
        for _ in range(3):
            assert [p async for p in client.keys(Item)] == []
        with pytest.raises(RateLimitedError) as error:
            [p async for p in client.keys(Item)]
    assert error.value.status == 429
    assert len(sleep.delays) == FAST.max_attempts - 1
    assert all(0 < d <= 60 for d in sleep.delays)
    assert simon.stats.count("GET", "/read") == 3 + FAST.max_attempts
    assert simon.stats.by_status[429] == FAST.max_attempts


async def test_500_is_retried_then_succeeds(make_client: MakeClient, simon: SimonEmulator,
                                            sleep: RecordingSleep) -> None:
    customer = simon.seed("customer", Name="A")
    simon.faults.add("status", status=500, path=r"/customer/read/", times=2)
    async with make_client() as client:
        assert (await client.get(Customer, customer["Id"])).name == "A"
    assert simon.stats.count("GET", "/read/") == 3
    assert len(sleep.delays) == 2 and all(d <= FAST.max_delay for d in sleep.delays)


async def test_500_forever_gives_up_after_max_attempts(make_client: MakeClient,
                                                       simon: SimonEmulator) -> None:
    simon.faults.add("status", status=503, path=r"/readsync")
    async with make_client() as client:
        with pytest.raises(TransientApiError) as error:
            [c async for c in client.changed_since(WorkOrder)]
    assert error.value.status == 503
    assert simon.stats.count("GET", "/readsync") == FAST.max_attempts


async def test_dropped_connection_is_retried_for_reads(make_client: MakeClient,
                                                       simon: SimonEmulator) -> None:
    customer = simon.seed("customer", Name="A")
    simon.faults.add("drop", path=r"/customer/read/", nth=1)
    async with make_client() as client:
        assert (await client.get(Customer, customer["Id"])).name == "A"
    assert simon.stats.count("GET", "/read/") == 2


async def test_lost_insert_answer_is_in_doubt(make_client: MakeClient,
                                              simon: SimonEmulator) -> None:
    """S-4: a create is never repeated blindly."""
    simon.faults.add("lose_response", path=r"/customer/insert", nth=1)
    async with make_client() as client:
        with pytest.raises(InDoubtError):
            await client.insert(Customer(name="Bakker", ext_key="4711"))
    assert simon.stats.count("POST", "/insert") == 1
    assert [c["ExtKey"] for c in simon.list("customer")] == ["4711"]  # it was carried out


async def test_500_on_insert_is_in_doubt(make_client: MakeClient, simon: SimonEmulator) -> None:
    simon.faults.add("status", status=500, path=r"/item/insert", nth=1)
    async with make_client() as client:
        with pytest.raises(InDoubtError):
            await client.insert(Item(code="A", ext_key="1"))
    assert simon.stats.count("POST", "/insert") == 1


async def test_insert_or_find_recovers_a_lost_answer(make_client: MakeClient,
                                                     simon: SimonEmulator) -> None:
    simon.faults.add("lose_response", path=r"/customer/insert", nth=1)
    async with make_client() as client:
        customer_id = await client.insert_or_find(Customer(name="Bakker", ext_key="4711"))
    assert [c["Id"] for c in simon.list("customer")] == [customer_id]
    assert simon.stats.count("POST", "/insert") == 1  # found by ExtKey, not inserted again
    assert simon.write_count("customer", "insert") == 1


async def test_insert_or_find_inserts_when_the_lost_attempt_made_nothing(
        make_client: MakeClient, simon: SimonEmulator) -> None:
    simon.faults.add("drop", path=r"/customer/insert", nth=1)
    async with make_client() as client:
        customer_id = await client.insert_or_find(Customer(name="Bakker", ext_key="4711"))
    assert [(c["Id"], c["ExtKey"]) for c in simon.list("customer")] == [(customer_id, "4711")]
    assert simon.stats.count("POST", "/insert") == 2


async def test_insert_or_find_after_an_earlier_run_got_through(
        make_client: MakeClient, simon: SimonEmulator) -> None:
    existing = simon.seed("customer", Name="Bakker", ExtKey="4711")
    async with make_client() as client:
        assert await client.insert_or_find(Customer(name="Bakker", ext_key="4711")) \
            == existing["Id"]
        simon.faults.add("lose_response", path=r"/customer/insert", nth=1)
        with pytest.raises(InDoubtError):
            await client.insert_or_find(Customer(name="Zonder sleutel"))
    assert len(simon.list("customer")) == 2


async def test_overlapping_readsync_pages_are_deduplicated(
        make_client: MakeClient, simon: SimonEmulator) -> None:
    """The emulator's overlap fault is shown in test_emulator_api; here the client drops the
    repeated rows (pages of 4 with up to 3 repeated: many more rows than records)."""
    location = simon.seed("location", Name="L")["Id"]
    ids = [simon.seed("workorder", LocationId=location,
                      Modified=f"2025-01-01T10:00:{i // 3:02d}.000Z")["Id"] for i in range(10)]
    simon.faults.add("flag", name="overlap", path=r"/workorder/readsync")
    async with make_client(page_size=4) as client:
        changes = [c async for c in client.changed_since(WorkOrder)]
    assert [c.id for c in changes] == ids
    assert simon.stats.count("GET", "/readsync") > 10 // 4 + 1
    assert isinstance(changes[0], Change)


async def test_slow_answer_beyond_the_timeout(make_client: MakeClient, simon: SimonEmulator,
                                              ) -> None:
    customer = simon.seed("customer", Name="A")
    simon.faults.add("slow", delay=1.0, path=r"/customer/read/", times=1)
    policy = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, timeout=0.3)
    async with make_client(policy=policy) as client:
        assert (await client.get(Customer, customer["Id"])).name == "A"
    assert simon.stats.count("GET", "/read/") == 2


async def test_slow_forever_gives_up(make_client: MakeClient, simon: SimonEmulator) -> None:
    simon.faults.add("slow", delay=1.0, path=r"/item/read")
    policy = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.05, timeout=0.3)
    async with make_client(policy=policy) as client:
        with pytest.raises(TransientApiError):
            [p async for p in client.keys(Item)]
    assert simon.stats.count("GET", "/read") == 2


async def test_slow_insert_beyond_the_timeout_is_in_doubt(make_client: MakeClient,
                                                          simon: SimonEmulator) -> None:
    simon.faults.add("slow", delay=0.6, path=r"/item/insert", times=1)
    policy = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, timeout=0.2)
    async with make_client(policy=policy) as client:
        with pytest.raises(InDoubtError):
            await client.insert(Item(code="A", ext_key="7"))
        # whether or not the server carried the slow one out, one more call leaves one item
        made = await client.insert_or_find(Item(code="A", ext_key="7"))
    assert [i["Id"] for i in simon.list("item") if i["ExtKey"] == "7"] == [made]
    assert simon.stats.count("POST", "/insert") == 2


async def test_token_is_renewed_shortly_before_it_expires(make_client: MakeClient,
                                                          simon: SimonEmulator) -> None:
    """The client renews a token its own clock says is (nearly) expired, before Simon
    refuses it: the emulator's clock runs behind, so the token it issues expires, by the
    client's clock, the moment it arrives, while Simon still takes it for minutes."""
    simon.token_ttl = 300
    simon.clock.advance(-301)
    async with make_client() as client:
        assert [p async for p in client.keys(Item)] == []
        assert [p async for p in client.keys(Item)] == []
    assert logins(simon) == 2
    assert simon.stats.by_status[401] == 0


async def test_bad_credentials_fail_fast(make_client: MakeClient, simon: SimonEmulator) -> None:
    async with make_client(password="verkeerd-Geheim") as client:
        with pytest.raises(AuthError) as error:
            await client.get(Customer, 1)
    assert "Geheim" not in str(error.value)
    assert logins(simon) == 1  # no retry storm
    assert simon.stats.count("GET") == 0


async def test_401_after_a_fresh_login_is_final(make_client: MakeClient,
                                                simon: SimonEmulator) -> None:
    simon.faults.add("status", status=401, path=r"/customer/read")
    async with make_client() as client:
        with pytest.raises(AuthError):
            [p async for p in client.keys(Customer)]
    assert logins(simon) == 2
    assert simon.stats.count("GET", "/read") == 2


async def test_api_key_header(make_client: MakeClient, simon: SimonEmulator) -> None:
    simon.add_login("5555444433332222", "office@acme.example", "pw", api_key="k-1")
    creds = {"license_key": "5555444433332222", "username": "office@acme.example",
             "password": "pw"}
    async with make_client(**creds, api_key="k-1") as client:
        assert [p async for p in client.keys(Customer)] == []
    async with make_client(**creds) as client:
        with pytest.raises(AuthError):
            [p async for p in client.keys(Customer)]
