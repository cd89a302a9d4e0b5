"""Reading Simon records tolerantly (api/simon.md, "Read tolerantly"): every allowed form of
every field of every table is read, with extra and missing fields and hostile text; a value
that cannot be read is None for an informational field and an UnreadableRecordError naming
the record for a needed one, never any other exception."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulators.simon.schema import TABLES, FieldSpec
from reconcilers.clients.http import UnreadableRecordError
from reconcilers.clients.simon.client import read_record
from reconcilers.clients.simon.models import (
    INFORMATIONAL,
    LOCAL_TIME,
    RECORD_TYPES,
    Scheduling,
    SurveyAnswer,
    TimeSheet,
    UsedItem,
    WorkOrder,
    WorkOrderSurvey,
)
from reconcilers.text import read_json

MISSING = object()
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _hostile_texts() -> list[str]:
    here = Path(__file__).resolve()
    for folder in here.parents:
        found = folder / "shared" / "data" / "hostile-text.json"
        if found.is_file():
            cases = json.loads(found.read_text(encoding="utf-8"))["cases"]
            return [json.loads(case["json"]) for case in cases]
    return ["Loodgieter Lek\ud83d B.V.", "Pakking \udc00 set", "Factuur \u202etxt.exe",
            "WB-9\x1b[2J\x1b]0;pwned\x07", "a\x00b", "O'Brien \"De Zwaan\" B.V.", ""]


HOSTILE = _hostile_texts()
TEXT = st.one_of(st.text(max_size=20), st.sampled_from(HOSTILE))
JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=5,
)
ZONES = st.sampled_from([UTC, LOCAL_TIME, None])
MOMENTS = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1))


def _json(value: Any) -> str:
    """JSON text as Simon may send it: Decimals as JSON numbers, lone surrogates escaped."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_json(v) for v in value) + "]"
    return json.dumps(value)


def read(model: type, body: Any, **where: Any) -> Any:
    """A record through the client's reading path: the JSON answer read (text repaired,
    fractions as Decimal), then the tolerant reader."""
    answer = httpx.Response(200, content=_json(body).encode("ascii"))
    return read_record(model, read_json(answer, decimals=True), **where)


# --- the allowed wire forms, with what each means -------------------------------------------


@st.composite
def an_id(draw: st.DrawFn) -> tuple[Any, int]:
    value = draw(st.integers(min_value=1, max_value=2 ** 40))
    form = draw(st.sampled_from(["int", "str", "padded", "float"]))
    wire = {"int": value, "str": str(value), "padded": f" {value} ",
            "float": Decimal(f"{value}.0")}[form]
    return wire, value


@st.composite
def a_decimal(draw: st.DrawFn) -> tuple[Any, Decimal]:
    value = draw(st.decimals(min_value=-10 ** 6, max_value=10 ** 6, places=3,
                             allow_nan=False, allow_infinity=False))
    form = draw(st.sampled_from(["number", "str", "int"]))
    if form == "int":
        whole = int(value)
        return draw(st.sampled_from([whole, str(whole)])), Decimal(whole)
    return (value if form == "number" else str(value)), value


@st.composite
def a_whole(draw: st.DrawFn) -> tuple[Any, int]:
    value = draw(st.integers(min_value=0, max_value=10 ** 5))
    return draw(st.sampled_from([value, str(value), Decimal(value), f"{value}.0"])), value


@st.composite
def a_bool(draw: st.DrawFn) -> tuple[Any, bool]:
    value = draw(st.booleans())
    forms = [value, int(value), str(int(value)), "true" if value else "false",
             "TRUE" if value else "False", "ja" if value else "nee"]
    return draw(st.sampled_from(forms)), value


@st.composite
def a_moment(draw: st.DrawFn) -> tuple[Any, datetime]:
    naive = draw(MOMENTS).replace(microsecond=draw(st.integers(0, 999)) * 1000)
    zone = draw(ZONES)
    moment = naive.replace(tzinfo=zone) if zone else naive
    forms = [moment.isoformat(), moment.isoformat(timespec="milliseconds"),
             moment.isoformat(sep=" ")]
    if zone is UTC:
        forms.append(moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z")
    form = draw(st.sampled_from(forms))
    meant = datetime.fromisoformat(form)  # the offset as written (a DST fold is no guess)
    return form, meant if meant.tzinfo else meant.replace(tzinfo=UTC)


@st.composite
def a_date(draw: st.DrawFn) -> tuple[Any, date]:
    day = draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)))
    forms = [day.isoformat(), f"{day.isoformat()}T00:00:00", day.strftime("%d-%m-%Y")]
    return draw(st.sampled_from(forms)), day


