"""Typed Simon records (api/simon.md 5.4). Attributes are snake_case for domain code; the
PascalCase wire names are aliases and never leave this package.

Every field is optional so that a partial record is an update of just those fields
(`update(Customer(id=5, name="Nieuw"))`); only the fields that were set go on the wire.
Decimals are `Decimal` in Python and JSON numbers on the wire.
"""

from __future__ import annotations

import datetime as dt
from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_pascal


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


Number = Annotated[Decimal, PlainSerializer(_number, when_used="json")]

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

    id: int
    ext_key: str = ""


class Change(SimonModel):
    """What `readsync` answers: a changed record's `Id` and `Modified`; also the cursor."""

    id: int
    modified: datetime


class SimonRecord(SimonModel):
    """The fields every Simon table has (5.2). `table` is the lower-case name in paths."""

    table: ClassVar[str] = ""
    server_fields: ClassVar[frozenset[str]] = frozenset({"id", "created", "modified"})

    id: int | None = None
    ext_key: str | None = None
    created: datetime | None = None
    modified: datetime | None = None

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

    name: str | None = None
    street: str | None = None
    house_number: str | None = None
    address2: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country: str | None = None
    remark: str | None = None


class Customer(_Addressed):
    table: ClassVar[str] = "customer"

    number: str | None = None
    email: str | None = None
    phone: str | None = None
    vat_number: str | None = None


class Location(_Addressed):
    """A work address (werkadres); `customer_id` is None for a location without customer."""

    table: ClassVar[str] = "location"

    customer_id: int | None = None


class Contact(SimonRecord):
    table: ClassVar[str] = "contact"

    customer_id: int | None = None
    location_id: int | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None


class ItemGroup(SimonRecord):
    table: ClassVar[str] = "itemgroup"

    name: str | None = None


class Item(SimonRecord):
    table: ClassVar[str] = "item"

    code: str | None = None
    description: str | None = None
    unit: str | None = None
    price: Number | None = None
    vat_code: str | None = None
    item_group_id: int | None = None


class User(SimonRecord):
    """A Simon user; `kind` is FIELD_USER or OFFICE_USER. Read-only for the integration."""

    table: ClassVar[str] = "user"

    name: str | None = None
    email: str | None = None
    kind: str | None = None


class WorkOrder(SimonRecord):
    table: ClassVar[str] = "workorder"

    number: str | None = None
    location_id: int | None = None
    customer_id: int | None = None
    reference: str | None = None
    description: str | None = None
    work_performed: str | None = None
    status: str | None = None
    completed_at: datetime | None = None
    archived: bool | None = None
    archived_at: datetime | None = None
    planned_date: date | None = None


class Scheduling(SimonRecord):
    table: ClassVar[str] = "scheduling"

    work_order_id: int | None = None
    user_id: int | None = None
    start: datetime | None = None
    end: datetime | None = None


class TimeSheet(SimonRecord):
    """Work or travel time; `minutes` is authoritative, start/end are informational."""

    table: ClassVar[str] = "timesheet"

    work_order_id: int | None = None
    user_id: int | None = None
    date: dt.date | None = None
    start: time | None = None
    end: time | None = None
    break_minutes: int | None = None
    minutes: int | None = None
    kind: str | None = None
    item_id: int | None = None
    remark: str | None = None


class UsedItem(SimonRecord):
    """Material booked on a work order; `price` is a unit price (None: the ERP prices it)."""

    table: ClassVar[str] = "useditem"

    work_order_id: int | None = None
    item_id: int | None = None
    code: str | None = None
    description: str | None = None
    quantity: Number | None = None
    unit: str | None = None
    price: Number | None = None
    user_id: int | None = None


class SurveyAnswer(SimonModel):
    """One answer of a form; signature and photo answers are `data:image/png;base64,...`."""

    question_id: str
    question: str
    type: str
    answer: bool | int | Number | str | None = None


class WorkOrderSurvey(SimonRecord):
    table: ClassVar[str] = "workordersurvey"

    work_order_id: int | None = None
    survey_name: str | None = None
    completed_at: datetime | None = None
    answers: list[SurveyAnswer] = Field(default_factory=list)


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
            def start(s: Scheduling) -> tuple[bool, datetime | None, int]:
                return (s.start is None, s.start, s.id or 0)
            return min(planned, key=start).user_id
        for sheet in sorted(self.time_sheets, key=lambda t: (t.date is None, t.date, t.id or 0)):
            if sheet.user_id is not None:
                return sheet.user_id
        return None
