"""SimonClient against the Simon emulator over real HTTP: every verb and table of
api/simon.md section 5, typed models, typed errors."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
from pypdf import PdfReader

from emulators.simon import SimonEmulator
from reconcilers.clients.http import NotFoundError, RequestRejectedError
from reconcilers.clients.simon import (
    DuplicateExtKeyError,
    InUseError,
    InvalidReferenceError,
    SimonClient,
)
from reconcilers.clients.simon.models import (
    TRAVEL,
    WORK,
    Change,
    Contact,
    Customer,
    Item,
    ItemGroup,
    KeyPair,
    Location,
    Scheduling,
    SurveyAnswer,
    TimeSheet,
    UsedItem,
    User,
    WorkOrder,
    WorkOrderSurvey,
)
from tests.simon.helpers import seed_work_order

pytestmark = pytest.mark.anyio

MakeClient = Callable[..., SimonClient]


async def test_customer_round_trip(make_client: MakeClient, simon: SimonEmulator) -> None:
    """S-10: a customer keyed by the Visma internalId, its number in Number."""
    async with make_client() as client:
        customer_id = await client.insert(Customer(
            ext_key="4711", number="10023", name="Bakker Installatietechniek B.V.",
            street="Kerkstraat", house_number="12 A", postal_code="1011 AB", city="Amsterdam",
            country="NL", email="info@bakker.example", phone="020-1234567"))
        read = await client.get(Customer, customer_id)
        assert read.id == customer_id and read.ext_key == "4711"
        assert (read.name, read.house_number, read.country) == (
            "Bakker Installatietechniek B.V.", "12 A", "NL")
        assert read.modified is not None and read.modified.tzinfo is not None
        pair = await client.update(Customer(id=customer_id, number="20023", email=None))
        assert pair == KeyPair(id=customer_id, ext_key="4711")
        again = await client.get(Customer, customer_id)
        assert (again.number, again.email, again.city) == ("20023", None, "Amsterdam")
        assert again.modified is not None and read.modified is not None
        assert again.modified >= read.modified
        found = await client.find_by_ext_key(Customer, "4711")
        assert found == again
        assert await client.find_by_ext_key(Customer, "nope") is None
    assert simon.write_count("customer") == 2


async def test_every_table_through_the_client(make_client: MakeClient,
                                              simon: SimonEmulator) -> None:
    async with make_client() as client:
        customer = await client.insert(Customer(name="K", ext_key="1"))
        location = await client.insert(Location(name="K", customer_id=customer,
                                                ext_key="1/main"))
        contact = await client.insert(Contact(name="Piet", customer_id=customer,
                                              location_id=location))
        group = await client.insert(ItemGroup(name="Arbeid"))
        item = await client.insert(Item(code="UUR", ext_key="77", description="Werkuur",
                                        unit="uur", price=Decimal("62.50"), item_group_id=group))
        user = await client.insert(User(name="Jan", email="jan@acme.example", kind="Field"))
        order = await client.insert(WorkOrder(location_id=location, customer_id=customer,
                                              ext_key="SO-000223", reference="PO-9",
                                              description="Lekkage verhelpen",
                                              planned_date=date(2025, 3, 4)))
        planned = await client.insert(Scheduling(
            work_order_id=order, user_id=user, start=datetime(2025, 3, 4, 8, tzinfo=UTC),
            end=datetime(2025, 3, 4, 10, tzinfo=UTC)))
        sheet = await client.insert(TimeSheet(
            work_order_id=order, user_id=user, date=date(2025, 3, 4), start=time(8),
            end=time(10), minutes=120, kind=WORK, item_id=item))
        used = await client.insert(UsedItem(work_order_id=order, item_id=item, code="UUR",
                                            quantity=Decimal("1.25"), price=Decimal("4.55")))
        survey = await client.insert(WorkOrderSurvey(
            work_order_id=order, survey_name="Oplevering",
            answers=[SurveyAnswer(question_id="q1", question="Opgeruimd?", type="checkbox",
                                  answer=True),
                     SurveyAnswer(question_id="q2", question="Druk (bar)", type="number",
                                  answer=Decimal("1.5"))]))

        assert (await client.get(Contact, contact)).location_id == location
        assert (await client.get(ItemGroup, group)).name == "Arbeid"
        read_item = await client.get(Item, item)
        assert read_item.price == Decimal("62.50") and read_item.item_group_id == group
        read_order = await client.get(WorkOrder, order)
        assert read_order.planned_date == date(2025, 3, 4) and read_order.archived is False
        assert read_order.status == "Open" and read_order.number
        assert (await client.get(Scheduling, planned)).start == datetime(2025, 3, 4, 8,
                                                                         tzinfo=UTC)
        read_sheet = await client.get(TimeSheet, sheet)
        assert (read_sheet.minutes, read_sheet.kind, read_sheet.start) == (120, WORK, time(8))
        read_used = await client.get(UsedItem, used)
        assert (read_used.quantity, read_used.price) == (Decimal("1.25"), Decimal("4.55"))
        read_survey = await client.get(WorkOrderSurvey, survey)
        assert [a.answer for a in read_survey.answers] == [True, Decimal("1.5")]
        assert (await client.get(User, user)).email == "jan@acme.example"

        children = ((TimeSheet, sheet, {"work_order_id": order}),
                    (UsedItem, used, {"work_order_id": order}),
                    (Scheduling, planned, {"work_order_id": order}),
                    (WorkOrderSurvey, survey, {"work_order_id": order}),
                    (Contact, contact, {"customer_id": customer}))
        for model, record_id, filters in children:
            assert [p.id async for p in client.keys(model, **filters)] == [record_id]
            await client.delete(model, record_id)
            with pytest.raises(NotFoundError):
                await client.get(model, record_id)
    assert simon.write_count(verb="insert") == 11
    assert simon.write_count(verb="delete") == 5


async def test_keys_pages_to_the_end(make_client: MakeClient, simon: SimonEmulator) -> None:
    ids = [simon.seed("item", Code=f"A{i}", ExtKey=f"{i}")["Id"] for i in range(25)]
    async with make_client(page_size=10) as client:
        pairs = [p async for p in client.keys(Item)]
        assert [p.id for p in pairs] == ids
        assert pairs[3] == KeyPair(id=ids[3], ext_key="3")
        assert [p.id async for p in client.keys("item", code="A7")] == [ids[7]]
    assert simon.stats.count("GET", "/read") == 3 + 1  # 10 + 10 + 5, then the filtered read


async def test_keys_filters(make_client: MakeClient, simon: SimonEmulator) -> None:
    world = seed_work_order(simon)
    loose = simon.seed("location", Name="Zonder klant")
    async with make_client() as client:
        mine = [p.id async for p in client.keys(Location, customer_id=world["customer"]["Id"])]
        assert mine == [world["location"]["Id"]]
        assert [p.id async for p in client.keys(Location, customer_id=None)] == [loose["Id"]]
        assert [p.id async for p in client.keys(WorkOrder, archived=True)] == []
        simon.archive_work_order(world["work_order"]["Id"])
        archived = [p.id async for p in client.keys(WorkOrder, archived=True)]
        assert archived == [world["work_order"]["Id"]]


async def test_typed_errors(make_client: MakeClient, simon: SimonEmulator) -> None:
    world = seed_work_order(simon)
    async with make_client() as client:
        with pytest.raises(DuplicateExtKeyError) as duplicate:
            await client.insert(Customer(name="Twee", ext_key="1"))
        assert duplicate.value.status == 409 and duplicate.value.code == "DuplicateExtKey"
        with pytest.raises(InvalidReferenceError) as bad_ref:
            await client.insert(Location(name="X", customer_id=987654))
        assert bad_ref.value.details == [{"field": "CustomerId"}]
        with pytest.raises(RequestRejectedError) as invalid:
            await client.insert(WorkOrder(description="geen werkadres"))
        assert invalid.value.code == "Validation" and invalid.value.status == 400
        with pytest.raises(NotFoundError):
            await client.get(Customer, 987654)
        with pytest.raises(NotFoundError):
            await client.update(Customer(id=987654, name="x"))
        with pytest.raises(NotFoundError):
            await client.delete(Customer, 987654)
        await client.delete(Customer, 987654, missing_ok=True)
        # S-32: in use by an open work order
        with pytest.raises(InUseError) as in_use:
            await client.delete(Customer, world["customer"]["Id"])
        assert in_use.value.status == 409
        with pytest.raises(InUseError):
            await client.delete(Location, world["location"]["Id"])
        with pytest.raises(InUseError):
            await client.delete(Item, world["item"]["Id"])
    assert simon.writes == 0


async def test_cleanup_order_after_archiving(make_client: MakeClient,
                                             simon: SimonEmulator) -> None:
    """S-31: a removed customer's locations go first; Simon does not cascade."""
    world = seed_work_order(simon, archived=True)
    customer_id = world["customer"]["Id"]
    async with make_client() as client:
        with pytest.raises(InUseError):
            await client.delete(Customer, customer_id)
        for pair in [p async for p in client.keys(Location, customer_id=customer_id)]:
            await client.delete(Location, pair.id)
        await client.delete(Customer, customer_id)
        await client.delete(Item, world["item"]["Id"])
    assert simon.get("customer", customer_id) is None


