"""The network ledger's meaning: its entries folded into state; decisions as functions.

Algorithms 3 and 4, SPEC §5–§7.

Every partner folds its replica with :func:`apply`; the PDU proposes a decision computed
by :func:`decide_split` or :func:`decide_quality` against the state at a base; a partner
re-executes the same function on its own state at that base and signs only an identical
body. Party actions that do not fit the state (a deposit of the wrong amount, a second
acceptance of an offer) change nothing, the same way on every peer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from supplymesh.core.contracts.dms import DEFECT_CLASSES
from supplymesh.core.contracts.quality import lot_passes, release_allowed
from supplymesh.core.contracts.sampling import SamplingError, check_sample_size, sample_accepts
from supplymesh.core.contracts.split import AttestedCapacity, DemandTerms, split
from supplymesh.core.entry import Entry
from supplymesh.core.numbers import format_decimal

ZERO = Decimal(0)
OPEN_ESCROW_STATES = frozenset({"awaiting_deposit", "funded"})

SPLIT = "decision.split"
RELEASE = "decision.release"
REFUND = "decision.refund"
CANCEL = "decision.cancel"
DECISION_KINDS = frozenset({SPLIT, RELEASE, REFUND, CANCEL})
DEMAND_FAILED = "demand.failed"


def derive_id(*parts: str) -> str:
    """A deterministic id every peer computes alike."""
    return hashlib.sha256(":".join(parts).encode()).hexdigest()[:32]


@dataclass
class DemandRecord:
    """A demand as the network knows it."""

    hash: str
    seq: int
    buyer: str
    id: str
    terms: dict[str, Any]
    status: str = "pending"
    allocations: list[dict[str, Any]] = field(default_factory=list)
    unallocated: int = 0
    decision: str | None = None
    detail: str | None = None

    @property
    def product(self) -> str:
        """The product demanded."""
        return str(self.terms["product"])

    def aql(self) -> dict[str, Decimal]:
        """AQL per class."""
        return {str(c): Decimal(self.terms["aql"][str(c)]) for c in DEFECT_CLASSES}


@dataclass
class EscrowRecord:
    """Money held for one allocation or one accepted offer; the supplier's order."""

    id: str
    buyer: str
    supplier: str
    product: str
    quantity: int
    machine_hours: Decimal
    amount: int
    currency: str
    created_seq: int
    created_time: str
    demand: str | None = None
    offer: str | None = None
    state: str = "awaiting_deposit"
    completed: bool = False
    lot: dict[str, Any] | None = None
    payment_reference_commitment: str | None = None

    @property
    def holds_hours(self) -> bool:
        """True while its machine-hours count as the supplier's open network hours."""
        return self.demand is not None and self.state in OPEN_ESCROW_STATES and not self.completed


@dataclass
class OfferRecord:
    """A failed lot offered to one eligible buyer."""

    id: str
    lot: str
    buyer: str
    supplier: str
    product: str
    quantity: int
    defects: dict[str, int]
    unit_price: int
    currency: str
    demand: str
    state: str = "open"


@dataclass
class NetworkState:
    """Everything the network ledger says, folded."""

    size: int = 0
    head: str = "0" * 64
    demands: dict[str, DemandRecord] = field(default_factory=dict)
    escrows: dict[str, EscrowRecord] = field(default_factory=dict)
    offers: dict[str, OfferRecord] = field(default_factory=dict)
    surplus: list[str] = field(default_factory=list)

    def open_hours(self) -> dict[str, Decimal]:
        """Open network hours per supplier."""
        hours: dict[str, Decimal] = {}
        for escrow in self.escrows.values():
            if escrow.holds_hours:
                hours[escrow.supplier] = hours.get(escrow.supplier, ZERO) + escrow.machine_hours
        return hours

    def demand_by_id(self, buyer: str, demand_id: str) -> DemandRecord | None:
        """A demand by its buyer's id."""
        return next((d for d in self.demands.values() if d.buyer == buyer and d.id == demand_id), None)

    def undecided_demands(self) -> list[DemandRecord]:
        """Demands without a split yet, oldest first."""
        return sorted((d for d in self.demands.values() if d.status == "pending"), key=lambda d: d.seq)

    def awaiting_quality_decision(self) -> list[EscrowRecord]:
        """Funded escrows whose lot was reported and not yet released or refunded."""
        waiting = [e for e in self.escrows.values() if e.state == "funded" and e.lot is not None]
        return sorted(waiting, key=lambda e: e.created_seq)


