"""A loop is a type: one registry, one spelling per loop, and a result per loop that renders
its part of the `--json` summary, its lines of the CLI's text summary and its metrics, the
same as README.md documents them."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from reconcilers import cli
from reconcilers.loops.base import Loop, LoopContext
from reconcilers.loops.cleanup import CleanupResult
from reconcilers.loops.imports import ImportResult
from reconcilers.loops.masterdata import KindResult, MasterDataResult
from reconcilers.loops.orders import OrdersResult
from reconcilers.resource.spec import VismaIntegrationSpec
from reconcilers.runtime import metrics
from reconcilers.runtime.runner import LOOPS, LoopOutcome, loop_named

NEWEST = datetime(2025, 3, 10, 8, 30, tzinfo=UTC)
MASTER_DATA = MasterDataResult(
    customers=KindResult(seen=200, written=186, failed=1, newest=NEWEST, first_import=True,
                         done=200, total=200),
    items=KindResult(seen=12, written=3, done=12, total=12),
    work_addresses_written=279, work_addresses_removed=2, work_addresses_failed=1)
CLEANUP = CleanupResult(customers_removed=2, items_removed=1, work_addresses_removed=3,
                        kept_in_use=4, kept_unconfirmed=5, failed=6)
ORDERS = OrdersResult(sent=17, failed=2, skipped=1, passed_over=3, recovered=4, waiting=5)
IMPORTS = ImportResult(imported=3, waiting=1, skipped=2, failed=0, used_items=4)
RESULTS = {"masterData": MASTER_DATA, "cleanup": CLEANUP, "orders": ORDERS, "imports": IMPORTS}


def outcome(name: str, error: str | None = None, *, partial: bool = True) -> LoopOutcome:
    return LoopOutcome(loop_named(name), RESULTS[name] if partial else None, error)


# --- the registry -------------------------------------------------------------------------------

def test_every_loop_is_named_as_the_resource_names_it() -> None:
    """DESIGN 2, 4: a loop's name is its field in spec.schedule and in status; its key (the
    CLI's --loop, the --json summary, metrics, the store) is that name in lower case."""
    assert [loop.name for loop in LOOPS] == ["masterData", "cleanup", "orders", "imports"]
    assert [loop.key for loop in LOOPS] == ["masterdata", "cleanup", "orders", "imports"]
    schedule = VismaIntegrationSpec.model_validate({
        "visma": {"tenantId": "t", "credentialsSecretRef": {"name": "v"}},
        "simon": {"url": "https://simon.example", "credentialsSecretRef": {"name": "s"}},
        "orders": {"documentType": "Invoice"},
        "schedule": {"masterData": "1m", "cleanup": "2h", "orders": "30s", "imports": "4m"}})
    assert [loop.interval(schedule) for loop in LOOPS] == [
        timedelta(minutes=1), timedelta(hours=2), timedelta(seconds=30), timedelta(minutes=4)]
    for name in ("masterdata", "MasterData", "MASTERDATA", "masterData"):
        assert loop_named(name) is LOOPS[0]
    with pytest.raises(KeyError, match="invoices"):
        loop_named("invoices")


def test_a_loop_must_be_spelled_as_the_resource_spells_it() -> None:
    """One spelling: a loop whose name is not a field of spec.schedule and status is refused
    when it is declared."""
    with pytest.raises(KeyError, match="master_data"):
        class Misspelt(Loop[Any, Any]):  # noqa: F841 - declaring it is the test
            name = "master_data"

            async def run(self, context: LoopContext) -> Any:
                raise NotImplementedError

            async def status(self, *args: Any) -> Any:
                raise NotImplementedError


def test_the_cli_names_loops_in_any_case() -> None:
    """DESIGN 4: `--loop masterdata|cleanup|orders|imports|all`, in any case, repeatable."""
    parser = cli.build_parser()
    args = parser.parse_args(["run", "--tenant", "t.yaml", "--secrets", "s.yaml",
                              "--loop", "MasterData", "--loop", "IMPORTS"])
    assert [loop.name for loop in cli._chosen_loops(args.loop)] == ["masterData", "imports"]
    args = parser.parse_args(["run", "--tenant", "t.yaml", "--secrets", "s.yaml",
                              "--loop", "All"])
    assert cli._chosen_loops(args.loop) == list(LOOPS)
    assert cli._chosen_loops(None) == list(LOOPS)


# --- the --json summary -------------------------------------------------------------------------

