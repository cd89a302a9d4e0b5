"""The integration log on a terminal: the table `simon-visma log` and `kubectl simon-visma
log` both print, and the argument type they share; the plugin loads no API client or loop
for it."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from reconcilers.store import LogEntry
from reconcilers.text import QUOTE_LIMIT, for_terminal, repaired_text

TABLE_NAMES = {"workorder": "work order", "customer": "customer",
               "workaddress": "work address", "item": "item"}
COLOURS = {"error": "\033[31m", "warning": "\033[33m", "info": "\033[34m"}
RESET = "\033[0m"
MESSAGE_LIMIT = 500
"""How many characters of a log entry's message or action the table shows."""


def whole_number(low: int, high: int) -> Any:
    """An argparse type: a whole number from `low` to `high`."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"must be a whole number from {low} to {high}, not {text!r}")
        return value
    return parse


def print_log(entries: Sequence[LogEntry], *, as_json: bool, out: TextIO = sys.stdout) -> None:
    """The log in columns time, severity, table, key, message, action (S-80); red errors and
    yellow warnings on a terminal, plain when piped; JSON lines for machines.

    What the log holds came from the APIs: in the table every column shows escape and
    control characters escaped (`\x1b`), a key is cut after QUOTE_LIMIT characters and a
    message or action after MESSAGE_LIMIT; JSON lines are pure ASCII (`\u001b`)."""
    if as_json:
        for e in entries:
            print(json.dumps({
                "time": e.time.isoformat(), "severity": e.severity.value,
                "table": e.table.value, "key": e.key, "message": e.message,
                "action": e.action, "resolved": e.resolved_at is not None,
            }, ensure_ascii=True), file=out)
        return
    colour = out.isatty() and "NO_COLOR" not in os.environ
    header = f"{'TIME':<19}  {'SEVERITY':<8}  {'TABLE':<12}  {'KEY':<14}  MESSAGE / ACTION"
    print(header, file=out)
    for e in entries:
        table = cell(TABLE_NAMES.get(e.table.value, e.table.value), QUOTE_LIMIT)
        line = (f"{e.time:%Y-%m-%d %H:%M:%S}  {cell(e.severity.value, QUOTE_LIMIT):<8}  "
                f"{table:<12}  {cell(e.key, QUOTE_LIMIT):<14}  "
                f"{cell(e.message, MESSAGE_LIMIT)}")
        if e.action:
            line += f"\n{'':<61}-> {cell(e.action, MESSAGE_LIMIT)}"
        if colour:
            line = f"{COLOURS[e.severity.value]}{line}{RESET}"
        print(line, file=out)


def cell(value: object, limit: int) -> str:
    """`value` fit for one cell of a terminal table: at most `limit` characters of it (and
    how long it was), escape and control characters shown escaped."""
    text = repaired_text(str(value))
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text)} characters)"
    return for_terminal(text)
