"""The Simon tables of api/simon.md 5.4: their fields, types, references and read filters,
and the validation of a request body against them.

Every table also has the common fields of 5.2: `Id` (server-assigned), `ExtKey` (<= 50,
empty or unique per table) and `Created`/`Modified` (server-set).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any, Literal

FieldType = Literal["str", "int", "decimal", "bool", "date", "datetime", "time", "answers"]

SERVER_FIELDS = ("Id", "Created", "Modified")
EXT_KEY_MAX = 50
SURVEY_ANSWER_TYPES = (
    "text", "checkbox", "radio", "dropdown", "signature", "photo", "number", "date",
)


class SimonError(Exception):
    """An error answer of the Simon API (5.7): status, `Code`, `Message`, optional `Field`."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"Code": self.code, "Message": self.message}
        if self.field:
            body["Field"] = self.field
        return body


def validation(field_name: str, message: str) -> SimonError:
    return SimonError(400, "Validation", message, field_name)


@dataclass(frozen=True)
class FieldSpec:
    type: FieldType = "str"
    required: bool = False
    max_length: int = 255
    references: str | None = None  # table a foreign key points to
    choices: tuple[str, ...] = ()
    default: Any = None


@dataclass(frozen=True)
class Table:
    name: str  # lower-case, as in the paths
    entity: str  # PascalCase entity name
    fields: dict[str, FieldSpec]
    filters: tuple[str, ...]
    derived_filters: tuple[str, ...] = field(default=())  # filters that are not plain fields

    def defaults(self) -> dict[str, Any]:
        return {
            name: (list(spec.default) if isinstance(spec.default, list) else spec.default)
            for name, spec in self.fields.items()
        }


def _fk(table: str, required: bool = False) -> FieldSpec:
    return FieldSpec("int", required=required, references=table)


TEXT = FieldSpec("str", max_length=4000)
SHORT = FieldSpec("str", max_length=50)

ADDRESS = {
    "Street": FieldSpec(),
    "HouseNumber": SHORT,
    "Address2": FieldSpec(),
    "PostalCode": FieldSpec("str", max_length=20),
    "City": FieldSpec(),
    "Country": FieldSpec("str", max_length=2),
}

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table("customer", "Customer", {
            "Number": SHORT,
            "Name": FieldSpec(required=True),
            **ADDRESS,
            "Email": FieldSpec(),
            "Phone": SHORT,
            "VatNumber": SHORT,
            "Remark": TEXT,
        }, filters=("ExtKey", "Name")),
        Table("location", "Location", {
            "CustomerId": _fk("customer"),
            "Name": FieldSpec(required=True),
            **ADDRESS,
            "Remark": TEXT,
        }, filters=("CustomerId", "ExtKey")),
        Table("contact", "Contact", {
            "CustomerId": _fk("customer"),
            "LocationId": _fk("location"),
            "Name": FieldSpec(required=True),
            "Email": FieldSpec(),
            "Phone": SHORT,
        }, filters=("ExtKey", "CustomerId", "LocationId")),
        Table("itemgroup", "ItemGroup", {
            "Name": FieldSpec(required=True),
        }, filters=("ExtKey", "Name")),
        Table("item", "Item", {
            "Code": FieldSpec("str", required=True, max_length=50),
            "Description": FieldSpec(),
            "Unit": FieldSpec("str", max_length=20),
            "Price": FieldSpec("decimal"),
            "VatCode": FieldSpec("str", max_length=20),
            "ItemGroupId": _fk("itemgroup"),
        }, filters=("ExtKey", "Code", "ItemGroupId")),
        Table("user", "User", {
            "Name": FieldSpec(required=True),
            "Email": FieldSpec(),
            "Kind": FieldSpec(choices=("Field", "Office"), default="Field"),
        }, filters=("ExtKey", "Email", "Kind")),
        Table("workorder", "WorkOrder", {
            "Number": SHORT,
            "LocationId": _fk("location", required=True),
            "CustomerId": _fk("customer"),
            "Reference": FieldSpec(),
            "Description": TEXT,
            "WorkPerformed": TEXT,
            "Status": FieldSpec(
                choices=("Open", "Planned", "InProgress", "Completed"), default="Open"
            ),
            "CompletedAt": FieldSpec("datetime"),
            "Archived": FieldSpec("bool", default=False),
            "ArchivedAt": FieldSpec("datetime"),
            "PlannedDate": FieldSpec("date"),
        }, filters=("ExtKey", "CustomerId", "LocationId", "Archived"),
            derived_filters=("ArchivedSince",)),
        Table("scheduling", "Scheduling", {
            "WorkOrderId": _fk("workorder", required=True),
            "UserId": _fk("user", required=True),
            "Start": FieldSpec("datetime"),
            "End": FieldSpec("datetime"),
        }, filters=("WorkOrderId", "UserId", "ExtKey")),
        Table("timesheet", "TimeSheet", {
            "WorkOrderId": _fk("workorder", required=True),
            "UserId": _fk("user"),
            "Date": FieldSpec("date"),
            "Start": FieldSpec("time"),
            "End": FieldSpec("time"),
            "BreakMinutes": FieldSpec("int", default=0),
            "Minutes": FieldSpec("int", required=True),
            "Kind": FieldSpec(required=True, choices=("Work", "Travel")),
            "ItemId": _fk("item"),
            "Remark": TEXT,
        }, filters=("WorkOrderId", "ExtKey")),
        Table("useditem", "UsedItem", {
            "WorkOrderId": _fk("workorder", required=True),
            "ItemId": _fk("item"),
            "Code": FieldSpec("str", max_length=50),
            "Description": FieldSpec(),
            "Quantity": FieldSpec("decimal", required=True),
            "Unit": FieldSpec("str", max_length=20),
            "Price": FieldSpec("decimal"),
            "UserId": _fk("user"),
        }, filters=("WorkOrderId", "ItemId", "ExtKey")),
        Table("workordersurvey", "WorkOrderSurvey", {
            "WorkOrderId": _fk("workorder", required=True),
            "SurveyName": FieldSpec(required=True),
            "CompletedAt": FieldSpec("datetime"),
            "Answers": FieldSpec("answers", default=[]),
        }, filters=("WorkOrderId", "ExtKey")),
    )
}


