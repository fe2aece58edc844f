"""Money shown to people: integer minor units formatted exactly by the currency's ISO 4217 exponent."""

from __future__ import annotations

import pytest

from supplymesh.core.vocabulary.currencies import format_minor, minor_unit_digits


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (487500, "EUR", "4,875.00 EUR"),
        (500000, "EUR", "5,000.00 EUR"),
        (5, "EUR", "0.05 EUR"),
        (0, "USD", "0.00 USD"),
        (-1250, "EUR", "-12.50 EUR"),
        (487500, "JPY", "487,500 JPY"),
        (487500, "KWD", "487.500 KWD"),
        (9007199254740991, "EUR", "90,071,992,547,409.91 EUR"),
    ],
)
def test_minor_units_are_shown_in_major_units(amount: int, currency: str, shown: str) -> None:
    assert format_minor(amount, currency) == shown


def test_exponents_follow_iso_4217() -> None:
    assert [minor_unit_digits(c) for c in ("EUR", "JPY", "BHD", "CLF")] == [2, 0, 3, 4]
