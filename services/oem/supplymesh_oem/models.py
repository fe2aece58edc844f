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
OutcomeCode = Literal["allocated", "no-capacity", "not-made", "unavailable", "not-needed"]


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


class Reason(BaseModel):
    """Why a demand or an escrow is in its status: a code to act on and a sentence for people."""

    code: str = Field(description="Stable machine code (docs/erp-integration.md lists them)")
    detail: str


class SupplierOutcome(BaseModel):
    """What one priority supplier contributed to a split, and why."""

    supplier: str
    code: OutcomeCode
    quantity: int
    detail: str


class DemandReason(Reason):
    """Why a demand ended as it did; for a split, each priority supplier's part."""

    suppliers: list[SupplierOutcome] = Field(default_factory=list)


class Step(BaseModel):
    """One step of a demand's or an escrow's history.

    ``seq``/``entry_hash`` name the network entry that made the step (null for what
    happened only at this node); ``entry_url`` reads it from this node's replica.
    """

    event: str
    time: str
    seq: int | None = None
    entry_hash: str | None = None
    entry_url: str | None = None
    reason: str | None = None


class Reoffer(BaseModel):
    """A refunded lot offered for this demand (SPEC §6), and what became of it."""

    offer_id: str
    supplier: str
    quantity: int
    unit_price: Money
    state: Literal["open", "accepted", "withdrawn", "surplus"]
    lot_escrow_id: str = Field(description="The refunded escrow (another buyer's) whose lot this is")
    accepted_at: str | None = None
    escrow_id: str | None = Field(default=None, description="The escrow opened by the acceptance")
    escrow_state: str | None = None


class DemandOut(BaseModel):
    """A demand, its split, what reached it through re-offers, and why it stands where it does."""

    id: str
    status: DemandStatus
    allocations: list[Allocation]
    unallocated_quantity: int = Field(description="quantity − allocated − reoffered_quantity, not below 0")
    decision_id: str | None
    detail: str | None = None
    terms: DemandTermsOut
    network_seq: int | None = None
    network_hash: str | None = Field(default=None, description="The demand's hash on the network ledger")
    reason: DemandReason | None = Field(default=None, description="Null only while pending")
    allocated_quantity: int = 0
    reoffered_quantity: int = Field(default=0, description="Units received through accepted re-offers")
    reoffers: list[Reoffer] = Field(default_factory=list)
    history: list[Step] = Field(default_factory=list)


class DepositIn(_Frozen):
    """The buyer's deposit of the full escrow amount."""

    amount: SafeInt
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    payment_reference: str = Field(min_length=1, max_length=255)


class EscrowLinks(BaseModel):
    """What an escrow belongs to, with the paths of the resources at this node."""

    escrow_url: str
    order_id: str = Field(description="The supplier's order id (`GET /v1/orders/{id}` at the supplier)")
    demand_id: str | None = None
    demand_hash: str | None = None
    demand_url: str | None = None
    offer_id: str | None = None
    offer_url: str | None = None
    lot_escrow_id: str | None = Field(default=None, description="For a re-offer: the refunded escrow")


class EscrowOut(BaseModel):
    """An escrow held for one allocation or one accepted offer."""

    id: str
    state: Literal["awaiting_deposit", "funded", "released", "refunded", "cancelled"]
    amount: int
    currency: str
    buyer: str
    supplier: str
    product: str | None = None
    quantity: int | None = None
    created_at: str | None = None
    deposit_deadline: str | None = Field(
        default=None, description="Cancelled if not funded by then (allocations only; null for re-offers)"
    )
    deposited_at: str | None = None
    reason: Reason | None = Field(default=None, description="Why it was released, refunded or cancelled")
    links: EscrowLinks | None = None
    history: list[Step] = Field(default_factory=list)


class OfferOut(BaseModel):
    """A re-offered lot."""

    id: str
    product: str
    quantity: int
    defects: dict[str, int]
    unit_price: Money
    state: Literal["open", "accepted", "withdrawn", "surplus"]
    demand_id: str | None = Field(default=None, description="This buyer's demand the lot is offered for")
    escrow_id: str | None = Field(default=None, description="The escrow opened by accepting it")


class OfferAccepted(BaseModel):
    """The escrow opened by accepting an offer."""

    escrow_id: str
