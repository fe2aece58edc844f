"""Why a demand or an escrow stands where it does, derived from what the network ledger says.

Nothing here is decided at the OEM: a split's reason is read from its decision (its
allocations, the suppliers it skipped and why, who attested and who was unavailable),
a failure's from the PDU's ``demand.failed`` entry or the refusal of the demand's
action, a release's, refund's or cancellation's from its decision's result. The codes
are stable (docs/erp-integration.md lists them); the details are for people.
"""

from __future__ import annotations

from supplymesh.core.contracts.network import DemandRecord, EscrowRecord
from supplymesh.core.vocabulary.currencies import format_minor
from supplymesh_oem.history import Moment, SplitFacts
from supplymesh_oem.models import DemandReason, OutcomeCode, Reason, Step, SupplierOutcome

REFUSED_BY_PDU = "refused by the PDU"
FAILURE_CODES = (("no quorum", "no-quorum"), ("the split cannot be built", "split-not-buildable"))
SETTLED_CODES = {
    "quality passed": "quality-passed",
    "offer accepted": "offer-accepted",
    "quantity short": "quantity-short",
    "quality below the buyer's AQL": "quality-below-aql",
    "no deposit within the window": "deposit-window-expired",
}


def step(moment: Moment, *, event: str | None = None) -> Step:
    """A history step from the network entry that made it (read back at ``entry_url``)."""
    return Step(
        event=event or moment.event,
        time=moment.time,
        seq=moment.seq,
        entry_hash=moment.hash,
        entry_url=f"/v1/ledgers/network/entries?after={moment.seq - 1}&limit=1",
        reason=moment.reason,
    )


def failed(detail: str, failure: Moment | None) -> DemandReason:
    """The reason of a ``failed`` demand whose ``detail`` is known."""
    if failure is not None:
        code = next((c for prefix, c in FAILURE_CODES if detail.startswith(prefix)), "decision-failed")
    elif detail.startswith(REFUSED_BY_PDU):
        code = "refused-by-pdu"
    else:
        code = "refused-by-network"
    return DemandReason(code=code, detail=detail)


def split(record: DemandRecord, facts: SplitFacts | None) -> DemandReason:
    """The reason of a split demand: its status in words, and each priority supplier's part."""
    terms = record.terms
    suppliers = outcomes(record, facts) if facts is not None else []
    allocated = sum(a.quantity for a in record.allocations)
    if record.status == "allocated":
        return DemandReason(
            code="allocated", detail=f"all {terms.quantity} units allocated", suppliers=suppliers
        )
    short = [f"{o.supplier}: {o.detail}" for o in suppliers if o.code != "allocated"]
    why = (
        "; ".join(short)
        or f"the priority suppliers had no more free capacity within {terms.lead_time_days} days"
    )
    if record.status == "partially_allocated":
        return DemandReason(
            code="insufficient-capacity",
            detail=f"{allocated} of {terms.quantity} units allocated, "
            f"{terms.quantity - allocated} unallocated: {why}",
            suppliers=suppliers,
        )
    codes = {o.code for o in suppliers}
    if "no-capacity" in codes:
        code, head = "no-capacity", f"no supplier that makes {terms.product} had free capacity"
        head += f" within {terms.lead_time_days} days"
    elif codes == {"not-made"}:
        code, head = "not-made", f"no supplier on the priority list makes {terms.product}"
    else:
        code, head = "no-attestation", f"no supplier attested capacity for {terms.product} for this demand"
    return DemandReason(code=code, detail=f"{head} ({why})", suppliers=suppliers)


def outcomes(record: DemandRecord, facts: SplitFacts) -> list[SupplierOutcome]:
    """Each priority supplier's part in the split, in priority order (Algorithm 3's walk)."""
    terms = record.terms
    shares = {a.supplier: a for a in record.allocations}
    remaining = terms.quantity
    found = []
    for supplier in terms.priority_suppliers:
        share = shares.get(supplier)
        if share is not None:
            remaining -= share.quantity
            rest = "" if remaining == 0 else f", all its free capacity within {terms.lead_time_days} days"
            found.append(
                SupplierOutcome(
                    supplier=supplier,
                    code="allocated",
                    quantity=share.quantity,
                    detail=f"{share.quantity} units, {share.machine_hours} machine-hours{rest}",
                )
            )
            continue
        code, detail = _left_out(supplier, facts, remaining, terms.lead_time_days)
        found.append(SupplierOutcome(supplier=supplier, code=code, quantity=0, detail=detail))
    return found


def _left_out(
    supplier: str, facts: SplitFacts, remaining: int, lead_time_days: int
) -> tuple[OutcomeCode, str]:
    """Why a priority supplier got no allocation."""
    if supplier in facts.skipped:
        if supplier in facts.attested:
            return "not-made", facts.skipped[supplier]
        return "unavailable", facts.unavailable.get(supplier, facts.skipped[supplier])
    if remaining == 0:
        return "not-needed", "the demand was covered before its turn"
    return "no-capacity", f"attested, but no free capacity within {lead_time_days} days"


def settled(escrow: EscrowRecord, moment: Moment) -> Reason:
    """The reason of a released, refunded or cancelled escrow, from its decision."""
    text = moment.reason or moment.event
    code = SETTLED_CODES.get(text, moment.event)
    amount = format_minor(escrow.amount, escrow.currency)
    if moment.event == "released":
        detail = f"{text}: {amount} released to {escrow.supplier}"
    elif moment.event == "refunded":
        detail = f"{text}: {amount} refunded to {escrow.buyer}"
    else:
        return Reason(code=code, detail=f"{text}: the allocation was cancelled and its hours freed")
    lot = escrow.lot
    if lot is not None and escrow.offer is None:
        counts = lot.defects.as_counts()
        sample = f" (sample of {lot.sample_size})" if lot.sample_size else ""
        detail += (
            f"; lot of {lot.produced_quantity} of {escrow.quantity} ordered, defects{sample}: "
            + ", ".join(f"{n} {name}" for name, n in counts.items())
        )
    return Reason(code=code, detail=detail)