def test_each_result_renders_its_part_of_the_json_summary() -> None:
    """README "Standalone": the keys of `loops.<loop>` in `--json`, in this order."""
    assert outcome("masterData").to_json() == {
        "ok": True,
        "customers": {"seen": 200, "written": 186, "failed": 1, "newest": NEWEST.isoformat(),
                      "first_import": True, "done": 200, "total": 200},
        "items": {"seen": 12, "written": 3, "failed": 0, "newest": None,
                  "first_import": False, "done": 12, "total": 12},
        "workAddressesWritten": 279, "workAddressesRemoved": 2, "workAddressesFailed": 1,
        "simonWrites": 186 + 3 + 279 + 2}
    assert list(outcome("cleanup").to_json()) == [
        "ok", "customersRemoved", "itemsRemoved", "workAddressesRemoved", "keptInUse",
        "keptUnconfirmed", "failed", "incomplete", "held"]
    assert outcome("orders").to_json() == {
        "ok": True, "sent": 17, "failed": 2, "skipped": 1, "passedOver": 3, "recovered": 4,
        "waiting": 5}
    assert outcome("imports").to_json() == {
        "ok": True, "imported": 3, "waiting": 1, "skipped": 2, "failed": 0, "usedItems": 4}


def test_a_failed_pass_renders_what_it_did_and_why() -> None:
    """README: a loop that could not complete has "ok": false and an "error"; an interrupted
    first import still shows how far it got; a pass that did nothing shows only that."""
    failed = outcome("masterData", "Visma.net is not reachable")
    assert not failed.ok
    rendered = failed.to_json()
    assert (rendered["ok"], rendered["error"]) == (False, "Visma.net is not reachable")
    assert (rendered["customers"]["done"], rendered["customers"]["total"]) == (200, 200)
    assert list(rendered)[-1] == "error"
    assert outcome("orders", "settings", partial=False).to_json() == {
        "ok": False, "error": "settings"}
    assert outcome("orders", partial=False).to_json() == {"ok": True}


def test_the_cli_summary_renders_every_loop() -> None:
    """DESIGN 4: the run's summary, as JSON (one line, keys as before) and as text."""
    summary = {"tenant": "tenant-acme/acme", "enabled": True,
               "loops": {"masterdata": outcome("masterData"),
                         "cleanup": outcome("cleanup", "the Visma.net scan was incomplete "
                                                       "for customers"),
                         "orders": outcome("orders", "Simon is not reachable", partial=False),
                         "imports": outcome("imports")},
               "activation": {"event": "first", "wiped": {"Customers": 2}},
               "settings": {"valid": True, "problems": []}, "exitCode": 1}
    out = io.StringIO()
    cli._print_summary(summary, True, out)
    line = out.getvalue()
    assert line.count("\n") == 1
    printed = json.loads(line)
    assert list(printed) == ["tenant", "enabled", "loops", "activation", "settings",
                             "exitCode"]
    assert printed["loops"]["orders"] == {"ok": False, "error": "Simon is not reachable"}
    assert printed["loops"]["cleanup"]["ok"] is False
    assert printed["loops"]["masterdata"]["customers"]["newest"] == NEWEST.isoformat()

    out = io.StringIO()
    cli._print_summary(summary, False, out)
    assert out.getvalue().splitlines() == [
        "tenant tenant-acme/acme",
        "  activation: first",
        "  activation wipe removed from Simon: 2 Customers",
        "  masterdata: ok",
        "    customers: 200 read from Visma.net, 186 written to Simon, 1 refused",
        "    items: 12 read from Visma.net, 3 written to Simon, 0 refused",
        "    work addresses: 279 written, 2 removed",
        "  cleanup: FAILED: the Visma.net scan was incomplete for customers",
        "    removed from Simon: 2 customers, 1 items, 3 work addresses; 4 kept (in use)",
        "  orders: FAILED: Simon is not reachable",
        "  imports: ok",
        "    orders and quotes: 3 imported as work orders, 1 waiting for their customer",
    ]


# --- metrics -------------------------------------------------------------------------------------

def sample(metric: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(metric, labels) or 0.0


def test_each_result_counts_its_metrics() -> None:
    """README "In a cluster": runs and failures per tenant (namespace, name) and loop (the
    loop's key), records written per kind, documents sent; only a pass that completed counts
    what it did."""
    tenant = {"namespace": "runtime-test", "name": "metrics"}
    key = "runtime-test/metrics"
    try:
        for name in RESULTS:
            metrics.observe(key, outcome(name))
        metrics.observe(key, outcome("masterData", "unreachable"))
        metrics.observe(key, outcome("orders", "unreachable"))

        for loop in LOOPS:
            runs = sample("simon_visma_loop_runs_total", **tenant, loop=loop.key)
            assert runs == (2 if loop.name in ("masterData", "orders") else 1), loop
        assert sample("simon_visma_loop_failures_total", **tenant, loop="masterdata") == 1
        assert sample("simon_visma_loop_failures_total", **tenant, loop="cleanup") == 0
        written = {kind: sample("simon_visma_records_written_total", **tenant, kind=kind)
                   for kind in ("customers", "items", "workaddresses")}
        assert written == {"customers": 186, "items": 3, "workaddresses": 279}
        assert sample("simon_visma_documents_sent_total", **tenant) == 17
    finally:
        metrics.forget(key)
    assert sample("simon_visma_loop_runs_total", **tenant, loop="orders") == 0