@st.composite
def a_clock(draw: st.DrawFn) -> tuple[Any, time]:
    wall = time(draw(st.integers(0, 23)), draw(st.integers(0, 59)))
    day = draw(st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 1, 1)))
    local = datetime.combine(day, wall)
    forms = [wall.strftime("%H:%M"), wall.strftime("%H:%M:%S"), local.isoformat(),
             local.replace(tzinfo=LOCAL_TIME).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
             local.replace(tzinfo=LOCAL_TIME).isoformat()]
    return draw(st.sampled_from(forms)), wall


@st.composite
def a_text(draw: st.DrawFn) -> tuple[Any, str]:
    if draw(st.booleans()):
        number = draw(st.integers(min_value=0, max_value=10 ** 9))
        return number, str(number)
    text = draw(TEXT)
    return text, text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


@st.composite
def an_answer(draw: st.DrawFn) -> tuple[Any, dict[str, Any]]:
    number = draw(st.integers(min_value=1, max_value=10 ** 6))
    question_id, meant_id = draw(st.one_of(a_text(), st.just((number, str(number))),
                                           st.just((str(number), str(number)))))
    value = draw(st.one_of(st.none(), st.booleans(), st.integers(), TEXT,
                           st.decimals(allow_nan=False, allow_infinity=False, places=2)))
    wire = {"QuestionId": question_id, "Question": draw(TEXT),
            "Type": draw(st.sampled_from(["text", "checkbox", "number", "slider"])),
            "Answer": value}
    if draw(st.booleans()):
        wire["Extra"] = draw(JUNK)
    return wire, {"question_id": meant_id}


FORMS = {"int": an_id(), "decimal": a_decimal(), "bool": a_bool(), "datetime": a_moment(),
         "date": a_date(), "time": a_clock(), "str": a_text()}


def _form(table: str, name: str, spec: FieldSpec) -> st.SearchStrategy[tuple[Any, Any]]:
    if spec.type == "answers":
        return st.lists(an_answer(), max_size=3).map(
            lambda pairs: ([w for w, _ in pairs], [m for _, m in pairs]))
    if spec.type == "int" and spec.references is None:
        return a_whole()
    if table == "scheduling" and name in ("Start", "End"):
        return a_moment()
    return FORMS[spec.type]


