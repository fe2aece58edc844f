"""Typed ERP events from the network ledger: what concerns this node, as it commits.

Registered as a replica hook on partner nodes, so each event is recorded in the same
transaction as the entry that causes it (and served by ``/v1/events``):

* ``demand.decided`` / ``demand.failed`` to the buyer;
* ``order.allocated`` to each supplier with an allocation;
* ``escrow.funded``, ``escrow.released``, ``escrow.refunded``, ``escrow.cancelled``,
  ``escrow.opened`` to the buyer and the supplier of the escrow;
* ``offer.opened``, ``offer.accepted``, ``offer.withdrawn`` to the buyers offered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection

from supplymesh.core.contracts.network import (
    CANCEL,
    DEMAND_FAILED,
    REFUND,
    RELEASE,
    SPLIT,
    EscrowRecord,
    NetworkState,
    acceptance_escrow_id,
)
from supplymesh.core.entry import SealedEntry
from supplymesh.storage.events import publish

ESCROW_EVENTS = {RELEASE: "escrow.released", REFUND: "escrow.refunded", CANCEL: "escrow.cancelled"}


Event = tuple[str, str, dict[str, Any]]


def notifier(me: str, now: Callable[[], str]) -> Callable[[Connection, SealedEntry, NetworkState], None]:
    """A replica hook publishing the events that concern member ``me``."""

    def hook(conn: Connection, sealed: SealedEntry, state: NetworkState) -> None:
        entry = sealed.entry
        if entry.seq in state.refused:  # the fold refused it: it changed nothing to tell
            return
        kind = ESCROW_DECISION if entry.kind in ESCROW_EVENTS else entry.kind
        events_of = _EVENTS.get(kind)
        for type_, subject, data in events_of(me, entry.kind, entry.body, state) if events_of else []:
            publish(
                conn, type_=type_, subject=subject, data={**data, "network_seq": entry.seq}, now_text=now()
            )

    return hook


def _split(me: str, _kind: str, body: Mapping[str, Any], state: NetworkState) -> list[Event]:
    events: list[Event] = []
    demand = state.demands.get(str(body["result"]["demand"]))
    if demand is not None and demand.buyer == me:
        data = {
            "demand": demand.id,
            "status": demand.status,
            "allocations": [a.model_dump() for a in demand.allocations],
            "unallocated_quantity": demand.unallocated,
        }
        events.append(("demand.decided", demand.id, data))
    for allocation in body["result"]["allocations"]:
        if allocation["supplier"] == me:
            events.append(("order.allocated", allocation["escrow_id"], dict(allocation)))
    return events


def _failed(me: str, _kind: str, body: Mapping[str, Any], state: NetworkState) -> list[Event]:
    demand = state.demands.get(str(body.get("demand")))
    if demand is None or demand.buyer != me:
        return []
    return [("demand.failed", demand.id, {"demand": demand.id, "detail": demand.detail})]


def _escrow_decision(me: str, kind: str, body: Mapping[str, Any], state: NetworkState) -> list[Event]:
    events: list[Event] = []
    escrow = state.escrows.get(str(body["result"].get("escrow")))
    if escrow is not None and me in (escrow.buyer, escrow.supplier):
        events.append((ESCROW_EVENTS[kind], escrow.id, _escrow(escrow)))
    for offer in body["result"].get("offers", []):
        if offer["buyer"] == me:
            events.append(("offer.opened", offer["id"], dict(offer)))
    return events


def _deposited(me: str, _kind: str, body: Mapping[str, Any], state: NetworkState) -> list[Event]:
    escrow = state.escrows.get(str(body["action"]["body"].get("escrow")))
    if escrow is None or escrow.state != "funded" or me not in (escrow.buyer, escrow.supplier):
        return []
    return [("escrow.funded", escrow.id, _escrow(escrow))]


def _accepted(me: str, _kind: str, body: Mapping[str, Any], state: NetworkState) -> list[Event]:
    offer = state.offers.get(str(body["action"]["body"].get("offer")))
    if offer is None:
        return []
    events: list[Event] = [
        (f"offer.{other.state}", other.id, {"offer": other.id, "state": other.state})
        for other in state.offers.values()
        if other.lot == offer.lot and other.buyer == me
    ]
    escrow = state.escrows.get(acceptance_escrow_id(offer.id))
    if escrow is not None and me in (escrow.buyer, escrow.supplier):
        events.append(("escrow.opened", escrow.id, _escrow(escrow)))
    return events


ESCROW_DECISION = "escrow decision"
_EVENTS: dict[str, Callable[[str, str, Mapping[str, Any], NetworkState], list[Event]]] = {
    SPLIT: _split,
    DEMAND_FAILED: _failed,
    ESCROW_DECISION: _escrow_decision,
    "escrow.deposited": _deposited,
    "offer.accepted": _accepted,
}


def _escrow(escrow: EscrowRecord) -> dict[str, Any]:
    return {
        "escrow": escrow.id,
        "state": escrow.state,
        "amount": escrow.amount,
        "currency": escrow.currency,
        "buyer": escrow.buyer,
        "supplier": escrow.supplier,
    }
