"""Realistic, seeded Simon data: users, records made in Simon itself (empty ExtKey), and work
orders with time sheets, used items, schedulings and completed forms.

`populate(emulator, seed)` adds users and a few Simon-made customers, locations and items;
`add_work_orders(emulator, n, seed)` adds work orders on whatever customers, locations and
items the emulator holds at that moment (mirrored from Visma.net or made in Simon). Records
go in through `SimonEmulator.seed`, so they are not counted as API writes.
"""

from __future__ import annotations

import base64
import random
import struct
import zlib
from datetime import UTC, date, datetime, timedelta
from typing import Any

from emulators import dutch
from emulators.simon.emulator import SimonEmulator

SKIP_WORD = "NIETFACTUREREN"

DESCRIPTIONS = (
    "Cv-ketel onderhoud en rookgasmeting",
    "Lekkage onder het aanrecht verhelpen",
    "Storing warmtepomp: geen warm water",
    "Groepenkast uitbreiden met twee groepen",
    "Dakgoot reinigen en lekkage dichten",
    "Jaarlijkse inspectie brandblussers",
    "Mechanische ventilatie reinigen en inregelen",
    "Zonnepanelen controleren na stormschade",
    "Radiatorkraan vervangen woonkamer",
    "Airco-unit plaatsen slaapkamer",
    "Afvoer ontstoppen badkamer",
    "Buitenlamp met bewegingsmelder monteren",
)
WORK_PERFORMED = (
    "Ketel gereinigd, branderinstellingen gecontroleerd en rookgassen gemeten. Alles in orde.",
    "Sifon vervangen en koppelingen opnieuw afgedicht. Lekkage verholpen.",
    "Expansievat bijgevuld, driewegklep vervangen. Installatie werkt weer naar behoren.",
    "Twee groepen aangelegd, aardlekschakelaar vervangen en installatie doorgemeten.",
    "Goot schoongemaakt, naad gekit en afvoer doorgespoten.",
    "Blussers gekeurd en voorzien van nieuw keuringslabel.",
    "Ventielen gereinigd, box vervangen en luchthoeveelheden ingeregeld.",
    "Panelen visueel gecontroleerd, één paneel opnieuw bevestigd.",
    "Thermostatische kraan vervangen, systeem ontlucht en bijgevuld.",
    "Binnen- en buitendeel geplaatst, leidingwerk vacuüm getrokken en gevuld.",
    "Afvoer ontstopt met veer, stankafsluiter gereinigd.",
    "Lamp gemonteerd, bekabeling vernieuwd en melder afgesteld.",
)
SKIP_NOTES = (
    f"Garantie, {SKIP_WORD}",
    f"{SKIP_WORD} - nazorg op eerdere werkbon",
    f"Klacht afgehandeld ({SKIP_WORD.lower()})",
)
REFERENCES = ("", "", "PO-{n}", "Project {city}", "Inkooporder {n}", "Contract {n}/2025")
SIMON_ITEMS = (
    ("KLEIN", "Klein installatiemateriaal", "st", 4.55),
    ("KIT", "Siliconenkit sanitair", "st", 8.95),
    ("PARK", "Parkeerkosten", "st", 6.50),
)
FORMS: tuple[tuple[str, tuple[tuple[str, str, str], ...]], ...] = (
    ("Opleverformulier", (
        ("werkplek", "Werkplek schoon achtergelaten?", "checkbox"),
        ("opmerking", "Opmerkingen klant", "text"),
        ("tevreden", "Tevredenheid", "radio"),
        ("foto", "Foto na afloop", "photo"),
        ("handtekening", "Handtekening klant", "signature"),
    )),
    ("Keuringsrapport cv-ketel", (  # numbered questions: served as numbers now and then
        ("101", "CO-waarde (ppm)", "number"),
        ("102", "Waterdruk (bar)", "number"),
        ("103", "Datum keuring", "date"),
        ("104", "Type toestel", "dropdown"),
        ("105", "Handtekening monteur", "signature"),
    )),
    ("Werkplekinspectie (LMRA)", (
        ("risico", "Risico's besproken?", "checkbox"),
        ("pbm", "PBM aanwezig?", "checkbox"),
        ("toelichting", "Toelichting", "text"),
    )),
)
TEXT_ANSWERS = ("Alles netjes opgeleverd.", "Klant was niet thuis, buren hebben geopend.",
                "Volgende keer extra tijd inplannen.", "", "Geen bijzonderheden.")