@st.composite
def a_record(draw: st.DrawFn, table: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A record of `table` in allowed forms, some fields null or left out, unknown extra
    fields; with what each field that is there means."""
    fields = {"Id": FieldSpec("int", references="self"), "ExtKey": FieldSpec(),
              "Created": FieldSpec("datetime"), "Modified": FieldSpec("datetime"),
              **TABLES[table].fields}
    wire: dict[str, Any] = {}
    meant: dict[str, Any] = {}
    for name, spec in fields.items():
        choice = draw(st.sampled_from(["value", "value", "value", "null", "missing"]))
        if choice == "missing":
            continue
        if choice == "null":
            wire[name] = None
            continue
        wire[name], meant[name] = draw(_form(table, name, spec))
    for extra in draw(st.lists(st.text(min_size=1, max_size=8), max_size=3)):
        if extra not in fields:
            wire[extra] = draw(JUNK)
    return wire, meant


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_") \
        .replace("address2", "address2")


def _check_meaning(record: Any, meant: dict[str, Any]) -> None:
    for name, value in meant.items():
        attribute = {"ExtKey": "ext_key", "VatCode": "vat_code", "Address2": "address2"}.get(
            name, _snake(name))
        read = getattr(record, attribute)
        if name == "Answers":
            assert [a.question_id for a in read] == [m["question_id"] for m in value]
        elif isinstance(value, datetime):
            assert read == value, name
        elif isinstance(value, date):
            assert read == value, name
        elif isinstance(value, time):
            assert read == value, name
        elif isinstance(value, str) and isinstance(read, str):
            assert read == value or "\ufffd" in read, name
        else:
            assert read == value, name


# --- every allowed form is read --------------------------------------------------------------


@pytest.mark.parametrize("table", sorted(RECORD_TYPES))
@SETTINGS
@given(data=st.data())
def test_every_allowed_form_is_read(table: str, data: st.DataObject) -> None:
    wire, meant = data.draw(a_record(table))
    record = read(RECORD_TYPES[table], wire, table=table)
    _check_meaning(record, meant)


# --- junk: informational fields shrug, needed ones name the record ---------------------------


@pytest.mark.parametrize("table", sorted(RECORD_TYPES))
@SETTINGS
@given(data=st.data())
def test_junk_is_none_when_informational_and_an_error_when_needed(
        table: str, data: st.DataObject) -> None:
    wire, _ = data.draw(a_record(table))
    names = sorted(set(TABLES[table].fields) | {"Id", "ExtKey", "Created", "Modified"})
    spoiled = data.draw(st.lists(st.sampled_from(names), max_size=3, unique=True))
    for name in spoiled:
        wire[name] = data.draw(JUNK)
    # an object is no form of any field: a needed one spoiled with it must be refused
    must_fail = sorted(n for n in spoiled if n not in INFORMATIONAL
                       and isinstance(wire[n], dict))
    try:
        record = read(RECORD_TYPES[table], wire, table=table)
    except UnreadableRecordError as error:
        assert error.api == "Simon" and error.table == table
        named = {problem.split(":")[0].split(".")[0].split("[")[0] for problem in error.problems}
        assert named and named <= set(spoiled) - INFORMATIONAL, error.problems
        assert set(must_fail) <= named, (must_fail, error.problems)
    else:
        assert must_fail == [], must_fail
        for name in set(spoiled) & INFORMATIONAL - {"Date"}:  # Date may follow from Start
            if isinstance(wire[name], dict | list):
                assert getattr(record, _snake(name)) is None, name


NOT_A_NUMBER = ["veel", "4,55", "1.2.3", "NaN", "Infinity", True, [], {"value": 5}, "0x10"]


@pytest.mark.parametrize("value", NOT_A_NUMBER)
@pytest.mark.parametrize("name", ["Quantity", "Price"])
def test_an_unreadable_amount_is_never_none(name: str, value: Any) -> None:
    wire = {"Id": "5", "WorkOrderId": 9, "Description": "Kabel 3x2,5", "Quantity": 2,
            name: value}
    with pytest.raises(UnreadableRecordError) as caught:
        read(UsedItem, wire, table="useditem", parent="work order 24017")
    error = caught.value
    assert error.record_id == 5
    assert error.label == "used item 'Kabel 3x2,5' of work order 24017"
    assert len(error.problems) == 1 and error.problems[0].startswith(f"{name}: ")


@pytest.mark.parametrize(("wire", "problem"), [
    ({"Minutes": "anderhalf uur"}, "Minutes: 'anderhalf uur' is not a whole number"),
    ({"Minutes": 7.5}, "Minutes: '7.5' is not a whole number"),
    ({"Kind": {"Code": "Work"}}, "Kind: \"{'Code': 'Work'}\" is not text"),
    ({"ItemId": "UUR"}, "ItemId: 'UUR' is not an id"),
])
def test_needed_time_sheet_fields(wire: dict[str, Any], problem: str) -> None:
    with pytest.raises(UnreadableRecordError) as caught:
        read(TimeSheet, {"Id": 8, "Minutes": 60, "Kind": "Work", **wire},
                    table="timesheet", parent="work order 24017")
    assert caught.value.problems == [problem]
    assert caught.value.label == "time sheet 8 of work order 24017"


@pytest.mark.parametrize("value", ["gisteren", "25:99", {"h": 8}, [8, 15], True, "8 uur"])
def test_unreadable_informational_fields_are_none(value: Any) -> None:
    sheet = read(TimeSheet, {
        "Id": 8, "Minutes": "60", "Kind": "Work", "Start": value, "End": value,
        "Date": value, "BreakMinutes": value, "Remark": [value]}, table="timesheet")
    assert (sheet.start, sheet.end, sheet.date, sheet.break_minutes, sheet.remark) == \
        (None, None, None, None, None)
    assert sheet.minutes == 60
    order = read(WorkOrder, {"Id": 1, "CompletedAt": value, "PlannedDate": value,
                                    "Created": value}, table="workorder")
    assert (order.completed_at, order.planned_date, order.created) == (None, None, None)
    survey = read(WorkOrderSurvey, {"Id": 2, "CompletedAt": value},
                         table="workordersurvey")
    assert survey.completed_at is None


@pytest.mark.parametrize(("start", "end", "day", "clock"), [
    ("2026-01-15T08:15:00Z", "2026-01-15T09:45:00Z", date(2026, 1, 15), time(9, 15)),
    ("2026-07-15T08:15:00+02:00", None, date(2026, 7, 15), time(8, 15)),
    ("2026-01-15T08:15:00", "09:45", date(2026, 1, 15), time(8, 15)),
    ("08:15", "09:45:00", None, time(8, 15)),
    ("8:15", None, None, time(8, 15)),
])
def test_time_sheet_start_as_date_time_or_time_of_day(
        start: str, end: str | None, day: date | None, clock: time) -> None:
    """A date-time with a zone is shown in Dutch time; the date follows from it when Simon
    sends no `Date`."""
    sheet = read(TimeSheet, {"Id": 1, "Start": start, "End": end, "Minutes": 90,
                                    "Kind": "Work"}, table="timesheet")
    assert (sheet.date, sheet.start) == (day, clock)


def test_scheduling_start_forms_compare() -> None:
    """Zoned, zoneless and `Z` starts of one work order can be compared (the user of the
    earliest one is the work order's user); a bare time of day reads as None."""
    rows = [{"Id": 1, "UserId": "7", "Start": "2026-01-15T10:00:00Z"},
            {"Id": 2, "UserId": 8, "Start": "2026-01-15T10:30:00+01:00"},
            {"Id": 3, "UserId": "9", "Start": "2026-01-15T09:45:00"},
            {"Id": 4, "UserId": 10, "Start": "07:00"}]
    plans = [read(Scheduling, r, table="scheduling") for r in rows]
    assert plans[3].start is None
    earliest = min((p for p in plans if p.start), key=lambda p: p.start or datetime.min)
    assert earliest.user_id == 8
    assert plans[1].start == datetime(2026, 1, 15, 9, 30, tzinfo=UTC)
    assert plans[2].start - plans[1].start == timedelta(minutes=15)


@pytest.mark.parametrize(("wire", "meant"), [
    (True, True), ("true", True), ("True", True), (1, True), ("1", True), ("ja", True),
    (False, False), ("false", False), (0, False), ("0", False), (None, None), ("", None),
])
def test_archived_forms(wire: Any, meant: bool | None) -> None:
    assert read(WorkOrder, {"Id": 1, "Archived": wire}, table="workorder").archived \
        is meant


@pytest.mark.parametrize("wire", ["misschien", 2, [], {"value": True}])
def test_unreadable_archived_names_the_work_order(wire: Any) -> None:
    with pytest.raises(UnreadableRecordError) as caught:
        read(WorkOrder, {"Id": "31", "Number": 24017, "Archived": wire},
                    table="workorder")
    assert caught.value.label == "work order 24017" and caught.value.record_id == 31
    assert caught.value.problems[0].startswith("Archived: ")


def test_question_ids_and_answers() -> None:
    survey = read(WorkOrderSurvey, {"Id": 3, "Answers": json.dumps([
        {"QuestionId": 101, "Question": "CO", "Type": "number", "Answer": "1.5"},
        {"QuestionId": "werkplek", "Type": "checkbox", "Answer": ["a", "b"], "Score": 3},
        {"Answer": None},
    ])}, table="workordersurvey")
    assert [a.question_id for a in survey.answers] == ["101", "werkplek", None]
    assert survey.answers[1].answer == "a, b"
    with pytest.raises(UnreadableRecordError) as caught:
        read(WorkOrderSurvey, {"Id": 3, "SurveyName": "Oplevering", "Answers": [
            {"QuestionId": 1, "Answer": {"x": 1}}]}, table="workordersurvey",
            parent="work order 24017")
    assert caught.value.label == "form 'Oplevering' of work order 24017"
    assert caught.value.problems[0].startswith("Answers[0].Answer: ")


def test_a_record_that_is_not_an_object() -> None:
    for body in ([], "fout", None, 5):
        with pytest.raises(UnreadableRecordError) as caught:
            read(UsedItem, body, table="useditem", record_id=12)
        assert caught.value.record_id == 12


def test_writes_stay_in_the_documented_form() -> None:
    """What goes to Simon is exactly the documented form, whatever forms reading accepts."""
    sheet = TimeSheet(work_order_id=5, start=time(8, 15), date=date(2026, 1, 15), minutes=60,
                      kind="Work")
    assert sheet.wire(with_id=False) == {"WorkOrderId": 5, "Start": "08:15",
                                         "Date": "2026-01-15", "Minutes": 60, "Kind": "Work"}
    used = UsedItem(id=7, quantity=Decimal("2.50"), price=Decimal("4"))
    assert used.wire(with_id=True) == {"Id": 7, "Quantity": 2.5, "Price": 4}
    plan = Scheduling(start=datetime(2026, 1, 15, 8, 15, tzinfo=UTC))
    assert plan.wire(with_id=False) == {"Start": "2026-01-15T08:15:00Z"}
    assert SurveyAnswer(question_id="101").model_dump(by_alias=True)["QuestionId"] == "101"
