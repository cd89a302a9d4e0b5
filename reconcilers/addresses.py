"""Addresses the way SPEC S-11 and api/simon.md want them: split, compared and named.

Pure functions on plain strings, so both the master-data pass and the work-order notes use the
same rules. Text from outside is data: whatever a field holds (control characters, lone
surrogates, a value that is not text at all), these functions answer and never raise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NUMBER = re.compile(r"^(?P<street>.*?\S)\s+(?P<number>\d.*)$")
_SPACE = re.compile(r"\s+")

LOCATION_SUFFIX = {"main": "", "invoice": " (factuuradres)", "delivery": " (afleveradres)"}


def split_street(line1: object) -> tuple[str, str]:
    """"Kerkstraat 12 A" -> ("Kerkstraat", "12 A"); no number found: all of it is the street."""
    line1 = fold(line1)
    match = _NUMBER.match(line1)
    if not match:
        return line1, ""
    return match["street"], match["number"]


def fold(text: object) -> str:
    """Trimmed, with runs of white space folded to one space; None is "", anything that is
    not text is its string form."""
    if text is None:
        return ""
    return _SPACE.sub(" ", text if isinstance(text, str) else str(text)).strip()


@dataclass(frozen=True)
class PostalAddress:
    """An address as Visma.net holds it (country is the ISO code)."""

    line1: str = ""
    line2: str = ""
    line3: str = ""
    postal_code: str = ""
    city: str = ""
    country: str = ""

    def __post_init__(self) -> None:
        for name in ("line1", "line2", "line3", "postal_code", "city", "country"):
            value = getattr(self, name)
            if not isinstance(value, str):
                object.__setattr__(self, name, "" if value is None else str(value))

    @property
    def is_empty(self) -> bool:
        """Empty when line 1, postal code and city are all empty; a country alone does not
        count (S-11)."""
        return not (fold(self.line1) or fold(self.postal_code) or fold(self.city))

    @property
    def identity(self) -> tuple[str, ...]:
        """What makes two addresses equal: lines, postal code, city and country after trimming,
        folding white space and ignoring case (S-11)."""
        return tuple(
            fold(part).casefold()
            for part in (self.line1, self.line2, self.line3, self.postal_code, self.city,
                         self.country)
        )

    @property
    def street(self) -> str:
        return split_street(self.line1)[0]

    @property
    def house_number(self) -> str:
        return split_street(self.line1)[1]

    @property
    def address2(self) -> str:
        """Lines 2 and 3 joined by ", ", as Simon's Address2."""
        return ", ".join(p for p in (fold(self.line2), fold(self.line3)) if p)

    def one_line(self) -> str:
        """"Kerkstraat 12 A, 1234 AB Utrecht": street and number, postal code, city (S-47)."""
        place = " ".join(p for p in (fold(self.postal_code), fold(self.city)) if p)
        return ", ".join(p for p in (fold(self.line1), place) if p)


def distinct_addresses(
    addresses: list[tuple[str, PostalAddress | None]],
) -> list[tuple[str, PostalAddress]]:
    """The addresses that each make a work address, in the given order (main, invoice,
    delivery): empty ones make none, and of equal ones the first names it (S-11)."""
    seen: set[tuple[str, ...]] = set()
    result: list[tuple[str, PostalAddress]] = []
    for role, address in addresses:
        if address is None or address.is_empty or address.identity in seen:
            continue
        seen.add(address.identity)
        result.append((role, address))
    return result
