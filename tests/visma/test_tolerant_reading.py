"""Reading Visma.net JSON is tolerant (reconcilers/clients/visma/wire.py): every form the OpenAPI
files allow reads, extra and missing optional fields do no harm, and a record fails only when
what the integration needs of it is missing, and then only with UnreadableRecordError.

Generated records go the way an answer does: JSON text (lone surrogates escaped, as a .NET
service sends them), `read_json`, then the reader."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcilers.clients.http import UnreadableRecordError
from reconcilers.clients.visma import wire
from reconcilers.text import read_json, repaired_text

MISSING = object()
"""A field left out of the record altogether."""


def _hostile_texts() -> list[str]:
    here = Path(__file__).resolve()
    for folder in here.parents:
        found = folder / "shared" / "data" / "hostile-text.json"
        if found.is_file():
            cases = json.loads(found.read_text(encoding="utf-8"))["cases"]
            return [json.loads(case["json"]) for case in cases]
    return ["Loodgieter Lek\ud83d B.V.", "Pakking \udc00 set", "Factuur \u202etxt.exe",
            "WB-9\x1b[2J\x1b]0;pwned\x07", "O'Brien \"De Zwaan\" B.V.", ""]


HOSTILE = _hostile_texts()
TEXT = st.one_of(st.text(max_size=30), st.sampled_from(HOSTILE))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False,
                                                          allow_infinity=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=6,
)
JUNK_NUMBERS = [None, MISSING, "", " ", "abc", "lots", 12.5, "12.5", True, False, [], {},
                {"value": 5}, "NaN", "Infinity", "-Infinity", "1e400", 2 ** 70, "0x10"]
JUNK_KEYS = [None, MISSING, "", "   ", True, False, [], {}, {"id": "x"}, 12.5]


def _wire(record: Any) -> Any:
    """`record` as it arrives: encoded as JSON text (escaped), read with `read_json`."""
    return read_json(httpx.Response(200, content=json.dumps(record).encode("ascii")))


def _put(record: dict[str, Any], name: str, value: Any) -> None:
    if value is not MISSING:
        record[name] = value


def _utf8_safe(*texts: str | None) -> None:
    for text in texts:
        if text is not None:
            text.encode("utf-8")  # a lone surrogate would raise here


# --- value strategies: (wire form, what it reads as) ------------------------------------------

@st.composite
def ids(draw: st.DrawFn) -> tuple[Any, int]:
    number = draw(st.integers(min_value=0, max_value=2 ** 62))
    form = draw(st.sampled_from(["number", "string", "padded", "float"]))
    if form == "string":
        return str(number), number
    if form == "padded":
        return f" {number} ", number
    if form == "float" and number < 2 ** 50:
        return float(number), number
    return number, number


@st.composite
def numbers(draw: st.DrawFn) -> tuple[Any, Decimal]:
    value = draw(st.decimals(min_value=-10 ** 7, max_value=10 ** 7, places=2,
                             allow_nan=False, allow_infinity=False))
    form = draw(st.sampled_from(["number", "string", "integer"]))
    if form == "string":
        return str(value), value
    if form == "integer":
        return int(value), Decimal(int(value))
    return float(value), value


@st.composite
def moments(draw: st.DrawFn) -> tuple[str, datetime]:
    """A date-time in one of the forms Visma.net sends, and the instant it stands for."""
    moment = draw(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)))
    form = draw(st.sampled_from(["date", "plain", "space", "fraction", "ticks", "Z",
                                 "offset", "offset-fraction"]))
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    micro = moment.microsecond
    if form == "date":
        return moment.strftime("%Y-%m-%d"), datetime(moment.year, moment.month, moment.day,
                                                     tzinfo=UTC)
    exact = moment.replace(microsecond=0, tzinfo=UTC)
    if form == "plain":
        return base, exact
    if form == "space":
        return base.replace("T", " "), exact
    if form == "fraction":
        return f"{base}.{micro // 1000:03d}", exact + timedelta(milliseconds=micro // 1000)
    if form == "ticks":  # .NET: seven digits
        return f"{base}.{micro:06d}0", exact + timedelta(microseconds=micro)
    if form == "Z":
        return f"{base}.{micro:06d}Z", exact + timedelta(microseconds=micro)
    hours = draw(st.integers(min_value=-12, max_value=14))
    zone = timezone(timedelta(hours=hours))
    sign = "+" if hours >= 0 else "-"
    suffix = f"{sign}{abs(hours):02d}:00"
    at = moment.replace(microsecond=0, tzinfo=zone)
    if form == "offset":
        return base + suffix, at
    return f"{base}.{micro:06d}{suffix}", at + timedelta(microseconds=micro)


def optional(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """An optional field: a valid value, left out, null, or anything at all."""
    return st.one_of(valid, st.just(MISSING), st.none(), JSON)


def extras() -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.text(min_size=1, max_size=12).map(lambda k: "x" + k), JSON,
                           max_size=4)


ADDRESS = st.fixed_dictionaries({}, optional={
    "addressId": st.integers() | st.text(max_size=5) | st.none(),
    "addressLine1": TEXT | st.none() | st.integers(), "postalCode": TEXT | st.none(),
    "city": TEXT | st.none(), "country": st.none() | st.fixed_dictionaries(
        {"id": st.sampled_from(["NL", "BE", None, 5])}) | TEXT,
}) | st.none() | JSON
CONTACT = st.fixed_dictionaries({}, optional={
    "contactId": st.integers() | st.text(max_size=5), "name": TEXT | st.none(),
    "email": TEXT | st.none(), "phone1": TEXT | st.none() | st.integers(),
}) | st.none() | JSON


# --- customers ---------------------------------------------------------------------------------

@st.composite
def customers(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """(CustomerDto, what must be read of it: None values where the record is unusable)."""
    record: dict[str, Any] = draw(extras())
    expect: dict[str, Any] = {}
    if draw(st.booleans()):
        raw_id, expect["internal_id"] = draw(ids())
    else:
        raw_id, expect["internal_id"] = draw(st.sampled_from(JUNK_NUMBERS)), None
    _put(record, "internalId", raw_id)
    if draw(st.booleans()):
        number = draw(st.text(min_size=1, max_size=15).filter(str.strip) | st.integers(0))
        expect["number"] = str(number).strip()
        if isinstance(number, str) and draw(st.booleans()):
            number = f" {number} "
    else:
        number, expect["number"] = draw(st.sampled_from(JUNK_KEYS)), None
    _put(record, "number", number)
    name = draw(optional(TEXT))
    _put(record, "name", name)
    expect["name"] = (repaired_text(name) if isinstance(name, str)
                      else "" if name in (MISSING, None) else None)
    modified = draw(st.one_of(moments(), st.just((MISSING, None)),
                              st.just(("not a date", None)), st.just((20250101, None))))
    _put(record, "lastModifiedDateTime", modified[0])
    expect["last_modified"] = modified[1]
    for field, strategy in (("status", optional(st.sampled_from(
            ["Active", "OnHold", "CreditHold", "Inactive", "OneTime"]))),
            ("mainAddress", ADDRESS), ("invoiceAddress", ADDRESS),
            ("deliveryAddress", ADDRESS), ("mainContact", CONTACT),
            ("invoiceContact", CONTACT), ("createdDateTime", optional(TEXT)),
            ("metadata", optional(st.fixed_dictionaries({"totalCount": st.integers()})))):
        _put(record, field, draw(strategy))
    return record, expect


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(customers())
def test_customer_reads_or_is_unreadable_for_want_of_its_key(case):
    record, expect = case
    usable = expect["internal_id"] is not None and expect["number"] is not None
    try:
        customer = wire.customer(_wire(record))
    except UnreadableRecordError as problem:
        assert not usable, problem
        assert problem.api == "Visma.net" and problem.table == "customer"
        assert problem.record_id == expect["internal_id"]
        assert problem.problems and problem.label and problem.label.startswith("customer")
        if expect["number"]:
            assert problem.label.startswith(f"customer {expect['number']}")
        return
    assert usable
    assert customer.internal_id == expect["internal_id"]
    assert customer.number == expect["number"]
    assert customer.last_modified == expect["last_modified"]
    if expect["name"] is not None:
        assert customer.name == expect["name"]
    for found in (customer.main_address, customer.invoice_address, customer.delivery_address):
        if found is not None:
            _utf8_safe(found.line1, found.city, found.postal_code, found.country)
    _utf8_safe(customer.name, customer.number, customer.status)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_names_are_read_and_safe(text):
    customer = wire.customer(_wire({"internalId": 7, "number": "10023", "name": text}))
    _utf8_safe(customer.name)
    assert "\ufffd" in customer.name or customer.name == text


def test_unreadable_customer_names_itself():
    with pytest.raises(UnreadableRecordError) as caught:
        wire.customer({"internalId": "abc", "number": "10023", "name": "Bakker BV"})
    problem = caught.value
    assert problem.label == "customer 10023 Bakker BV"
    assert problem.record_id is None
    assert problem.problems == ["internalId 'abc' is not a number"]
    with pytest.raises(UnreadableRecordError) as caught:
        wire.customer({"internalId": 5, "name": "Bakker BV"})
    assert caught.value.record_id == 5 and caught.value.problems == ["number is missing"]
    with pytest.raises(UnreadableRecordError) as caught:
        wire.customer(None)
    assert caught.value.problems == ["the customer is not a JSON object"]


# --- inventory items -------------------------------------------------------------------------

@st.composite
def items(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    record: dict[str, Any] = draw(extras())
    expect: dict[str, Any] = {}
    if draw(st.booleans()):
        raw_id, expect["inventory_id"] = draw(ids())
    else:
        raw_id, expect["inventory_id"] = draw(st.sampled_from(JUNK_NUMBERS)), None
    _put(record, "inventoryId", raw_id)
    if draw(st.booleans()):
        number = draw(st.text(min_size=1, max_size=15).filter(str.strip))
        expect["number"] = number.strip()
    else:
        number, expect["number"] = draw(st.sampled_from(JUNK_KEYS)), None
    _put(record, "inventoryNumber", number)
    if draw(st.booleans()):
        raw_price, expect["price"] = draw(numbers())
    else:
        raw_price = draw(st.sampled_from([MISSING, None, "", "lots", True, {}, [], "NaN"]))
        expect["price"] = None
    _put(record, "defaultPrice", raw_price)
    for field, strategy in (
        ("description", optional(TEXT)), ("status", optional(st.sampled_from(
            ["Active", "NoSales", "Inactive", "MarkedForDeletion", "Unknown"]))),
        ("type", optional(st.sampled_from(["NonStockItem", "LaborItem", "ServiceItem"]))),
        ("stockItem", optional(st.booleans() | st.sampled_from(["true", "false"]))),
        ("baseUnit", optional(TEXT)), ("salesUnit", optional(TEXT)),
        ("lastModifiedDateTime", optional(moments().map(lambda m: m[0]))),
        ("itemClass", optional(st.fixed_dictionaries({"id": TEXT}))),
        ("warehouseDetails", optional(st.lists(JSON, max_size=2))),
        ("attachments", optional(st.lists(JSON, max_size=2))),
    ):
        _put(record, field, draw(strategy))
    return record, expect


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items())
def test_item_reads_or_is_unreadable_for_want_of_its_key(case):
    record, expect = case
    usable = expect["inventory_id"] is not None and expect["number"] is not None
    try:
        item = wire.inventory_item(_wire(record))
    except UnreadableRecordError as problem:
        assert not usable, problem
        assert problem.table == "item" and problem.record_id == expect["inventory_id"]
        assert problem.label and problem.label.startswith("item")
        return
    assert usable
    assert item.inventory_id == expect["inventory_id"] and item.number == expect["number"]
    assert item.default_price == expect["price"]
    _utf8_safe(item.description, item.number, item.unit)


def test_unreadable_item_names_itself():
    with pytest.raises(UnreadableRecordError) as caught:
        wire.inventory_item({"inventoryId": 12, "description": "Uurloon"})
    assert caught.value.label == "item Uurloon"
    with pytest.raises(UnreadableRecordError) as caught:
        wire.inventory_item({"inventoryNumber": "UUR", "description": "Uurloon"})
    assert caught.value.label == "item UUR Uurloon"
    assert caught.value.problems == ["inventoryId is missing"]


# --- sales orders --------------------------------------------------------------------------------

@st.composite
def order_keys(draw: st.DrawFn, record: dict[str, Any]) -> bool:
    usable = True
    order_type = draw(st.sampled_from(["SO", "QT"]) | st.sampled_from(JUNK_KEYS))
    _put(record, "type", order_type)
    usable &= order_type in ("SO", "QT")
    order_id = draw(st.sampled_from(["000223", "SO-1"]) | st.integers(1, 10 ** 6)
                    | st.sampled_from(JUNK_KEYS))
    _put(record, "orderId", order_id)
    usable &= isinstance(order_id, str | int) and not isinstance(order_id, bool) and str(
        order_id).strip() != ""
    return usable


@st.composite
def sales_orders(draw: st.DrawFn) -> tuple[dict[str, Any], bool, Decimal | None]:
    record: dict[str, Any] = draw(extras())
    usable = draw(order_keys(record))
    total: Decimal | None = None
    if draw(st.booleans()):
        raw_total, total = draw(numbers())
        record["totals"] = {"orderTotal": raw_total, "taxTotal": draw(JSON)}
    else:
        _put(record, "totals", draw(st.sampled_from([MISSING, None, {}, [], "x"])))
    for field, strategy in (
        ("status", optional(st.fixed_dictionaries({"description": TEXT, "hold": JSON})
                            | TEXT)),
        ("customer", optional(st.fixed_dictionaries({}, optional={
            "id": TEXT | st.integers(), "internalId": ids().map(lambda i: i[0]) | JSON,
            "order": TEXT | st.none(), "refNo": TEXT | st.none(), "name": TEXT}))),
        ("description", optional(TEXT)), ("note", optional(TEXT)),
        ("date", optional(moments().map(lambda m: m[0]))),
        ("lastModified", optional(moments().map(lambda m: m[0]))),
        ("attachments", optional(st.lists(st.fixed_dictionaries({}, optional={
            "id": TEXT | st.integers(), "name": TEXT, "revision": JSON}) | JSON,
            max_size=3))),
        ("branch", optional(JSON)), ("shipping", optional(JSON)),
    ):
        _put(record, field, draw(strategy))
    return record, usable, total


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sales_orders())
def test_sales_order_reads_or_is_unreadable_for_want_of_its_key(case):
    record, usable, total = case
    for read in (lambda dto: wire.sales_order(dto, '"AAAAAAAAAAE="'),
                 wire.sales_order_summary):
        try:
            order = read(_wire(record))
        except UnreadableRecordError as problem:
            assert not usable, problem
            assert problem.table == "sales order"
            assert problem.label and problem.label.startswith("sales order")
            continue
        assert usable
        assert order.order_type in ("SO", "QT") and order.order_id.strip()
        if read is not wire.sales_order_summary:
            assert order.total == total
        _utf8_safe(order.description, order.marker, order.reference)


@st.composite
def order_lines(draw: st.DrawFn) -> tuple[dict[str, Any], bool, Decimal | None]:
    record: dict[str, Any] = draw(extras())
    usable = draw(st.booleans())
    if usable:
        _put(record, "lineId", draw(ids())[0])
    else:
        _put(record, "lineId", draw(st.sampled_from(JUNK_NUMBERS)))
    quantity: Decimal | None = None
    if draw(st.booleans()):
        raw, quantity = draw(numbers())
        record["quantity"] = raw
    else:
        _put(record, "quantity", draw(st.sampled_from([MISSING, None, "lots", {}, True])))
    for field, strategy in (
        ("inventory", optional(st.fixed_dictionaries({}, optional={
            "id": TEXT | st.integers(), "description": TEXT}) | TEXT)),
        ("unitPrice", optional(numbers().map(lambda n: n[0]))),
        ("description", optional(TEXT)), ("note", optional(TEXT)),
        ("warehouseId", optional(TEXT)), ("unitOfMeasure", optional(TEXT)),
        ("hasManualPrice", optional(st.booleans())),
    ):
        _put(record, field, draw(strategy))
    return record, usable, quantity


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order_lines())
def test_sales_order_line_reads_or_is_unreadable_for_want_of_its_id(case):
    record, usable, quantity = case
    try:
        line = wire.sales_order_line(_wire(record), "SO 000223")
    except UnreadableRecordError as problem:
        assert not usable, problem
        assert problem.label and problem.label.startswith("sales order SO 000223 line")
        return
    assert usable
    assert line.quantity == quantity
    _utf8_safe(line.description, line.note, line.item_number)


# --- customer invoices ---------------------------------------------------------------------------

@st.composite
def invoices(draw: st.DrawFn) -> tuple[dict[str, Any], bool, Decimal | None, int]:
    record: dict[str, Any] = draw(extras())
    reference = draw(st.sampled_from(["100001", "INV-7"]) | st.integers(1, 10 ** 6)
                     | st.sampled_from(JUNK_KEYS))
    _put(record, "referenceNumber", reference)
    usable = isinstance(reference, str | int) and not isinstance(reference, bool) and str(
        reference).strip() != ""
    amount: Decimal | None = None
    if draw(st.booleans()):
        raw, amount = draw(numbers())
        record["amount"] = raw
    lines = draw(st.lists(st.fixed_dictionaries({}, optional={
        "lineNumber": ids().map(lambda i: i[0]) | JSON,
        "inventoryNumber": TEXT | st.fixed_dictionaries({"number": TEXT}) | st.none(),
        "description": optional(TEXT).filter(lambda v: v is not MISSING),
        "quantity": numbers().map(lambda n: n[0]) | JSON,
        "unitPriceInCurrency": numbers().map(lambda n: n[0]) | JSON,
    }), max_size=3))
    if draw(st.booleans()):
        record["invoiceLines"] = lines
    else:
        _put(record, "invoiceLines", draw(st.sampled_from([MISSING, None, {}, "x"])))
    for field, strategy in (
        ("customer", optional(st.fixed_dictionaries({}, optional={
            "number": TEXT | st.integers(), "name": TEXT}) | TEXT)),
        ("status", optional(st.sampled_from(["Hold", "Balanced", "Open", "Closed"]))),
        ("customerRefNumber", optional(TEXT)), ("externalReference", optional(TEXT)),
        ("invoiceText", optional(TEXT)), ("note", optional(TEXT)),
        ("documentDate", optional(moments().map(lambda m: m[0]))),
        ("lastModifiedDateTime", optional(moments().map(lambda m: m[0]))),
        ("attachments", optional(st.lists(JSON, max_size=2))),
    ):
        _put(record, field, draw(strategy))
    return record, usable, amount, len(lines) if isinstance(record.get("invoiceLines"),
                                                              list) else 0


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(invoices())
def test_invoice_reads_or_is_unreadable_for_want_of_its_number(case):
    record, usable, amount, line_count = case
    try:
        invoice = wire.customer_invoice(_wire(record))
    except UnreadableRecordError as problem:
        assert not usable, problem
        assert problem.table == "customer invoice"
        assert problem.label and problem.label.startswith("customer invoice")
        return
    assert usable
    assert invoice.amount == amount
    assert len(invoice.lines) == line_count
    _utf8_safe(invoice.note, invoice.invoice_text, invoice.external_reference)


# --- date-times ---------------------------------------------------------------------------------

@given(moments())
def test_every_documented_date_time_form_reads_as_its_instant(case):
    text, instant = case
    parsed = wire.parse_datetime(_wire(text))
    assert parsed == instant and parsed is not None and parsed.tzinfo is not None


@given(JSON)
def test_anything_else_is_no_date_rather_than_an_error(value):
    parsed = wire.parse_datetime(_wire(value))
    assert parsed is None or parsed.tzinfo is not None
