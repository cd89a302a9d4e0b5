"""The Simon emulator's wire contract (api/simon.md section 5), checked with plain HTTP:
status codes, bodies, the error body, paging, readsync order and cursor, delete rules."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from pypdf import PdfReader

from emulators.server import EmulatorServer
from emulators.simon import DEFAULT_LICENSE_KEY, DEFAULT_PASSWORD, DEFAULT_USER, SimonEmulator
from emulators.simon.wire import EXTRA_FIELDS
from tests.simon.helpers import (
    seed_work_order,
    wire_bool,
    wire_id,
    wire_instant,
    wire_number,
    wire_rows,
)

ISO_Z = "%Y-%m-%dT%H:%M:%S.%fZ"


def parse(moment: str) -> datetime:
    assert moment.endswith("Z"), moment
    return datetime.strptime(moment, ISO_Z).replace(tzinfo=UTC)


def assert_error(answer: httpx.Response, status: int, code: str, field: str | None = None) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["Code"] == code
    assert isinstance(body["Message"], str) and body["Message"]
    if field is not None:
        assert body["Field"] == field


# --- 5.1 auth -------------------------------------------------------------------------


def test_token_login_shape(emulators: EmulatorServer, simon: SimonEmulator) -> None:
    before = simon.clock.now()
    answer = httpx.post(f"{emulators.simon_url}/token", json={
        "Key": DEFAULT_LICENSE_KEY, "Usr": DEFAULT_USER, "Pwd": DEFAULT_PASSWORD})
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"Token", "ExpiresAt"}
    expires = parse(body["ExpiresAt"])
    assert timedelta(seconds=3590) < expires - before < timedelta(seconds=3610)


@pytest.mark.parametrize("body", [
    {"Key": DEFAULT_LICENSE_KEY, "Usr": DEFAULT_USER, "Pwd": "wrong"},
    {"Key": "0000000000000000", "Usr": DEFAULT_USER, "Pwd": DEFAULT_PASSWORD},
    {"Key": DEFAULT_LICENSE_KEY, "Usr": "someone@else", "Pwd": DEFAULT_PASSWORD},
])
def test_token_refuses_bad_credentials(emulators: EmulatorServer, body: dict) -> None:
    answer = httpx.post(f"{emulators.simon_url}/token", json=body)
    assert_error(answer, 401, "Unauthorized")
    assert body["Pwd"] not in answer.text


def test_token_requires_every_field(emulators: EmulatorServer) -> None:
    answer = httpx.post(f"{emulators.simon_url}/token",
                        json={"Key": DEFAULT_LICENSE_KEY, "Usr": DEFAULT_USER})
    assert_error(answer, 400, "Validation", "Pwd")


def test_calls_need_a_valid_token(emulators: EmulatorServer, http: httpx.Client) -> None:
    url = f"{emulators.simon_url}/customer/read"
    assert_error(httpx.get(url), 401, "Unauthorized")
    assert_error(httpx.get(url, headers={"Token": "made-up"}), 401, "Unauthorized")
    assert http.get("customer/read").status_code == 200


def test_token_expires_with_the_clock(simon: SimonEmulator, http: httpx.Client) -> None:
    simon.token_ttl = 300
    token = http.post("token", json={"Key": DEFAULT_LICENSE_KEY, "Usr": DEFAULT_USER,
                                     "Pwd": DEFAULT_PASSWORD}).json()["Token"]
    headers = {"Token": token}
    simon.clock.advance(299)
    assert http.get("customer/read", headers=headers).status_code == 200
    simon.clock.advance(2)
    assert_error(http.get("customer/read", headers=headers), 401, "Unauthorized")


def test_api_key_is_required_when_the_login_has_one(emulators: EmulatorServer,
                                                    simon: SimonEmulator) -> None:
    simon.add_login("9999888877776666", "office@acme.example", "geheim", api_key="k-123")
    url = emulators.simon_url
    login = {"Key": "9999888877776666", "Usr": "office@acme.example", "Pwd": "geheim"}
    assert_error(httpx.post(f"{url}/token", json=login), 401, "Unauthorized")
    answer = httpx.post(f"{url}/token", json=login, headers={"ApiKey": "k-123"})
    assert answer.status_code == 200
    token = answer.json()["Token"]
    assert_error(httpx.get(f"{url}/item/read", headers={"Token": token}), 401, "Unauthorized")
    ok = httpx.get(f"{url}/item/read", headers={"Token": token, "ApiKey": "k-123"})
    assert ok.status_code == 200


# --- 5.3 insert / update --------------------------------------------------------------


def test_insert_answers_201_with_id_and_extkey(http: httpx.Client, simon: SimonEmulator) -> None:
    answer = http.post("customer/insert", json={"Name": "Bakker B.V.", "ExtKey": "101"})
    assert answer.status_code == 201
    body = answer.json()
    assert body == {"Id": body["Id"], "ExtKey": "101"}
    plain = http.post("customer/insert", json={"Name": "Made in Simon"})
    assert plain.json()["ExtKey"] == ""
    assert plain.json()["Id"] > body["Id"]
    record = http.get(f"customer/read/{body['Id']}").json()
    assert record["Name"] == "Bakker B.V." and record["ExtKey"] == "101"
    assert wire_instant(record["Created"]) == wire_instant(record["Modified"])
    assert simon.write_count("customer", "insert") == 2


@pytest.mark.parametrize(("table", "body", "field"), [
    ("customer", {}, "Name"),
    ("customer", {"Name": "X", "Colour": "red"}, "Colour"),
    ("customer", {"Name": 12}, "Name"),
    ("customer", {"Name": "X", "ExtKey": "x" * 51}, "ExtKey"),
    ("customer", {"Name": "X", "Id": 5}, "Id"),
    ("customer", {"Name": "X", "Modified": "2025-01-01T00:00:00Z"}, "Modified"),
    ("workorder", {"Description": "zonder werkadres"}, "LocationId"),
    ("item", {"Code": "A", "Price": "4,55"}, "Price"),
    ("timesheet", {"WorkOrderId": 1, "Minutes": 60, "Kind": "Coffee"}, "Kind"),
    ("workorder", {"LocationId": 1, "PlannedDate": "04-03-2025"}, "PlannedDate"),
])
def test_insert_validation(http: httpx.Client, simon: SimonEmulator, table: str, body: dict,
                           field: str) -> None:
    assert_error(http.post(f"{table}/insert", json=body), 400, "Validation", field)
    assert simon.writes == 0


def test_insert_refuses_invalid_json(http: httpx.Client) -> None:
    answer = http.post("customer/insert", content=b"{not json",
                       headers={"Content-Type": "application/json"})
    assert_error(answer, 400, "Validation")


def test_duplicate_extkey_is_409(http: httpx.Client, simon: SimonEmulator) -> None:
    simon.seed("item", Code="A", ExtKey="55")
    assert_error(http.post("item/insert", json={"Code": "B", "ExtKey": "55"}),
                 409, "DuplicateExtKey", "ExtKey")
    # unique per table: another table may use the same ExtKey; empty keys never clash
    assert http.post("customer/insert", json={"Name": "C", "ExtKey": "55"}).status_code == 201
    for _ in range(2):
        assert http.post("item/insert", json={"Code": "C", "ExtKey": ""}).status_code == 201


@pytest.mark.parametrize(("table", "field"), [
    ("location", "CustomerId"), ("workorder", "LocationId"), ("workorder", "CustomerId"),
    ("timesheet", "WorkOrderId"), ("timesheet", "ItemId"), ("useditem", "ItemId"),
    ("scheduling", "UserId"), ("item", "ItemGroupId"),
])
def test_unknown_reference_is_422(http: httpx.Client, simon: SimonEmulator, table: str,
                                  field: str) -> None:
    world = seed_work_order(simon)
    valid = {
        "location": {"Name": "L", "CustomerId": world["customer"]["Id"]},
        "workorder": {"LocationId": world["location"]["Id"],
                      "CustomerId": world["customer"]["Id"]},
        "timesheet": {"WorkOrderId": world["work_order"]["Id"], "Minutes": 15,
                      "Kind": "Travel", "ItemId": world["item"]["Id"]},
        "useditem": {"WorkOrderId": world["work_order"]["Id"], "ItemId": world["item"]["Id"],
                     "Quantity": 1},
        "scheduling": {"WorkOrderId": world["work_order"]["Id"],
                       "UserId": world["user"]["Id"]},
        "item": {"Code": "X"},
    }[table]
    assert http.post(f"{table}/insert", json=valid).status_code == 201
    answer = http.post(f"{table}/insert", json={**valid, field: 999_999})
    assert_error(answer, 422, "InvalidReference", field)


def test_update_changes_only_given_fields(http: httpx.Client, simon: SimonEmulator) -> None:
    record = simon.seed("customer", Name="Oud", City="Delft", Email="info@oud.example",
                        ExtKey="7", Modified="2025-01-01T00:00:00Z")
    answer = http.post("customer/update", json={"Id": record["Id"], "Name": "Nieuw",
                                                "Email": None})
    assert answer.status_code == 200
    assert answer.json() == {"Id": record["Id"], "ExtKey": "7"}
    after = http.get(f"customer/read/{record['Id']}").json()
    assert (after["Name"], after["City"], after["Email"]) == ("Nieuw", "Delft", None)
    assert wire_instant(after["Modified"]) > parse(record["Modified"])
    assert wire_instant(after["Created"]) == parse(record["Created"])
    assert simon.write_count("customer", "update") == 1


def test_update_errors(http: httpx.Client, simon: SimonEmulator) -> None:
    first = simon.seed("customer", Name="A", ExtKey="1")
    second = simon.seed("customer", Name="B", ExtKey="2")
    assert_error(http.post("customer/update", json={"Name": "x"}), 400, "Validation", "Id")
    assert_error(http.post("customer/update", json={"Id": 424242, "Name": "x"}), 404, "NotFound")
    assert_error(http.post("customer/update", json={"Id": second["Id"], "ExtKey": "1"}),
                 409, "DuplicateExtKey", "ExtKey")
    assert_error(http.post("customer/update", json={"Id": first["Id"], "Name": ""}),
                 400, "Validation", "Name")
    assert_error(http.post("location/update", json={"Id": first["Id"], "Name": "x"}),
                 404, "NotFound")  # ids are unique across tables
    assert simon.writes == 0


# --- 5.6 delete -----------------------------------------------------------------------


def test_delete_and_not_found(http: httpx.Client, simon: SimonEmulator) -> None:
    record = simon.seed("customer", Name="Weg")
    answer = http.post("customer/delete", json={"Id": record["Id"]})
    assert answer.status_code == 200 and answer.json() == {"Id": record["Id"]}
    assert_error(http.get(f"customer/read/{record['Id']}"), 404, "NotFound")
    assert_error(http.post("customer/delete", json={"Id": record["Id"]}), 404, "NotFound")
    assert_error(http.post("customer/delete", json={}), 400, "Validation", "Id")
    assert simon.write_count("customer", "delete") == 1


def test_delete_in_use_rules(http: httpx.Client, simon: SimonEmulator) -> None:
    """SPEC S-31/S-32: no cascading; InUse while an open work order uses the record."""
    world = seed_work_order(simon)
    customer, location, item = world["customer"], world["location"], world["item"]
    assert_error(http.post("customer/delete", json={"Id": customer["Id"]}), 409, "InUse")
    assert_error(http.post("location/delete", json={"Id": location["Id"]}), 409, "InUse")
    assert_error(http.post("item/delete", json={"Id": item["Id"]}), 409, "InUse")
    simon.archive_work_order(world["work_order"]["Id"])
    # the archived order no longer holds anything, but the customer still owns a location
    assert http.post("item/delete", json={"Id": item["Id"]}).status_code == 200
    assert_error(http.post("customer/delete", json={"Id": customer["Id"]}), 409, "InUse")
    assert http.post("location/delete", json={"Id": location["Id"]}).status_code == 200
    assert http.post("customer/delete", json={"Id": customer["Id"]}).status_code == 200
    assert simon.get("workorder", world["work_order"]["Id"]) is not None  # no cascading


def test_item_in_use_through_a_time_sheet_only(http: httpx.Client,
                                               simon: SimonEmulator) -> None:
    world = seed_work_order(simon)
    hours = simon.seed("item", Code="UUR", ExtKey="hours")
    simon.seed("timesheet", WorkOrderId=world["work_order"]["Id"], Minutes=45, Kind="Travel",
               ItemId=hours["Id"])
    assert_error(http.post("item/delete", json={"Id": hours["Id"]}), 409, "InUse")
    unused = simon.seed("item", Code="LOS")
    assert http.post("item/delete", json={"Id": unused["Id"]}).status_code == 200


def test_location_without_open_orders_can_go(http: httpx.Client, simon: SimonEmulator) -> None:
    loose = simon.seed("location", Name="Zonder klant")
    assert loose["CustomerId"] is None
    assert http.post("location/delete", json={"Id": loose["Id"]}).status_code == 200


# --- 5.3 read, read/{id} ---------------------------------------------------------------


def test_read_returns_key_pairs_with_filters(http: httpx.Client, simon: SimonEmulator) -> None:
    world = seed_work_order(simon)
    other = simon.seed("location", Name="Tweede", CustomerId=world["customer"]["Id"])
    simon.seed("location", Name="Los")
    pairs = wire_rows(http.get("location/read", params={"CustomerId": world["customer"]["Id"]}))
    assert pairs == [{"Id": world["location"]["Id"], "ExtKey": "1/main"},
                     {"Id": other["Id"], "ExtKey": ""}]
    assert wire_rows(http.get("location/read", params={"ExtKey": "1/main"})) == [pairs[0]]
    assert wire_rows(http.get("customer/read", params={"Name": "Klant 1"})) == [
        {"Id": world["customer"]["Id"], "ExtKey": "1"}]
    assert http.get("item/read", params={"Code": "ART-1"}).json()[0]["ExtKey"] == "I1"
    for table in ("timesheet", "useditem", "scheduling"):
        rows = http.get(f"{table}/read", params={"WorkOrderId": world["work_order"]["Id"]})
        assert len(rows.json()) == 1, table
    assert http.get("workorder/read", params={"Archived": "true"}).json() == []
    simon.archive_work_order(world["work_order"]["Id"])
    archived = http.get("workorder/read", params={"Archived": "true"}).json()
    assert [p["Id"] for p in wire_rows(archived)] == [world["work_order"]["Id"]]
    later = (simon.clock.now() + timedelta(hours=1)).isoformat()
    assert http.get("workorder/read", params={"ArchivedSince": later}).json() == []


def test_read_refuses_unknown_filters(http: httpx.Client) -> None:
    assert_error(http.get("customer/read", params={"City": "Delft"}), 400, "Validation", "City")
    assert_error(http.get("location/read", params={"CustomerId": "abc"}), 400, "Validation",
                 "CustomerId")


def test_read_paging_defaults_and_clamping(http: httpx.Client, simon: SimonEmulator) -> None:
    ids = [simon.seed("item", Code=f"A{i}")["Id"] for i in range(1105)]
    first = wire_rows(http.get("item/read"))
    assert [p["Id"] for p in first] == ids[:100]  # top defaults to 100, ordered by Id
    page = wire_rows(http.get("item/read", params={"top": 10, "skip": 20}))
    assert [p["Id"] for p in page] == ids[20:30]
    clamped = http.get("item/read", params={"top": 5000}).json()
    assert len(clamped) == 1000  # top is at most 1000
    tail = wire_rows(http.get("item/read", params={"top": 1000, "skip": 1000}))
    assert [p["Id"] for p in tail] == ids[1000:]
    assert http.get("item/read", params={"skip": 2000}).json() == []
    assert_error(http.get("item/read", params={"top": 0}), 400, "Validation", "top")
    assert_error(http.get("item/read", params={"skip": -1}), 400, "Validation", "skip")


def test_read_one_returns_the_full_record(http: httpx.Client, simon: SimonEmulator) -> None:
    world = seed_work_order(simon)
    order = http.get(f"workorder/read/{world['work_order']['Id']}").json()
    fields = {
        "Id", "ExtKey", "Number", "LocationId", "CustomerId", "Reference", "Description",
        "WorkPerformed", "Status", "CompletedAt", "Archived", "ArchivedAt", "PlannedDate",
        "Created", "Modified",
    }
    extra = {name for name, _ in EXTRA_FIELDS}
    empty = {name for name, value in simon.get("workorder", world["work_order"]["Id"]).items()
             if value is None}
    assert fields - empty <= set(order) <= fields | extra  # an empty field may be left out
    assert order["Status"] == "Open" and wire_bool(order["Archived"]) is False
    assert order["Number"] and wire_id(order["Id"]) == world["work_order"]["Id"]
    used = http.get(f"useditem/read/{world['used_item']['Id']}").json()
    assert wire_number(used["Quantity"]) == 2 and wire_number(used["Price"]) == Decimal("4.55")
    sheet = http.get(f"timesheet/read/{world['time_sheet']['Id']}").json()
    assert sheet["Date"][:10] == "2025-03-04" and wire_number(sheet["Minutes"]) == 120
    assert sheet["Start"] in ("08:00", "08:00:00", "2025-03-04T08:00:00",
                              "2025-03-04T07:00:00Z")  # 08:00 Dutch time
    assert_error(http.get("workorder/read/999999"), 404, "NotFound")
    assert_error(http.get("nosuchtable/read"), 404, "NotFound")


def test_every_table_has_the_verbs(http: httpx.Client, simon: SimonEmulator) -> None:
    world = seed_work_order(simon)
    bodies = {
        "customer": {"Name": "K"}, "location": {"Name": "L"},
        "contact": {"Name": "P", "CustomerId": world["customer"]["Id"]},
        "itemgroup": {"Name": "G"}, "item": {"Code": "I"}, "user": {"Name": "U"},
        "workorder": {"LocationId": world["location"]["Id"]},
        "scheduling": {"WorkOrderId": world["work_order"]["Id"],
                       "UserId": world["user"]["Id"]},
        "timesheet": {"WorkOrderId": world["work_order"]["Id"], "Minutes": 15,
                      "Kind": "Travel"},
        "useditem": {"WorkOrderId": world["work_order"]["Id"], "Quantity": 1.5},
        "workordersurvey": {"WorkOrderId": world["work_order"]["Id"], "SurveyName": "Check"},
    }
    for table, body in bodies.items():
        made = http.post(f"{table}/insert", json={**body, "ExtKey": f"x-{table}"})
        assert made.status_code == 201, (table, made.text)
        record_id = made.json()["Id"]
        assert http.post(f"{table}/update", json={"Id": record_id}).status_code == 200
        assert http.get(f"{table}/read/{record_id}").json()["ExtKey"] == f"x-{table}"
        assert wire_rows(http.get(f"{table}/read", params={"ExtKey": f"x-{table}"})) == [
            {"Id": record_id, "ExtKey": f"x-{table}"}]
        assert record_id in [r["Id"] for r in wire_rows(http.get(f"{table}/readsync"))]
        assert http.post(f"{table}/delete", json={"Id": record_id}).status_code == 200, table
    assert simon.writes == 3 * len(bodies)


# --- 5.3 readsync -----------------------------------------------------------------------


def _ids(answer: httpx.Response) -> list[int]:
    assert answer.status_code == 200, answer.text
    return [row["Id"] for row in wire_rows(answer)]


def test_readsync_orders_by_modified_then_id(http: httpx.Client, simon: SimonEmulator) -> None:
    t1, t2, t3 = (f"2025-01-01T10:00:0{s}.000Z" for s in (0, 1, 2))
    a = simon.seed("customer", Name="a", Modified=t3)["Id"]
    b = simon.seed("customer", Name="b", Modified=t1)["Id"]
    c = simon.seed("customer", Name="c", Modified=t2)["Id"]
    d = simon.seed("customer", Name="d", Modified=t2)["Id"]  # a tie with c
    e = simon.seed("customer", Name="e", Modified=t1)["Id"]  # a tie with b
    rows = wire_rows(http.get("customer/readsync"))
    t1, t2, t3 = (parse(t) for t in (t1, t2, t3))
    assert rows == [{"Id": b, "Modified": t1}, {"Id": e, "Modified": t1},
                    {"Id": c, "Modified": t2}, {"Id": d, "Modified": t2},
                    {"Id": a, "Modified": t3}]
    t1, t2 = (f"2025-01-01T10:00:0{s}.000Z" for s in (0, 1))
    # since is inclusive
    assert _ids(http.get("customer/readsync", params={"since": t2})) == [c, d, a]
    # afterId alone is exclusive on Id
    assert _ids(http.get("customer/readsync", params={"afterId": c})) == [e, d]
    # both: the cursor (Modified, Id) > (since, afterId), ties broken by Id
    assert _ids(http.get("customer/readsync", params={"since": t1, "afterId": b})) == [e, c, d, a]
    assert _ids(http.get("customer/readsync", params={"since": t2, "afterId": c})) == [d, a]
    assert _ids(http.get("customer/readsync", params={"since": t2, "afterId": d})) == [a]
    # paging with top/skip keeps the order
    assert _ids(http.get("customer/readsync", params={"top": 2})) == [b, e]
    assert _ids(http.get("customer/readsync", params={"top": 2, "skip": 2})) == [c, d]
    assert _ids(http.get("customer/readsync", params={"top": 2, "skip": 4})) == [a]


def test_readsync_sees_updates_and_archiving(http: httpx.Client, simon: SimonEmulator) -> None:
    world = seed_work_order(simon)
    order_id = world["work_order"]["Id"]
    last = http.get("workorder/readsync").json()[-1]
    assert wire_id(last["Id"]) == order_id
    cursor = {"since": last["Modified"], "afterId": last["Id"]}
    assert http.get("workorder/readsync", params=cursor).json() == []
    simon.clock.advance(5)
    archived = simon.archive_work_order(order_id)
    assert archived["Archived"] is True and archived["Status"] == "Completed"
    assert archived["ArchivedAt"] and archived["CompletedAt"]
    rows = wire_rows(http.get("workorder/readsync", params=cursor))
    assert rows == [{"Id": order_id, "Modified": parse(archived["Modified"])}]


def test_readsync_overlap_fault_repeats_rows(http: httpx.Client, simon: SimonEmulator) -> None:
    ids = [simon.seed("item", Code=f"A{i}", Modified="2025-01-01T10:00:00.000Z")["Id"]
           for i in range(8)]
    simon.faults.add("flag", name="overlap", path=r"/item/readsync")
    cursor = {"since": "2025-01-01T10:00:00.000Z", "afterId": ids[3]}
    # the page after the cursor starts up to 3 rows early (at most top - 1)
    assert _ids(http.get("item/readsync", params={**cursor, "top": 10})) == ids[1:]
    assert _ids(http.get("item/readsync", params={**cursor, "top": 3})) == ids[2:5]
    assert _ids(http.get("item/readsync", params={"top": 4, "skip": 4})) == ids[1:5]
    simon.faults.clear()
    assert _ids(http.get("item/readsync", params={**cursor, "top": 3})) == ids[4:7]


def test_readsync_parameters_are_checked(http: httpx.Client) -> None:
    assert_error(http.get("customer/readsync", params={"since": "gisteren"}), 400,
                 "Validation", "since")
    assert_error(http.get("customer/readsync", params={"afterId": "x"}), 400, "Validation",
                 "afterId")
    assert_error(http.get("customer/readsync", params={"Name": "x"}), 400, "Validation", "Name")


# --- digitalpresentation --------------------------------------------------------------


def test_digital_presentations_are_pdfs(http: httpx.Client, simon: SimonEmulator) -> None:
    world = seed_work_order(simon)
    survey = simon.seed("workordersurvey", WorkOrderId=world["work_order"]["Id"],
                        SurveyName="Opleverformulier", Answers=[
                            {"QuestionId": "q1", "Question": "Lekt er iets?", "Type": "checkbox",
                             "Answer": False}])
    answer = http.get(f"workorder/digitalpresentation/{world['work_order']['Id']}")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/pdf"
    text = PdfReader(io.BytesIO(answer.content)).pages[0].extract_text()
    assert world["work_order"]["Number"] in text and "Klant 1" in text
    form = http.get(f"workordersurvey/digitalpresentation/{survey['Id']}")
    assert form.headers["Content-Type"] == "application/pdf"
    form_text = PdfReader(io.BytesIO(form.content)).pages[0].extract_text()
    assert "Opleverformulier" in form_text and "Lekt er iets?" in form_text
    assert_error(http.get("workorder/digitalpresentation/999999"), 404, "NotFound")
    assert_error(http.get(f"workordersurvey/digitalpresentation/{world['work_order']['Id']}"),
                 404, "NotFound")


# --- counting and inspection ----------------------------------------------------------


def test_reads_are_not_writes(http: httpx.Client, simon: SimonEmulator) -> None:
    seed_work_order(simon)
    for table in ("customer", "location", "item", "workorder"):
        http.get(f"{table}/read")
        http.get(f"{table}/readsync")
    assert simon.writes == 0
    assert simon.stats.count("POST", "/insert") == 0
    assert simon.stats.count("GET", "/readsync") == 4


def test_inspection_api(emulators: EmulatorServer, http: httpx.Client,
                        simon: SimonEmulator) -> None:
    base = f"{emulators.url}/_emulator/simon"
    made = httpx.post(f"{base}/tables/customer", json=[{"Name": "A", "ExtKey": "1"},
                                                       {"Name": "B"}])
    assert made.status_code == 201 and [r["Name"] for r in made.json()] == ["A", "B"]
    location = httpx.post(f"{base}/tables/location",
                          json={"Name": "A", "CustomerId": made.json()[0]["Id"]}).json()
    order = httpx.post(f"{base}/tables/workorder", json={"LocationId": location["Id"]}).json()
    assert httpx.get(f"{base}/tables/customer").json() == simon.list("customer")
    assert httpx.get(f"{base}/tables/workorder/{order['Id']}").json()["Archived"] is False
    archived = httpx.post(f"{base}/workorders/{order['Id']}/archive").json()
    assert archived["Archived"] is True
    bad = httpx.post(f"{base}/tables/location", json={"Name": "x", "CustomerId": 1})
    assert_error(bad, 422, "InvalidReference", "CustomerId")
    assert httpx.get(f"{base}/writes").json()["total"] == 0
    http.post("item/insert", json={"Code": "A"})
    assert httpx.get(f"{base}/writes").json() == {
        "total": 1, "byTable": [{"table": "item", "verb": "insert", "count": 1}]}
    rule = httpx.post(f"{base}/faults", json={"fault": "status", "status": 500,
                                              "path": "/item/read", "times": 1})
    assert rule.status_code == 201
    assert_error(http.get("item/read"), 500, "ServerError")
    assert http.get("item/read").status_code == 200
    stats = httpx.get(f"{base}/stats").json()
    assert stats["byStatus"]["500"] == 1
    httpx.post(f"{base}/config", json={"tokenTtl": 60})
    assert simon.token_ttl == 60
    httpx.post(f"{base}/clock", json={"advance": 3601})  # the token was issued for an hour
    assert_error(http.get("item/read"), 401, "Unauthorized")
    made = httpx.post(f"{base}/generate", json={"seed": 4, "workOrders": 3}).json()
    assert made["workOrders"] == 3 and made["users"] == 5
    assert len(simon.list("workorder")) == 4
