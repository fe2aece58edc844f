"""Algorithm 3 of the paper: the order split by real capacity (SPEC §5).

For each supplier in priority order that has an attestation made for this demand:

    RMHp      = external queue + open hours
    available = max(0, MHCp × Ld − RMHp)
    q         = min(remaining, floor(available × D / RMHd))
    hours     = q × RMHd / D, written to 6 places half-even

until nothing remains. A supplier with q = 0 gets no allocation. Suppliers without an
attestation, or that do not make the product, are skipped with a reason.

One guard beyond the paper: if rounding ``hours`` to 6 places would lift it above
``available`` (possible only when the exact value has more than 6 decimals and lies
within half a micro-hour of the limit), q is lowered by one unit, so that open hours
plus new hours never exceed MHCp × Ld − external queue. The worked examples never hit it.

:func:`decide_split` is the decision the PDU proposes and every partner re-executes: the
split of a demand against the open hours of the network state at the proposal's base,
each allocation with its escrow id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from supplymesh.core.contracts.ids import escrow_id
from supplymesh.core.contracts.records import DemandRecord, NetworkState
from supplymesh.core.numbers import EXACT, floor_int, format_decimal, quantize6
from supplymesh.core.vocabulary.bodies import CapacityAttestation, parse_body

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class DemandTerms:
    """The figures of a demand that the split uses."""

    product: str
    quantity: int
    lead_time_days: int
    required_machine_hours: Decimal
    priority: tuple[str, ...]
    unit_price: int


@dataclass(frozen=True, slots=True)
class AttestedCapacity:
    """A supplier's attested figures for this demand."""

    supplier: str
    mhc_per_day: Decimal
    queued_machine_hours: Decimal
    products: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Allocation:
    """One supplier's share."""

    supplier: str
    quantity: int
    machine_hours: Decimal
    escrow_amount: int

    def as_json(self) -> dict[str, object]:
        """Wire form (escrow id added by the caller)."""
        return {
            "supplier": self.supplier,
            "quantity": self.quantity,
            "machine_hours": format_decimal(self.machine_hours),
            "escrow_amount": self.escrow_amount,
        }


@dataclass(frozen=True, slots=True)
class Split:
    """The result of Algorithm 3."""

    allocations: tuple[Allocation, ...]
    unallocated: int
    skipped: tuple[tuple[str, str], ...]


def split(
    demand: DemandTerms,
    capacities: Mapping[str, AttestedCapacity],
    open_hours: Mapping[str, Decimal],
    unavailable: Mapping[str, str],
) -> Split:
    """Split ``demand`` over its priority list.

    Args:
        demand: the demand's terms.
        capacities: attestations made for this demand, by supplier.
        open_hours: open network hours per supplier at the decision's base.
        unavailable: suppliers that could not attest, with the reason.
    """
    remaining = demand.quantity
    allocations: list[Allocation] = []
    skipped: list[tuple[str, str]] = []
    for supplier in demand.priority:
        if remaining == 0:
            break
        attested = capacities.get(supplier)
        if attested is None:
            skipped.append((supplier, unavailable.get(supplier, "no capacity attestation for this demand")))
            continue
        if demand.product not in attested.products:
            skipped.append((supplier, f"does not make {demand.product}"))
            continue
        available = limit(attested, demand.lead_time_days) - open_hours.get(supplier, ZERO)
        quantity, hours = share(demand, max(ZERO, available), remaining)
        if quantity == 0:
            continue
        allocations.append(Allocation(supplier, quantity, hours, quantity * demand.unit_price))
        remaining -= quantity
    return Split(tuple(allocations), remaining, tuple(skipped))


def limit(attested: AttestedCapacity, lead_time_days: int) -> Decimal:
    """MHCp × Ld − external queue: the most network hours the supplier can hold."""
    return EXACT.subtract(
        EXACT.multiply(attested.mhc_per_day, Decimal(lead_time_days)), attested.queued_machine_hours
    )


def share(demand: DemandTerms, available: Decimal, remaining: int) -> tuple[int, Decimal]:
    """(q, hours) for ``available`` machine-hours."""
    d, rmhd = Decimal(demand.quantity), demand.required_machine_hours
    quantity = min(remaining, floor_int(EXACT.divide(EXACT.multiply(available, d), rmhd)))
    hours = hours_for(quantity, demand)
    while quantity > 0 and hours > available:
        quantity -= 1
        hours = hours_for(quantity, demand)
    return quantity, hours


def hours_for(quantity: int, demand: DemandTerms) -> Decimal:
    """Q × RMHd / D, written to 6 places half-even."""
    return quantize6(
        EXACT.divide(
            EXACT.multiply(Decimal(quantity), demand.required_machine_hours), Decimal(demand.quantity)
        )
    )


# -- the decision -------------------------------------------------------------------------


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
        {**a.as_json(), "escrow_id": escrow_id(demand.hash, a.supplier)} for a in outcome.allocations
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