RADIO_ANSWERS = ("Zeer tevreden", "Tevreden", "Neutraal")
DEVICE_TYPES = ("Remeha Avanta", "Intergas HRE", "Nefit ProLine", "Vaillant ecoTEC")


def tiny_png(rng: random.Random, width: int = 12, height: int = 6) -> bytes:
    """A small valid greyscale PNG (a scribble for signatures, noise for photos)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    rows = b"".join(b"\x00" + bytes(rng.randrange(256) for _ in range(width))
                    for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def add_users(emulator: SimonEmulator, rng: random.Random, field_users: int = 4) -> list[dict]:
    """Field users (most with an e-mail address, every third without) and one office user."""
    users = []
    for i in range(field_users):
        name = dutch.person_name(rng)
        email = None if i % 3 == 2 else dutch.email_for(name, "simon-demo", rng)
        users.append(emulator.seed("user", Name=name, Email=email, Kind="Field"))
    office = dutch.person_name(rng)
    users.append(emulator.seed("user", Name=office, Kind="Office",
                               Email=dutch.email_for(office, "simon-demo", rng)))
    return users


def populate(emulator: SimonEmulator, seed: int = 1, field_users: int = 4,
             customers: int = 2, items: int = 3) -> dict[str, int]:
    """Users plus records made in Simon itself: customers with a location, a location
    without a customer, and items, all with an empty ExtKey."""
    rng = random.Random(f"simon-populate-{seed}")
    users = add_users(emulator, rng, field_users)
    made_customers = made_locations = 0
    for _ in range(customers):
        name = dutch.company_name(rng)
        place = dutch.address(rng)
        fields = _address_fields(place)
        customer = emulator.seed("customer", Name=name, Email=dutch.email_for(name, name, rng),
                                 Phone=dutch.phone(rng), **fields)
        emulator.seed("location", Name=name, CustomerId=customer["Id"], **fields)
        made_customers += 1
        made_locations += 1
    loose = dutch.address(rng)
    emulator.seed("location", Name=f"Bouwplaats {loose.street}", **_address_fields(loose))
    made_locations += 1
    for code, description, unit, price in SIMON_ITEMS[:items]:
        emulator.seed("item", Code=code, Description=description, Unit=unit, Price=price)
    return {"users": len(users), "customers": made_customers, "locations": made_locations,
            "items": min(items, len(SIMON_ITEMS))}


def _address_fields(place: dutch.Address) -> dict[str, str]:
    return {"Street": place.street, "HouseNumber": place.house_number,
            "PostalCode": place.postal_code, "City": place.city, "Country": place.country}


def add_work_orders(
    emulator: SimonEmulator,
    n: int,
    seed: int = 1,
    *,
    archived: bool = True,
    skip_share: float = 0.08,
    without_customer_share: float = 0.05,
    start: date | None = None,
) -> list[dict[str, Any]]:
    """`n` work orders on the customers, locations and items in the emulator now, each with
    schedulings, work and travel time sheets, used items and sometimes forms. Archived
    (completed and archived now, by the emulator's clock) unless `archived=False`. About
    `skip_share` carry the skip word, about `without_customer_share` have no customer."""
    rng = random.Random(f"simon-work-orders-{seed}-{n}")
    field_users = [u for u in emulator.list("user") if u["Kind"] == "Field"]
    if not field_users:
        field_users = [u for u in add_users(emulator, rng) if u["Kind"] == "Field"]
    locations = emulator.list("location")
    with_customer = [loc for loc in locations if loc["CustomerId"] is not None]
    without = [loc for loc in locations if loc["CustomerId"] is None]
    if not with_customer:
        populate(emulator, seed)
        locations = emulator.list("location")
        with_customer = [loc for loc in locations if loc["CustomerId"] is not None]
        without = [loc for loc in locations if loc["CustomerId"] is None]
    if not without:
        place = dutch.address(rng)
        without = [emulator.seed("location", Name=f"Bouwplaats {place.street}",
                                 **_address_fields(place))]
    items = emulator.list("item")
    first_day = start or (emulator.clock.now().date() - timedelta(days=30))
    orders = []
    for _ in range(n):
        if rng.random() < without_customer_share:
            location, customer_id = rng.choice(without), None
        else:
            location = rng.choice(with_customer)
            # now and then only the location knows the customer (S-41 falls back to it)
            customer_id = None if rng.random() < 0.1 else location["CustomerId"]
        orders.append(_work_order(emulator, rng, location, customer_id, field_users, items,
                                  first_day + timedelta(days=rng.randrange(30)),
                                  archived, rng.random() < skip_share))
    return orders


def _work_order(emulator: SimonEmulator, rng: random.Random, location: dict,
                customer_id: int | None, users: list[dict], items: list[dict], day: date,
                archived: bool, skip: bool) -> dict[str, Any]:
    job = rng.randrange(len(DESCRIPTIONS))
    description = DESCRIPTIONS[job]
    performed = WORK_PERFORMED[job]
    if skip:
        note = rng.choice(SKIP_NOTES)
        if rng.random() < 0.5:
            performed = f"{performed} {note}"
        else:
            description = f"{description} ({note})"
    reference = rng.choice(REFERENCES).format(n=rng.randint(1000, 99999),
                                              city=location.get("City") or "Noord")
    order = emulator.seed("workorder", LocationId=location["Id"], CustomerId=customer_id,
                          Reference=reference, Description=description,
                          WorkPerformed=performed if archived or rng.random() < 0.3 else None,
                          Status="Completed" if archived else rng.choice(
                              ("Open", "Planned", "InProgress")),
                          PlannedDate=day.isoformat())
    crew = rng.sample(users, k=min(len(users), rng.choice((1, 1, 1, 2))))
    begin = datetime(day.year, day.month, day.day, rng.choice((7, 8, 9, 10, 13)),
                     rng.choice((0, 15, 30)), tzinfo=UTC)
    if rng.random() < 0.9:  # now and then nothing is scheduled: the time sheet tells who
        for user in crew:
            emulator.seed("scheduling", WorkOrderId=order["Id"], UserId=user["Id"],
                          Start=begin.isoformat(),
                          End=(begin + timedelta(hours=rng.choice((1, 2, 3, 4)))).isoformat())
    for user in crew:
        travel = rng.choice((15, 15, 30, 45, 0))
        if travel:
            _time_sheet(emulator, order["Id"], user["Id"], begin - timedelta(minutes=travel),
                        travel, "Travel")
        _time_sheet(emulator, order["Id"], user["Id"], begin,
                    rng.choice((30, 45, 60, 90, 120, 120, 150, 180, 240)), "Work",
                    break_minutes=rng.choice((0, 0, 0, 15, 30)))
    for item in rng.sample(items, k=min(len(items), rng.choice((0, 1, 1, 2, 3, 4)))):
        price = None
        if rng.random() < 0.4:
            price = item["Price"] if item["Price"] is not None else round(rng.uniform(2, 150), 2)
        emulator.seed("useditem", WorkOrderId=order["Id"], ItemId=item["Id"],
                      Code=item["Code"], Description=item["Description"], Unit=item["Unit"],
                      Quantity=rng.choice((1, 1, 2, 3, 0.5, 2.5, 10)), Price=price,
                      UserId=rng.choice(crew)["Id"])
    for name, questions in rng.sample(FORMS, k=rng.choice((0, 1, 1, 2))):
        emulator.seed("workordersurvey", WorkOrderId=order["Id"], SurveyName=name,
                      CompletedAt=(begin + timedelta(hours=2)).isoformat(),
                      Answers=[_answer(rng, q, text, kind, day) for q, text, kind in questions])
    if archived:
        order = emulator.archive_work_order(order["Id"])
    return order


def _time_sheet(emulator: SimonEmulator, order_id: int, user_id: int, begin: datetime,
                minutes: int, kind: str, break_minutes: int = 0) -> None:
    end = begin + timedelta(minutes=minutes + break_minutes)
    emulator.seed("timesheet", WorkOrderId=order_id, UserId=user_id,
                  Date=begin.date().isoformat(), Start=begin.strftime("%H:%M"),
                  End=end.strftime("%H:%M"), BreakMinutes=break_minutes, Minutes=minutes,
                  Kind=kind)


def _answer(rng: random.Random, question_id: str, question: str, kind: str,
            day: date) -> dict[str, Any]:
    value: Any
    if kind == "checkbox":
        value = rng.random() < 0.85
    elif kind == "text":
        value = rng.choice(TEXT_ANSWERS)
    elif kind == "number":
        value = rng.choice((0, 1.5, 1.8, 2, 12, 35))
    elif kind == "date":
        value = day.isoformat()
    elif kind == "radio":
        value = rng.choice(RADIO_ANSWERS)
    elif kind == "dropdown":
        value = rng.choice(DEVICE_TYPES)
    else:  # signature, photo
        value = data_uri(tiny_png(rng, 24 if kind == "photo" else 16, 8))
    return {"QuestionId": question_id, "Question": question, "Type": kind, "Answer": value}
