"""What each network-ledger entry means for the demands and escrows it touches.

A describer turns one folded entry into timeline events: a demand's submission, the
attestations and split that decided it, each of its escrows' deposit, production,
inspection and release, refund, re-offer or cancellation, and what reached it through
an accepted re-offer. Describers read the state *after* the fold applied the entry
(:mod:`supplymesh_auditor.explorer.history`) and never fail on a body they cannot read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.contracts.ids import OfferId, acceptance_escrow_id
from supplymesh.core.contracts.network import EscrowRecord, NetworkState
from supplymesh.core.entry import Entry
from supplymesh_auditor.explorer.views import decision_url, entry_url, money


@dataclass(frozen=True)
class Event:
    """One step in the life of a demand or an escrow."""

    time: str
    title: str
    detail: str
    link: str
    where: str
    tone: str = "info"
    refused: str | None = None


@dataclass
class Timeline:
    """The folded network ledger and every demand's and escrow's events so far."""

    state: NetworkState = field(default_factory=NetworkState)
    demands: dict[str, list[Event]] = field(default_factory=dict)
    escrows: dict[str, list[Event]] = field(default_factory=dict)

    def demand_of(self, escrow: EscrowRecord) -> str | None:
        """The demand an escrow serves: its allocation's, or the accepted offer's."""
        if escrow.demand is not None:
            return escrow.demand
        offer = self.state.offers.get(escrow.offer) if escrow.offer else None
        return offer.demand if offer is not None else None

    def on_demand(self, demand: object, event: Event) -> None:
        """Add ``event`` to the timeline of ``demand`` (if it names one)."""
        if isinstance(demand, str):
            self.demands.setdefault(demand, []).append(event)

    def on_escrow(self, escrow_id: object, event: Event) -> None:
        """Add ``event`` to an escrow's timeline, and, naming its supplier, to its demand's."""
        if not isinstance(escrow_id, str):
            return
        self.escrows.setdefault(escrow_id, []).append(event)
        escrow = self.state.escrows.get(escrow_id)
        if escrow is not None:
            mirrored = Event(**{**event.__dict__, "title": f"{escrow.supplier}: {event.title}"})
            self.on_demand(self.demand_of(escrow), mirrored)


def _event(entry: Entry, title: str, detail: str, reason: str | None, tone: str = "info") -> Event:
    link = (
        decision_url(entry.seq)
        if entry.kind.startswith("decision.")
        else entry_url(NETWORK_LEDGER, entry.seq)
    )
    return Event(
        time=entry.time,
        title=title,
        detail=detail,
        link=link,
        where=f"network #{entry.seq}",
        tone="bad" if reason else tone,
        refused=reason,
    )


def _party(entry: Entry) -> str:
    """The party whose signed action a PDU entry carries (the entry's author otherwise)."""
    statement = entry.body.get("action")
    party = statement.get("party") if isinstance(statement, dict) else None
    return party if isinstance(party, str) else entry.author


def _action(entry: Entry) -> dict[str, Any]:
    statement = entry.body.get("action")
    body = statement.get("body") if isinstance(statement, dict) else None
    return body if isinstance(body, dict) else {}


def _result(entry: Entry) -> dict[str, Any]:
    result = entry.body.get("result")
    return result if isinstance(result, dict) else {}


def submitted(line: Timeline, entry: Entry, reason: str | None) -> None:
    """A demand enters the network."""
    body = _action(entry)
    price = body.get("unit_price") or {}
    priority = ", ".join(str(s) for s in body.get("priority_suppliers", []))
    detail = (
        f"{body.get('quantity')} × {body.get('product')}"
        f" at {money(price.get('amount'), price.get('currency'))} each,"
        f" {body.get('required_machine_hours')} machine-hours; priority: {priority}"
    )
    line.on_demand(entry.hash, _event(entry, f"Submitted by {_party(entry)}", detail, reason))


def split(line: Timeline, entry: Entry, reason: str | None) -> None:
    """The split decided: the attestations it used, then each allocation's escrow."""
    result = _result(entry)
    inputs = entry.body.get("inputs")
    for attestation in (inputs or {}).get("attestations", []) if isinstance(inputs, dict) else []:
        signed = attestation.get("entry", {}) if isinstance(attestation, dict) else {}
        where = f"{signed.get('ledger')} #{signed.get('seq')}"
        line.on_demand(
            result.get("demand"),
            Event(
                time=str(signed.get("time", entry.time)),
                title=f"Capacity attested by {signed.get('author')}",
                detail=f"attestation {where}, used by the split",
                link=entry_url(str(signed.get("ledger")), int(signed.get("seq", 0))),
                where=where,
            ),
        )
    shares = ", ".join(f"{a.get('supplier')} {a.get('quantity')}" for a in result.get("allocations", []))
    detail = f"allocated {result.get('allocated')}, unallocated {result.get('unallocated')}" + (
        f" ({shares})" if shares else ""
    )
    line.on_demand(
        result.get("demand"),
        _event(entry, f"Split: {str(result.get('status')).replace('_', ' ')}", detail, reason, "ok"),
    )
    for allocation in result.get("allocations", []) if not reason else []:
        escrow = line.state.escrows.get(str(allocation.get("escrow_id")))
        amount = money(allocation.get("escrow_amount"), escrow.currency if escrow else "")
        detail = (
            f"{allocation.get('quantity')} units, {allocation.get('machine_hours')} machine-hours;"
            f" {amount} to deposit"
        )
        line.escrows.setdefault(str(allocation.get("escrow_id")), []).append(
            _event(entry, "Opened by the split", detail, None)
        )


def failed(line: Timeline, entry: Entry, reason: str | None) -> None:
    """The PDU could not decide a demand."""
    line.on_demand(
        entry.body.get("demand"), _event(entry, "Not decided", str(entry.body.get("reason")), reason, "bad")
    )


def deposited(line: Timeline, entry: Entry, reason: str | None) -> None:
    """The buyer funded an escrow."""
    body = _action(entry)
    detail = f"{money(body.get('amount'), body.get('currency'))} deposited by {_party(entry)}"
    line.on_escrow(body.get("escrow"), _event(entry, "Deposit", detail, reason))


def produced(line: Timeline, entry: Entry, reason: str | None) -> None:
    """The supplier reported its lot: production, then the inspection's defect counts."""
    body = _action(entry)
    line.on_escrow(
        body.get("escrow"),
        _event(entry, "Production completed", f"{body.get('produced_quantity')} units produced", reason),
    )
    defects = body.get("defects") or {}
    counted = ", ".join(f"{k} {v}" for k, v in defects.items())
    sample = f", sample of {body['sample_size']}" if body.get("sample_size") else ""
    line.on_escrow(
        body.get("escrow"),
        _event(entry, "Inspection", f"defects: {counted} ({body.get('source')}{sample})", reason),
    )


def quality(line: Timeline, entry: Entry, reason: str | None) -> None:
    """A release, refund or cancellation of one escrow; a refund's re-offers."""
    result = _result(entry)
    escrow = line.state.escrows.get(str(result.get("escrow")))
    currency = escrow.currency if escrow else ""
    title = {"decision.release": "Released", "decision.refund": "Refunded", "decision.cancel": "Cancelled"}
    amount = money(result.get("amount"), currency)
    detail = (
        f"{amount} to {result.get('to')}: {result.get('reason')}"
        if result.get("to")
        else str(result.get("reason"))
    )
    tone = "ok" if entry.kind == "decision.release" else "bad"
    line.on_escrow(
        result.get("escrow"), _event(entry, title.get(entry.kind, entry.kind), detail, reason, tone)
    )
    for offer in result.get("offers", []) if not reason else []:
        price = money(offer.get("unit_price"), offer.get("currency"))
        offered = f"{offer.get('quantity')} units offered to {offer.get('buyer')} at {price} each"
        line.escrows.setdefault(str(result.get("escrow")), []).append(
            _event(entry, "Re-offered", offered, None)
        )
        supplier = escrow.supplier if escrow else "?"
        line.on_demand(offer.get("demand"), _event(entry, f"Lot of {supplier} re-offered", offered, None))


def accepted(line: Timeline, entry: Entry, reason: str | None) -> None:
    """A buyer accepted a re-offer: the lot's escrow, the new escrow and the demand it serves."""
    offer_id = str(_action(entry).get("offer"))
    offer = line.state.offers.get(offer_id)
    if offer is None:
        line.on_demand(None, _event(entry, "Offer accepted", offer_id, reason))
        return
    new_id = acceptance_escrow_id(OfferId(offer_id))
    detail = f"{offer.quantity} units by {_party(entry)} at {money(offer.unit_price, offer.currency)} each"
    line.escrows.setdefault(offer.lot, []).append(_event(entry, "Re-offer accepted", detail, reason))
    if not reason:
        line.on_escrow(new_id, _event(entry, "Opened by an accepted re-offer", detail, None, "ok"))
    else:
        line.on_demand(offer.demand, _event(entry, "Re-offer acceptance refused", detail, reason))
