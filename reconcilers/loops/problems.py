"""One record's problem, as a loop judges and words it: whether it concerns that record only
(one log entry, the pass goes on) or stops every record, and how a log entry names the record
the way users know it (number, code, name; never a bare Simon id).
"""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from reconcilers.clients.http import (
    ApiError,
    ConflictError,
    InDoubtError,
    NotFoundError,
    RequestRejectedError,
    UnreadableRecordError,
)
from reconcilers.text import for_terminal, quoted

KEY_LIMIT = 100  # characters of a log entry's key (what the store holds)
NAME_LIMIT = 120  # characters of a name or description quoted in a log entry


RECORD_PROBLEMS: tuple[type[Exception], ...] = (
    RequestRejectedError, NotFoundError, ConflictError, UnreadableRecordError,
    ValueError, TypeError,
)
"""What concerns one record only: Simon refusing it (400, 404, 409, 422), a record that cannot
be read, or one that cannot be mapped (pydantic's ValidationError is a ValueError). Anything
else (Simon or Visma.net unreachable after retries, credentials refused) stops the pass."""


def shown(text: object, limit: int = NAME_LIMIT) -> str:
    """Text from outside as a log entry shows it: valid Unicode, one line, control characters
    as visible escapes (a database refuses NUL, a terminal obeys escapes), white space
    folded, at most `limit` characters."""
    value = " ".join(for_terminal("" if text is None else str(text)).split())
    return value if len(value) <= limit else value[:limit - 3] + "..."


def known_as(number: object, name: object, *, noun: str, fallback: object = None) -> str:
    """How users know a record: "customer 10023 (Bakker)", "item UUR (Arbeid)"; without a
    number its name, then its key in the other system, then "a record without number"."""
    number_text, name_text = shown(number), shown(name)
    if number_text and name_text:
        return f"{noun} {number_text} ({name_text})"
    if number_text or name_text:
        return f"{noun} {number_text or name_text}"
    if fallback not in (None, ""):
        return f"{noun} with key {shown(fallback)}"
    return f"a {noun} without number"


def log_key(*candidates: object) -> str:
    """The log entry's key: the first of the candidates that is filled in (a number, code or
    name), else "a record without number"."""
    for candidate in candidates:
        text = shown(candidate, KEY_LIMIT)
        if text:
            return text
    return "a record without number"


def reason(problem: BaseException) -> str:
    """Why a record could not be sent, in one line."""
    if isinstance(problem, ApiError):
        return shown(problem.message, 500)
    if isinstance(problem, UnreadableRecordError):
        return shown("; ".join(problem.problems), 500)
    if isinstance(problem, ValidationError):
        return shown("; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}"
            for e in problem.errors()), 500)
    return shown(str(problem) or type(problem).__name__, 500)


RECORD_API_ERRORS: tuple[type[ApiError], ...] = (
    NotFoundError, ConflictError, RequestRejectedError, InDoubtError)
"""API errors about one record (it is gone, refused, or its answer was lost): the pass goes
on with the others. Every other ApiError (unreachable after retries, credentials refused)
stops the pass."""


TABLE_WORDS = {
    "workorder": "work order", "useditem": "used item", "timesheet": "time sheet",
    "scheduling": "scheduling", "workordersurvey": "form", "location": "work address",
    "customer": "customer", "item": "item", "user": "user",
}
"""How a log entry names a Simon table."""


def stops_the_pass(error: BaseException) -> bool:
    """Whether `error` stops every record, not just the one at hand: an API unreachable after
    every retry, credentials refused, the store failing."""
    if isinstance(error, ApiError):
        return not isinstance(error, RECORD_API_ERRORS)
    return isinstance(error, SQLAlchemyError) or not isinstance(error, Exception)


def problem_text(error: BaseException, within: str | None = None) -> str:
    """What was wrong with one record, briefly and in plain words, for a log entry; `within`
    names the work order the entry is about (not repeated after a child's label)."""
    if isinstance(error, UnreadableRecordError):
        label = error.label or TABLE_WORDS.get(error.table.lower(), error.table)
        if within:
            label = label.removesuffix(f" of work order {within}")
        return f"{label}: {'; '.join(error.problems) or 'unreadable'}"
    if isinstance(error, ValidationError):
        what = TABLE_WORDS.get(error.title.lower(), error.title)
        problems = []
        for detail in error.errors()[:3]:
            field = ".".join(str(part) for part in detail.get("loc", ())) or "value"
            shown = f" {quoted(detail['input'], 60)}" if "input" in detail else ""
            problems.append(f"{field}{shown}: {detail.get('msg', 'not readable')}")
        more = f" (and {error.error_count() - 3} more)" if error.error_count() > 3 else ""
        return f"{what}: {'; '.join(problems)}{more}"
    if isinstance(error, ApiError):
        return f"{error.api} answered {error.status or ''} {quoted(error.message)}".replace(
            "  ", " ")
    if isinstance(error, UnicodeError):
        return "text that cannot be written as UTF-8"
    return f"{type(error).__name__}: {quoted(error)}"
