"""The state of one Simon tenant: its records per table and the rules of api/simon.md for
writing, reading, syncing and deleting them.

Decisions where the contract is open (documented here and in the handover):
- Ids are unique across all tables and never reused (a mixed-up id answers 404, not a
  wrong record).
- `Created`/`Modified` come from the emulator's Clock, truncated to milliseconds (the
  precision they are shown in). `Modified` does NOT strictly increase: writes in the same
  millisecond share it, so `readsync` consumers must use the (`Modified`, `Id`) cursor.
- Every successful insert/update bumps the record's own `Modified`, even when no value
  changed; writes to children (time sheets, used items, ...) leave the work order alone.
- Only the documented `InUse` rules guard a delete; other deletes always succeed and may
  leave dangling references (Simon never cascades).
- A work order inserted without `Number` gets the next number of a tenant-wide counter.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from emulators.common import Clock
from emulators.simon.schema import (
    TABLES,
    SimonError,
    Table,
    format_datetime,
    parse_datetime,
    validate_body,
    validation,
)
from emulators.simon.wire import varied, varied_row

DEFAULT_TOP = 100
MAX_TOP = 1000
OVERLAP_ROWS = 3
FIRST_ID = 1001
FIRST_WORK_ORDER_NUMBER = 24001


def table_of(name: str) -> Table:
    table = TABLES.get(name)
    if table is None:
        raise SimonError(404, "NotFound", f"unknown table {name}")
    return table


def _truncate(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class SimonStore:
    """Records per table. Every method takes the lock, so tests may seed from their own
    thread while the server runs."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.records: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in TABLES}
        self._by_ext_key: dict[str, dict[str, int]] = {name: {} for name in TABLES}
        """Id per non-empty ExtKey and table, kept in step with every write."""
        self.writes: Counter[tuple[str, str]] = Counter()
        self.raw: dict[tuple[str, int], dict[str, Any]] = {}
        """Wire values served verbatim, whatever the field's type: what a real Simon may
        send that this emulator would never store (`set_raw`)."""
        self.vary_forms = True
        """Answer reads in each record's mix of wire forms (emulators/simon/wire.py); off:
        always the one canonical form."""
        self._next_id = FIRST_ID
        self._next_number = FIRST_WORK_ORDER_NUMBER
        self._lock = threading.RLock()

    # --- output -----------------------------------------------------------------------

    def public(self, record: Mapping[str, Any], table_name: str | None = None
               ) -> dict[str, Any]:
        """The wire form of a stored record (date-times as ISO-8601 with `Z`), with the raw
        values set for it (`set_raw`) on top."""
        out = dict(record)
        out["Created"] = format_datetime(record["Created"])
        out["Modified"] = format_datetime(record["Modified"])
        if "Answers" in out:
            out["Answers"] = [dict(a) for a in out["Answers"]]
        if table_name is not None:
            out.update(self.raw.get((table_name, record["Id"]), {}))
        return out

    def wire(self, table_name: str, record_id: int) -> dict[str, Any]:
        """`GET /{table}/read/{id}`: the record in its mix of wire forms, with the raw values
        set for it (`set_raw`) on top."""
        table = table_of(table_name)
        with self._lock:
            out = self.public(self._record(table, record_id))
            if self.vary_forms:
                out = varied(table, out)
            out.update(self.raw.get((table.name, record_id), {}))
            return out

    def set_raw(self, table_name: str, record_id: int, field: str, value: Any) -> None:
        """Serve `field` of a record as `value` on every read from now on, unvalidated: how
        tests meet what a real Simon sends (`"Quantity": "veel"`, a lone surrogate)."""
        with self._lock:
            self._record(table_of(table_name), record_id)
            self.raw.setdefault((table_name, record_id), {})[field] = value

    # --- writes -----------------------------------------------------------------------

    def now(self) -> datetime:
        return _truncate(self.clock.now())

    def insert(self, table_name: str, body: Any, *, count: bool = True,
               modified: datetime | None = None) -> dict[str, Any]:
        table = table_of(table_name)
        values = validate_body(table, body, insert=True)
        with self._lock:
            self._check_ext_key(table, values.get("ExtKey", ""), None)
            self._check_references(table, values)
            record: dict[str, Any] = {"Id": self._next_id, "ExtKey": ""}
            record.update(table.defaults())
            record.update(values)
            if table.name == "workorder" and not record.get("Number"):
                record["Number"] = str(self._next_number)
                self._next_number += 1
            moment = self.now()
            record["Created"] = _truncate(modified) if modified else moment
            record["Modified"] = _truncate(modified) if modified else moment
            self._next_id += 1
            self.records[table.name][record["Id"]] = record
            if record["ExtKey"]:
                self._by_ext_key[table.name][record["ExtKey"]] = record["Id"]
            if count:
                self.writes[(table.name, "insert")] += 1
            return self.public(record)

    def update(self, table_name: str, body: Any, *, count: bool = True) -> dict[str, Any]:
        table = table_of(table_name)
        if not isinstance(body, dict):
            raise validation("", "the body must be a JSON object")
        record_id = body.get("Id")
        if record_id is None:
            raise validation("Id", "Id is required")
        if isinstance(record_id, bool) or not isinstance(record_id, int):
            raise validation("Id", "Id must be an integer")
        values = validate_body(table, body, insert=False)
        with self._lock:
            record = self._record(table, record_id)
            for name, value in values.items():
                spec = table.fields.get(name)
                if spec is not None and spec.required and value in (None, ""):
                    raise validation(name, f"{name} is required")
            if "ExtKey" in values:
                self._check_ext_key(table, values["ExtKey"], record_id)
            self._check_references(table, values)
            if "ExtKey" in values:
                self._by_ext_key[table.name].pop(record["ExtKey"], None)
                if values["ExtKey"]:
                    self._by_ext_key[table.name][values["ExtKey"]] = record_id
            record.update(values)
            record["Modified"] = self.now()
            if count:
                self.writes[(table.name, "update")] += 1
            return self.public(record)

    def delete(self, table_name: str, record_id: Any, *, count: bool = True) -> None:
        table = table_of(table_name)
        if record_id is None:
            raise validation("Id", "Id is required")
        if isinstance(record_id, bool) or not isinstance(record_id, int):
            raise validation("Id", "Id must be an integer")
        with self._lock:
            self._record(table, record_id)
            reason = self._in_use(table.name, record_id)
            if reason:
                raise SimonError(409, "InUse", f"{table.entity} {record_id} is in use: {reason}")
            removed = self.records[table.name].pop(record_id)
            self._by_ext_key[table.name].pop(removed["ExtKey"], None)
            if count:
                self.writes[(table.name, "delete")] += 1

    def archive_work_order(self, work_order_id: int, when: datetime | None = None,
                           work_performed: str | None = None) -> dict[str, Any]:
        """What the office does in Simon: complete and archive a work order."""
        with self._lock:
            record = self._record(table_of("workorder"), work_order_id)
            moment = _truncate(when) if when else self.now()
            record["Status"] = "Completed"
            record["CompletedAt"] = record.get("CompletedAt") or format_datetime(moment)
            record["Archived"] = True
            record["ArchivedAt"] = format_datetime(moment)
            if work_performed is not None:
                record["WorkPerformed"] = work_performed
            record["Modified"] = max(self.now(), moment)
            return self.public(record)

    # --- reads ------------------------------------------------------------------------

    def get(self, table_name: str, record_id: int) -> dict[str, Any]:
        table = table_of(table_name)
        with self._lock:
            return self.public(self._record(table, record_id), table.name)

    def find(self, table_name: str, record_id: int) -> dict[str, Any] | None:
        with self._lock:
            record = self.records[table_of(table_name).name].get(record_id)
            return self.public(record) if record else None

    def by_ext_key(self, table_name: str, ext_key: str) -> dict[str, Any] | None:
        name = table_of(table_name).name
        with self._lock:
            record_id = self._by_ext_key[name].get(ext_key) if ext_key else None
            return None if record_id is None else self.public(self.records[name][record_id])

    def all(self, table_name: str) -> list[dict[str, Any]]:
        with self._lock:
            records = self.records[table_of(table_name).name]
            return [self.public(records[i]) for i in sorted(records)]

    def read_keys(self, table_name: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """`GET /{table}/read`: key pairs of the records matching the filters, by Id."""
        table = table_of(table_name)
        top, skip = paging(params)
        tests = [_filter(table, name, value) for name, value in params.items()
                 if name not in ("top", "skip")]
        with self._lock:
            records = self.records[table.name]
            ids: Iterable[int] = sorted(records)
            if params.get("ExtKey"):  # unique: the index answers without a scan
                found = self._by_ext_key[table.name].get(params["ExtKey"])
                ids = [] if found is None else [found]
            matching = [records[i] for i in ids if all(test(records[i]) for test in tests)]
            rows = [{"Id": r["Id"], "ExtKey": r["ExtKey"]} for r in matching[skip:skip + top]]
            return [varied_row(table, r) for r in rows] if self.vary_forms else rows

    def read_sync(self, table_name: str, params: Mapping[str, str], *,
                  overlap: bool = False) -> list[dict[str, Any]]:
        """`GET /{table}/readsync`: (Id, Modified) after the cursor, by (Modified, Id).

        `overlap` (a fault) starts the page a few rows early, repeating rows the previous
        page held."""
        table = table_of(table_name)
        unknown = set(params) - {"since", "afterId", "top", "skip"}
        if unknown:
            name = sorted(unknown)[0]
            raise validation(name, f"unknown readsync parameter {name}")
        top, skip = paging(params)
        since = None
        if params.get("since"):
            try:
                since = _truncate(parse_datetime(params["since"]))
            except ValueError:
                raise validation("since", "since must be an ISO-8601 date-time") from None
        after_id = _int_param(params, "afterId")
        with self._lock:
            ordered = sorted(self.records[table.name].values(),
                             key=lambda r: (r["Modified"], r["Id"]))
            positions = [i for i, r in enumerate(ordered) if _after_cursor(r, since, after_id)]
            page = [ordered[i] for i in positions[skip:skip + top]]
            if overlap:
                start = positions[skip] if skip < len(positions) else len(ordered)
                repeat = min(OVERLAP_ROWS, top - 1)
                page = (ordered[max(0, start - repeat):start] + page)[:top]
            rows = [{"Id": r["Id"], "Modified": format_datetime(r["Modified"])} for r in page]
            return [varied_row(table, r) for r in rows] if self.vary_forms else rows

    # --- rules ------------------------------------------------------------------------

    def _record(self, table: Table, record_id: int) -> dict[str, Any]:
        record = self.records[table.name].get(record_id)
        if record is None:
            raise SimonError(404, "NotFound", f"{table.entity} {record_id} does not exist")
        return record

    def _check_ext_key(self, table: Table, ext_key: str, own_id: int | None) -> None:
        holder = self._by_ext_key[table.name].get(ext_key) if ext_key else None
        if holder is not None and holder != own_id:
            raise SimonError(
                409, "DuplicateExtKey",
                f"{table.entity} {holder} already has ExtKey {ext_key}", "ExtKey",
            )

    def _check_references(self, table: Table, values: Mapping[str, Any]) -> None:
        for name, value in values.items():
            spec = table.fields.get(name)
            if spec is None or spec.references is None or value is None:
                continue
            if value not in self.records[spec.references]:
                target = TABLES[spec.references].entity
                raise SimonError(422, "InvalidReference",
                                 f"{target} {value} does not exist", name)

    def _in_use(self, table: str, record_id: int) -> str | None:
        open_orders = [w for w in self.records["workorder"].values() if not w["Archived"]]
        if table == "customer":
            for order in open_orders:
                if order["CustomerId"] == record_id:
                    return f"work order {order['Number']} refers to it"
            if any(loc["CustomerId"] == record_id for loc in self.records["location"].values()):
                return "it still has locations; delete them first"
        elif table == "location":
            for order in open_orders:
                if order["LocationId"] == record_id:
                    return f"work order {order['Number']} refers to it"
        elif table == "item":
            numbers = {w["Id"]: w["Number"] for w in open_orders}
            for child in ("useditem", "timesheet"):
                for line in self.records[child].values():
                    if line["ItemId"] == record_id and line["WorkOrderId"] in numbers:
                        return f"work order {numbers[line['WorkOrderId']]} uses it"
        return None


def _after_cursor(record: Mapping[str, Any], since: datetime | None,
                  after_id: int | None) -> bool:
    if since is not None and after_id is not None:
        return (record["Modified"], record["Id"]) > (since, after_id)
    if since is not None:
        return record["Modified"] >= since
    if after_id is not None:
        return record["Id"] > after_id
    return True


def _int_param(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise validation(name, f"{name} must be an integer") from None


def paging(params: Mapping[str, str]) -> tuple[int, int]:
    """`top` (default 100, clamped to 1000, at least 1) and `skip` (default 0)."""
    top = _int_param(params, "top")
    skip = _int_param(params, "skip")
    if top is None:
        top = DEFAULT_TOP
    if top < 1:
        raise validation("top", "top must be at least 1")
    if skip is None:
        skip = 0
    if skip < 0:
        raise validation("skip", "skip must not be negative")
    return min(top, MAX_TOP), skip


def _filter(table: Table, name: str, raw: str):  # noqa: ANN202 - a predicate
    if name == "ArchivedSince" and "ArchivedSince" in table.derived_filters:
        try:
            since = parse_datetime(raw)
        except ValueError:
            raise validation(name, f"{name} must be an ISO-8601 date-time") from None
        return lambda r: r["ArchivedAt"] is not None and parse_datetime(r["ArchivedAt"]) >= since
    if name not in table.filters:
        raise validation(name, f"{table.entity} cannot be filtered on {name}")
    kind = "str" if name == "ExtKey" else table.fields[name].type
    if kind == "int":
        if raw == "":
            return lambda r: r[name] is None
        value: Any = _int_param({name: raw}, name)
    elif kind == "bool":
        if raw.lower() not in ("true", "false"):
            raise validation(name, f"{name} must be true or false")
        value = raw.lower() == "true"
    else:
        value = raw
    return lambda r: r[name] == value
