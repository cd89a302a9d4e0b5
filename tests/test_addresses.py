"""S-11 address rules and the Dutch street split of api/simon.md; text from outside is data:
nothing a Visma.net address line holds makes them raise."""

import json
import re

import pytest

from reconcilers.addresses import PostalAddress, distinct_addresses, fold, split_street

# The cases of the contract's data/hostile-text.json: each a JSON string literal exactly as it
# arrives on the wire (some decode to strings that cannot be encoded as UTF-8 as they are).
HOSTILE_JSON = {
    "lone high surrogate (an emoji cut in half by a .NET API)": r'"Loodgieter Lek\ud83d B.V."',
    "lone low surrogate": r'"Pakking \udc00 set"',
    "emoji and flags": r'"Dak \ud83c\udfe0 lek \ud83c\uddf3\ud83c\uddf1"',
    "right-to-left override": r'"Factuur \u202etxt.exe"',
    "zero-width joiner and BOM": r'"Van\u200dDam\ufeff"',
    "combining marks (zalgo)": r'"Z\u0351\u0366a\u036bl\u0352g\u036do"',
    "apostrophe and quotes": '"O\'Brien \\"De Zwaan\\" B.V."',
    "ampersand, angle brackets, script": r'"Bakker & Zn <script>alert(1)</script>"',
    "OData-looking text": '"x\' or 1 eq 1 or name eq \'y"',
    "SQL-looking text": '"Robert\'); DROP TABLE customers;--"',
    "format strings": r'"%s %d {0} ${HOME} %(name)s"',
    "terminal escapes: clear screen, retitle, colour":
        r'"WB-9\u001b[2J\u001b]0;pwned\u0007\u001b[31mrood"',
    "NUL and other C0 controls": r'"a\u0000b\u0008c\u000bd"',
    "C1 control (CSI)": r'"a\u009b31mb"',
    "line breaks of every kind": r'"regel1\r\nregel2\u2028regel3\u0085regel4"',
    "path-like work order number": r'"../../etc/passwd"',
    "Windows reserved name and separators": r'"CON\\a/b:c*d?"',
    "only whitespace": r'"   \t  "',
    "empty string": r'""',
    "very long (10,000 characters)": json.dumps("Lange naam " * 909 + "x"),
    "Dutch diacritics": r'"Ti\u00ebnde Ru\u00efne \u00c9\u00e9n IJsselm\u00f6nde"',
    "non-Latin scripts":
        r'"\u65e5\u672c \u0627\u0644\u0639\u0631\u0628\u064a\u0629 '
        r'\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac"',
    "numeric string with comma decimal": r'"1,5"',
    "number-like with spaces and exponent": r'" 1e3 "',
}
HOSTILE: dict[str, str] = {name: json.loads(literal) for name, literal in HOSTILE_JSON.items()}
"""The hostile strings, decoded as a JSON parser decodes them (lone surrogates and all)."""


@pytest.mark.parametrize(
    ("line1", "street", "number"),
    [
        ("Kerkstraat 12 A", "Kerkstraat", "12 A"),
        ("Kerkstraat 12", "Kerkstraat", "12"),
        ("Burgemeester de Withstraat 12-2", "Burgemeester de Withstraat", "12-2"),
        ("1e Jan van der Heijdenstraat 5", "1e Jan van der Heijdenstraat", "5"),
        ("  Lange   Voorhout 3bis ", "Lange Voorhout", "3bis"),
        ("Marktplein", "Marktplein", ""),
        ("", "", ""),
    ],
)
def test_split_street_the_dutch_way(line1: str, street: str, number: str) -> None:
    assert split_street(line1) == (street, number)


def test_country_alone_is_an_empty_address() -> None:
    """S-11: an address is empty when line 1, postal code and city are all empty."""
    assert PostalAddress(country="NL").is_empty
    assert not PostalAddress(city="Utrecht").is_empty


def test_equal_addresses_after_folding_and_case() -> None:
    """S-11: equal after trimming, folding white space and ignoring case."""
    a = PostalAddress("Kerkstraat 12", "", "", "1234 AB", "Utrecht", "NL")
    b = PostalAddress(" kerkstraat  12 ", "", "", "1234 ab", "UTRECHT", "nl")
    assert a.identity == b.identity
    assert a.identity != PostalAddress("Kerkstraat 14", "", "", "1234 AB", "Utrecht", "NL").identity


def test_distinct_addresses_first_one_names_it() -> None:
    """S-11: main, invoice, delivery; equal ones make one work address, empty ones none."""
    main = PostalAddress("Kerkstraat 12", postal_code="1234 AB", city="Utrecht", country="NL")
    invoice = PostalAddress("KERKSTRAAT 12", postal_code="1234AB", city="Utrecht", country="NL")
    delivery = PostalAddress("Havenweg 1", postal_code="1234 AB", city="Utrecht", country="NL")
    result = distinct_addresses(
        [("main", main), ("invoice", main), ("delivery", PostalAddress(country="NL"))]
    )
    assert [role for role, _ in result] == ["main"]
    result = distinct_addresses([("main", main), ("invoice", invoice), ("delivery", delivery)])
    # "1234AB" differs from "1234 AB" after folding: Visma.net holds them as typed.
    assert [role for role, _ in result] == ["main", "invoice", "delivery"]


def test_one_line_and_address2() -> None:
    """S-47 note line; api/simon.md Address2 = lines 2 and 3 joined by ", "."""
    a = PostalAddress("Kerkstraat 12", "Unit 4", "2e etage", "1234 AB", "Utrecht", "NL")
    assert a.one_line() == "Kerkstraat 12, 1234 AB Utrecht"
    assert a.address2 == "Unit 4, 2e etage"


@pytest.mark.parametrize("text", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_text_never_breaks_the_split(text: str) -> None:
    """Text from outside is data: every hostile string as line 1, alone and before a house
    number, splits into a street and a number that put together give the folded line back."""
    for line1 in (text, f"{text} 12 A", f"Kerkstraat 7 {text}"):
        street, number = split_street(line1)
        assert isinstance(street, str) and isinstance(number, str)
        assert " ".join(p for p in (street, number) if p) == fold(line1)
        assert "\n" not in street + number and "\r" not in street + number
    street, number = split_street(f"{text} 12 A")
    if fold(text) and not re.search(r"\s\d", fold(text)):  # else its own number comes first
        assert (street, number) == (fold(text), "12 A")


@pytest.mark.parametrize("text", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_text_in_every_address_field(text: str) -> None:
    """Every field of an address holding a hostile string: emptiness, equality, Address2,
    the note line and the work addresses all answer, and equal addresses stay equal."""
    address = PostalAddress(text, text, text, text, text, text)
    plain = PostalAddress("Kerkstraat 12", "", "", "1011 AB", "Amsterdam", "NL")
    assert address.is_empty == (not fold(text))
    assert isinstance(address.street + address.house_number + address.address2, str)
    assert isinstance(address.one_line(), str)
    assert address.identity == PostalAddress(f" {text} ", text, text, text, text,
                                             text).identity
    roles = [role for role, _ in distinct_addresses(
        [("main", plain), ("invoice", address), ("delivery", address)])]
    assert roles == (["main"] if address.is_empty else ["main", "invoice"])


def test_values_that_are_not_text() -> None:
    """A field that is not text at all (a number, nothing) is its string form, not a crash."""
    address = PostalAddress(12, None, 3.5, 1011, None, None)  # type: ignore[arg-type]
    assert (address.line1, address.line2, address.postal_code) == ("12", "", "1011")
    assert split_street(None) == ("", "")
    assert split_street(12) == ("12", "")
    assert fold(None) == ""
