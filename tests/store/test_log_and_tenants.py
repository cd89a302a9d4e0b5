"""The integration log (S-80, S-81) and forgetting a tenant (S-74)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reconcilers.store import LinkKind, LogTable, Severity, Store

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TENANT = "tenant-acme/acme"
OTHER = "tenant-other/other"


async def test_log_entries_filter_and_order(store: Store) -> None:
    """S-80: entries have time, severity, table, key, message, action; filtered by
    "at least" a severity; newest first."""
    log = store.tenant(TENANT).log
    await log.info(LogTable.CUSTOMER, "C-1", "customer added", time=T0)
    await log.warning(
        "item", "UUR", "item is a stock item", "make it non-stock", time=T0 + timedelta(seconds=1)
    )
    err = await log.error(
        LogTable.WORK_ORDER,
        "1001",
        "no customer from Visma.net",
        "link the work order to a customer from Visma.net and archive it again",
        time=T0 + timedelta(seconds=2),
    )
    await log.add(
        "info", "workaddress", "10001/main", "work address added", time=T0 + timedelta(seconds=2)
    )
    assert err.severity is Severity.ERROR and err.table is LogTable.WORK_ORDER
    assert err.key == "1001" and err.action and err.resolved_at is None and err.time.tzinfo

    everything = await log.entries()
    assert [e.key for e in everything] == ["10001/main", "1001", "UUR", "C-1"]
    assert [e.key for e in await log.entries("warning")] == ["1001", "UUR"]
    assert [e.key for e in await log.entries(Severity.ERROR)] == ["1001"]
    assert [e.key for e in await log.entries(limit=2)] == ["10001/main", "1001"]
    assert [e.key for e in await log.entries(table="item")] == ["UUR"]
    assert [e.key for e in await log.entries(since=T0 + timedelta(seconds=2))] == [
        "10001/main",
        "1001",
    ]
    assert await store.tenant(OTHER).log.entries() == []
    with pytest.raises(ValueError):
        await log.add("fatal", "item", "x", "y")
    with pytest.raises(ValueError):
        await log.add("info", "vendor", "x", "y")


async def test_resolve_clears_an_error_once_fixed(store: Store) -> None:
    """S-80 / S-81: an error clears itself once fixed; recent errors show live ones only."""
    log = store.tenant(TENANT).log
    for i in range(12):
        await log.error(
            LogTable.WORK_ORDER, f"{1000 + i}", "no customer", time=T0 + timedelta(seconds=i)
        )
    await log.warning(LogTable.WORK_ORDER, "1003", "reference cut to 40 characters", time=T0)
    recent = await log.recent_errors()
    assert len(recent) == 10
    assert recent[0].key == "1011"

    assert await log.resolve(LogTable.WORK_ORDER, "1011", now=T0 + timedelta(hours=1)) == 1
    assert await log.resolve(LogTable.WORK_ORDER, "1011") == 0  # already resolved
    assert await log.resolve(LogTable.CUSTOMER, "1003") == 0  # other table
    assert await log.resolve(LogTable.WORK_ORDER, "1003") == 2  # error and warning
    assert [e.key for e in await log.recent_errors(limit=3)] == ["1010", "1009", "1008"]

    unresolved = await log.entries(include_resolved=False, limit=None)
    assert {e.key for e in unresolved} == {f"{1000 + i}" for i in range(12)} - {"1011", "1003"}
    resolved = [e for e in await log.entries(limit=None) if e.resolved_at is not None]
    assert {e.key for e in resolved} == {"1011", "1003"}
    assert next(e for e in resolved if e.key == "1011").resolved_at == T0 + timedelta(hours=1)


async def test_resolve_by_severity_keeps_permanent_facts(store: Store) -> None:
    """S-80, S-48: resolving the errors about a record keeps its other entries listed (a
    reference cut to 40 characters stays cut once the document exists)."""
    log = store.tenant(TENANT).log
    await log.error(LogTable.WORK_ORDER, "2001", "no customer", time=T0)
    await log.warning(LogTable.WORK_ORDER, "2001", "reference cut to 40 characters", time=T0)
    await log.info(LogTable.WORK_ORDER, "2001", "not sent: skip word", time=T0)
    await log.error(LogTable.WORK_ORDER, "2002", "no customer", time=T0)

    assert await log.resolve(LogTable.WORK_ORDER, "2001", severities=["error"]) == 1
    assert await log.resolve(LogTable.WORK_ORDER, "2001", severities=[Severity.ERROR]) == 0
    open_entries = await log.entries(include_resolved=False, limit=None)
    assert sorted((e.key, e.severity.value) for e in open_entries) == [
        ("2001", "info"), ("2001", "warning"), ("2002", "error")]
    assert await log.resolve(LogTable.WORK_ORDER, "2001",
                             severities=[Severity.WARNING, Severity.ERROR]) == 1
    assert [(e.key, e.severity) for e in await log.entries(include_resolved=False, limit=None)
            if e.key == "2001"] == [("2001", Severity.INFO)]


async def test_text_from_outside_is_stored_on_every_database(store: Store) -> None:
    """Text the APIs sent (a lone surrogate, a NUL, a key longer than the column) is stored
    as valid text, and the entry is found and resolved by the key it was added with."""
    log = store.tenant(TENANT).log
    key = "WO-\ud800" + "9" * 150
    entry = await log.error(LogTable.WORK_ORDER, key, "Nummer \ud83d met\x00nul", "fix\udc00")
    assert entry.key == "WO-\ufffd" + "9" * 96
    assert entry.message == "Nummer \ufffd met\\x00nul" and entry.action == "fix\ufffd"
    assert [e.id for e in await log.entries(key=key)] == [entry.id]
    assert await log.open_keys(LogTable.WORK_ORDER) == {entry.key}
    assert await log.resolve(LogTable.WORK_ORDER, key) == 1


async def test_dedupe_and_prune(store: Store) -> None:
    """S-80: a problem met on every pass can stay one entry; old entries can be pruned."""
    log = store.tenant(TENANT).log
    first = await log.warning(
        "customer", "C-9", "in use", "retried at next cleanup", time=T0, dedupe=True
    )
    again = await log.warning(
        "customer", "C-9", "in use", "still", time=T0 + timedelta(hours=48), dedupe=True
    )
    assert (
        again.id == first.id and again.time == T0 + timedelta(hours=48) and again.action == "still"
    )
    assert len(await log.entries()) == 1
    await log.resolve("customer", "C-9")
    fresh = await log.warning(
        "customer", "C-9", "in use", time=T0 + timedelta(hours=96), dedupe=True
    )
    assert fresh.id != first.id
    assert await log.prune(T0 + timedelta(hours=72)) == 1
    assert [e.id for e in await log.entries()] == [fresh.id]


async def test_forget_tenant_leaves_other_tenants(store: Store) -> None:
    """S-74: deleting the resource removes the operator's state for that tenant only."""
    for key in (TENANT, OTHER):
        state = store.tenant(key)
        await state.marks.set("customers", "2026-01-01T00:00:00")
        await state.first_imports.save("items", done=1, total=2, cursor="1")
        await state.links.put(LinkKind.CUSTOMER, "1", simon_id=1, content_hash="h")
        claim = await state.ledger.claim(1, modified="2026-01-01T00:00:00Z")
        assert claim is not None
        await state.imported_orders.record("SO-1", 1)
        await state.activation.begin_activation_if_needed(True)
        await state.log.error("workorder", "1", "boom")
        await state.schedules.record_success("cleanup")
    assert await store.tenants() == sorted([TENANT, OTHER])

    await store.forget_tenant(TENANT)
    gone = store.tenant(TENANT)
    assert await gone.marks.all() == {}
    assert await gone.first_imports.all() == {}
    assert await gone.links.count(LinkKind.CUSTOMER) == 0
    assert await gone.ledger.get(1) is None
    assert not await gone.imported_orders.is_imported("SO-1")
    assert await gone.activation.get() is None
    assert await gone.log.entries() == []
    assert await gone.schedules.all() == {}
    assert await store.tenants() == [OTHER]

    kept = store.tenant(OTHER)
    assert set(await kept.marks.all()) == {"customers"}
    assert await kept.links.count(LinkKind.CUSTOMER) == 1
    assert await kept.ledger.get(1) is not None
    assert await kept.imported_orders.is_imported("SO-1")
    assert (await kept.activation.get()) is not None
    assert len(await kept.log.entries()) == 1
    assert set(await kept.schedules.all()) == {"cleanup"}
    assert set(await kept.first_imports.all()) == {"items"}


async def test_tenant_keys_are_checked(store: Store) -> None:
    """Tenant keys are "namespace/name"; empty or padded keys are refused."""
    for bad in ("", " ns/name", "x" * 400):
        with pytest.raises(ValueError):
            store.tenant(bad)
