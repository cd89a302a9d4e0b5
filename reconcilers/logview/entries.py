"""A log entry as the log view sends it and the plugin reads it back.

The fields are those of ``simon-visma log --json`` (time, severity, table, key, message,
action, resolved) plus ``resolvedAt``, so that the plugin can hand the entries to the same
printer the CLI uses. JSON is written ASCII-only: escape characters and lone surrogates travel
as ``\\uXXXX`` escapes and the printer shows them escaped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from reconcilers.store import LogEntry, LogTable, Severity

DEFAULT_LIMIT = 50
"""Entries answered when the request names no limit (as `simon-visma log`)."""
LIMIT_MAX = 1000
"""The most entries one request may ask for: an answer stays small for the API server."""


class EntryFormatError(ValueError):
    """An answer that does not hold log entries (say, something else answers on the port)."""


def to_json(entry: LogEntry) -> dict[str, Any]:
    return {
        "time": entry.time.isoformat(),
        "severity": entry.severity.value,
        "table": entry.table.value,
        "key": entry.key,
        "message": entry.message,
        "action": entry.action,
        "resolved": entry.resolved_at is not None,
        "resolvedAt": entry.resolved_at.isoformat() if entry.resolved_at else None,
    }


def from_json(value: Any) -> LogEntry:
    """The entry `to_json` made; EntryFormatError for anything else."""
    try:
        action, resolved_at = value["action"], value["resolvedAt"]
        if not isinstance(value["key"], str) or not isinstance(value["message"], str):
            raise TypeError("key and message are text")
        if action is not None and not isinstance(action, str):
            raise TypeError("action is text")
        return LogEntry(
            id=0,
            time=datetime.fromisoformat(value["time"]),
            severity=Severity(value["severity"]),
            table=LogTable(value["table"]),
            key=value["key"],
            message=value["message"],
            action=action,
            resolved_at=datetime.fromisoformat(resolved_at) if resolved_at else None,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise EntryFormatError(f"not a log entry ({type(error).__name__}: {error})") from None
