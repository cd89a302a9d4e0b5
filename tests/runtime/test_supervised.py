"""Supervised loops and a Ready that tells the truth, through the service's `Kubernetes` seam:
a pass that fails for any reason (the store, an API) is logged, counted, shown in status and
run again; Ready names the loop that cannot complete; a loop stuck in a pass is overdue for
the liveness probe until it finishes."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from reconcilers.runtime.runner import LoopOutcome, loop_named
from reconcilers.runtime.schedule import backoff, overdue, run_on_schedule
from tests.fixtures.emulators import FAST
from tests.fixtures.world import World
from tests.runtime.conftest import ServedTenant, serving, wait_until

pytestmark = pytest.mark.anyio


def failures(served: ServedTenant, loop: str) -> float:
    tenant = served.world.tenant
    value = REGISTRY.get_sample_value("simon_visma_loop_failures_total",
                                      {"namespace": tenant.namespace, "name": tenant.name,
                                       "loop": loop})
    return value or 0.0


async def rename_table(served: ServedTenant, old: str, new: str) -> None:
    async with served.world.store.engine.begin() as connection:
        await connection.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))


def ready_fails_for(served: ServedTenant, reason: str, *words: str) -> bool:
    found = served.cluster.condition("Ready")
    return (found is not None and found["status"] == "False" and found["reason"] == reason
            and all(word in found["message"] for word in words))


async def test_an_unexpected_error_is_a_failed_pass_and_the_loop_runs_again(
        served: ServedTenant, caplog: pytest.LogCaptureFixture) -> None:
    """The store losing the table the orders loop works with (what a pool that ran out or
    a dropped connection does to a pass): the pass is logged with the tenant and the loop,
    counted as a failure, shown as the orders loop's failure in Ready and the Errors count,
    and the loop runs again: once the table is back, the tenant is Ready again."""
    cluster = served.cluster
    caplog.set_level(logging.ERROR, logger="reconcilers.runtime")
    async with serving(served.service()):
        await served.ready()
        before = failures(served, "orders")
        await rename_table(served, "work_order_ledger", "work_order_ledger_aside")
        try:
            await wait_until(lambda: ready_fails_for(served, "OrdersFailing",
                                                     "The orders loop could not complete",
                                                     "unexpected error (OperationalError)"),
                             "Ready False naming the orders loop", cluster)
            assert failures(served, "orders") > before
            assert any(r.levelno == logging.ERROR and served.world.tenant.key in r.getMessage()
                       and "orders loop failed unexpectedly" in r.getMessage()
                       for r in caplog.records)
            errors = cluster.status["recentErrors"]
            assert cluster.status["errorCount"] == len(errors) >= 1
            assert "The orders loop could not complete" in errors[-1]["message"]
            failed = failures(served, "orders")
            await wait_until(lambda: failures(served, "orders") > failed,
                             "the orders loop running again while it fails", cluster)
        finally:
            await rename_table(served, "work_order_ledger_aside", "work_order_ledger")
        await wait_until(lambda: cluster.condition_is("Ready", "True", "Available"),
                         "Ready again", cluster)
        assert cluster.messages("LoopRecovered")
        assert cluster.status["errorCount"] == len(cluster.status.get("recentErrors") or [])


async def test_ready_names_the_orders_loop_while_simon_refuses_the_password(
        served: ServedTenant) -> None:
    """A wrong Simon password in the Secret: every orders pass fails and Ready says so,
    naming the loop and the Secret to fix; a Secret with the right password makes the
    tenant Ready again."""
    cluster = served.cluster
    simon = cluster.resource["spec"]["simon"]["credentialsSecretRef"]["name"]
    wrong = f"{simon}-wrong"
    cluster.secrets[wrong] = {**cluster.secrets[simon], "password": "not-the-password"}
    async with serving(served.service()):
        await served.ready()
        cluster.change_spec({"simon": {"credentialsSecretRef": {"name": wrong}}})

        def refused() -> bool:
            found = cluster.condition("Ready")
            return (found is not None and found["status"] == "False"
                    and found["reason"].endswith("Failing")
                    and "The orders loop could not complete" in found["message"]
                    and f"fix the Secret {wrong}" in found["message"])

        await wait_until(refused, "Ready False naming the orders loop", cluster)
        assert failures(served, "orders") >= 1
        assert cluster.status["errorCount"] >= 1
        assert any("orders loop" in m for m in cluster.messages("LoopFailed"))

        cluster.change_spec({"simon": {"credentialsSecretRef": {"name": simon}}})
        await wait_until(lambda: cluster.condition_is("Ready", "True", "Available")
                         and cluster.observed(), "Ready again", cluster)


async def test_a_loop_stuck_in_a_pass_is_overdue_until_it_finishes(
        served: ServedTenant, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pass that does not end (Simon holds the orders loop's question) makes the loop
    overdue after a few intervals, which the liveness probe reports; once the answer comes,
    the loop is on time again."""
    monkeypatch.setenv("SIMON_VISMA_OVERDUE_MARGIN_SECONDS", "0")
    key = served.world.tenant.key
    server = served.world.emulators
    async with serving(served.service()):
        await served.ready()
        # Every attempt held past the clients' timeout (20 s): the pass lasts longer than
        # three orders intervals (10 s, the shortest the resource allows).
        rule = server.call(server.simon.faults.add, "slow", path=r"workorder", method="GET",
                           delay=25.0, times=FAST.max_attempts)
        await wait_until(lambda: any(d.tenant == key and d.loop == "orders"
                                     for d in overdue()),
                         "the orders loop overdue", served.cluster, seconds=90)
        server.call(server.simon.faults.clear)
        await wait_until(lambda: rule.fired and not any(d.tenant == key for d in overdue()),
                         "the orders loop on time again", served.cluster, seconds=90)
    assert not any(d.tenant == key for d in overdue())


def test_after_failed_passes_the_next_one_comes_sooner_backing_off_to_the_interval() -> None:
    """A failed pass is retried after 15 seconds, then 30, 60... never later than the
    loop's interval; a pass that completed waits the interval."""
    day = timedelta(days=2)
    assert [backoff(day, n) for n in range(4)] == [
        day, timedelta(seconds=15), timedelta(seconds=30), timedelta(seconds=60)]
    assert backoff(timedelta(seconds=20), 2) == timedelta(seconds=20)
    assert backoff(day, 40) == day


async def test_a_loop_goes_on_when_its_due_times_cannot_be_stored(
        sqlite_world: World, caplog: pytest.LogCaptureFixture) -> None:
    """The store losing the table of due times: every pass is still run and reported (as
    failed: it could not be recorded), the planning errors are logged, and the loop runs
    again on the due time it keeps in memory."""
    run = sqlite_world.run({"schedule": {"imports": "10s"}})
    imports = loop_named("imports")
    outcomes: list[LoopOutcome] = []
    stop = asyncio.Event()

    async def record(outcome: LoopOutcome) -> None:
        outcomes.append(outcome)
        if len(outcomes) == 2:
            stop.set()

    async with sqlite_world.store.engine.begin() as connection:
        await connection.execute(text("ALTER TABLE loop_schedules RENAME TO aside"))
    await asyncio.wait_for(run_on_schedule(run, [imports], stop, record, spread=False), 30)
    assert [o.ok for o in outcomes] == [False, False]
    assert all("unexpected error" in (o.error or "") for o in outcomes)
    assert any("could not plan its next pass" in r.getMessage() for r in caplog.records)
