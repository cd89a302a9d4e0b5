"""The Simple-Simon API client (api/simon.md section 5). Every Simon wire detail on the
operator side lives here and in `models.py`: paths, header names, paging, the error body.

It uses only the confirmed verbs: `insert`, `update`, `delete`, `read`, `read/{id}`,
`readsync` and `digitalpresentation`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_pascal

from reconcilers.clients.http import (
    ApiClient,
    ApiError,
    ConflictError,
    InDoubtError,
    NotFoundError,
    RequestRejectedError,
    RetryPolicy,
    Sleep,
    TransientApiError,
    UnreadableRecordError,
    error_class,
)
from reconcilers.clients.simon.models import (
    QUOTE_SHORT,
    RECORD_TYPES,
    UNREADABLE,
    Change,
    Customer,
    KeyPair,
    Location,
    Scheduling,
    SimonRecord,
    TimeSheet,
    Unreadable,
    UsedItem,
    User,
    WorkOrder,
    WorkOrderDetails,
    WorkOrderSurvey,
    parse_id,
    parse_text,
)
from reconcilers.text import quoted, read_json

log = logging.getLogger(__name__)

R = TypeVar("R", bound=SimonRecord)
M = TypeVar("M", bound=BaseModel)

TOKEN_HEADER = "Token"  # config SIMON_TOKEN_HEADER (5.1)
API_KEY_HEADER = "ApiKey"  # config SIMON_APIKEY_HEADER (5.1)
MAX_PAGE = 1000  # the largest `top` Simon accepts (5.3)
TOKEN_REFRESH_MARGIN = 60.0  # seconds before ExpiresAt that a token is renewed (at most)


class InUseError(ConflictError):
    """409 `InUse`: Simon refuses to delete a record a work order still uses (SPEC S-32)."""


class DuplicateExtKeyError(ConflictError):
    """409 `DuplicateExtKey`: another record of the table already has this ExtKey."""


class InvalidReferenceError(RequestRejectedError):
    """422 `InvalidReference`: a foreign key (CustomerId, LocationId, ...) does not exist."""


_CODE_ERRORS: dict[str, type[ApiError]] = {
    "InUse": InUseError,
    "DuplicateExtKey": DuplicateExtKeyError,
    "InvalidReference": InvalidReferenceError,
}

TableRef = str | type[SimonRecord]


def _table(model_or_table: TableRef) -> str:
    table = model_or_table if isinstance(model_or_table, str) else model_or_table.table
    if table not in RECORD_TYPES:
        raise ValueError(f"unknown Simon table {table!r}")
    return table


def _format_time(moment: datetime) -> str:
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _query_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return _format_time(value)
    return str(value)


# What users know a record of each table by, for the error naming an unreadable one.
_NOUNS = {
    "customer": "customer", "location": "location", "contact": "contact",
    "itemgroup": "item group", "item": "item", "user": "user", "workorder": "work order",
    "scheduling": "scheduling", "timesheet": "time sheet", "useditem": "used item",
    "workordersurvey": "form",
}
_NAMES = {
    "customer": ("Name", "Number"), "location": ("Name",), "contact": ("Name",),
    "itemgroup": ("Name",), "item": ("Code", "Description"), "user": ("Name",),
    "useditem": ("Description", "Code"), "workordersurvey": ("SurveyName",),
}


def _field(body: dict[str, Any], name: str, parse: Any) -> Any:
    try:
        value = body.get(name)
        return None if value is None else parse(value)
    except Unreadable:
        return None


def _label(table: str, body: Any, parent: str | None) -> str | None:
    """How users know a record: "used item 'Kabel 3x2,5' of work order 24017"."""
    noun = _NOUNS.get(table, table)
    label = None
    if isinstance(body, dict):
        if table == "workorder":
            number = _field(body, "Number", parse_text)
            label = f"{noun} {number}" if number and number.strip() else None
        for name in _NAMES.get(table, ()):
            text = _field(body, name, parse_text)
            if text and text.strip():
                label = f"{noun} {quoted(text, QUOTE_SHORT)}"
                break
        if label is None:
            record_id = _field(body, "Id", parse_id)
            label = None if record_id is None else f"{noun} {record_id}"
    if parent is None:
        return label
    return f"{label or noun} of {parent}"


def _where(loc: tuple[int | str, ...]) -> str:
    where = ""
    for part in loc:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else part)
    return where


def _problems(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors(include_url=False):
        where = _where(item["loc"]) or "the record"
        if item["type"] == UNREADABLE:
            problems.append(f"{where}: {item['msg']}")
        else:
            problems.append(f"{where}: {quoted(item['input'], QUOTE_SHORT)} "
                            f"{item['msg'][:1].lower()}{item['msg'][1:]}")
    return problems


def read_record(model: type[M], body: Any, *, table: str, record_id: object = None,
                parent: str | None = None) -> M:
    """One record as Simon sent it, read tolerantly into `model`; UnreadableRecordError
    (naming the record, and `parent` for a child such as "work order 24017") when a field
    the integration needs has no usable form. Never lets a pydantic error out."""
    if not isinstance(body, dict):
        raise UnreadableRecordError("Simon", table, record_id,
                                    [f"the answer {quoted(body, QUOTE_SHORT)} is not a record"],
                                    label=_label(table, body, parent))
    try:
        return model.model_validate(body)
    except ValidationError as error:
        read_id = _field(body, "Id", parse_id)
        raise UnreadableRecordError(
            "Simon", table, read_id if read_id is not None else record_id, _problems(error),
            label=_label(table, body, parent),
        ) from None


class SimonClient(ApiClient):
    """One tenant's Simon API. Use as `async with SimonClient(...) as simon:`."""

    api_name = "simon"

    def __init__(
        self,
        *,
        url: str,
        license_key: str,
        username: str,
        password: str,
        api_key: str | None = None,
        policy: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        token_header: str = TOKEN_HEADER,
        api_key_header: str = API_KEY_HEADER,
        page_size: int = MAX_PAGE,
    ) -> None:
        super().__init__(policy=policy, transport=transport, sleep=sleep)
        self.url = url.rstrip("/")
        self.username = username
        self.page_size = max(1, min(page_size, MAX_PAGE))
        self.token_header = token_header
        self.api_key_header = api_key_header
        self.logins = 0
        self._license_key = license_key
        self._password = password
        self._api_key = api_key
        self._token: str | None = None
        self._token_renew_at = 0.0
        self._login_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SimonClient(url={self.url!r}, username={self.username!r})"

    # --- auth and errors ----------------------------------------------------------------

    def _api_key_headers(self) -> dict[str, str]:
        return {self.api_key_header: self._api_key} if self._api_key else {}

    async def _auth_headers(self, refresh: bool) -> dict[str, str]:
        async with self._login_lock:
            if refresh or self._token is None or time.monotonic() >= self._token_renew_at:
                await self._login()
            assert self._token is not None
            return {self.token_header: self._token, **self._api_key_headers()}

    async def _login(self) -> None:
        self._token = None
        response = await self._request(
            "POST", self._url("token"), authenticated=False, ok=(200,),
            headers=self._api_key_headers(),
            json={"Key": self._license_key, "Usr": self.username, "Pwd": self._password},
        )
        self.logins += 1
        try:
            body = read_json(response)
            token = body["Token"]
            expires_at = datetime.fromisoformat(body["ExpiresAt"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ApiError(self.api_name, "unexpected answer to the login",
                           status=response.status_code, method="POST",
                           path=response.request.url.path) from exc
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        lifetime = (expires_at - datetime.now(UTC)).total_seconds()
        margin = min(TOKEN_REFRESH_MARGIN, max(lifetime, 0) / 10)
        self._token = str(token)
        self._token_renew_at = time.monotonic() + max(0.0, lifetime - margin)

    def _error(self, response: httpx.Response, method: str, path: str) -> ApiError:
        code = field = None
        message = response.reason_phrase or f"HTTP {response.status_code}"
        try:
            body = read_json(response)
        except ValueError:
            body = None
        if isinstance(body, dict):
            code = body.get("Code") if isinstance(body.get("Code"), str) else None
            message = str(body.get("Message") or message)
            field = body.get("Field") if isinstance(body.get("Field"), str) else None
        kind = _CODE_ERRORS.get(code or "") or error_class(response.status_code)
        if response.status_code in (401, 403) or response.status_code >= 500:
            kind = error_class(response.status_code)
        details = [{"field": field}] if field else None
        return kind(self.api_name, message, status=response.status_code, code=code,
                    method=method, path=path, details=details)

    def _url(self, path: str) -> str:
        return f"{self.url}/{path}"

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        return read_json(response, decimals=True)

    # --- writes -------------------------------------------------------------------------

    async def insert(self, record: SimonRecord) -> int:
        """`{table}/insert`: the new record's Id. Never repeated once it may have reached
        Simon: a lost answer raises InDoubtError (see `insert_or_find`)."""
        response = await self._request(
            "POST", self._url(f"{_table(type(record))}/insert"), idempotent=False,
            ok=(200, 201), json=record.wire(with_id=False),
        )
        return int(self._json(response)["Id"])

    async def insert_or_find(self, record: SimonRecord) -> int:
        """Insert a record that has an ExtKey; when the answer is lost (InDoubtError) or the
        ExtKey already exists (an earlier attempt got through), the Id of the record with
        that ExtKey. Records without an ExtKey behave as `insert`."""
        try:
            return await self.insert(record)
        except (InDoubtError, DuplicateExtKeyError) as error:
            if not record.ext_key:
                raise
            found = await self._find_id(type(record), record.ext_key)
            if found is not None:
                log.info("simon %s ExtKey %s resolved to Id %s after %s", type(record).table,
                         record.ext_key, found, type(error).__name__)
                return found
            if isinstance(error, DuplicateExtKeyError):
                raise
        return await self.insert(record)  # the lost attempt made nothing: try once more

    async def update(self, record: SimonRecord) -> KeyPair:
        """`{table}/update`: only the fields set on `record` change; `record.id` required."""
        if record.id is None:
            raise ValueError("update needs the record's Id")
        response = await self._request(
            "POST", self._url(f"{_table(type(record))}/update"), ok=(200,),
            json=record.wire(with_id=True),
        )
        return read_record(KeyPair, self._json(response), table=_table(type(record)),
                           record_id=record.id)

    async def delete(self, model_or_table: TableRef, record_id: int, *,
                     missing_ok: bool = False) -> None:
        """`{table}/delete`. InUseError when a work order still uses the record;
        NotFoundError for an unknown Id unless `missing_ok` (a retried delete that got
        through the first time answers 404)."""
        try:
            await self._request("POST", self._url(f"{_table(model_or_table)}/delete"),
                                ok=(200, 204), json={"Id": record_id})
        except NotFoundError:
            if not missing_ok:
                raise

    # --- reads --------------------------------------------------------------------------

    async def keys(self, model_or_table: TableRef, **filters: Any) -> AsyncIterator[KeyPair]:
        """Every (Id, ExtKey) pair of a table matching the filters (snake_case names, e.g.
        `customer_id=5`, `ext_key="12"`, `archived=True`; None matches an empty reference),
        paging with top/skip to the end. Collect all keys before deleting any: deletes
        during paging shift the pages."""
        table = _table(model_or_table)
        params = {to_pascal(name): _query_value(value) for name, value in filters.items()}
        skip = 0
        while True:
            response = await self._request(
                "GET", self._url(f"{table}/read"),
                params={**params, "top": self.page_size, "skip": skip},
            )
            page = self._json(response)
            if not isinstance(page, list):
                raise UnreadableRecordError("Simon", table, None,
                                            [f"the answer to read is not a list of key pairs: "
                                             f"{quoted(page, QUOTE_SHORT)}"])
            for row in page:
                yield read_record(KeyPair, row, table=table)
            if len(page) < self.page_size:
                return
            skip += len(page)

    async def get(self, model: type[R], record_id: int, *, parent: str | None = None) -> R:
        """`{table}/read/{id}`; NotFoundError when there is no such record,
        UnreadableRecordError when a field the integration needs cannot be read (`parent`,
        e.g. "work order 24017", names the record it belongs to in that error)."""
        table = _table(model)
        response = await self._request("GET", self._url(f"{table}/read/{record_id}"))
        return read_record(model, self._json(response), table=table, record_id=record_id,
                           parent=parent)

    async def find(self, model: type[R], record_id: int | None, *,
                   parent: str | None = None) -> R | None:
        """Like `get`, but None for a missing record or no Id."""
        if record_id is None:
            return None
        try:
            return await self.get(model, record_id, parent=parent)
        except NotFoundError:
            return None

    async def _find_id(self, model: TableRef, ext_key: str) -> int | None:
        async for pair in self.keys(model, ext_key=ext_key):
            if pair.ext_key == ext_key:
                return pair.id
        return None

    async def find_by_ext_key(self, model: type[R], ext_key: str) -> R | None:
        """The record whose ExtKey is `ext_key`, or None."""
        if not ext_key:
            raise ValueError("an empty ExtKey identifies nothing")
        record_id = await self._find_id(model, ext_key)
        return None if record_id is None else await self.find(model, record_id)

    async def changed_since(
        self, model_or_table: TableRef, since: datetime | None = None,
        after_id: int | None = None,
    ) -> AsyncIterator[Change]:
        """`{table}/readsync`: every record changed at or after `since` (and after `after_id`
        at that same moment), ordered by (Modified, Id). Pages by moving the cursor to the
        last row seen, so records changed meanwhile are not skipped, and drops rows a page
        repeats from the one before. The last Change yielded is the next cursor."""
        table = _table(model_or_table)
        cursor: tuple[datetime, int] | None = None
        while True:
            params: dict[str, Any] = {"top": self.page_size}
            if cursor is not None:
                params["since"], params["afterId"] = _format_time(cursor[0]), cursor[1]
            else:
                if since is not None:
                    params["since"] = _format_time(since)
                if after_id is not None:
                    params["afterId"] = after_id
            response = await self._request("GET", self._url(f"{table}/readsync"), params=params)
            rows = self._json(response)
            if not isinstance(rows, list):
                raise UnreadableRecordError("Simon", table, None,
                                            [f"the answer to readsync is not a list: "
                                             f"{quoted(rows, QUOTE_SHORT)}"])
            page = [read_record(Change, row, table=table) for row in rows]
            advanced = False
            for change in page:
                position = (change.modified, change.id)
                if cursor is not None and position <= cursor:
                    continue  # an overlapping row of the previous page
                cursor, advanced = position, True
                yield change
            if len(page) < self.page_size:
                return
            if not advanced:
                raise TransientApiError(self.api_name, "readsync returned a full page of rows "
                                        "already seen", method="GET", path=f"/{table}/readsync")

    async def work_order_pdf(self, work_order_id: int) -> bytes:
        """Simon's own rendition of a work order (`workorder/digitalpresentation`)."""
        return await self._pdf(f"workorder/digitalpresentation/{work_order_id}")

    async def survey_pdf(self, survey_id: int) -> bytes:
        """Simon's rendition of one completed form; takes the survey's own Id."""
        return await self._pdf(f"workordersurvey/digitalpresentation/{survey_id}")

    async def _pdf(self, path: str) -> bytes:
        response = await self._request("GET", self._url(path), ok=(200,))
        return response.content

    async def children(self, model: type[R], work_order_id: int, *,
                       parent: str | None = None) -> list[R]:
        """Every record of a child table (time sheets, used items, ...) of a work order.
        An unreadable one raises UnreadableRecordError naming it and the work order (as
        `parent`, default "work order <Id>")."""
        parent = parent or f"work order {work_order_id}"
        ids = [pair.id async for pair in self.keys(model, work_order_id=work_order_id)]
        records = await asyncio.gather(*(self.find(model, i, parent=parent) for i in ids))
        return [r for r in records if r is not None]

    async def work_order_details(self, work_order_id: int) -> WorkOrderDetails:
        """A work order with its schedulings, time sheets, used items, surveys, location,
        customer (the work order's, else its location's) and user (api/simon.md 5.5)."""
        work_order = await self.get(WorkOrder, work_order_id)
        parent = f"work order {work_order.number or work_order_id}"
        schedulings, time_sheets, used_items, surveys, location = await asyncio.gather(
            self.children(Scheduling, work_order_id, parent=parent),
            self.children(TimeSheet, work_order_id, parent=parent),
            self.children(UsedItem, work_order_id, parent=parent),
            self.children(WorkOrderSurvey, work_order_id, parent=parent),
            self.find(Location, work_order.location_id, parent=parent),
        )
        customer_id = work_order.customer_id
        if customer_id is None and location is not None:
            customer_id = location.customer_id
        details = WorkOrderDetails(
            work_order=work_order, location=location,
            customer=await self.find(Customer, customer_id, parent=parent),
            schedulings=sorted(schedulings, key=lambda r: r.id or 0),
            time_sheets=sorted(time_sheets, key=lambda r: r.id or 0),
            used_items=sorted(used_items, key=lambda r: r.id or 0),
            surveys=sorted(surveys, key=lambda r: r.id or 0),
        )
        details.user = await self.find(User, details.user_id, parent=parent)
        return details
