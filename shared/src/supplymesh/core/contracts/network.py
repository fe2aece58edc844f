"""The network ledger's meaning: its entries folded into state; decisions as functions.

Algorithms 3 and 4, SPEC §5–§7.

Every partner folds its replica with :func:`apply`; the PDU proposes a decision computed
by :func:`decide_split` or :func:`decide_quality` against the state at a base; a partner
re-executes the same function on its own state at that base and signs only an identical
body. Party actions that do not fit the state (a deposit of the wrong amount, a second
acceptance of an offer) change nothing, the same way on every peer.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from supplymesh.core.contracts.dms import DEFECT_CLASSES
from supplymesh.core.contracts.fold import GENESIS_KIND, apply
from supplymesh.core.contracts.ids import acceptance_escrow_id, derive_id, escrow_id, offer_id
from supplymesh.core.contracts.quality import lot_passes, release_allowed
from supplymesh.core.contracts.records import (
    OPEN_ESCROW_STATES,
    DemandRecord,
    EscrowRecord,
    NetworkState,
    OfferRecord,
)
from supplymesh.core.contracts.sampling import SamplingError, check_sample_size, sample_accepts
from supplymesh.core.contracts.split import AttestedCapacity, DemandTerms, split
from supplymesh.core.entry import parse_time
from supplymesh.core.numbers import MAX_SAFE_INTEGER, format_decimal
from supplymesh.core.vocabulary.bodies import CapacityAttestation, parse_body
from supplymesh.core.vocabulary.decisions import (
    CANCEL,
    DECISION_KINDS,
    DEMAND_FAILED,
    PROPOSAL_WITHDRAWN,
    REFUND,
    RELEASE,
    SPLIT,
)

__all__ = [
    "CANCEL",
    "DECISION_KINDS",
    "DEFECT_CLASSES",
    "DEMAND_FAILED",
    "GENESIS_KIND",
    "OPEN_ESCROW_STATES",
    "PROPOSAL_WITHDRAWN",
    "REFUND",
    "RELEASE",
    "SPLIT",
    "DemandRecord",
    "EscrowRecord",
    "NetworkState",
    "OfferRecord",
    "acceptance_escrow_id",
    "apply",
    "attested",
    "decide_cancel",
    "decide_quality",
    "decide_split",
    "demand_terms",
    "deposit_overdue",
    "derive_id",
]


# -- decisions --------------------------------------------------------------------------------


def demand_terms(demand: DemandRecord) -> DemandTerms:
    """The split's view of a demand."""
    terms = demand.terms
    return DemandTerms(
        product=terms.product,
        quantity=terms.quantity,
        lead_time_days=terms.lead_time_days,
        required_machine_hours=Decimal(terms.required_machine_hours),
        priority=terms.priority_suppliers,
        unit_price=terms.unit_price.amount,
    )


def attested(body: Mapping[str, Any], supplier: str) -> AttestedCapacity:
    """Capacity figures from an attestation body.

    Raises:
        MessageError: if the body is not a well-formed attestation (negative figures, …).
    """
    view = parse_body(CapacityAttestation, dict(body))
    return AttestedCapacity(
        supplier=supplier,
        mhc_per_day=Decimal(view.mhc_per_day),
        queued_machine_hours=Decimal(view.queued_machine_hours),
        products=view.products,
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
        {**a.as_json(), "escrow_id": escrow_id(demand_hash, a.supplier)} for a in outcome.allocations
    ]
    quantity = demand.terms.quantity
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
    produced = escrow.lot.produced_quantity
    defects = escrow.lot.defects.as_counts()
    if escrow.offer is not None:  # an accepted re-offer: the buyer took the lot as it is
        return RELEASE, {
            "escrow": escrow_id,
            "amount": escrow.amount,
            "to": escrow.supplier,
            "reason": "offer accepted",
        }
    demand = state.demands[str(escrow.demand)]
    sample_size = escrow.lot.sample_size
    if sample_size is None:
        passed = release_allowed(escrow.quantity, produced, defects, demand.aql())
    else:
        passed = produced >= escrow.quantity and sample_accepts(
            produced, int(sample_size), defects, demand.terms.aql.as_text()
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
            other.status in ("pending", "failed")
            or other.unallocated <= 0
            or other.terms.unit_price.amount * produced > MAX_SAFE_INTEGER  # its escrow must stay exact
            or not _accepts_lot(other, produced, defects, sample_size)
        ):
            continue
        if any(o["buyer"] == other.buyer for o in offers):
            continue
        offers.append(
            {
                "id": offer_id(escrow_id, other.buyer),
                "buyer": other.buyer,
                "demand": other.hash,
                "quantity": produced,
                "defects": defects,
                "unit_price": other.terms.unit_price.amount,
                "currency": other.terms.unit_price.currency,
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
        check_sample_size(produced, sample_size, demand.terms.aql.as_text())
        return sample_accepts(produced, int(sample_size), defects, demand.terms.aql.as_text())
    except SamplingError:
        return False


def deposit_overdue(escrow: EscrowRecord, now: str, window_seconds: int) -> bool:
    """True if an allocation's escrow still awaits its deposit ``window_seconds`` after it opened."""
    if escrow.demand is None or escrow.state != "awaiting_deposit":
        return False
    opened = parse_time(escrow.created_time)
    moment = parse_time(now)
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
