"""Algorithm 4 of the paper: release or refund on the lot's quality, and re-offers (SPEC §6).

Read top to bottom:

1. An accepted re-offer is released: its buyer took the lot as it is.
2. Otherwise the lot is judged against the buyer's AQLs: a full count by the exact test
   (produced ≥ ordered and, per defect class, defective × 100 ≤ AQL × produced); a
   sample by the buyer's ISO 2859-1 plans (:mod:`supplymesh.core.contracts.sampling`).
3. Passed: **release** the escrow to the supplier.
4. Failed: **refund** the buyer in full and **re-offer** the whole lot to every other
   buyer with an open demand for the product whose AQLs accept it by the same test,
   ordered by the network seq of that demand, one offer per buyer.

:func:`decide_quality` is what the PDU proposes and every partner re-executes.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from supplymesh.core.contracts.aql import lot_passes
from supplymesh.core.contracts.ids import offer_id
from supplymesh.core.contracts.records import DemandRecord, EscrowRecord, NetworkState
from supplymesh.core.contracts.sampling import SamplingError, check_sample_size, sample_accepts
from supplymesh.core.numbers import MAX_SAFE_INTEGER
from supplymesh.core.vocabulary.decisions import REFUND, RELEASE

__all__ = ["decide_quality", "lot_passes", "release_allowed"]


def release_allowed(
    ordered: int, produced: int, defects: Mapping[str, int], aql: Mapping[str, Decimal]
) -> bool:
    """The release rule for a fully counted lot: enough units, and it passes the buyer's AQL."""
    return produced >= ordered and lot_passes(produced, defects, aql)


def decide_quality(state: NetworkState, escrow_id: str) -> tuple[str, dict[str, Any]]:
    """Release or refund (with re-offers) for a reported lot: (decision kind, result)."""
    escrow = state.escrows[escrow_id]
    assert escrow.lot is not None
    if escrow.offer is not None:  # an accepted re-offer: the buyer took the lot as it is
        return RELEASE, _settle(escrow, to=escrow.supplier, reason="offer accepted")
    sample_size = escrow.lot.sample_size
    if _passes(state, escrow):
        return RELEASE, _settle(escrow, to=escrow.supplier, reason="quality passed", sample_size=sample_size)
    produced = escrow.lot.produced_quantity
    reason = "quantity short" if produced < escrow.quantity else "quality below the buyer's AQL"
    refund = _settle(escrow, to=escrow.buyer, reason=reason)
    refund["offers"] = reoffers(state, escrow)
    if sample_size is not None:
        refund["sample_size"] = int(sample_size)
    return REFUND, refund


def _settle(escrow: EscrowRecord, *, to: str, reason: str, sample_size: Any = None) -> dict[str, Any]:
    """The escrow's whole amount paid out to ``to``."""
    result: dict[str, Any] = {"escrow": escrow.id, "amount": escrow.amount, "to": to, "reason": reason}
    if sample_size is not None:
        result["sample_size"] = int(sample_size)
    return result


def _passes(state: NetworkState, escrow: EscrowRecord) -> bool:
    """The lot of an allocation judged against its own buyer's AQLs."""
    assert escrow.lot is not None
    demand = state.demands[str(escrow.demand)]
    produced = escrow.lot.produced_quantity
    defects = escrow.lot.defects.as_counts()
    sample_size = escrow.lot.sample_size
    if sample_size is None:
        return release_allowed(escrow.quantity, produced, defects, demand.aql())
    return produced >= escrow.quantity and sample_accepts(
        produced, int(sample_size), defects, demand.terms.aql.as_text()
    )


def reoffers(state: NetworkState, escrow: EscrowRecord) -> list[dict[str, Any]]:
    """Offers of a failed lot: one per eligible buyer, by the network seq of its open demand."""
    assert escrow.lot is not None
    produced = escrow.lot.produced_quantity
    defects = escrow.lot.defects.as_counts()
    offers: list[dict[str, Any]] = []
    for other in sorted(state.demands.values(), key=lambda d: d.seq):
        if not _eligible(escrow, other) or any(o["buyer"] == other.buyer for o in offers):
            continue
        offers.append(
            {
                "id": offer_id(escrow.id, other.buyer),
                "buyer": other.buyer,
                "demand": other.hash,
                "quantity": produced,
                "defects": defects,
                "unit_price": other.terms.unit_price.amount,
                "currency": other.terms.unit_price.currency,
            }
        )
    return offers


def _eligible(escrow: EscrowRecord, other: DemandRecord) -> bool:
    """Another buyer's committed open demand for the product, whose AQLs accept the lot."""
    assert escrow.lot is not None
    produced = escrow.lot.produced_quantity
    return not (
        other.buyer == escrow.buyer
        or other.product != escrow.product
        or other.status in ("pending", "failed")
        or other.unallocated <= 0
        or other.terms.unit_price.amount * produced > MAX_SAFE_INTEGER  # its escrow must stay exact
        or not _accepts_lot(other, produced, escrow.lot.defects.as_counts(), escrow.lot.sample_size)
    )


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
