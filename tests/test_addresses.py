"""S-11 address rules and the Dutch street split of api/simon.md."""

import pytest

from reconcilers.addresses import PostalAddress, distinct_addresses, split_street


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
