"""Small builders for Simon test data, seeded straight into the emulator."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from emulators.simon import SimonEmulator


def seed_work_order(simon: SimonEmulator, *, ext: str = "1", archived: bool = False,
                    **order: Any) -> dict[str, dict[str, Any]]:
    """A customer with a location, an item, a field user and a work order using all of them
    (a time sheet and a used item on the item, a scheduling for the user)."""
    customer = simon.seed("customer", Name=f"Klant {ext}", ExtKey=ext, Number=f"C{ext}")
    location = simon.seed("location", Name=f"Klant {ext}", CustomerId=customer["Id"],
                          ExtKey=f"{ext}/main", Street="Kerkstraat", HouseNumber="12 A",
                          PostalCode="1011 AB", City="Amsterdam", Country="NL")
    item = simon.seed("item", Code=f"ART-{ext}", ExtKey=f"I{ext}", Description="Arbeid",
                      Price=62.5, Unit="uur")
    user = simon.seed("user", Name="Jan de Vries", Email="jan@acme.example", Kind="Field")
    work_order = simon.seed("workorder", LocationId=location["Id"], CustomerId=customer["Id"],
                            Description="Cv-ketel onderhoud", **order)
    sheet = simon.seed("timesheet", WorkOrderId=work_order["Id"], UserId=user["Id"],
                       Date="2025-03-04", Start="08:00", End="10:00", Minutes=120,
                       Kind="Work", ItemId=item["Id"])
    used = simon.seed("useditem", WorkOrderId=work_order["Id"], ItemId=item["Id"],
                      Code=item["Code"], Quantity=2, Price=4.55)
    planned = simon.seed("scheduling", WorkOrderId=work_order["Id"], UserId=user["Id"],
                         Start="2025-03-04T08:00:00Z", End="2025-03-04T10:00:00Z")
    if archived:
        work_order = simon.archive_work_order(work_order["Id"])
    return {"customer": customer, "location": location, "item": item, "user": user,
            "work_order": work_order, "time_sheet": sheet, "used_item": used,
            "scheduling": planned}


# --- the emulator's wire forms (emulators/simon/wire.py), read back for assertions --------


def wire_id(value: Any) -> int:
    """An id as served: a number or a string of digits."""
    assert (isinstance(value, int) and not isinstance(value, bool)) or \
        (isinstance(value, str) and value.isdigit()), value
    return int(value)


def wire_instant(value: Any) -> datetime:
    """A date-time as served: `Z`, an offset, or no zone (UTC); milliseconds always kept."""
    assert isinstance(value, str) and "." in value, value
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def wire_number(value: Any) -> Decimal:
    """A decimal as served: a JSON number or a decimal string."""
    assert isinstance(value, int | float | str) and not isinstance(value, bool), value
    return Decimal(str(value))


def wire_bool(value: Any) -> bool:
    """A boolean as served: `true`, `"true"` or `1` (and their false forms)."""
    forms = {"true": True, "false": False}
    if isinstance(value, str):
        return forms[value]
    assert value in (True, False, 0, 1), value
    return bool(value)


def wire_rows(answer: Any) -> list[dict[str, Any]]:
    """Rows of `read` or `readsync` in one form: int `Id`, `ExtKey` "" for null, `Modified`
    as an instant."""
    rows = answer.json() if hasattr(answer, "json") else answer
    out = []
    for row in rows:
        row = {**row, "Id": wire_id(row["Id"])}
        if "ExtKey" in row:
            row["ExtKey"] = row["ExtKey"] or ""
        if "Modified" in row:
            row["Modified"] = wire_instant(row["Modified"])
        out.append(row)
    return out
