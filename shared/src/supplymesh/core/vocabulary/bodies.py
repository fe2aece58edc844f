"""The bodies of party actions and of the channel's network-visible views.

One model per message, with every rule of SPEC §3–§7 and §10 that a single message can
break. A party's signature makes an action attributable, never valid: the OEM's ERP
edge, the PDU before sequencing, every partner when folding and the auditor all parse a
body with :func:`parse_action_body`, so "valid" means one thing on every node.

Rules that need the network state (is the escrow the party's own, is the offer open,
are the priority suppliers members) are not here: see
:mod:`supplymesh.core.contracts.admission`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal, Self, TypeVar

from pydantic import Field, ValidationError, model_validator

from supplymesh.core.vocabulary.values import (
    Count,
    DecimalText,
    DerivedId,
    EntryHash,
    Fraction,
    Instant,
    MemberId,
    Message,
    MessageError,
    Money,
    NonNegativeDecimal,
    Percent,
    PositiveCount,
    PositiveDecimal,
    Product,
    micro_hours_per_unit_ok,
)

DEMAND_SUBMITTED = "demand.submitted"
ESCROW_DEPOSITED = "escrow.deposited"
PRODUCTION_COMPLETED = "production.completed"
OFFER_ACCEPTED = "offer.accepted"
MAX_PRIORITY = 1000
M = TypeVar("M", bound=Message)


class Aql(Message):
    """Acceptable quality limit per defect class, percent (a higher AQL is looser)."""

    critical: Percent
    major: Percent
    minor: Percent

    def as_decimals(self) -> dict[str, Decimal]:
        """AQL per class as exact numbers."""
        return {
            "critical": Decimal(self.critical),
            "major": Decimal(self.major),
            "minor": Decimal(self.minor),
        }

    def as_text(self) -> dict[str, str]:
        """AQL per class as written."""
        return {"critical": self.critical, "major": self.major, "minor": self.minor}


class Defects(Message):
    """Defective units per class."""

    critical: Count
    major: Count
    minor: Count

    def as_counts(self) -> dict[str, int]:
        """Counts by class name."""
        return {"critical": self.critical, "major": self.major, "minor": self.minor}


class DemandTerms(Message):
    """A buyer's demand (SPEC §5), as signed on the network ledger."""

    product: Product
    quantity: PositiveCount
    lead_time_days: int = Field(ge=1, le=3650)
    required_machine_hours: PositiveDecimal
    priority_suppliers: tuple[MemberId, ...] = Field(min_length=1, max_length=MAX_PRIORITY, strict=False)
    aql: Aql
    unit_price: Money

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if len(set(self.priority_suppliers)) != len(self.priority_suppliers):
            raise ValueError("a supplier appears at most once in priority_suppliers")
        self.unit_price.times(self.quantity)  # every escrow amount stays an exact integer
        if not micro_hours_per_unit_ok(Decimal(self.required_machine_hours), self.quantity):
            raise ValueError("required_machine_hours must give every unit at least 0.000001 machine-hours")
        return self

    def escrow_amount(self, quantity: int) -> int:
        """The escrow of an allocation of ``quantity`` units."""
        return self.unit_price.times(quantity).amount


class Deposit(Message):
    """The buyer's deposit of the full escrow amount (the payment reference only as a commitment)."""

    escrow: DerivedId
    amount: Count
    currency: str
    payment_reference_commitment: EntryHash


class Lot(Message):
    """A reported lot as the network records it on its escrow."""

    produced_quantity: Count
    defects: Defects
    source: Literal["dms", "declared"]
    sample_size: PositiveCount | None = None

    def as_json(self) -> dict[str, Any]:
        """Wire form (``sample_size`` only for a sample inspection)."""
        return self.model_dump(exclude_none=True)


class ProductionReport(Message):
    """Production complete with the lot's quality (full count, or an ISO 2859-1 sample)."""

    escrow: DerivedId
    order: DerivedId
    produced_quantity: Count
    defects: Defects
    source: Literal["dms", "declared"]
    sample_size: PositiveCount | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.order != self.escrow:
            raise ValueError("order and escrow name the same allocation")
        inspected = self.produced_quantity if self.sample_size is None else self.sample_size
        if self.sample_size is not None and self.sample_size > self.produced_quantity:
            raise ValueError("sample_size cannot exceed produced_quantity")
        if any(count > inspected for count in self.defects.as_counts().values()):
            raise ValueError(f"a class counts more defective units than the {inspected} inspected")
        return self

    def lot(self) -> Lot:
        """The lot as the network records it."""
        return Lot(
            produced_quantity=self.produced_quantity,
            defects=self.defects,
            source=self.source,
            sample_size=self.sample_size,
        )


class OfferAcceptance(Message):
    """A buyer takes a re-offered lot at its own unit price."""

    offer: DerivedId
    escrow: DerivedId
    unit_price: Count


class CapacityAttestation(Message):
    """A supplier's capacity view (SPEC §4), signed on its channel with the buyer."""

    efficiency: Fraction
    mhc_per_day: NonNegativeDecimal
    queued_machine_hours: NonNegativeDecimal
    products: tuple[Product, ...] = Field(max_length=10000, strict=False)
    computed_at: Instant
    demand: EntryHash | None = None
    demands: tuple[EntryHash, ...] | None = Field(default=None, min_length=1, max_length=256, strict=False)
    """Every demand one attestation answers (a round's demands naming the supplier)."""


class LotQuality(Message):
    """A supplier's quality view of a completed order, signed on its channel."""

    order: DerivedId
    produced_quantity: Count
    defects: Defects
    source: Literal["dms", "declared"]
    sample_size: PositiveCount | None = None


BODIES: Mapping[str, type[Message]] = {
    DEMAND_SUBMITTED: DemandTerms,
    ESCROW_DEPOSITED: Deposit,
    PRODUCTION_COMPLETED: ProductionReport,
    OFFER_ACCEPTED: OfferAcceptance,
}


def explain(exc: ValidationError) -> str:
    """One line naming every field that is wrong and why."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)[:2000]


def parse_body(model: type[M], body: object) -> M:
    """Validate ``body`` as ``model``.

    Raises:
        MessageError: naming every field that is wrong.
    """
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise MessageError(explain(exc)) from exc
    except (MessageError, ArithmeticError, TypeError) as exc:
        raise MessageError(str(exc)) from exc


def parse_action_body(kind: str, body: object) -> Message:
    """The typed body of a party action of ``kind``.

    Raises:
        MessageError: unknown kind or a body that breaks a rule.
    """
    model = BODIES.get(kind)
    if model is None:
        raise MessageError(f"unknown action kind {kind!r}")
    return parse_body(model, body)


__all__ = [
    "BODIES",
    "DEMAND_SUBMITTED",
    "ESCROW_DEPOSITED",
    "OFFER_ACCEPTED",
    "PRODUCTION_COMPLETED",
    "Aql",
    "CapacityAttestation",
    "DecimalText",
    "Defects",
    "DemandTerms",
    "Deposit",
    "Lot",
    "LotQuality",
    "OfferAcceptance",
    "ProductionReport",
    "explain",
    "parse_action_body",
    "parse_body",
]
