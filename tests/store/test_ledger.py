"""The work-order ledger: S-4 (nothing lost, nothing doubled), S-40, S-41."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from reconcilers.resource.spec import DocumentType
from reconcilers.store import (
    LedgerConflict,
    Store,
    WorkOrderState,
    open_store,
)

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MODIFIED = "2026-03-02T08:59:12.345Z"
TENANT = "tenant-acme/acme"


async def test_claim_then_full_path_to_done(store: Store) -> None:
    """S-4: claimed -> creating -> created -> attached -> done, each step recorded."""
    ledger = store.tenant(TENANT).ledger
    claim = await ledger.claim(101, modified=MODIFIED, number="1001", now=T0)
    assert claim is not None
    assert claim.entry.state is WorkOrderState.CLAIMED
    assert claim.entry.attempts == 1
    assert claim.entry.simon_modified == datetime(2026, 3, 2, 8, 59, 12, 345000, tzinfo=UTC)

    entry = await claim.mark_creating(
        document_kind=DocumentType.SALES_ORDER, marker="SIMON-101", now=T0
    )
    assert (entry.state, entry.document_kind, entry.marker) == (
        WorkOrderState.CREATING,
        DocumentType.SALES_ORDER,
        "SIMON-101",
    )
    entry = await claim.mark_created("SO", "000123", now=T0)
    assert (entry.state, entry.document_type, entry.document_number) == (
        WorkOrderState.CREATED,
        "SO",
        "000123",
    )
    await claim.mark_attached("werkbon-1001.pdf", now=T0)
    entry = await claim.mark_attached("formulieren-1001.pdf", now=T0)
    assert entry.state is WorkOrderState.ATTACHED
    assert entry.attachments_done == ("werkbon-1001.pdf", "formulieren-1001.pdf")
    done = await claim.mark_done(now=T0 + timedelta(seconds=5))
    assert done.state is WorkOrderState.DONE
    assert done.finished_at == T0 + timedelta(seconds=5)

    stored = await ledger.get(101)
    assert stored == done
    assert stored is not None and stored.work_order_number == "1001"
    # Done is final: no new claim, whatever Modified says.
    assert await ledger.claim(101, modified="2026-03-05T00:00:00Z") is None
    assert not await ledger.should_retry(101, "2026-03-05T00:00:00Z")


async def test_repeated_transitions_are_harmless(store: Store) -> None:
    """S-4: a transition repeated (e.g. after a lost commit reply) changes nothing."""
    ledger = store.tenant(TENANT).ledger
    claim = await ledger.claim(7, modified=MODIFIED)
    assert claim is not None
    await claim.mark_creating(document_kind="Invoice", marker="M-7")
    await claim.mark_creating(document_kind="Invoice", marker="M-7")
    await claim.mark_created("Invoice", "INV-1")
    await claim.mark_created("Invoice", "INV-1")
    await claim.mark_attached("werkbon-7.pdf")
    entry = await claim.mark_attached("werkbon-7.pdf")
    assert entry.attachments_done == ("werkbon-7.pdf",)
    await claim.mark_done()
    assert (await claim.mark_done()).state is WorkOrderState.DONE
    with pytest.raises(LedgerConflict):
        await claim.mark_created("Invoice", "INV-2")


async def test_done_straight_after_created_and_illegal_transitions(store: Store) -> None:
    """S-4: no attachments is fine; skipping steps or failing after the document exists is not."""
    ledger = store.tenant(TENANT).ledger
    claim = await ledger.claim(8, modified=MODIFIED)
    assert claim is not None
    with pytest.raises(LedgerConflict):
        await claim.mark_created("SO", "1")  # not creating yet
    with pytest.raises(LedgerConflict):
        await claim.mark_done()
    await claim.mark_creating(document_kind="SalesOrder", marker="M-8")
    with pytest.raises(LedgerConflict):
        await claim.mark_creating(document_kind="SalesOrder", marker="OTHER")
    await claim.mark_created("SO", "000008")
    with pytest.raises(LedgerConflict):
        await claim.mark_created("SO", "000009")  # a second document for one work order
    with pytest.raises(LedgerConflict):
        await claim.mark_failed("attachment too large")  # the document exists: go on
    assert (await claim.mark_done()).state is WorkOrderState.DONE


async def test_failed_is_retried_only_when_modified_moves(store: Store) -> None:
    """S-41: a failed work order is tried again whenever its Modified in Simon moves."""
    ledger = store.tenant(TENANT).ledger
    claim = await ledger.claim(202, modified=MODIFIED, number="1002", now=T0)
    assert claim is not None
    failed = await claim.mark_failed("no customer from Visma.net", now=T0)
    assert failed.state is WorkOrderState.FAILED
    assert failed.error == "no customer from Visma.net"
    assert failed.finished_at == T0

    assert not await ledger.should_retry(202, MODIFIED)
    assert await ledger.claim(202, modified=MODIFIED) is None
    # Same instant written differently is the same Modified.
    assert not await ledger.should_retry(202, "2026-03-02T08:59:12.345+00:00")

    moved = "2026-03-02T10:00:00Z"
    assert await ledger.should_retry(202, moved)
    again = await ledger.claim(202, modified=moved, now=T0 + timedelta(hours=1))
    assert again is not None
    assert again.entry.state is WorkOrderState.CLAIMED
    assert again.entry.attempts == 2
    assert again.entry.error is None
    assert again.entry.work_order_number == "1002"  # kept when not given again
    assert again.token != claim.token
    # The old claim is dead.
    with pytest.raises(LedgerConflict):
        await claim.mark_creating(document_kind="SalesOrder", marker="x")


async def test_mark_failed_records_the_modified_it_saw(store: Store) -> None:
    """S-41: the failure is judged against the Modified given at failure time."""
    ledger = store.tenant(TENANT).ledger
    claim = await ledger.claim(203, modified=MODIFIED)
    assert claim is not None
    later = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    entry = await claim.mark_failed("customer missing", later)
    assert entry.simon_modified == later
    assert not await ledger.should_retry(203, later)
    assert await ledger.should_retry(203, MODIFIED)


async def test_skipped_is_final_until_modified_moves(store: Store) -> None:
    """S-46 / S-40: a skipped work order is not sent; a change in Simon looks again."""
    ledger = store.tenant(TENANT).ledger
    claim = await ledger.claim(303, modified=MODIFIED)
    assert claim is not None
    entry = await claim.mark_skipped("skip word NIETFACTUREREN")
    assert entry.state is WorkOrderState.SKIPPED
    assert entry.error == "skip word NIETFACTUREREN"
    assert await ledger.claim(303, modified=MODIFIED) is None
    assert await ledger.claim(303, modified="2026-04-01T00:00:00Z") is not None


async def test_in_doubt_rows_are_listed_and_taken_over(database_url: str) -> None:
    """S-4: after a crash the rows in creating/created/attached are in doubt; the new
    worker takes them over and the dead worker's claim stops working."""
    first = await open_store(database_url)
    try:
        ledger = first.tenant(TENANT).ledger
        creating = await ledger.claim(1, modified=MODIFIED, now=T0)
        created = await ledger.claim(2, modified=MODIFIED, now=T0)
        attached = await ledger.claim(3, modified=MODIFIED, now=T0)
        only_claimed = await ledger.claim(4, modified=MODIFIED, now=T0)
        done = await ledger.claim(5, modified=MODIFIED, now=T0)
        assert creating and created and attached and only_claimed and done
        await creating.mark_creating(document_kind="SalesOrder", marker="M-1", now=T0)
        await created.mark_creating(document_kind="SalesOrder", marker="M-2", now=T0)
        await created.mark_created("SO", "2", now=T0)
        await attached.mark_creating(document_kind="Invoice", marker="M-3", now=T0)
        await attached.mark_created("Invoice", "3", now=T0)
        await attached.mark_attached("werkbon-3.pdf", now=T0)
        await done.mark_creating(document_kind="SalesOrder", marker="M-5", now=T0)
        await done.mark_created("SO", "5", now=T0)
        await done.mark_done(now=T0)
    finally:
        await first.close()  # "crash"

    second = await open_store(database_url)
    try:
        ledger = second.tenant(TENANT).ledger
        doubt = await ledger.in_doubt()
        assert [e.work_order_id for e in doubt] == [1, 2, 3]
        assert [e.state for e in doubt] == [
            WorkOrderState.CREATING,
            WorkOrderState.CREATED,
            WorkOrderState.ATTACHED,
        ]
        assert all(e.in_doubt for e in doubt)
        assert doubt[0].marker == "M-1"
        # Rows touched recently are left to their (maybe live) worker.
        assert await ledger.in_doubt(older_than=timedelta(minutes=5), now=T0) == []
        assert (
            len(await ledger.in_doubt(older_than=timedelta(minutes=5), now=T0 + timedelta(hours=1)))
            == 3
        )

        took = await ledger.take_over(doubt[0])
        assert took is not None
        assert took.entry.state is WorkOrderState.CREATING
        assert took.entry.attempts == 2
        assert await ledger.take_over(doubt[0]) is None  # it moved meanwhile
        with pytest.raises(LedgerConflict):
            await creating.mark_created("SO", "1")  # the dead worker's claim
        await took.mark_created("SO", "1")  # found by its marker, or created now
        assert (await took.mark_done()).state is WorkOrderState.DONE

        resumed = await ledger.take_over(doubt[2])
        assert resumed is not None
        assert resumed.entry.attachments_done == ("werkbon-3.pdf",)
        await resumed.mark_attached("formulieren-3.pdf")
        await resumed.mark_done()
        assert [e.work_order_id for e in await ledger.in_doubt()] == [2]
    finally:
        await second.close()


