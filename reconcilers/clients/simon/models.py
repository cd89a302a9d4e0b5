"""Typed Simon records (api/simon.md 5.4). Attributes are snake_case for domain code; the
PascalCase wire names are aliases and never leave this package.

Every field is optional so that a partial record is an update of just those fields
(`update(Customer(id=5, name="Nieuw"))`); only the fields that were set go on the wire.
Decimals are `Decimal` in Python and JSON numbers on the wire.

Reading is tolerant (api/simon.md, "Read tolerantly"): the contract is a proposal, so every
reasonable JSON form of a field is accepted. Ids as numbers or numeric strings, decimals as
numbers or decimal strings, booleans as `true`, `"true"`, `1`, `"1"`, date-times with or
without a zone (a zoneless one is UTC), `Start`/`End` of a time sheet as a time of day or a
full date-time, `null` or `""` for any value that is absent, unknown extra fields. What a
field still cannot be read as decides by the field:
- informational fields (`INFORMATIONAL`: shown on a PDF at most, never booked) read as None;
- every other field raises a pydantic ValidationError of type `unreadable` naming the value;
  the client turns that into one `UnreadableRecordError` for that record.
Writes stay strict: a model serialises to exactly the documented wire form.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)
from pydantic.alias_generators import to_pascal
from pydantic_core import PydanticCustomError

from reconcilers.text import quoted

try:
    LOCAL_TIME: tzinfo = ZoneInfo("Europe/Amsterdam")
except ZoneInfoNotFoundError:  # no time zone database: wall times in UTC rather than fail
    LOCAL_TIME = UTC
"""The zone a time sheet's wall-clock time is in when Simon sends it as an instant."""

UNREADABLE = "unreadable"
"""The pydantic error type of a needed field whose value has no usable form."""

QUOTE_SHORT = 60
"""How many characters of a refused value a problem quotes."""


class Unreadable(ValueError):
    """A value that has no usable form for its field; the text says why (`is not a number`)."""


# --- tolerant parsers: the wire value (never None) to the Python value ------------------------

_INTEGER = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_CLOCK = re.compile(r"(\d{1,2})[:.](\d{2})(?:[:.](\d{2})(?:[.,]\d+)?)?")
_DUTCH_DATE = re.compile(r"(\d{1,2})-(\d{1,2})-(\d{4})")
_DOTNET_DATE = re.compile(r"/Date\((-?\d+)([+-]\d{4})?\)/")
_TRUE = frozenset({"true", "1", "yes", "y", "ja", "j", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "nee", "off"})


def _blank(value: Any) -> bool:
    return isinstance(value, str) and not value.strip()


def parse_id(value: Any) -> int:
    """An id: a whole JSON number or a string of digits."""
    if isinstance(value, bool):
        raise Unreadable("is not an id")
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal | float):
        try:
            if value == int(value):
                return int(value)
        except (ValueError, OverflowError):
            pass
        raise Unreadable("is not an id")
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    raise Unreadable("is not an id")


def parse_decimal(value: Any) -> Decimal:
    """A decimal: a JSON number or a string like `"4.55"`, `"-2"`, `"1e3"`. A decimal comma
    (`"4,55"`) is refused: `"1,000"` may mean one or a thousand, and guessing would book the
    wrong amount."""
    if isinstance(value, bool):
        raise Unreadable("is not a number")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal | float):
        number = Decimal(str(value)) if isinstance(value, float) else value
        if number.is_finite():
            return number
        raise Unreadable("is not a number")
    if isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            pass
    raise Unreadable("is not a number")


def parse_whole(value: Any) -> int:
    """A whole number (minutes) in any number form: `90`, `"90"`, `90.0`."""
    try:
        number = parse_decimal(value)
    except Unreadable:
        raise Unreadable("is not a whole number") from None
    if number != number.to_integral_value():
        raise Unreadable("is not a whole number")
    return int(number)


def parse_bool(value: Any) -> bool:
    """`true`/`false`, `1`/`0`, or such a word as a string (`"true"`, `"ja"`, `"0"`)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | Decimal | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise Unreadable("is not true or false")


def parse_text(value: Any) -> str:
    """Text; a number is taken as its digits (`"Number": 24017`)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value == value:
        return str(Decimal(str(value)))
    raise Unreadable("is not text")


