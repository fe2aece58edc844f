"""Exact numbers on the wire and in ledgers (SPEC §10).

Quantities, counts and money are JSON integers below 2**53. Everything else — hours,
efficiencies, AQLs, percentages — is a decimal string without exponent or trailing
zeros ("156", "0.4", "51.2"). A JSON number is accepted on input and normalised; binary
floats never take part in arithmetic: a float input is converted through its shortest
repr (so 0.1 means "0.1"), never through its binary value.

Values once written (efficiency and hours to 6 places, half-even) are authoritative:
later arithmetic uses the written value, so every peer gets the same bytes.
"""

from __future__ import annotations

import re
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal, InvalidOperation

# Enough precision that no computation here ever rounds implicitly.
EXACT = Context(prec=60, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation])
SIX_PLACES = Decimal("0.000001")
MAX_SAFE_INTEGER = 2**53 - 1
MAX_TEXT = 40
# ASCII digits only: Decimal() itself would also take "1_0", non-ASCII digits and spaces.
DECIMAL_TEXT = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$")


class NumberError(ValueError):
    """A value is not an acceptable exact number."""


def parse_decimal(value: object, *, what: str = "value") -> Decimal:
    """Parse a decimal string or JSON number into a finite :class:`Decimal`.

    Raises:
        NumberError: on booleans, non-finite values, exponents too large or bad text.
    """
    if isinstance(value, bool):
        raise NumberError(f"{what}: a boolean is not a number")
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, str):
        text = value
        if len(text) > MAX_TEXT or not DECIMAL_TEXT.match(text):
            raise NumberError(
                f"{what}: {value[:50]!r} is not a decimal string (at most {MAX_TEXT} characters)"
            )
    elif isinstance(value, Decimal):
        text = str(value)
    else:
        raise NumberError(f"{what}: {type(value).__name__} is not a number")
    try:
        number = Decimal(text)
    except InvalidOperation as exc:
        raise NumberError(f"{what}: {value!r} is not a decimal number") from exc
    if not number.is_finite():
        raise NumberError(f"{what}: {value!r} is not finite")
    if abs(number.adjusted()) > 30 or len(format_decimal(number)) > MAX_TEXT:
        raise NumberError(f"{what}: {value!r} is out of range")
    return number


def format_decimal(number: Decimal) -> str:
    """Canonical text: no exponent, no trailing zeros, no negative zero ("156", "0.4")."""
    if not number.is_finite():
        raise NumberError("not finite")
    if number == 0:
        return "0"
    text = format(number.normalize(EXACT), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def quantize6(number: Decimal) -> Decimal:
    """Round to 6 decimal places, half-even (the written precision of hours and E)."""
    return number.quantize(SIX_PLACES, rounding=ROUND_HALF_EVEN, context=EXACT)


def floor_int(number: Decimal) -> int:
    """Largest integer ≤ ``number``."""
    return int(number.to_integral_value(rounding=ROUND_FLOOR, context=EXACT))


def normalise(value: object, *, what: str = "value") -> str:
    """Parse and re-format: the canonical decimal text of ``value``."""
    return format_decimal(parse_decimal(value, what=what))


def check_safe_int(value: object, *, what: str = "value", minimum: int = 0) -> int:
    """Require a JSON integer in [minimum, 2**53 - 1].

    Raises:
        NumberError: otherwise.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise NumberError(f"{what}: must be an integer")
    if not minimum <= value <= MAX_SAFE_INTEGER:
        raise NumberError(f"{what}: {value} is outside [{minimum}, 2**53-1]")
    return value