def format_datetime(value: datetime) -> str:
    """ISO-8601 UTC with milliseconds and `Z`, the way Simon answers date-times."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_datetime(value: str) -> datetime:
    """An ISO-8601 date-time; without an offset it is taken as UTC."""
    parsed = datetime.fromisoformat(value.strip())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _coerce(name: str, spec: FieldSpec, value: Any) -> Any:
    """The stored form of one field value, or a 400 Validation error."""
    if value is None:
        if spec.required:
            raise validation(name, f"{name} is required")
        return [] if spec.type == "answers" else None
    kind = spec.type
    if kind == "str":
        if not isinstance(value, str):
            raise validation(name, f"{name} must be a string")
        if len(value) > spec.max_length:
            raise validation(name, f"{name} is longer than {spec.max_length} characters")
        if spec.required and not value.strip():
            raise validation(name, f"{name} is required")
        if spec.choices and value not in spec.choices:
            raise validation(name, f"{name} must be one of {', '.join(spec.choices)}")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise validation(name, f"{name} must be an integer")
        return value
    if kind == "decimal":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise validation(name, f"{name} must be a number")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise validation(name, f"{name} must be true or false")
        return value
    if kind == "date":
        try:
            if not isinstance(value, str) or len(value) != 10:
                raise ValueError
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise validation(name, f"{name} must be a date (YYYY-MM-DD)") from None
    if kind == "datetime":
        try:
            if not isinstance(value, str):
                raise ValueError
            return format_datetime(parse_datetime(value))
        except ValueError:
            raise validation(name, f"{name} must be an ISO-8601 date-time") from None
    if kind == "time":
        try:
            if not isinstance(value, str):
                raise ValueError
            return time.fromisoformat(value).strftime("%H:%M")
        except ValueError:
            raise validation(name, f"{name} must be a time (HH:MM)") from None
    if kind == "answers":
        return _answers(name, value)
    raise AssertionError(kind)


def _answers(name: str, value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise validation(name, f"{name} must be a list of answers")
    answers = []
    for i, answer in enumerate(value):
        where = f"{name}[{i}]"
        if not isinstance(answer, dict):
            raise validation(where, f"{where} must be an object")
        unknown = set(answer) - {"QuestionId", "Question", "Type", "Answer"}
        if unknown:
            raise validation(f"{where}.{sorted(unknown)[0]}", "unknown field")
        question_id = answer.get("QuestionId")
        if not isinstance(question_id, str) or not question_id:
            raise validation(f"{where}.QuestionId", "QuestionId must be a non-empty string")
        if not isinstance(answer.get("Question"), str):
            raise validation(f"{where}.Question", "Question must be a string")
        if answer.get("Type") not in SURVEY_ANSWER_TYPES:
            raise validation(
                f"{where}.Type", f"Type must be one of {', '.join(SURVEY_ANSWER_TYPES)}"
            )
        raw = answer.get("Answer")
        if raw is not None and not isinstance(raw, str | int | float | bool):
            raise validation(f"{where}.Answer", "Answer must be a string, number or boolean")
        answers.append({
            "QuestionId": question_id, "Question": answer["Question"],
            "Type": answer["Type"], "Answer": raw,
        })
    return answers


def validate_body(table: Table, body: Any, *, insert: bool) -> dict[str, Any]:
    """Check a request body of insert/update; returns the writable fields it sets (with
    `ExtKey`). Unknown and server-set fields are refused; on insert, required fields must be
    present. `Id` is not part of the result (update reads it separately)."""
    if not isinstance(body, dict):
        raise validation("", "the body must be a JSON object")
    values: dict[str, Any] = {}
    for name, value in body.items():
        if name == "Id":
            if insert:
                raise validation("Id", "Id is assigned by Simon")
            continue
        if name in SERVER_FIELDS:
            raise validation(name, f"{name} is set by Simon")
        if name == "ExtKey":
            if value is None:
                value = ""
            if not isinstance(value, str):
                raise validation("ExtKey", "ExtKey must be a string")
            if len(value) > EXT_KEY_MAX:
                raise validation("ExtKey", f"ExtKey is longer than {EXT_KEY_MAX} characters")
            values["ExtKey"] = value
            continue
        spec = table.fields.get(name)
        if spec is None:
            raise validation(name, f"unknown field {name} for {table.entity}")
        values[name] = _coerce(name, spec, value)
    if insert:
        for name, spec in table.fields.items():
            if spec.required and name not in values:
                raise validation(name, f"{name} is required")
    return values
