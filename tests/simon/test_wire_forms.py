"""The emulator serves every form a reader must accept, mixed within one tenant, and the
client reads each of them to the same records; an unreadable needed field of a work order's
child is one UnreadableRecordError naming the child and the work order. All over HTTP."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from emulators.simon import SimonEmulator
from emulators.simon.data import add_work_orders, populate
from reconcilers.clients.http import UnreadableRecordError
from reconcilers.clients.simon import SimonClient
from reconcilers.clients.simon.models import (
    Customer,
    Scheduling,
    TimeSheet,
    UsedItem,
    WorkOrder,
    WorkOrderDetails,
)
from tests.simon.helpers import seed_work_order

pytestmark = pytest.mark.anyio

MakeClient = Callable[..., SimonClient]


def _kind(value: Any) -> str:
    return type(value).__name__


def _all_served(http: httpx.Client, simon: SimonEmulator, table: str) -> list[dict[str, Any]]:
    return [http.get(f"{table}/read/{r['Id']}").json() for r in simon.list(table)]


def test_one_tenant_serves_every_form(http: httpx.Client, simon: SimonEmulator) -> None:
    populate(simon, seed=4)
    add_work_orders(simon, 30, seed=4)
    forms: Counter[tuple[str, str]] = Counter()
    for table in ("workorder", "timesheet", "useditem", "scheduling", "workordersurvey"):
        for record in _all_served(http, simon, table):
            forms[("Id", _kind(record["Id"]))] += 1
            forms[("extra", str(bool(set(record) & {"RowVersion", "Links", "CustomFields",
                                                     "Color", "IsDeleted"})))] += 1
            for answer in record.get("Answers") or []:
                forms[("QuestionId", _kind(answer["QuestionId"]))] += 1
            if table == "workorder":
                forms[("Archived", repr(record["Archived"]))] += 1
                forms[("Modified", record["Modified"][23:] or "none")] += 1
                forms[("CustomerId left out", str("CustomerId" not in record))] += 1
            if table == "timesheet":
                forms[("Start", "date-time" if "T" in record["Start"] else "time")] += 1
                forms[("Minutes", _kind(record["Minutes"]))] += 1
            if table == "useditem":
                forms[("Quantity", _kind(record["Quantity"]))] += 1
    expected = [
        ("Id", "int"), ("Id", "str"), ("extra", "True"), ("extra", "False"),
        ("QuestionId", "int"), ("QuestionId", "str"),
        ("Archived", "True"), ("Archived", "'true'"), ("Archived", "1"),
        ("Modified", "Z"), ("Modified", "+01:00"), ("Modified", "none"),
        ("CustomerId left out", "True"),
        ("Start", "date-time"), ("Start", "time"),
        ("Minutes", "int"), ("Minutes", "str"), ("Quantity", "str"),
    ]
    assert [form for form in expected if not forms[form]] == [], forms


def test_a_record_is_served_the_same_way_every_time(http: httpx.Client,
                                                    simon: SimonEmulator) -> None:
    world = seed_work_order(simon)
    for name, table in (("work_order", "workorder"), ("time_sheet", "timesheet")):
        path = f"{table}/read/{world[name]['Id']}"
        assert http.get(path).json() == http.get(path).json()


async def test_every_form_reads_to_the_same_details(make_client: MakeClient,
                                                    simon: SimonEmulator) -> None:
    populate(simon, seed=5)
    orders = add_work_orders(simon, 12, seed=5)
    async with make_client() as client:
        mixed = [await client.work_order_details(o["Id"]) for o in orders]
        simon.store.vary_forms = False
        plain = [await client.work_order_details(o["Id"]) for o in orders]
    for one, other in zip(mixed, plain, strict=True):
        assert one.model_dump() == other.model_dump()
    assert all(isinstance(d, WorkOrderDetails) and d.work_order.archived for d in mixed)
    assert any(d.time_sheets and d.time_sheets[0].start for d in mixed)


async def test_unreadable_quantity_names_the_used_item_and_its_work_order(
        make_client: MakeClient, simon: SimonEmulator) -> None:
    world = seed_work_order(simon, archived=True)
    cable = simon.seed("useditem", WorkOrderId=world["work_order"]["Id"], Code="K325",
                       Description="Kabel 3x2,5", Quantity=10)
    simon.set_raw("useditem", cable["Id"], "Quantity", "veel")
    number = world["work_order"]["Number"]
    async with make_client() as client:
        with pytest.raises(UnreadableRecordError) as caught:
            await client.work_order_details(world["work_order"]["Id"])
        with pytest.raises(UnreadableRecordError):
            await client.get(UsedItem, cable["Id"])
        with pytest.raises(UnreadableRecordError):
            await client.find(UsedItem, cable["Id"])
        with pytest.raises(UnreadableRecordError) as by_children:
            await client.children(UsedItem, world["work_order"]["Id"])
        fine = await client.get(UsedItem, world["used_item"]["Id"])
    error = caught.value
    assert (error.api, error.table, error.record_id) == ("Simon", "useditem", cable["Id"])
    assert error.label == f"used item 'Kabel 3x2,5' of work order {number}"
    assert error.problems == ["Quantity: 'veel' is not a number"]
    assert f"of work order {world['work_order']['Id']}" in (by_children.value.label or "")
    assert fine.quantity == 2


async def test_unreadable_informational_fields_do_not_stop_a_work_order(
        make_client: MakeClient, simon: SimonEmulator) -> None:
    world = seed_work_order(simon, archived=True)
    simon.set_raw("timesheet", world["time_sheet"]["Id"], "Start", "na de lunch")
    simon.set_raw("timesheet", world["time_sheet"]["Id"], "BreakMinutes", "even")
    simon.set_raw("scheduling", world["scheduling"]["Id"], "Start", "morgen vroeg")
    simon.set_raw("workorder", world["work_order"]["Id"], "PlannedDate", "volgende week")
    async with make_client() as client:
        details = await client.work_order_details(world["work_order"]["Id"])
    sheet = details.time_sheets[0]
    assert (sheet.start, sheet.break_minutes, sheet.minutes) == (None, None, 120)
    assert details.schedulings[0].start is None
    assert details.work_order.planned_date is None
    assert details.user is not None and details.user.id == world["user"]["Id"]


async def test_unreadable_work_order_is_named_by_its_number(make_client: MakeClient,
                                                            simon: SimonEmulator) -> None:
    world = seed_work_order(simon, archived=True)
    order_id = world["work_order"]["Id"]
    simon.set_raw("workorder", order_id, "Archived", "misschien")
    async with make_client() as client:
        with pytest.raises(UnreadableRecordError) as caught:
            await client.get(WorkOrder, order_id)
        # the key pairs and the readsync rows are still read: only this record is unusable
        assert order_id in [c.id async for c in client.changed_since(WorkOrder)]
    assert caught.value.label == f"work order {world['work_order']['Number']}"
    assert caught.value.problems == ["Archived: 'misschien' is not true or false"]


def test_set_raw_is_served_verbatim_over_the_mixed_forms(http: httpx.Client,
                                                        simon: SimonEmulator) -> None:
    world = seed_work_order(simon)
    simon.set_raw("timesheet", world["time_sheet"]["Id"], "Start", "2026-01-15T08:15:00Z")
    simon.set_raw("timesheet", world["time_sheet"]["Id"], "Minutes", "90")
    body = http.get(f"timesheet/read/{world['time_sheet']['Id']}").json()
    assert (body["Start"], body["Minutes"]) == ("2026-01-15T08:15:00Z", "90")


async def test_what_set_raw_serves_is_read(make_client: MakeClient,
                                           simon: SimonEmulator) -> None:
    world = seed_work_order(simon)
    simon.set_raw("timesheet", world["time_sheet"]["Id"], "Start", "2026-01-15T08:15:00Z")
    simon.set_raw("timesheet", world["time_sheet"]["Id"], "Minutes", "90")
    simon.set_raw("customer", world["customer"]["Id"], "Name", "Lek\ud83d B.V.")
    async with make_client() as client:
        sheet = await client.get(TimeSheet, world["time_sheet"]["Id"])
        customer = await client.get(Customer, world["customer"]["Id"])
        plan = await client.get(Scheduling, world["scheduling"]["Id"])
    assert sheet.minutes == 90 and sheet.start is not None
    assert customer.name == "Lek\ufffd B.V."
    assert plan.user_id == world["user"]["Id"]
