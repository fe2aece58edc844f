"""The value types every network message is made of (SPEC §10).

Network messages are signed, so they arrive already in their one canonical form: a
JSON integer is an ``int`` (never a bool, a float or a string), a decimal is a string
that is already canonical (``"156"``, ``"0.4"``; not ``"156.0"`` or ``156``). These
types refuse anything else; the ERP edge normalises user input *before* it builds a
message, so a node never has to guess what a signer meant.

Money is a value type: an amount in integer minor units and an ISO 4217 currency,
multiplied only through :meth:`Money.times`, which refuses to leave exact JSON integers.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from supplymesh.core.entry import is_ledger_time
from supplymesh.core.numbers import MAX_SAFE_INTEGER, NumberError, format_decimal, parse_decimal
from supplymesh.core.vocabulary.currencies import ISO_4217

ZERO = Decimal(0)
MICRO = Decimal("0.000001")
MEMBER_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
HASH_PATTERN = r"^[0-9a-f]{64}$"
DERIVED_ID_PATTERN = r"^[0-9a-f]{32}$"


class MessageError(ValueError):
    """A network message breaks a rule of the vocabulary; the text says which."""


class Message(BaseModel):
    """Base of every network message: frozen, strict, no unknown fields, no floats."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def _decimal_text(value: str) -> str:
    try:
        number = parse_decimal(value)
    except NumberError as exc:
        raise ValueError(str(exc)) from exc
    if format_decimal(number) != value:
        raise ValueError(f"{value!r} is not a canonical decimal string (write {format_decimal(number)!r})")
    return value


def _non_negative(value: str) -> str:
    if Decimal(value) < ZERO:
        raise ValueError(f"{value} is negative")
    return value


def _positive(value: str) -> str:
    if Decimal(value) <= ZERO:
        raise ValueError(f"{value} is not positive")
    return value


def _percent(value: str) -> str:
    if not ZERO <= Decimal(value) <= Decimal(100):
        raise ValueError(f"{value} is not a percentage in [0, 100]")
    return value


def _fraction(value: str) -> str:
    if not ZERO <= Decimal(value) <= Decimal(1):
        raise ValueError(f"{value} is not in [0, 1]")
    return value


def _currency(value: str) -> str:
    if value not in ISO_4217:
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return value


def _instant(value: str) -> str:
    if not is_ledger_time(value):
        raise ValueError(f"{value!r} is not an RFC 3339 UTC time")
    return value


DecimalText = Annotated[str, Field(max_length=40), AfterValidator(_decimal_text)]
NonNegativeDecimal = Annotated[DecimalText, AfterValidator(_non_negative)]
PositiveDecimal = Annotated[DecimalText, AfterValidator(_positive)]
Percent = Annotated[DecimalText, AfterValidator(_percent)]
Fraction = Annotated[DecimalText, AfterValidator(_fraction)]
Count = Annotated[int, Field(ge=0, le=MAX_SAFE_INTEGER)]
PositiveCount = Annotated[int, Field(ge=1, le=MAX_SAFE_INTEGER)]
MemberId = Annotated[str, Field(pattern=MEMBER_ID_PATTERN)]
EntryHash = Annotated[str, Field(pattern=HASH_PATTERN)]
DerivedId = Annotated[str, Field(pattern=DERIVED_ID_PATTERN)]
Currency = Annotated[str, Field(min_length=3, max_length=3), AfterValidator(_currency)]
Instant = Annotated[str, Field(max_length=40), AfterValidator(_instant)]
Product = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:/-]+$")]
Reason = Annotated[str, Field(max_length=2000)]


class Money(Message):
    """An amount in integer minor units of an ISO 4217 currency."""

    amount: Count
    currency: Currency

    def times(self, factor: int) -> Money:
        """``factor`` × this amount.

        Raises:
            MessageError: if the product leaves exact JSON integers (2**53 − 1).
        """
        total = self.amount * factor
        if not 0 <= total <= MAX_SAFE_INTEGER:
            raise MessageError(f"{factor} × {self.amount} {self.currency} is not an exact JSON integer")
        return Money(amount=total, currency=self.currency)

    def same_currency(self, other: Money) -> Self:
        """``self``, if ``other`` is in the same currency.

        Raises:
            MessageError: otherwise.
        """
        if other.currency != self.currency:
            raise MessageError(f"{other.currency} is not {self.currency}")
        return self


def micro_hours_per_unit_ok(required_machine_hours: Decimal, quantity: int) -> bool:
    """True if every unit takes at least one micro-hour (the written precision of hours).

    Below that a unit would be booked at 0 hours after rounding, and a supplier's open
    hours would not grow with what it was allocated.
    """
    return required_machine_hours >= MICRO * quantity
