"""The Simon data generator: seeded, realistic, and readable through the client."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import pytest
from PIL import Image

from emulators.simon import SimonEmulator
from emulators.simon.data import SKIP_WORD, add_work_orders, populate
from reconcilers.clients.simon import SimonClient
from reconcilers.clients.simon.models import WorkOrder

IGNORED = {"Created", "Modified", "ArchivedAt", "CompletedAt", "PlannedDate", "Date",
           "Start", "End"}


def content(emulator: SimonEmulator, table: str) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in IGNORED} for r in emulator.list(table)]


def generated(seed: int) -> SimonEmulator:
    emulator = SimonEmulator()
    populate(emulator, seed=seed)
    add_work_orders(emulator, 40, seed=seed)
    return emulator


def test_same_seed_same_data() -> None:
    first, second, other = generated(3), generated(3), generated(4)
    for table in ("user", "customer", "location", "item", "workorder", "timesheet",
                  "useditem", "scheduling", "workordersurvey"):
        assert content(first, table) == content(second, table), table
    assert content(first, "workorder") != content(other, "workorder")


def test_generated_world_is_realistic() -> None:
    emulator = generated(7)
    users = emulator.list("user")
    assert {u["Kind"] for u in users} == {"Field", "Office"}
    assert any(u["Email"] is None for u in users if u["Kind"] == "Field")
    assert all(c["ExtKey"] == "" for c in emulator.list("customer"))  # made in Simon
    assert any(loc["CustomerId"] is None for loc in emulator.list("location"))
    orders = emulator.list("workorder")
    assert len(orders) == 40
    assert all(o["Archived"] and o["Status"] == "Completed" and o["ArchivedAt"] for o in orders)
    skipped = [o for o in orders if SKIP_WORD.lower() in
               f"{o['WorkPerformed']} {o['Description']}".lower()]
    assert 0 < len(skipped) < 40
    sheets = emulator.list("timesheet")
    assert {s["Kind"] for s in sheets} == {"Work", "Travel"}
    assert {s["Minutes"] for s in sheets} & {15, 45, 120}
    assert {s["WorkOrderId"] for s in sheets if s["Kind"] == "Work"} == {o["Id"] for o in orders}
    used = emulator.list("useditem")
    assert any(u["Price"] is not None for u in used) and any(u["Price"] is None for u in used)
    answers = [a for s in emulator.list("workordersurvey") for a in s["Answers"]]
    assert {"text", "checkbox", "number", "date", "signature", "photo"} <= {
        a["Type"] for a in answers}
    for answer in answers:
        if answer["Type"] in ("signature", "photo"):
            assert answer["Answer"].startswith("data:image/png;base64,")
            png = base64.b64decode(answer["Answer"].split(",", 1)[1])
            Image.open(io.BytesIO(png)).load()  # a valid PNG
    assert emulator.writes == 0  # seeding is not an API write


def test_open_work_orders_and_orders_without_customer() -> None:
    emulator = SimonEmulator()
    populate(emulator, seed=2)
    orders = add_work_orders(emulator, 60, seed=2, archived=False, without_customer_share=0.2)
    assert not any(o["Archived"] for o in orders)
    assert {o["Status"] for o in orders} <= {"Open", "Planned", "InProgress"}
    locations = {loc["Id"]: loc for loc in emulator.list("location")}
    orphans = [o for o in orders
               if o["CustomerId"] is None and locations[o["LocationId"]]["CustomerId"] is None]
    assert orphans


def test_work_orders_on_an_empty_emulator_bring_their_own_world() -> None:
    emulator = SimonEmulator()
    assert len(add_work_orders(emulator, 3, seed=1)) == 3
    assert emulator.list("user") and emulator.list("customer")


@pytest.mark.anyio
async def test_generated_work_orders_read_through_the_client(
        emulators, make_client: Callable[..., SimonClient]) -> None:
    simon = emulators.simon
    populate(simon, seed=9)
    add_work_orders(simon, 8, seed=9)
    async with make_client() as client:
        ids = [c.id async for c in client.changed_since(WorkOrder)]
        assert len(ids) == 8
        for order_id in ids:
            details = await client.work_order_details(order_id)
            assert details.work_order.archived
            assert details.time_sheets and details.user_id is not None
    assert simon.writes == 0
