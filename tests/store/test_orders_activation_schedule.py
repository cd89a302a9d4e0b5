"""Imported orders (S-60), activation (S-40, S-72, S-73) and loop schedules (S-30)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from reconcilers.store import ActivationEvent, ActivationPair, Store, open_store, order_key
from reconcilers.store.models import activated_pairs

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TENANT = "tenant-acme/acme"


async def test_imported_orders_once(store: Store) -> None:
    """S-60: each Visma.net order is imported once, keyed like its Simon ExtKey."""
    orders = store.tenant(TENANT).imported_orders
    key = order_key("SO", "000223")
    assert key == "SO-000223"
    assert not await orders.is_imported(key)
    assert await orders.record(key, 9001, now=T0)
    assert not await orders.record(key, 9002)  # the first record stays
    got = await orders.get(key)
    assert got is not None and got.simon_work_order_id == 9001 and got.imported_at == T0
    assert await orders.is_imported(key)
    await orders.record("QT-000017", None)
    assert await orders.imported_keys(["SO-000223", "QT-000017", "SO-000224"]) == {
        "SO-000223",
        "QT-000017",
    }
    assert await orders.count() == 2
    assert not await store.tenant("tenant-other/other").imported_orders.is_imported(key)


async def test_imported_orders_concurrent_record(database_url: str) -> None:
    """S-60: of concurrent records of one order (two replicas) exactly one wins."""
    one, two = await open_store(database_url), await open_store(database_url)
    try:
        a = one.tenant(TENANT).imported_orders
        b = two.tenant(TENANT).imported_orders
        wins = await asyncio.gather(*(x.record("SO-1", i) for i, x in enumerate([a, b] * 4)))
        assert sum(wins) == 1
    finally:
        await one.close()
        await two.close()


async def test_first_activation_and_wipe_once(database_url: str) -> None:
    """S-72 / S-40: the first enabled run activates; the wipe is recorded and never repeated
    after a restart; only work orders archived from the first activation count."""
    wanted = ["Customers", "Items", "WorkAddresses"]
    store = await open_store(database_url)
    try:
        activation = store.tenant(TENANT).activation
        assert await activation.get() is None
        assert await activation.earliest_archive_time() is None
        first = await activation.begin_activation_if_needed(True, now=T0)
        assert first.event is ActivationEvent.FIRST
        assert first.is_first_activation and first.activation_count == 1
        assert first.first_activated_at == first.activated_at == T0
        assert first.earliest_archive_time == T0
        assert first.remaining_wipe(wanted) == wanted
        # Interrupted midway: customers wiped, items not.
        partial = await activation.record_wipe(["Customers"], complete=False, now=T0)
        assert partial.remaining_wipe(wanted) == ["Items", "WorkAddresses"]
    finally:
        await store.close()

    store = await open_store(database_url)  # restart
    try:
        activation = store.tenant(TENANT).activation
        again = await activation.begin_activation_if_needed(True, now=T0 + timedelta(minutes=1))
        assert again.event is ActivationEvent.NONE
        assert again.activation_count == 1
        assert again.remaining_wipe(wanted) == ["Items", "WorkAddresses"]
        wiped = await activation.record_wipe(
            ["Items", "WorkAddresses"], now=T0 + timedelta(minutes=2)
        )
        assert wiped.wiped_kinds == ("Customers", "Items", "WorkAddresses")
        assert wiped.wiped_at == T0 + timedelta(minutes=2)
        assert wiped.remaining_wipe(wanted) == []
        # The spec's list may grow: this activation's wipe is over all the same.
        assert wiped.remaining_wipe([*wanted, "Contacts"]) == []
        assert await activation.earliest_archive_time() == T0
    finally:
        await store.close()


async def test_reactivation(store: Store) -> None:
    """S-72 / S-73: enabled false -> true is a re-activation with its own wipe; the first
    activation time (S-40) stays."""
    activation = store.tenant(TENANT).activation
    # Seen disabled first: not an activation.
    off = await activation.begin_activation_if_needed(False, now=T0)
    assert off.event is ActivationEvent.NONE
    assert off.activation_count == 0 and not off.enabled
    assert off.remaining_wipe(["Customers"]) == []
    with pytest.raises(ValueError):
        await activation.record_wipe(["Customers"])

    first = await activation.begin_activation_if_needed(True, now=T0 + timedelta(days=1))
    assert first.event is ActivationEvent.FIRST
    await activation.record_wipe(["Customers"])
    assert (await activation.begin_activation_if_needed(True)).event is ActivationEvent.NONE

    paused = await activation.begin_activation_if_needed(False, now=T0 + timedelta(days=2))
    assert paused.event is ActivationEvent.NONE and not paused.enabled
    assert (await activation.begin_activation_if_needed(False)).event is ActivationEvent.NONE

    back = await activation.begin_activation_if_needed(True, now=T0 + timedelta(days=3))
    assert back.event is ActivationEvent.REACTIVATION
    assert back.activation_count == 2 and not back.is_first_activation
    assert back.activated_at == T0 + timedelta(days=3)
    assert back.first_activated_at == T0 + timedelta(days=1)
    assert back.wiped_kinds == () and back.wiped_at is None
    assert back.remaining_wipe([]) == []
    assert back.remaining_wipe(["Items"]) == ["Items"]


async def test_concurrent_activation_one_event(database_url: str) -> None:
    """S-72: two replicas seeing the first activation at once: one FIRST, one NONE."""
    one, two = await open_store(database_url), await open_store(database_url)
    try:
        results = await asyncio.gather(
            one.tenant(TENANT).activation.begin_activation_if_needed(True),
            two.tenant(TENANT).activation.begin_activation_if_needed(True),
        )
        assert sorted(r.event for r in results) == [ActivationEvent.FIRST, ActivationEvent.NONE]
    finally:
        await one.close()
        await two.close()


async def test_loop_schedules_survive_restart(database_url: str) -> None:
    """S-30: cleanup's next run (every 48 h) is kept across restarts."""
    store = await open_store(database_url)
    try:
        schedules = store.tenant(TENANT).schedules
        assert await schedules.get("cleanup") is None
        await schedules.record_success(
            "cleanup", next_run_at=T0 + timedelta(hours=48), now=T0 + timedelta(minutes=5)
        )
        await schedules.set_next_run("orders", T0 + timedelta(seconds=30), now=T0)
    finally:
        await store.close()
    store = await open_store(database_url)
    try:
        schedules = store.tenant(TENANT).schedules
        cleanup = await schedules.get("cleanup")
        assert cleanup is not None
        assert cleanup.last_success_at == T0 + timedelta(minutes=5)
        assert cleanup.next_run_at == T0 + timedelta(hours=48)
        await schedules.record_success("cleanup", now=T0 + timedelta(hours=49))
        kept = await schedules.get("cleanup")
        assert kept is not None and kept.next_run_at == T0 + timedelta(hours=48)
        cleared = await schedules.set_next_run("cleanup", None)
        assert cleared.next_run_at is None
        assert set(await schedules.all()) == {"cleanup", "orders"}
    finally:
        await store.close()


