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
DURATION_MIN = timedelta(seconds=1)
"""The shortest schedule interval: a loop cannot usefully run more often."""
DURATION_MAX = timedelta(days=7)
"""The longest schedule interval (and the longest duration `parse_duration` reads)."""


# --------------------------------------------------------------------------- durations

_DURATION_RE = re.compile(DURATION_PATTERN)
_UNIT_MICROSECONDS = {"h": 3_600_000_000, "m": 60_000_000, "s": 1_000_000}


def parse_duration(text: str) -> timedelta:
    """Parse a Go-style duration ("30s", "2m", "48h", "1h30m", "1.5s", "500ms").

    Accepts exactly what the CRD's pattern accepts (units h, m, s and ms, at most
    DURATION_MAX_LENGTH characters); durationpy, the Kubernetes client's own duration parser,
    reads it. The result must be longer than zero and at most DURATION_MAX (7 days). Raises
    ValueError with a message that says what a duration looks like.
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
    if result <= timedelta(0):
        raise ValueError(f"must be longer than zero; {DURATION_HINT}")
    return result


def _too_long(value: object) -> str:
    return f"must be at most {format_duration(DURATION_MAX)} (7 days), not {value!r}"


def _in_range(value: timedelta, given: object) -> timedelta:
    """`value` when it is a schedule interval (DURATION_MIN .. DURATION_MAX)."""
    if value > DURATION_MAX:
        raise PydanticCustomError("duration", "{reason}", {"reason": _too_long(given)})
    if value < DURATION_MIN:
        raise PydanticCustomError(
            "duration", "{reason}",
            {"reason": f"must be at least {format_duration(DURATION_MIN)}, not {given!r}"})
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
        if value <= timedelta(0):
            raise PydanticCustomError("duration", "must be longer than zero; {hint}",
                                      {"hint": DURATION_HINT})
        return _in_range(value, format_duration(value))
    if not isinstance(value, str):
        raise PydanticCustomError("duration", "must be a duration string; {hint}",
                                  {"hint": DURATION_HINT})
    try:
        parsed = parse_duration(value)
    except ValueError as exc:
        raise PydanticCustomError("duration", "{reason}", {"reason": str(exc)}) from None
    return _in_range(parsed, value)


Duration = Annotated[
    timedelta,
    PlainValidator(_validate_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({
        "type": "string",
        "pattern": DURATION_PATTERN,
        "maxLength": DURATION_MAX_LENGTH,
        # The pattern's own message is the regular expression; this rule says it in words,
        # and refuses a duration of zero.
        "x-kubernetes-validations": [{
            "rule": f"self.matches('{DURATION_PATTERN}') && self.matches('[1-9]')",
            "message": "use a duration like 30s, 2m or 48h (units h, m, s, ms; longer than zero)",
        }],
    }),
]
"""A Go-style duration from 1s to 7 days: parsed to `timedelta`, written back as a string
like "2m"."""