async def test_stale_or_released_claim_can_be_claimed_again(store: Store) -> None:
    """S-4: a worker that died before creating leaves a claim that a later one takes."""
    ledger = store.tenant(TENANT).ledger
    dead = await ledger.claim(9, modified=MODIFIED, now=T0)
    assert dead is not None
    assert await ledger.claim(9, modified=MODIFIED, now=T0 + timedelta(minutes=1)) is None
    assert not await ledger.should_retry(9, MODIFIED, now=T0 + timedelta(minutes=1))
    later = T0 + timedelta(hours=1)
    assert await ledger.should_retry(9, MODIFIED, now=later)
    assert await ledger.claim(9, modified=MODIFIED, now=later, stale_after=None) is None
    alive = await ledger.claim(9, modified=MODIFIED, now=later)
    assert alive is not None and alive.entry.attempts == 2
    with pytest.raises(LedgerConflict):
        await dead.mark_creating(document_kind="SalesOrder", marker="M-9")

    released = await alive.release(now=later)
    assert released.state is WorkOrderState.CLAIMED and released.claim_token is None
    assert await ledger.should_retry(9, MODIFIED, now=later)
    third = await ledger.claim(9, modified=MODIFIED, now=later)
    assert third is not None and third.entry.attempts == 3


async def test_concurrent_claims_one_winner(store: Store) -> None:
    """S-4: of many concurrent claims of one work order exactly one wins."""
    ledger = store.tenant(TENANT).ledger
    results = await asyncio.gather(*(ledger.claim(42, modified=MODIFIED) for _ in range(12)))
    assert sum(r is not None for r in results) == 1

    claim = next(r for r in results if r is not None)
    await claim.mark_failed("no customer")
    moved = "2026-03-03T00:00:00Z"
    results = await asyncio.gather(*(ledger.claim(42, modified=moved) for _ in range(12)))
    assert sum(r is not None for r in results) == 1
    entry = await ledger.get(42)
    assert entry is not None and entry.attempts == 2