PAIR = ActivationPair.of("https://acme.simon.example/", "licence-4711-secret", "1234567")
OTHER_PAIR = ActivationPair.of("https://acme.simon.example", "licence-4711-secret", "7654321")


async def test_pair_activated_before_makes_a_reactivation(store: Store) -> None:
    """S-74: the record that a Simon licence and a Visma.net company were activated together
    survives forgetting the tenant; a tenant enabled for that pair again (the same key made
    again, or another namespace) is a re-activation, another pair a first activation."""
    first = await store.tenant(TENANT).activation.begin_activation_if_needed(
        True, now=T0, pair=PAIR)
    assert first.event is ActivationEvent.FIRST and first.is_first_activation
    assert not first.reactivation
    await store.forget_tenant(TENANT)
    assert await store.tenants() == []

    again = await store.tenant(TENANT).activation.begin_activation_if_needed(
        True, now=T0 + timedelta(days=1), pair=PAIR)
    assert again.event is ActivationEvent.REACTIVATION
    assert again.reactivation and not again.is_first_activation
    assert again.activation_count == 1 and again.remaining_wipe(["Items"]) == ["Items"]
    # A restart of the re-created tenant: no new event, still a re-activation.
    restart = await store.tenant(TENANT).activation.get()
    assert restart is not None and not restart.is_first_activation

    moved = store.tenant("tenant-acme-2/acme").activation
    assert (await moved.begin_activation_if_needed(False, pair=PAIR)).event \
        is ActivationEvent.NONE
    on = await moved.begin_activation_if_needed(True, pair=PAIR)
    assert on.event is ActivationEvent.REACTIVATION and not on.is_first_activation

    other = await store.tenant("tenant-other/other").activation.begin_activation_if_needed(
        True, pair=OTHER_PAIR)
    assert other.event is ActivationEvent.FIRST and other.is_first_activation


async def test_pair_of_a_tenant_active_before_pairs_were_recorded(store: Store) -> None:
    """S-74: a tenant active before pairs were recorded records its pair when it starts
    again, so deleting and making it again later is a re-activation."""
    old = store.tenant(TENANT).activation
    assert (await old.begin_activation_if_needed(True)).event is ActivationEvent.FIRST
    assert (await old.begin_activation_if_needed(True, pair=PAIR)).event \
        is ActivationEvent.NONE
    await store.forget_tenant(TENANT)
    again = await store.tenant(TENANT).activation.begin_activation_if_needed(True, pair=PAIR)
    assert again.event is ActivationEvent.REACTIVATION


async def test_pair_keeps_no_licence_key_in_clear(store: Store) -> None:
    """S-82: the store holds a hash of the licence key, never the key."""
    await store.tenant(TENANT).activation.begin_activation_if_needed(True, pair=PAIR)
    assert "licence-4711-secret" not in repr(PAIR)
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(activated_pairs))).all()
    assert len(rows) == 1
    assert "licence-4711-secret" not in repr(rows)
    assert rows[0].simon_url == "https://acme.simon.example"
    assert rows[0].visma_tenant_id == "1234567" and rows[0].last_tenant == TENANT
