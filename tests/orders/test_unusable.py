"""One unusable work order is one error entry naming it by its number; the pass goes on with
the others and completes (DESIGN.md sections 4 and 6, api/simon.md "Read tolerantly", S-41).

Over real HTTP against both emulators: Simon serves raw wire values a real Simon may send
(`set_raw`: a quantity in words, a lone UTF-16 surrogate), records disappear, Visma.net
refuses a document. Also the text of data/hostile-text.json through the whole orders pass.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from emulators.launch import tenant_manifests
from emulators.visma import DEFAULT_TENANT_ID
from reconcilers.store import LogTable, Severity, WorkOrderState
from reconcilers.text import repaired_text
from tests.orders.conftest import JANSEN, World, orders_settings, pdf_text, pushed
from tests.orders.test_orders import cli_log, entry_state, open_errors
from tests.test_addresses import HOSTILE

pytestmark = pytest.mark.anyio

REPLACEMENT = "\ufffd"


def set_raw(world: World, table: str, record_id: int, field: str, value: Any) -> None:
    """Serve `field` of a Simon record as `value` from now on, as a real Simon may."""
    world.emulators.call(world.emulators.simon.store.set_raw, table, record_id, field, value)


def used_item_ids(world: World, work_order: dict[str, Any]) -> list[int]:
    rows = world.emulators.call(world.emulators.simon.list, "useditem")
    return [row["Id"] for row in rows if row["WorkOrderId"] == work_order["Id"]]


def delete_location(world: World, location_id: int) -> None:
    world.emulators.call(world.emulators.simon.store.delete, "location", location_id,
                         count=False)


async def errors_by_key(world: World) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for entry in await world.state.log.entries(min_severity=Severity.ERROR, limit=None,
                                               include_resolved=False):
        found.setdefault(entry.key, []).append(entry)
    return found


# --- one unusable work order of each kind ---------------------------------------------------

async def test_one_unusable_work_order_of_each_kind_leaves_the_others_going(world: World) -> None:
    """A used item with `Quantity: "veel"`, a work address Simon no longer has, an item not
    from Visma.net, a document Visma.net refuses: each is one error entry naming the work
    order by its number (items by code and description), with an action; the ledger row is
    `failed`, never `creating`; the other work orders are sent and the pass is ok. Each is
    tried again only once it changes in Simon."""
    first = world.work_order(work=[60])
    veel = world.work_order(items=[("KABEL", 2, None)])
    [veel_line] = used_item_ids(world, veel)
    set_raw(world, "useditem", veel_line, "Quantity", "veel")
    site = world.seed("location", Name="Bouwplaats Dam", Street="Dam", HouseNumber="1",
                      PostalCode="1012 JS", City="Amsterdam",
                      CustomerId=world.customers[JANSEN])["Id"]
    gone = world.work_order(JANSEN, location=site, work=[30])
    delete_location(world, site)
    world.simon_item("EIGEN-7", "Eigen pakking")
    unknown = world.work_order(items=[("EIGEN-7", 1, None)])
    refused = world.work_order(items=[("KRAAN", 1, None)])
    world.emulators.call(world.emulators.visma.delete_item, "KRAAN")
    last = world.work_order(work=[90])

    outcome = await world.push(workTimeItem="UUR")

    assert outcome.ok, outcome.error
    assert (pushed(outcome).sent, pushed(outcome).failed) == (2, 4)
    assert {d.marker for d in world.documents()} == {
        world.document(first).marker, world.document(last).marker}
    errors = await errors_by_key(world)
    assert set(errors) == {wo["Number"] for wo in (veel, gone, unknown, refused)}
    for wo in (veel, gone, unknown, refused):
        [error] = errors[wo["Number"]]
        assert f"work order {wo['Number']}" in error.message.lower()
        assert error.action and "archive the work order again" in error.action
        assert "S-4" not in error.message and "Traceback" not in error.message
        assert await entry_state(world, wo) is WorkOrderState.FAILED
    assert "veel" in errors[veel["Number"]][0].message
    assert "work address" in errors[gone["Number"]][0].message
    assert "EIGEN-7 (Eigen pakking)" in errors[unknown["Number"]][0].message
    assert "Visma.net refused" in errors[refused["Number"]][0].message
    assert "KRAAN" in errors[refused["Number"]][0].message

    # Nothing changed in Simon: nothing is read or logged again.
    again = await world.push(workTimeItem="UUR")
    assert again.ok and (pushed(again).sent, pushed(again).failed) == (0, 0)
    assert {k: len(v) for k, v in (await errors_by_key(world)).items()} == dict.fromkeys(
        errors, 1)

    # Fixed in Simon and archived again (Modified moves): sent, and its error is resolved.
    set_raw(world, "useditem", veel_line, "Quantity", 3)
    world.archive(veel["Id"])
    fixed = await world.push(workTimeItem="UUR")
    assert fixed.ok and (pushed(fixed).sent, pushed(fixed).failed) == (1, 0)
    assert [line["quantity"] for line in world.document(veel).lines] == [3]
    assert await open_errors(world, veel) == []
    assert await entry_state(world, veel) is WorkOrderState.DONE


async def test_a_document_that_cannot_be_built_leaves_no_creating_row(world: World) -> None:
    """A used item whose description is longer than a Visma.net line takes: the document
    cannot even be built, so no request went out; the row is `failed` (tried again when the
    work order changes), never left `creating` for every later pass to stumble over."""
    long_line = world.work_order(items=[("KABEL", 1, None)])
    [line] = used_item_ids(world, long_line)
    set_raw(world, "useditem", line, "Description", "Kabel " * 60)
    other = world.work_order(work=[60])

    outcome = await world.push(workTimeItem="UUR")

    assert outcome.ok, outcome.error
    assert (pushed(outcome).sent, pushed(outcome).failed) == (1, 1)
    assert await entry_state(world, long_line) is WorkOrderState.FAILED
    assert await world.state.ledger.in_doubt() == []
    assert len(world.documents_of(other)) == 1 and world.documents_of(long_line) == []
    [error] = await open_errors(world, long_line)
    assert long_line["Number"] in error.message


async def test_a_lost_create_answer_waits_without_stopping_the_others(world: World) -> None:
    """A create whose answer is lost and whose document Visma.net does not show (yet) stays
    `creating` (truly in doubt) and the pass goes on with the next work order; the next pass
    searches for it first and makes it once."""
    doubtful = world.work_order(work=[60])
    other = world.work_order(work=[30])
    world.emulators.call(world.emulators.visma.faults.add, "status",
                         path=r"/api/v3/SalesOrders$", method="POST", status=500, nth=1)

    outcome = await world.push(workTimeItem="UUR")

    assert outcome.ok, outcome.error
    assert len(world.documents_of(other)) == 1
    assert await entry_state(world, doubtful) is WorkOrderState.CREATING
    assert pushed(outcome).waiting == 1

    again = await world.push(workTimeItem="UUR")
    assert again.ok and pushed(again).recovered == 1
    assert len(world.documents_of(doubtful)) == 1
    assert await entry_state(world, doubtful) is WorkOrderState.DONE


async def test_cli_run_exits_0_and_the_log_names_the_work_order(world: World,
                                                                 tmp_path: Path) -> None:
    """DESIGN.md section 4: problems with single records are log entries, not failures:
    `simon-visma run --once --loop orders` exits 0 and `simon-visma log --severity error`
    names the work order by its number."""
    broken = world.work_order(items=[("KABEL", 2, None)])
    [line] = used_item_ids(world, broken)
    set_raw(world, "useditem", line, "Quantity", "veel")
    fine = world.work_order(work=[60])
    tenant, secrets = tenant_manifests(world.emulators.url, DEFAULT_TENANT_ID)
    tenant["spec"]["orders"] = orders_settings(workTimeItem="UUR")
    (tmp_path / "tenant.yaml").write_text(yaml.safe_dump(tenant, sort_keys=False))
    (tmp_path / "secrets.yaml").write_text(yaml.safe_dump_all(secrets, sort_keys=False))

    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "reconcilers.cli", "run", "--tenant", "tenant.yaml",
        "--secrets", "secrets.yaml", "--database", world.store.url,
        "--once", "--loop", "orders", "--json", cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()

    assert process.returncode == 0, err.decode()
    [summary] = [json.loads(text) for text in out.decode().splitlines() if text.strip()]
    assert summary["exitCode"] == 0
    assert summary["loops"]["orders"]["ok"]
    assert (summary["loops"]["orders"]["sent"], summary["loops"]["orders"]["failed"]) == (1, 1)
    assert "Traceback" not in err.decode()
    assert len(world.documents_of(fine)) == 1
    shown = await cli_log(world, "--severity", "error")
    [entry] = [e for e in shown if e["key"] == broken["Number"]]
    assert broken["Number"] in entry["message"] and "veel" in entry["message"]
    assert entry["action"]


# --- lone surrogates ------------------------------------------------------------------------

@pytest.mark.parametrize("field", ["Reference", "WorkPerformed", "Number"])
async def test_a_lone_surrogate_arrives_as_a_replacement_character(world: World,
                                                                   field: str) -> None:
    """A lone UTF-16 surrogate in a work order's Reference, WorkPerformed or Number (what a
    .NET service sends when it cuts an emoji in half): the work order is sent with U+FFFD in
    its place, PDFs included, and the pass goes on with the others."""
    wo = world.work_order(reference="PO-1", work=[60])
    value = {"Reference": "PO-\ud800-1", "WorkPerformed": "Lek \ud800 verholpen.",
             "Number": f"{wo['Number']}\ud800"}[field]
    set_raw(world, "workorder", wo["Id"], field, value)
    other = world.work_order(work=[30])

    outcome = await world.push(workTimeItem="UUR", customerReference="Both",
                               note="WorkDescription", attachments="WorkOrder")

    assert outcome.ok, outcome.error
    assert (pushed(outcome).sent, pushed(outcome).failed) == (2, 0)
    assert len(world.documents_of(other)) == 1
    [document] = world.documents_of(wo)
    raw = document.raw
    assert "\\ud800" not in raw.lower() and "\ud800" not in raw
    repaired = value.replace("\ud800", REPLACEMENT)
    if field == "WorkPerformed":
        assert document.body["note"] == repaired
    elif field == "Reference":
        assert document.body["customer"]["refNo"] == f"{wo['Number']} / {repaired}"
    else:
        assert document.body["description"] == f"Werkbon {repaired}"
        assert document.body["customer"]["refNo"] == f"{repaired} / PO-1"
    [(name, pdf)] = document.attachments.items()
    assert name.startswith("werkbon-") and "\ud800" not in name
    assert pdf_text(pdf)
    number = repaired if field == "Number" else wo["Number"]
    entry = await world.state.ledger.get(wo["Id"])
    assert entry is not None and entry.state is WorkOrderState.DONE
    assert entry.work_order_number == number
    sent = await world.state.log.entries(table=LogTable.WORK_ORDER, key=number)
    assert any("Sent to Visma.net" in e.message for e in sent)


# --- hostile text through the whole pass ----------------------------------------------------

@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_hostile_text_goes_through_the_orders_pass(world: World) -> None:
    """Every string of hostile-text.json as a work order's Reference, WorkPerformed and
    Description (and, where it fits a document description, its Number): each work order is
    sent, the bodies Visma.net stored are valid UTF-8 JSON without a lone surrogate, and
    both PDFs read back."""
    cases = list(HOSTILE.items())
    made = []
    for name, text in cases:
        wo = world.work_order(work=[60], surveys=["Oplevering"])
        for field in ("Reference", "WorkPerformed", "Description"):
            set_raw(world, "workorder", wo["Id"], field, text)
        if len(text) <= 40 and text.strip():
            set_raw(world, "workorder", wo["Id"], "Number", text)
        made.append((name, text, wo))

    outcome = await world.push(workTimeItem="UUR", customerReference="CustomerReference",
                               note="WorkDescription", attachments="Both")

    assert outcome.ok, outcome.error
    assert pushed(outcome).failed == 0, await errors_by_key(world)
    assert pushed(outcome).sent == len(cases)
    for name, text, wo in made:
        [document] = world.documents_of(wo)
        document.raw.encode("utf-8")
        assert "\\ud8" not in document.raw.lower() and "\\udc" not in document.raw.lower(), name
        clean = repaired_text(text)
        if text.strip():
            assert document.body["note"] == clean[:2048], name
        assert sorted(file.split("-")[0] for file in document.attachments) == [
            "formulieren", "werkbon"], name
        for content in document.attachments.values():
            pdf_text(content)
