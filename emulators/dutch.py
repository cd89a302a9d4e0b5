"""Dutch names and addresses for generated tenants; seeded, so a size and a seed give the
same data every time."""

from __future__ import annotations

import random
from dataclasses import dataclass

FIRST_NAMES = (
    "Jan", "Piet", "Kees", "Henk", "Sanne", "Lotte", "Fleur", "Daan", "Bram", "Sem",
    "Emma", "Julia", "Noah", "Lucas", "Anouk", "Ruben", "Eva", "Thijs", "Femke", "Joost",
    "Marloes", "Wouter", "Ilse", "Gerrit", "Ineke", "Bas", "Maaike", "Koen", "Roos", "Niels",
)
LAST_NAMES = (
    "de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen",
    "Visser", "Smit", "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters",
    "Hendriks", "van Leeuwen", "Dekker", "Brouwer", "de Wit", "Dijkstra", "Smits",
    "de Graaf", "van der Meer", "van der Linden", "Kok", "Jacobs", "de Haan", "Vermeulen",
)
TRADES = (
    "Installatietechniek", "Loodgieters", "Elektro", "Dakwerken", "Klimaattechniek",
    "Bouwbedrijf", "Schilders", "Onderhoud", "Beveiliging", "Tuinen", "Liften", "Zonnepanelen",
)
COMPANY_FORMS = ("B.V.", "V.O.F.", "", "& Zn.", "Groep B.V.")
STREETS = (
    "Kerkstraat", "Dorpsstraat", "Hoofdstraat", "Schoolstraat", "Molenweg", "Stationsweg",
    "Julianastraat", "Wilhelminastraat", "Beatrixlaan", "Nieuwstraat", "Marktplein",
    "Industrieweg", "Parallelweg", "Kastanjelaan", "Eikenlaan", "Prinses Irenestraat",
    "Oranjestraat", "Havenweg", "Dijkweg", "Burgemeester de Withstraat", "Van Goghlaan",
    "Zuiderdiep", "Korte Nieuwstraat", "Lange Voorhout", "Sint Janssingel",
)
CITIES = (
    ("Amsterdam", "10"), ("Rotterdam", "30"), ("Utrecht", "35"), ("Den Haag", "25"),
    ("Eindhoven", "56"), ("Groningen", "97"), ("Tilburg", "50"), ("Almere", "13"),
    ("Breda", "48"), ("Nijmegen", "65"), ("Apeldoorn", "73"), ("Haarlem", "20"),
    ("Arnhem", "68"), ("Zwolle", "80"), ("Leeuwarden", "89"), ("Maastricht", "62"),
    ("Amersfoort", "38"), ("Deventer", "74"), ("Delft", "26"), ("Alkmaar", "18"),
)
HOUSE_LETTERS = ("", "", "", "", "A", "B", "-1", "-2", " bis")


@dataclass(frozen=True)
class Address:
    street: str
    house_number: str
    postal_code: str
    city: str
    country: str = "NL"

    @property
    def line1(self) -> str:
        """Street and number as one line, the way Visma.net holds them."""
        return f"{self.street} {self.house_number}".strip()


def person_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def company_name(rng: random.Random) -> str:
    owner = rng.choice(LAST_NAMES)
    owner = owner[0].upper() + owner[1:]
    return " ".join(p for p in (owner, rng.choice(TRADES), rng.choice(COMPANY_FORMS)) if p)


def address(rng: random.Random) -> Address:
    city, prefix = rng.choice(CITIES)
    postal = f"{prefix}{rng.randint(10, 99)} {rng.choice('ABCDEGHJKLMNPRSTVWXZ')}" \
             f"{rng.choice('ABCDEGHJKLMNPRSTVWXZ')}"
    number = f"{rng.randint(1, 250)}{rng.choice(HOUSE_LETTERS)}"
    return Address(rng.choice(STREETS), number, postal, city)


def email_for(name: str, domain_hint: str, rng: random.Random) -> str:
    local = name.split()[0].lower()
    domain = "".join(ch for ch in domain_hint.lower() if ch.isalnum())[:20] or "example"
    return f"{local}{rng.randint(1, 99)}@{domain}.example"


def phone(rng: random.Random) -> str:
    return f"0{rng.randint(10, 79)}-{rng.randint(1000000, 9999999)}"