async def test_concurrent_claims_across_two_stores(database_url: str) -> None:
    """S-4: two replicas (two Store objects) on one database never both claim."""
    one = await open_store(database_url)
    two = await open_store(database_url)
    try:
        a, b = one.tenant(TENANT).ledger, two.tenant(TENANT).ledger
        for work_order_id in range(1, 21):
            results = await asyncio.gather(
                a.claim(work_order_id, modified=MODIFIED),
                b.claim(work_order_id, modified=MODIFIED),
                a.claim(work_order_id, modified=MODIFIED),
                b.claim(work_order_id, modified=MODIFIED),
            )
            assert sum(r is not None for r in results) == 1, work_order_id
        counts = await a.counts()
        assert counts[WorkOrderState.CLAIMED] == 20
    finally:
        await one.close()
        await two.close()


async def test_counts_entries_and_tenants_are_separate(store: Store) -> None:
    """S-4: counts per state for status; one tenant's ledger is not another's."""
    acme = store.tenant(TENANT).ledger
    other = store.tenant("tenant-other/other").ledger
    for wo in (1, 2, 3):
        claim = await acme.claim(wo, modified=MODIFIED)
        assert claim is not None
        if wo == 1:
            await claim.mark_failed("x")
        if wo == 2:
            await claim.mark_skipped("skip word")
    assert await other.claim(1, modified=MODIFIED) is not None  # same id, other tenant
    counts = await acme.counts()
    assert counts[WorkOrderState.FAILED] == 1
    assert counts[WorkOrderState.SKIPPED] == 1
    assert counts[WorkOrderState.CLAIMED] == 1
    assert counts[WorkOrderState.DONE] == 0
    failed = await acme.entries(states=["failed"])
    assert [e.work_order_id for e in failed] == [1]
    assert len(await acme.entries()) == 3
    assert len(await other.entries()) == 1


@pytest.mark.anyio
async def test_count_with_error_counts_one_reason(database_url: str) -> None:
    """S-40: status counts the work orders passed over (skipped for that reason only)."""
    store = await open_store(database_url)
    try:
        ledger = store.tenant("ns/a").ledger
        for work_order_id, reason in ((1, "passed over"), (2, "passed over"), (3, "skip word")):
            claim = await ledger.claim(work_order_id, modified="2026-01-01T00:00:00Z")
            assert claim is not None
            await claim.mark_skipped(reason)
        assert await ledger.count_with_error("skipped", "passed over") == 2
        assert await store.tenant("ns/b").ledger.count_with_error("skipped", "passed over") == 0
    finally:
        await store.close()
