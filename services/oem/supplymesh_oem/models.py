"""Wire models of the OEM node's ERP API."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from supplymesh.core.numbers import NumberError, format_decimal, parse_decimal
from supplymesh.core.vocabulary.bodies import DemandTerms, parse_body
from supplymesh.core.vocabulary.currencies import ISO_4217
from supplymesh.core.vocabulary.values import MessageError

# Integers must be JSON integers (SPEC §10): strict, so "10" and 10.0 are refused.
SafeInt = Annotated[int, Field(ge=0, le=2**53 - 1, strict=True)]
PositiveInt = Annotated[int, Field(ge=1, le=2**53 - 1, strict=True)]
MemberId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
DemandStatus = Literal["pending", "allocated", "partially_allocated", "unallocated", "failed"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Money(_Frozen):
    """An amount in minor units of an ISO 4217 currency."""

    amount: SafeInt
    currency: str = Field(pattern=r"^[A-Z]{3}$")

    @field_validator("currency")
    @classmethod
    def _iso(cls, value: str) -> str:
        if value not in ISO_4217:
            raise ValueError(f"{value} is not an ISO 4217 currency code")
        return value


class Aql(_Frozen):
    """Acceptable quality limit per defect class, percent in [0, 100] (higher is looser)."""

    critical: str
    major: str
    minor: str

    @field_validator("critical", "major", "minor", mode="before")
    @classmethod
    def _percent(cls, value: object) -> str:
        try:
            number = parse_decimal(value, what="aql")
        except NumberError as exc:
            raise ValueError(str(exc)) from exc
        if not Decimal(0) <= number <= Decimal(100):
            raise ValueError("an AQL is a percentage in [0, 100]")
        return format_decimal(number)


class DemandTermsOut(_Frozen):
    """A demand's terms as stored (each field checked; see :class:`DemandIn` for the rest)."""

    product: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:/-]+$")
    quantity: PositiveInt
    lead_time_days: int = Field(ge=1, le=3650, strict=True)
    required_machine_hours: str = Field(description="RMHd, machine-hours for the whole quantity (> 0)")
    priority_suppliers: list[MemberId] = Field(min_length=1, max_length=1000)
    aql: Aql
    unit_price: Money

    @field_validator("required_machine_hours", mode="before")
    @classmethod
    def _rmhd(cls, value: object) -> str:
        try:
            number = parse_decimal(value, what="required_machine_hours")
        except NumberError as exc:
            raise ValueError(str(exc)) from exc
        if number <= 0:
            raise ValueError("required_machine_hours must be positive")
        return format_decimal(number)

    @field_validator("priority_suppliers")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a supplier appears at most once in the priority list")
        return value


class DemandIn(DemandTermsOut):
    """A buyer's demand (SPEC §5): every field, and the network's rules for the whole.

    Besides the per-field rules the whole demand must be a valid network message
    (:class:`supplymesh.core.vocabulary.bodies.DemandTerms`): every escrow amount
    (quantity × unit price) an exact JSON integer, at least 0.000001 machine-hours per unit.
    """

    @model_validator(mode="after")
    def _network_terms(self) -> Self:
        # The network's own vocabulary decides what a valid demand is (the PDU and every
        # partner check the same), e.g. that every escrow amount stays an exact integer.
        try:
            parse_body(DemandTerms, self.network_body())
        except MessageError as exc:
            raise ValueError(str(exc)) from exc
        return self

    def network_body(self) -> dict[str, Any]:
        """The demand terms as signed on the network ledger."""
        return self.model_dump(mode="json")


class DemandCreated(BaseModel):
    """The new demand's id and status."""

    id: str
    status: DemandStatus


class Allocation(BaseModel):
    """One supplier's share of a demand."""

    supplier: str
    quantity: int
    machine_hours: str
    escrow_id: str
    escrow_amount: int


class DemandOut(BaseModel):
    """A demand and its split."""

    id: str
    status: DemandStatus
    allocations: list[Allocation]
    unallocated_quantity: int
    decision_id: str | None
    detail: str | None = None
    terms: DemandTermsOut
    network_seq: int | None = None


class DepositIn(_Frozen):
    """The buyer's deposit of the full escrow amount."""

    amount: SafeInt
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    payment_reference: str = Field(min_length=1, max_length=255)


class EscrowOut(BaseModel):
    """An escrow held for one allocation or one accepted offer."""

    id: str
    state: Literal["awaiting_deposit", "funded", "released", "refunded", "cancelled"]
    amount: int
    currency: str
    buyer: str
    supplier: str


class OfferOut(BaseModel):
    """A re-offered lot."""

    id: str
    product: str
    quantity: int
    defects: dict[str, int]
    unit_price: Money
    state: Literal["open", "accepted", "withdrawn", "surplus"]


class OfferAccepted(BaseModel):
    """The escrow opened by accepting an offer."""

    escrow_id: str