# -- fold ----------------------------------------------------------------------------------


def apply(state: NetworkState, entry: Entry) -> None:
    """Fold one entry into ``state`` (entries must come in seq order)."""
    body = entry.body
    kind = entry.kind
    if kind in DECISION_KINDS:
        _apply_decision(state, entry, body.get("result", {}))
    elif kind == DEMAND_FAILED:
        demand = state.demands.get(str(body.get("demand")))
        if demand is not None and demand.status == "pending":
            demand.status = "failed"
            demand.detail = str(body.get("reason"))
    elif "action" in body:
        action = body["action"]
        handler = _ACTIONS.get(kind)
        if handler is not None:
            handler(state, entry, action["party"], action["id"], action["body"])
    state.size = entry.seq
    state.head = entry.hash


def _demand(state: NetworkState, entry: Entry, party: str, action_id: str, terms: Mapping[str, Any]) -> None:
    if state.demand_by_id(party, action_id) is None:
        state.demands[entry.hash] = DemandRecord(
            hash=entry.hash,
            seq=entry.seq,
            buyer=party,
            id=action_id,
            terms=dict(terms),
            unallocated=int(terms["quantity"]),
        )


def _deposit(state: NetworkState, entry: Entry, party: str, _id: str, body: Mapping[str, Any]) -> None:
    escrow = state.escrows.get(str(body.get("escrow")))
    if (
        escrow is not None
        and escrow.buyer == party
        and escrow.state == "awaiting_deposit"
        and body.get("amount") == escrow.amount
        and body.get("currency") == escrow.currency
    ):
        escrow.state = "funded"
        escrow.payment_reference_commitment = str(body.get("payment_reference_commitment"))


def sample_size_error(state: NetworkState, escrow: EscrowRecord, body: Mapping[str, Any]) -> str | None:
    """Why a reported ``sample_size`` does not fit the lot and the buyer's AQLs (None: it fits or is absent).

    The sample must be the one the buyer's ISO 2859-1 plans require for the produced lot
    (:func:`supplymesh.core.contracts.sampling.required_sample_size`).
    """
    if "sample_size" not in body:
        return None
    demand = state.demands.get(str(escrow.demand))
    if demand is None:
        return "only an allocation's lot may be reported as a sample inspection"
    try:
        check_sample_size(body.get("produced_quantity"), body["sample_size"], demand.terms["aql"])
    except SamplingError as exc:
        return str(exc)
    return None


def _production(state: NetworkState, entry: Entry, party: str, _id: str, body: Mapping[str, Any]) -> None:
    escrow = state.escrows.get(str(body.get("escrow")))
    if (
        escrow is not None
        and escrow.supplier == party
        and escrow.state == "funded"
        and escrow.lot is None
        and sample_size_error(state, escrow, body) is None
    ):
        escrow.completed = True
        escrow.lot = {
            "produced_quantity": body["produced_quantity"],
            "defects": dict(body["defects"]),
            "source": body["source"],
        }
        if "sample_size" in body:
            escrow.lot["sample_size"] = body["sample_size"]


def _accept(state: NetworkState, entry: Entry, party: str, _id: str, body: Mapping[str, Any]) -> None:
    offer = state.offers.get(str(body.get("offer")))
    if offer is None or offer.buyer != party or offer.state != "open":
        return
    offer.state = "accepted"
    for other in state.offers.values():
        if other.lot == offer.lot and other.id != offer.id and other.state == "open":
            other.state = "withdrawn"
    escrow_id = acceptance_escrow_id(offer.id)
    state.escrows[escrow_id] = EscrowRecord(
        id=escrow_id,
        buyer=party,
        supplier=offer.supplier,
        product=offer.product,
        quantity=offer.quantity,
        machine_hours=ZERO,
        amount=offer.unit_price * offer.quantity,
        currency=offer.currency,
        created_seq=entry.seq,
        created_time=entry.time,
        offer=offer.id,
    )
    state.escrows[escrow_id].completed = True
    lot = state.escrows.get(offer.lot)
    if lot is not None and lot.lot is not None:
        state.escrows[escrow_id].lot = dict(lot.lot)
    demand = state.demands.get(offer.demand)
    if demand is not None:
        demand.unallocated = max(0, demand.unallocated - offer.quantity)


