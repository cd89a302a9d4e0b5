"""High-water marks (S-13, S-14), first-import progress (S-15) and links (S-10 to S-13)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reconcilers.store import LinkKind, LinkUpdate, Store

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TENANT = "tenant-acme/acme"


async def test_high_water_marks_per_kind(store: Store) -> None:
    """S-13 / S-14: one mark per (tenant, kind), text, replaced on each pass."""
    marks = store.tenant(TENANT).marks
    assert await marks.get("customers") is None
    assert await marks.value("customers") is None
    await marks.set("customers", "2026-03-01T10:00:00", now=T0)
    await marks.set("items", "2026-02-28T23:59:59.123", now=T0)
    await marks.set("salesorders-SO", "cursor:page=4", now=T0)
    updated = await marks.set("customers", "2026-03-02T08:00:00", now=T0 + timedelta(minutes=2))
    assert updated.mark == "2026-03-02T08:00:00"

    got = await marks.get("customers")
    assert got is not None
    assert got.mark == "2026-03-02T08:00:00"
    assert got.updated_at == T0 + timedelta(minutes=2)
    assert got.updated_at.tzinfo is not None
    assert set(await marks.all()) == {"customers", "items", "salesorders-SO"}
    assert await store.tenant("tenant-other/other").marks.all() == {}

    await marks.clear("items")
    assert set(await marks.all()) == {"customers", "salesorders-SO"}
    await marks.clear()
    assert await marks.all() == {}


async def test_first_import_progress_resumes(store: Store) -> None:
    """S-15: progress (done / total) and a resume cursor survive a restart; finish ends it."""
    imports = store.tenant(TENANT).first_imports
    assert await imports.get("customers") is None
    p = await imports.save("customers", done=100, total=50_000, cursor="1", now=T0)
    assert (p.done, p.total, p.cursor, p.finished) == (100, 50_000, "1", False)
    p = await imports.save(
        "customers", done=200, total=50_000, cursor="2", now=T0 + timedelta(seconds=3)
    )
    assert p.started_at == T0
    assert p.updated_at == T0 + timedelta(seconds=3)

    resumed = await imports.get("customers")
    assert resumed is not None and resumed.cursor == "2" and resumed.done == 200

    done = await imports.finish("customers", done=50_000, now=T0 + timedelta(hours=1))
    assert done.finished and done.cursor is None and done.done == 50_000
    assert done.finished_at == T0 + timedelta(hours=1)
    finished = await imports.get("customers")
    assert finished is not None and finished.finished

    # Saving progress again (say after a re-activation wipe) starts the import over.
    again = await imports.save(
        "customers", done=0, total=10, cursor="0", now=T0 + timedelta(days=1)
    )
    assert not again.finished and again.finished_at is None
    assert again.started_at == T0 + timedelta(days=1)

    await imports.finish("items")
    assert set(await imports.all()) == {"customers", "items"}
    await imports.reset("customers")
    assert set(await imports.all()) == {"items"}


async def test_links_put_get_and_lookups(store: Store) -> None:
    """S-10 / S-12 / S-13: Visma key -> Simon id with the content hash last written."""
    links = store.tenant(TENANT).links
    assert await links.get(LinkKind.CUSTOMER, "10001") is None
    link = await links.put("customer", "10001", simon_id=5, content_hash="h1", now=T0)
    assert link.kind is LinkKind.CUSTOMER
    got = await links.get("customer", "10001")
    assert got == link

    await links.put(LinkKind.CUSTOMER, "10001", simon_id=5, content_hash="h2", now=T0)
    got = await links.get(LinkKind.CUSTOMER, "10001")
    assert got is not None and got.content_hash == "h2"

    # Same Visma key under another kind or tenant is another link.
    await links.put(LinkKind.LOCATION, "10001/main", simon_id=77, content_hash="a")
    await links.put(LinkKind.ITEM, "10001", simon_id=9, content_hash="i")
    await store.tenant("tenant-other/other").links.put(
        LinkKind.CUSTOMER, "10001", simon_id=500, content_hash="x"
    )
    got = await links.get(LinkKind.CUSTOMER, "10001")
    assert got is not None and got.simon_id == 5

    by_id = await links.by_simon_id(LinkKind.LOCATION, 77)
    assert by_id is not None and by_id.visma_key == "10001/main"
    assert await links.by_simon_id(LinkKind.CUSTOMER, 77) is None

    with pytest.raises(ValueError):
        await links.get("vendor", "1")


async def test_links_in_bulk(store: Store) -> None:
    """S-13: one page of records is looked up and written in one go."""
    links = store.tenant(TENANT).links
    page = [LinkUpdate(str(10_000 + i), simon_id=i, content_hash=f"h{i}") for i in range(1200)]
    assert await links.put_many(LinkKind.CUSTOMER, page, now=T0) == 1200
    assert await links.put_many(LinkKind.CUSTOMER, []) == 0
    assert await links.count(LinkKind.CUSTOMER) == 1200

    keys = [str(10_000 + i) for i in range(0, 1200, 2)] + ["nope"]
    found = await links.get_many(LinkKind.CUSTOMER, keys)
    assert len(found) == 600 and "nope" not in found
    assert found["10002"].simon_id == 2

    changed = [LinkUpdate("10002", simon_id=2, content_hash="new"), LinkUpdate("99", 99, "n")]
    await links.put_many(LinkKind.CUSTOMER, changed)
    assert (await links.get_many(LinkKind.CUSTOMER, ["10002"]))["10002"].content_hash == "new"
    everything = await links.all(LinkKind.CUSTOMER)
    assert len(everything) == 1201
    assert [link.visma_key for link in everything] == sorted(link.visma_key for link in everything)


async def test_links_delete(store: Store) -> None:
    """S-31: links go when cleanup removes the Simon record."""
    links = store.tenant(TENANT).links
    await links.put(LinkKind.ITEM, "A", simon_id=1, content_hash="h")
    await links.put(LinkKind.ITEM, "B", simon_id=2, content_hash="h")
    await links.put(LinkKind.LOCATION, "1/main", simon_id=3, content_hash="h")
    assert await links.delete(LinkKind.ITEM, "A")
    assert not await links.delete(LinkKind.ITEM, "A")
    assert await links.delete_by_simon_id(LinkKind.ITEM, 2) == 1
    assert await links.count(LinkKind.ITEM) == 0
    assert await links.clear() == 1
    assert await links.count(LinkKind.LOCATION) == 0