async def test_changed_since_cursor(make_client: MakeClient, simon: SimonEmulator) -> None:
    """S-40/5.5: readsync with the (Modified, Id) cursor, ties on Modified included."""
    t1, t2 = "2025-01-01T10:00:00.000Z", "2025-01-01T10:00:01.000Z"
    ids = [simon.seed("workorder", LocationId=simon.seed("location", Name="L")["Id"],
                      Modified=t1 if i < 4 else t2)["Id"] for i in range(7)]
    async with make_client(page_size=2) as client:
        changes = [c async for c in client.changed_since(WorkOrder)]
        assert [c.id for c in changes] == ids
        assert changes[0] == Change(id=ids[0], modified=datetime(2025, 1, 1, 10, tzinfo=UTC))
        resume = changes[2]
        rest = [c.id async for c in client.changed_since(WorkOrder, since=resume.modified,
                                                         after_id=resume.id)]
        assert rest == ids[3:]
        since_t2 = [c.id async for c in client.changed_since(
            "workorder", since=datetime(2025, 1, 1, 10, 0, 1, tzinfo=UTC))]
        assert since_t2 == ids[4:]
        last = changes[-1]
        assert [c async for c in client.changed_since(WorkOrder, since=last.modified,
                                                      after_id=last.id)] == []
    # pages of 2 until a short page: 7 rows take 4 requests, 4 rows 3 (the last one empty),
    # 3 rows 2, and nothing 1
    assert simon.stats.count("GET", "/readsync") == 4 + 3 + 2 + 1