def parse_datetime(value: Any) -> datetime:
    """An instant in UTC: ISO 8601 with `Z`, an offset or none (then UTC), a bare date
    (midnight UTC), or .NET's `/Date(ms)/`."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        text = value.strip()
        dotnet = _DOTNET_DATE.fullmatch(text)
        if dotnet:
            try:
                return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
                    milliseconds=int(dotnet.group(1)))
            except OverflowError:
                raise Unreadable("is not a date-time") from None
        if len(text) >= 8 and text[:4].isdigit():
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                pass
            else:
                return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    raise Unreadable("is not a date-time")


def parse_date(value: Any) -> date:
    """A calendar date: `YYYY-MM-DD`, `DD-MM-YYYY`, or the date of a date-time (in local
    time when the date-time has a zone)."""
    if isinstance(value, datetime):
        return value.astimezone(LOCAL_TIME).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        dutch = _DUTCH_DATE.fullmatch(text)
        try:
            if dutch:
                return date(int(dutch.group(3)), int(dutch.group(2)), int(dutch.group(1)))
            if len(text) in (8, 10):
                return date.fromisoformat(text)
        except ValueError:
            raise Unreadable("is not a date") from None
        if len(text) > 10 and text[:4].isdigit():
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                pass
            else:
                return parse_date(moment)
    raise Unreadable("is not a date")


def parse_time_of_day(value: Any) -> time:
    """A wall-clock time: `08:15`, `8:15`, `08:15:00`, or the local time of a date-time
    (a zoneless date-time is taken as written)."""
    if isinstance(value, datetime):
        local = value.astimezone(LOCAL_TIME) if value.tzinfo else value
        return local.time().replace(tzinfo=None)
    if isinstance(value, time):
        return value.replace(tzinfo=None)
    if isinstance(value, str):
        text = value.strip()
        clock = _CLOCK.fullmatch(text)
        if clock:
            try:
                return time(int(clock.group(1)), int(clock.group(2)), int(clock.group(3) or 0))
            except ValueError:
                raise Unreadable("is not a time of day") from None
        try:
            if len(text) > 10:  # a date-time; without a zone it is the wall time as written
                return parse_time_of_day(datetime.fromisoformat(text))
            return time.fromisoformat(text).replace(tzinfo=None)
        except ValueError:
            pass
    raise Unreadable("is not a time of day")


def parse_answer(value: Any) -> bool | int | Decimal | str:
    """A form answer: a string, number or boolean as sent; a list of them (a multiple
    choice) joined by ", "."""
    if isinstance(value, bool | int | Decimal | str):
        return value
    if isinstance(value, float) and value == value:
        return Decimal(str(value))
    if isinstance(value, list) and all(
            isinstance(v, str | int | Decimal) for v in value):
        return ", ".join(str(v) for v in value)
    raise Unreadable("is not an answer (text, number or true/false)")


def parse_answers(value: Any) -> list[Any]:
    """The list of a survey's answers; also when sent as a JSON text holding that list."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise Unreadable("is not a list of answers") from None
    if isinstance(value, list):
        return value
    raise Unreadable("is not a list of answers")


# --- field types --------------------------------------------------------------------------------


def _reader(parse: Callable[[Any], Any], *, needed: bool, empty: Any = None,
            required: bool = False) -> BeforeValidator:
    """A pydantic before-validator from a parser. An absent value (`null`, `""`) is `empty`
    (an `unreadable` error when `required`); a value the parser refuses is `empty` for an
    informational field and an `unreadable` error for a needed one."""

    def read(value: Any) -> Any:
        if value is None or (_blank(value) and parse is not parse_text):
            if required:
                raise PydanticCustomError(UNREADABLE, "{value} {reason}", {
                    "value": quoted(value, QUOTE_SHORT), "reason": "is missing"})
            return empty
        try:
            return parse(value)
        except Unreadable as problem:
            if not needed:
                return empty
            raise PydanticCustomError(UNREADABLE, "{value} {reason}", {
                "value": quoted(value, QUOTE_SHORT), "reason": str(problem)}) from None

    return BeforeValidator(read)


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _clock(value: time) -> str:
    return value.strftime("%H:%M")


_AS_NUMBER = PlainSerializer(_number, when_used="json")

