"""Durations as the resource writes them (`30s`, `2m`, `48h`), bounded by what the CRD allows."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

import durationpy
from pydantic import (
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

DURATION_PATTERN = r"^([0-9]+([.][0-9]+)?(ms|s|m|h))+$"
DURATION_MAX_LENGTH = 32
DURATION_HINT = "use a duration like 30s, 2m or 48h"
DURATION_MIN = timedelta(seconds=10)
"""The shortest schedule interval: more often only loads the customer's APIs (a user who wants
a pass now asks for one with the run-now annotation)."""
DURATION_MAX = timedelta(days=7)
"""The longest schedule interval (and the longest duration `parse_duration` reads)."""
DURATION_TOO_LONG_PATTERN = (
    "(^|[hms])([0-9]{6,}([.][0-9]+)?h|[0-9]{6,}([.][0-9]+)?m([0-9]|$)"
    "|[0-9]{7,}([.][0-9]+)?s|[0-9]{10,}([.][0-9]+)?ms)")
"""A duration with a number this long in it (100000h, 100000m, 1000000s, 1000000000ms) is
longer than DURATION_MAX whatever else it says. The CRD's rules refuse such a duration before
CEL's `duration()` reads it: that one fails (an overflow) on durations of thousands of years,
and a rule that fails says nothing useful. Without such numbers a duration of at most
DURATION_MAX_LENGTH characters is at most a few thousand years: within `duration()`'s range."""


# --------------------------------------------------------------------------- durations

_DURATION_RE = re.compile(DURATION_PATTERN)
_UNIT_MICROSECONDS = {"h": 3_600_000_000, "m": 60_000_000, "s": 1_000_000}


def parse_duration(text: str) -> timedelta:
    """Parse a Go-style duration ("30s", "2m", "48h", "1h30m", "1.5s", "500ms").

    Accepts exactly what the CRD's pattern accepts (units h, m, s and ms, at most
    DURATION_MAX_LENGTH characters); durationpy, the Kubernetes client's own duration parser,
    reads it. The result is at most DURATION_MAX (7 days); zero is a duration too (a
    schedule interval has its own floor, `Duration`). Raises ValueError with a message that
    says what a duration looks like.
    """
    if not isinstance(text, str):
        raise ValueError(f"must be a duration string; {DURATION_HINT}")
    if len(text) > DURATION_MAX_LENGTH or not _DURATION_RE.fullmatch(text):
        raise ValueError(f"{text!r} is not a duration; {DURATION_HINT}")
    try:
        result = durationpy.from_str(text)
    except (ValueError, OverflowError):
        # The pattern lets through only digits and units, so what is left to fail is a
        # number too large for a timedelta (DurationError, or OverflowError from a
        # durationpy older than 0.11).
        raise ValueError(_too_long(text)) from None
    if result > DURATION_MAX:
        raise ValueError(_too_long(text))
    return result


def _too_long(value: object) -> str:
    return f"must be at most {format_duration(DURATION_MAX)} (7 days), not {value!r}"


def _too_short(value: object) -> str:
    return f"must be at least {format_duration(DURATION_MIN)}, not {value!r}"


def _in_range(value: timedelta, given: object) -> timedelta:
    """`value` when it is a schedule interval (DURATION_MIN .. DURATION_MAX)."""
    if value > DURATION_MAX:
        raise PydanticCustomError("duration", "{reason}", {"reason": _too_long(given)})
    if value < DURATION_MIN:
        raise PydanticCustomError("duration", "{reason}", {"reason": _too_short(given)})
    return value


def format_duration(value: timedelta) -> str:
    """The shortest Go-style string for `value`: 48h, 1h30m, 30s, 1.5s, 500ms."""
    total = value // timedelta(microseconds=1)
    if total <= 0:
        return "0s"
    hours, rest = divmod(total, _UNIT_MICROSECONDS["h"])
    minutes, rest = divmod(rest, _UNIT_MICROSECONDS["m"])
    seconds, micros = divmod(rest, _UNIT_MICROSECONDS["s"])
    parts: list[str] = []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if micros == 0:
        if seconds:
            parts.append(f"{seconds}s")
    elif not parts and seconds == 0 and micros % 1000 == 0:
        parts.append(f"{micros // 1000}ms")
    else:
        parts.append(f"{seconds}.{micros:06d}".rstrip("0") + "s")
    return "".join(parts)


def _validate_duration(value: object) -> timedelta:
    """A schedule interval: a Go-style duration string (or a timedelta) from DURATION_MIN
    to DURATION_MAX."""
    if isinstance(value, timedelta):
        return _in_range(value, format_duration(value))
    if not isinstance(value, str):
        raise PydanticCustomError("duration", "must be a duration string; {hint}",
                                  {"hint": DURATION_HINT})
    try:
        parsed = parse_duration(value)
    except ValueError as exc:
        raise PydanticCustomError("duration", "{reason}", {"reason": str(exc)}) from None
    return _in_range(parsed, value)


def _cel_bound(compare: str, bound: timedelta) -> str:
    """A CEL rule that holds for a malformed duration (the pattern's rule reports that) and
    for one within `compare` `bound`; never reads a too-long one with `duration()`."""
    limit = f"duration(self) {compare} duration('{format_duration(bound)}')"
    if compare == "<=":
        return (f"!self.matches('{DURATION_PATTERN}') || "
                f"(!self.matches('{DURATION_TOO_LONG_PATTERN}') && {limit})")
    return (f"!self.matches('{DURATION_PATTERN}') || "
            f"self.matches('{DURATION_TOO_LONG_PATTERN}') || {limit}")


DURATION_RULES = [
    {"rule": f"self.matches('{DURATION_PATTERN}')",
     "message": "use a duration like 30s, 2m or 48h (units h, m, s, ms)"},
    {"rule": _cel_bound(">=", DURATION_MIN),
     "message": f"must be at least {format_duration(DURATION_MIN)}",
     "messageExpression": f"'must be at least {format_duration(DURATION_MIN)}, not ' + self"},
    {"rule": _cel_bound("<=", DURATION_MAX),
     "message": f"must be at most {format_duration(DURATION_MAX)} (7 days)",
     "messageExpression": f"'must be at most {format_duration(DURATION_MAX)} (7 days), not ' "
                          "+ self"},
]
"""The API server's twins of `_validate_duration` (the pattern's own message is the regular
expression; the first rule says it in words)."""


Duration = Annotated[
    timedelta,
    PlainValidator(_validate_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({
        "type": "string",
        "pattern": DURATION_PATTERN,
        "maxLength": DURATION_MAX_LENGTH,
        "x-kubernetes-validations": DURATION_RULES,
    }),
]
"""A Go-style duration from 10s to 7 days: parsed to `timedelta`, written back as a string
like "2m"."""