_ACTIONS = {
    "demand.submitted": _demand,
    "escrow.deposited": _deposit,
    "production.completed": _production,
    "offer.accepted": _accept,
}


def acceptance_escrow_id(offer_id: str) -> str:
    """Id of the escrow opened by accepting ``offer_id``."""
    return derive_id("accept", offer_id)


def _apply_decision(state: NetworkState, entry: Entry, result: Mapping[str, Any]) -> None:
    if entry.kind == SPLIT:
        demand = state.demands.get(str(result.get("demand")))
        if demand is None:
            return
        demand.allocations = [dict(a) for a in result["allocations"]]
        demand.unallocated = int(result["unallocated"])
        demand.status = str(result["status"])
        demand.decision = entry.hash
        for allocation in result["allocations"]:
            state.escrows[allocation["escrow_id"]] = EscrowRecord(
                id=allocation["escrow_id"],
                buyer=demand.buyer,
                supplier=allocation["supplier"],
                product=demand.product,
                quantity=int(allocation["quantity"]),
                machine_hours=Decimal(allocation["machine_hours"]),
                amount=int(allocation["escrow_amount"]),
                currency=str(demand.terms["unit_price"]["currency"]),
                created_seq=entry.seq,
                created_time=entry.time,
                demand=demand.hash,
            )
        return
    escrow = state.escrows.get(str(result.get("escrow")))
    if escrow is None:
        return
    if entry.kind == RELEASE:
        escrow.state = "released"
    elif entry.kind == CANCEL:
        escrow.state = "cancelled"
    elif entry.kind == REFUND:
        escrow.state = "refunded"
        for offer in result.get("offers", []):
            state.offers[offer["id"]] = OfferRecord(
                id=offer["id"],
                lot=escrow.id,
                buyer=offer["buyer"],
                supplier=escrow.supplier,
                product=escrow.product,
                quantity=int(offer["quantity"]),
                defects=dict(offer["defects"]),
                unit_price=int(offer["unit_price"]),
                currency=str(offer["currency"]),
                demand=offer["demand"],
            )
        if not result.get("offers"):
            state.surplus.append(escrow.id)


# -- decisions --------------------------------------------------------------------------------


def demand_terms(demand: DemandRecord) -> DemandTerms:
    """The split's view of a demand."""
    terms = demand.terms
    return DemandTerms(
        product=str(terms["product"]),
        quantity=int(terms["quantity"]),
        lead_time_days=int(terms["lead_time_days"]),
        required_machine_hours=Decimal(terms["required_machine_hours"]),
        priority=tuple(terms["priority_suppliers"]),
        unit_price=int(terms["unit_price"]["amount"]),
    )


def attested(body: Mapping[str, Any], supplier: str) -> AttestedCapacity:
    """Capacity figures from an attestation body."""
    return AttestedCapacity(
        supplier=supplier,
        mhc_per_day=Decimal(body["mhc_per_day"]),
        queued_machine_hours=Decimal(body["queued_machine_hours"]),
        products=tuple(body["products"]),
    )


def decide_split(
    state: NetworkState,
    demand_hash: str,
    capacities: Mapping[str, AttestedCapacity],
    unavailable: Mapping[str, str],
) -> dict[str, Any]:
    """The result of Algorithm 3 for a demand, with escrow ids (deterministic)."""
    demand = state.demands[demand_hash]
    outcome = split(demand_terms(demand), capacities, state.open_hours(), unavailable)
    allocations = [
        {**a.as_json(), "escrow_id": derive_id("escrow", demand_hash, a.supplier)}
        for a in outcome.allocations
    ]
    quantity = int(demand.terms["quantity"])
    if not allocations:
        status = "unallocated"
    elif outcome.unallocated == 0:
        status = "allocated"
    else:
        status = "partially_allocated"
    return {
        "demand": demand_hash,
        "allocations": allocations,
        "unallocated": outcome.unallocated,
        "allocated": quantity - outcome.unallocated,
        "skipped": [{"supplier": s, "reason": r} for s, r in outcome.skipped],
        "status": status,
    }