Id = Annotated[int | None, _reader(parse_id, needed=True)]
Number = Annotated[Decimal | None, _reader(parse_decimal, needed=True), _AS_NUMBER]
Whole = Annotated[int | None, _reader(parse_whole, needed=True)]
Flag = Annotated[bool | None, _reader(parse_bool, needed=True)]
Text = Annotated[str | None, _reader(parse_text, needed=True)]
Moment = Annotated[datetime | None, _reader(parse_datetime, needed=True)]
Key = Annotated[int, _reader(parse_id, needed=True, required=True)]
"""An id that must be there (the rows of `read` and `readsync`)."""

# Informational fields (INFORMATIONAL): never a reason to refuse a record.
Note = Annotated[str | None, _reader(parse_text, needed=False)]
InfoMoment = Annotated[datetime | None, _reader(parse_datetime, needed=False)]
InfoDate = Annotated[date | None, _reader(parse_date, needed=False)]
InfoClock = Annotated[time | None, _reader(parse_time_of_day, needed=False),
                      PlainSerializer(_clock, when_used="json")]
InfoWhole = Annotated[int | None, _reader(parse_whole, needed=False)]

INFORMATIONAL = frozenset({
    "Created", "Remark", "Date", "Start", "End", "BreakMinutes", "CompletedAt", "PlannedDate",
})
"""Wire fields read as None when they cannot be read: shown at most, never booked."""

# Values of the enumerated fields (kept as plain strings so an unknown value Simon adds
# later does not break reading).
WORK = "Work"
TRAVEL = "Travel"
FIELD_USER = "Field"
OFFICE_USER = "Office"
STATUS_OPEN = "Open"
STATUS_PLANNED = "Planned"
STATUS_IN_PROGRESS = "InProgress"
STATUS_COMPLETED = "Completed"


class SimonModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_pascal, populate_by_name=True, extra="ignore",
    )


class KeyPair(SimonModel):
    """What `read` answers: a record's Simon `Id` and its `ExtKey` ("" = made in Simon)."""

    id: Key
    ext_key: Annotated[str, _reader(parse_text, needed=True, empty="")] = ""


class Change(SimonModel):
    """What `readsync` answers: a changed record's `Id` and `Modified`; also the cursor."""

    id: Key
    modified: Annotated[datetime, _reader(parse_datetime, needed=True, required=True)]


class SimonRecord(SimonModel):
    """The fields every Simon table has (5.2). `table` is the lower-case name in paths."""

    table: ClassVar[str] = ""
    server_fields: ClassVar[frozenset[str]] = frozenset({"id", "created", "modified"})

    id: Id = None
    ext_key: Annotated[str | None, _reader(parse_text, needed=True, empty="")] = None
    """The Visma.net key; "" (also when Simon sends null) for a record made in Simon."""
    created: InfoMoment = None
    modified: Moment = None

    def wire(self, *, with_id: bool) -> dict[str, Any]:
        """The JSON body of insert (`with_id=False`) or update: only the fields that were
        set, server-set fields left out."""
        exclude = set(self.server_fields)
        if with_id:
            exclude.discard("id")
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True,
                               exclude=exclude)


class _Addressed(SimonRecord):
    """The address fields Customer and Location share (api/simon.md 5.4)."""

    name: Text = None
    street: Text = None
    house_number: Text = None
    address2: Text = None
    postal_code: Text = None
    city: Text = None
    country: Text = None
    remark: Note = None


class Customer(_Addressed):
    table: ClassVar[str] = "customer"

    number: Text = None
    email: Text = None
    phone: Text = None
    vat_number: Text = None


class Location(_Addressed):
    """A work address (werkadres); `customer_id` is None for a location without customer."""

    table: ClassVar[str] = "location"

    customer_id: Id = None


class Contact(SimonRecord):
    table: ClassVar[str] = "contact"

    customer_id: Id = None
    location_id: Id = None
    name: Text = None
    email: Text = None
    phone: Text = None


class ItemGroup(SimonRecord):
    table: ClassVar[str] = "itemgroup"

    name: Text = None


class Item(SimonRecord):
    table: ClassVar[str] = "item"

    code: Text = None
    description: Text = None
    unit: Text = None
    price: Number = None
    vat_code: Text = None
    item_group_id: Id = None


class User(SimonRecord):
    """A Simon user; `kind` is FIELD_USER or OFFICE_USER. Read-only for the integration."""

    table: ClassVar[str] = "user"

    name: Text = None
    email: Text = None
    kind: Text = None


