"""Text from outside is data: what the APIs send is made safe to store, send and show.

Real APIs send strings that are legal JSON but not valid Unicode text: a lone UTF-16
surrogate (`"\\ud800"`, what a .NET service sends when it cuts a string inside an emoji)
cannot be encoded as UTF-8, so it would break every write that carries it (to Simon, to
Visma.net, to the store). `repaired` replaces such code points with U+FFFD where the
product reads an answer, before anything is written. `for_terminal` shows what a terminal
would interpret (escape and control characters) as visible escapes, and `quoted` keeps a
refused value short enough for a log entry.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import httpx

REPLACEMENT = "\ufffd"
QUOTE_LIMIT = 200
"""How many characters of a refused value a log entry quotes."""

_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def repaired_text(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD."""
    return _SURROGATE.sub(REPLACEMENT, text)


def repaired(value: Any) -> Any:
    """A decoded JSON value with every string (keys too) repaired."""
    if isinstance(value, str):
        return repaired_text(value)
    if isinstance(value, list):
        return [repaired(v) for v in value]
    if isinstance(value, dict):
        return {repaired(k): repaired(v) for k, v in value.items()}
    return value


def read_json(response: httpx.Response, *, decimals: bool = False) -> Any:
    """A response's JSON body with its text repaired; `decimals` reads fractions as Decimal."""
    text = response.content.decode(response.charset_encoding or "utf-8", errors="replace")
    value = json.loads(text, parse_float=Decimal) if decimals else json.loads(text)
    return repaired(value)


def for_terminal(text: str) -> str:
    """`text` with escape, control and direction-changing characters shown as `\\xNN` or
    `\\uNNNN`, so that printing it cannot move the cursor, clear the screen or retitle a
    terminal. Tabs and newlines are shown escaped too: one entry stays one line."""
    def escape(match: re.Match[str]) -> str:
        code = ord(match.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return _CONTROL.sub(escape, repaired_text(text)).replace("\t", "\\t").replace("\n", "\\n")


def quoted(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A value as a log entry quotes it: repr-like, at most `limit` characters."""
    text = repaired_text(str(value))
    if len(text) > limit:
        text = text[:limit] + f"... ({len(text)} characters)"
    return repr(text)