async def test_changed_since_does_not_skip_records_changed_while_paging(
        make_client: MakeClient, simon: SimonEmulator) -> None:
    location = simon.seed("location", Name="L")["Id"]
    ids = [simon.seed("workorder", LocationId=location,
                      Modified=f"2025-01-01T10:00:0{i}.000Z")["Id"] for i in range(6)]
    seen: list[int] = []
    async with make_client(page_size=2) as client:
        async for change in client.changed_since(WorkOrder):
            seen.append(change.id)
            if len(seen) == 3:
                simon.update("workorder", ids[0], Reference="bijgewerkt")  # moves to the end
    assert seen == [*ids, ids[0]]


async def test_pdfs(make_client: MakeClient, simon: SimonEmulator) -> None:
    world = seed_work_order(simon, archived=True)
    survey = simon.seed("workordersurvey", WorkOrderId=world["work_order"]["Id"],
                        SurveyName="Keuring")
    async with make_client() as client:
        pdf = await client.work_order_pdf(world["work_order"]["Id"])
        text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
        assert world["work_order"]["Number"] in text and "Klant 1" in text
        form = await client.survey_pdf(survey["Id"])
        assert form.startswith(b"%PDF") and "Keuring" in PdfReader(
            io.BytesIO(form)).pages[0].extract_text()
        with pytest.raises(NotFoundError):
            await client.work_order_pdf(999999)


async def test_work_order_details(make_client: MakeClient, simon: SimonEmulator) -> None:
    """5.5 step 3 and S-50: children by WorkOrderId, location, customer and the user."""
    world = seed_work_order(simon, archived=True)
    order_id = world["work_order"]["Id"]
    other = simon.seed("user", Name="Piet Bakker", Kind="Field")
    simon.seed("timesheet", WorkOrderId=order_id, UserId=other["Id"], Minutes=15,
               Kind="Travel")
    simon.seed("workordersurvey", WorkOrderId=order_id, SurveyName="Check", Answers=[
        {"QuestionId": "sig", "Question": "Handtekening", "Type": "signature",
         "Answer": "data:image/png;base64,iVBORw0KGgo="}])
    async with make_client() as client:
        details = await client.work_order_details(order_id)
    assert details.work_order.archived is True and details.work_order.archived_at is not None
    assert details.customer is not None and details.customer.ext_key == "1"
    assert details.location is not None and details.location.ext_key == "1/main"
    assert [t.kind for t in details.time_sheets] == [WORK, TRAVEL]
    assert [t.minutes for t in details.time_sheets] == [120, 15]
    assert [(u.quantity, u.price) for u in details.used_items] == [(2, Decimal("4.55"))]
    assert len(details.schedulings) == 1
    assert details.surveys[0].answers[0].type == "signature"
    assert details.user_id == world["user"]["Id"]  # the scheduling wins over time sheets
    assert details.user is not None and details.user.email == "jan@acme.example"


async def test_work_order_details_customer_from_location(make_client: MakeClient,
                                                         simon: SimonEmulator) -> None:
    """S-41: without WorkOrder.CustomerId the customer of its Location counts; with
    neither there is none. A time sheet gives the user when nothing is scheduled."""
    customer = simon.seed("customer", Name="Via adres", ExtKey="9")
    location = simon.seed("location", Name="Adres", CustomerId=customer["Id"])
    user = simon.seed("user", Name="Sanne", Kind="Field")
    order = simon.seed("workorder", LocationId=location["Id"])
    simon.seed("timesheet", WorkOrderId=order["Id"], UserId=user["Id"], Minutes=60,
               Kind="Work")
    loose = simon.seed("location", Name="Zonder klant")
    orphan = simon.seed("workorder", LocationId=loose["Id"])
    async with make_client() as client:
        details = await client.work_order_details(order["Id"])
        assert details.customer is not None and details.customer.id == customer["Id"]
        assert details.user is not None and details.user.id == user["Id"]
        none = await client.work_order_details(orphan["Id"])
        assert none.customer is None and none.user is None and none.time_sheets == []


async def test_client_repr_has_no_secrets(make_client: MakeClient) -> None:
    async with make_client(password="p@ss-Geheim", api_key="key-Geheim") as client:
        assert "Geheim" not in repr(client) and "Geheim" not in str(client)