class WorkOrder(SimonRecord):
    table: ClassVar[str] = "workorder"

    number: Text = None
    location_id: Id = None
    customer_id: Id = None
    reference: Text = None
    description: Text = None
    work_performed: Text = None
    status: Text = None
    completed_at: InfoMoment = None
    archived: Flag = None
    archived_at: Moment = None
    planned_date: InfoDate = None


class Scheduling(SimonRecord):
    """A user planned on a work order. `start`/`end` are instants; one sent as a bare time
    of day (no date) reads as None: it cannot be placed among other days."""

    table: ClassVar[str] = "scheduling"

    work_order_id: Id = None
    user_id: Id = None
    start: InfoMoment = None
    end: InfoMoment = None


class TimeSheet(SimonRecord):
    """Work or travel time; `minutes` is authoritative, date/start/end/break are
    informational. `start`/`end` are wall-clock times; sent as date-times they read as local
    time, and the date comes from `start` when `Date` is not there."""

    table: ClassVar[str] = "timesheet"

    work_order_id: Id = None
    user_id: Id = None
    date: InfoDate = None
    start: InfoClock = None
    end: InfoClock = None
    break_minutes: InfoWhole = None
    minutes: Whole = None
    kind: Text = None
    item_id: Id = None
    remark: Note = None

    @model_validator(mode="before")
    @classmethod
    def _date_from_start(cls, data: Any) -> Any:
        if not isinstance(data, dict) or _readable(parse_date, data.get("Date")):
            return data
        start = data.get("Start")
        if isinstance(start, str) and len(start.strip()) > 10 and _readable(parse_date, start):
            return {**data, "Date": parse_date(start)}
        return data


def _readable(parse: Callable[[Any], Any], value: Any) -> bool:
    if value is None or _blank(value):
        return False
    try:
        parse(value)
    except Unreadable:
        return False
    return True


class UsedItem(SimonRecord):
    """Material booked on a work order; `price` is a unit price (None: the ERP prices it)."""

    table: ClassVar[str] = "useditem"

    work_order_id: Id = None
    item_id: Id = None
    code: Text = None
    description: Text = None
    quantity: Number = None
    unit: Text = None
    price: Number = None
    user_id: Id = None


class SurveyAnswer(SimonModel):
    """One answer of a form; signature and photo answers are `data:image/png;base64,...`.
    `question_id` is text whether Simon sends it as a number or a string."""

    question_id: Text = None
    question: Text = None
    type: Text = None
    answer: Annotated[bool | int | Number | str | None, _reader(parse_answer, needed=True)] \
        = None


class WorkOrderSurvey(SimonRecord):
    table: ClassVar[str] = "workordersurvey"

    work_order_id: Id = None
    survey_name: Text = None
    completed_at: InfoMoment = None
    answers: Annotated[list[SurveyAnswer], _reader(parse_answers, needed=True, empty=[])] = \
        Field(default_factory=list)


RECORD_TYPES: dict[str, type[SimonRecord]] = {
    model.table: model
    for model in (Customer, Location, Contact, ItemGroup, Item, User, WorkOrder, Scheduling,
                  TimeSheet, UsedItem, WorkOrderSurvey)
}


class WorkOrderDetails(BaseModel):
    """A work order with everything the integration needs to book it (api/simon.md 5.5)."""

    work_order: WorkOrder
    location: Location | None = None
    customer: Customer | None = None
    schedulings: list[Scheduling] = Field(default_factory=list)
    time_sheets: list[TimeSheet] = Field(default_factory=list)
    used_items: list[UsedItem] = Field(default_factory=list)
    surveys: list[WorkOrderSurvey] = Field(default_factory=list)
    user: User | None = None

    @property
    def user_id(self) -> int | None:
        """The user of the earliest scheduling, else of the first time sheet."""
        planned = [s for s in self.schedulings if s.user_id is not None]
        if planned:
            def start(s: Scheduling) -> tuple[bool, datetime, int]:
                return (s.start is None, _instant(s.start), s.id or 0)
            return min(planned, key=start).user_id
        for sheet in sorted(self.time_sheets, key=lambda t: (t.date is None, t.date or date.min,
                                                             t.id or 0)):
            if sheet.user_id is not None:
                return sheet.user_id
        return None


def _instant(moment: datetime | None) -> datetime:
    """A comparable instant: zoneless values (made in Python) count as UTC."""
    if moment is None:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

