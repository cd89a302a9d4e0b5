"""The forms a record takes on the wire. api/simon.md asks readers to accept every reasonable
JSON form of a field ("Read tolerantly") and the emulator to serve more than one, so every
record read is served in a mix of forms chosen per record and field, deterministically from
the table and the record's Id (the same record always looks the same; its neighbours differ):

- ids (`Id` and references such as `WorkOrderId`, `ItemId`) as numbers or numeric strings;
- decimals and whole numbers (`Price`, `Quantity`, `Minutes`, `BreakMinutes`) as numbers or
  decimal strings;
- booleans (`Archived`) as `true`, `"true"` or `1`;
- date-times as `...Z` with milliseconds, with a `+01:00`-style offset (the same instant in
  Dutch time) or without a zone (UTC); never less precise than stored, so `Modified` names
  the same instant as `readsync` does;
- dates as `YYYY-MM-DD` or as a zoneless date-time at midnight;
- a time sheet's `Start`/`End` as `HH:MM`, `HH:MM:SS`, a zoneless local date-time or the
  instant with `Z`;
- form answers' `QuestionId` as a number when it is numeric;
- empty optional fields as `null` or left out, and unknown extra fields.

What is stored, what tests seed and what the inspection API shows stay in the one canonical
form (`SimonStore.public`); only the API's answers vary. Input validation is not affected.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from emulators.simon.schema import Table, parse_datetime

try:
    DUTCH_TIME: tzinfo = ZoneInfo("Europe/Amsterdam")
except ZoneInfoNotFoundError:  # no time zone database: local time is UTC
    DUTCH_TIME = UTC

EXTRA_FIELDS: tuple[tuple[str, Any], ...] = (
    ("RowVersion", "AAAAAAAB9xk="),
    ("Links", {"Self": "read"}),
    ("CustomFields", []),
    ("Color", "#2E7D32"),
    ("IsDeleted", False),
)


def rng_for(table: str, record_id: int) -> random.Random:
    return random.Random(f"simon-wire-{table}-{record_id}")


def _id(rng: random.Random, value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and rng.random() < 0.5:
        return str(value)
    return value


def _number(rng: random.Random, value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool) and rng.random() < 0.5:
        return str(value)
    return value


def _bool(rng: random.Random, value: Any) -> Any:
    if not isinstance(value, bool):
        return value
    form = rng.randrange(3)
    return value if form == 0 else ("true" if value else "false") if form == 1 else int(value)


def _datetime(rng: random.Random, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        moment = parse_datetime(value)
    except ValueError:
        return value
    form = rng.randrange(3)
    if form == 0:
        return value
    if form == 1:
        return moment.astimezone(DUTCH_TIME).isoformat(timespec="milliseconds")
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds")


def _date(rng: random.Random, value: Any) -> Any:
    if isinstance(value, str) and rng.random() < 0.4:
        return f"{value}T00:00:00"
    return value


def _clock(rng: random.Random, value: Any, day: Any) -> Any:
    if not isinstance(value, str):
        return value
    wall = time.fromisoformat(value)
    forms = 2 if not isinstance(day, str) else 4
    form = rng.randrange(forms)
    if form == 0:
        return value
    if form == 1:
        return wall.strftime("%H:%M:%S")
    local = datetime.combine(date.fromisoformat(day), wall)
    if form == 2:
        return local.isoformat()
    instant = local.replace(tzinfo=DUTCH_TIME).astimezone(UTC)
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def _answers(rng: random.Random, answers: Any) -> Any:
    if not isinstance(answers, list):
        return answers
    served = []
    for answer in answers:
        answer = dict(answer)
        question_id = answer.get("QuestionId")
        if isinstance(question_id, str) and question_id.isdigit() and rng.random() < 0.5:
            answer["QuestionId"] = int(question_id)
        served.append(answer)
    return served


def varied(table: Table, record: Mapping[str, Any]) -> dict[str, Any]:
    """`record` (as `SimonStore.public` gives it) in this record's mix of wire forms."""
    rng = rng_for(table.name, record["Id"])
    out: dict[str, Any] = {}
    drop_nulls = rng.random() < 0.5
    for name, value in record.items():
        spec = table.fields.get(name)
        if value is None and drop_nulls and spec is not None and not spec.required:
            continue
        if name == "Id":
            value = _id(rng, value)
        elif name in ("Created", "Modified"):
            value = _datetime(rng, value)
        elif name == "ExtKey":
            value = None if value == "" and rng.random() < 0.3 else value
        elif spec is None:
            pass
        elif spec.references is not None:
            value = _id(rng, value)
        elif spec.type in ("int", "decimal"):
            value = _number(rng, value)
        elif spec.type == "bool":
            value = _bool(rng, value)
        elif spec.type == "datetime":
            value = _datetime(rng, value)
        elif spec.type == "date":
            value = _date(rng, value)
        elif spec.type == "time":
            value = _clock(rng, value, record.get("Date"))
        elif spec.type == "answers":
            value = _answers(rng, value)
        out[name] = value
    for name, extra in rng.sample(EXTRA_FIELDS, k=rng.randrange(3)):
        out[name] = extra
    return out


def varied_row(table: Table, row: Mapping[str, Any]) -> dict[str, Any]:
    """A row of `read` (`Id`, `ExtKey`) or `readsync` (`Id`, `Modified`) in its mix of forms."""
    rng = rng_for(f"{table.name}-row", row["Id"])
    out = dict(row)
    out["Id"] = _id(rng, row["Id"])
    if "Modified" in out:
        out["Modified"] = _datetime(rng, row["Modified"])
    if out.get("ExtKey") == "" and rng.random() < 0.3:
        out["ExtKey"] = None
    return out