def decide_quality(state: NetworkState, escrow_id: str) -> tuple[str, dict[str, Any]]:
    """Release or refund (with re-offers) for a reported lot: (decision kind, result)."""
    escrow = state.escrows[escrow_id]
    assert escrow.lot is not None
    produced = int(escrow.lot["produced_quantity"])
    defects = {k: int(v) for k, v in escrow.lot["defects"].items()}
    if escrow.offer is not None:  # an accepted re-offer: the buyer took the lot as it is
        return RELEASE, {
            "escrow": escrow_id,
            "amount": escrow.amount,
            "to": escrow.supplier,
            "reason": "offer accepted",
        }
    demand = state.demands[str(escrow.demand)]
    sample_size = escrow.lot.get("sample_size")
    if sample_size is None:
        passed = release_allowed(escrow.quantity, produced, defects, demand.aql())
    else:
        passed = produced >= escrow.quantity and sample_accepts(
            produced, int(sample_size), defects, demand.terms["aql"]
        )
    if passed:
        result: dict[str, Any] = {
            "escrow": escrow_id,
            "amount": escrow.amount,
            "to": escrow.supplier,
            "reason": "quality passed",
        }
        if sample_size is not None:
            result["sample_size"] = int(sample_size)
        return RELEASE, result
    offers: list[dict[str, Any]] = []
    for other in sorted(state.demands.values(), key=lambda d: d.seq):
        if other.buyer == escrow.buyer or other.product != escrow.product:
            continue
        if (
            other.status == "pending"
            or other.unallocated <= 0
            or not _accepts_lot(other, produced, defects, sample_size)
        ):
            continue
        if any(o["buyer"] == other.buyer for o in offers):
            continue
        offer_id = derive_id("offer", escrow_id, other.buyer)
        offers.append(
            {
                "id": offer_id,
                "buyer": other.buyer,
                "demand": other.hash,
                "quantity": produced,
                "defects": defects,
                "unit_price": int(other.terms["unit_price"]["amount"]),
                "currency": str(other.terms["unit_price"]["currency"]),
            }
        )
    reason = "quantity short" if produced < escrow.quantity else "quality below the buyer's AQL"
    refund: dict[str, Any] = {
        "escrow": escrow_id,
        "amount": escrow.amount,
        "to": escrow.buyer,
        "reason": reason,
        "offers": offers,
    }
    if sample_size is not None:
        refund["sample_size"] = int(sample_size)
    return REFUND, refund


def _accepts_lot(demand: DemandRecord, produced: int, defects: Mapping[str, int], sample_size: Any) -> bool:
    """Does another buyer's AQL accept a re-offered lot?

    A fully counted lot: the exact full-count test. A sampled lot: only if the buyer's own
    ISO 2859-1 plans for that lot require the same sample size and accept the reported
    counts (a buyer whose AQLs are off the table, or need another sample, is not offered it).
    """
    if sample_size is None:
        return lot_passes(produced, defects, demand.aql())
    try:
        check_sample_size(produced, sample_size, demand.terms["aql"])
        return sample_accepts(produced, int(sample_size), defects, demand.terms["aql"])
    except SamplingError:
        return False


def deposit_overdue(escrow: EscrowRecord, now: str, window_seconds: int) -> bool:
    """True if an allocation's escrow still awaits its deposit ``window_seconds`` after it opened."""
    if escrow.demand is None or escrow.state != "awaiting_deposit":
        return False
    opened = datetime.fromisoformat(escrow.created_time.replace("Z", "+00:00"))
    moment = datetime.fromisoformat(now.replace("Z", "+00:00"))
    return (moment - opened).total_seconds() >= window_seconds


def decide_cancel(state: NetworkState, escrow_id: str) -> dict[str, Any]:
    """The cancellation of an unfunded allocation: its hours go back to the supplier."""
    escrow = state.escrows[escrow_id]
    return {
        "escrow": escrow_id,
        "amount": 0,
        "reason": "no deposit within the window",
        "freed_machine_hours": format_decimal(escrow.machine_hours),
    }
