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

from collections.abc import Callable
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


def notifier(me: str, now: Callable[[], str]) -> Callable[[Connection, SealedEntry, NetworkState], None]:
    """A replica hook publishing the events that concern member ``me``."""

    def hook(conn: Connection, sealed: SealedEntry, state: NetworkState) -> None:
        entry = sealed.entry
        if entry.seq in state.refused:  # the fold refused it: it changed nothing to tell
            return
        events: list[tuple[str, str, dict[str, Any]]] = []
        body = entry.body
        if entry.kind == SPLIT:
            demand = state.demands.get(str(body["result"]["demand"]))
            if demand is not None and demand.buyer == me:
                events.append(
                    (
                        "demand.decided",
                        demand.id,
                        {
                            "demand": demand.id,
                            "status": demand.status,
                            "allocations": [a.model_dump() for a in demand.allocations],
                            "unallocated_quantity": demand.unallocated,
                        },
                    )
                )
            for allocation in body["result"]["allocations"]:
                if allocation["supplier"] == me:
                    events.append(("order.allocated", allocation["escrow_id"], dict(allocation)))
        elif entry.kind == DEMAND_FAILED:
            demand = state.demands.get(str(body.get("demand")))
            if demand is not None and demand.buyer == me:
                events.append(("demand.failed", demand.id, {"demand": demand.id, "detail": demand.detail}))
        elif entry.kind in ESCROW_EVENTS:
            escrow = state.escrows.get(str(body["result"].get("escrow")))
            if escrow is not None and me in (escrow.buyer, escrow.supplier):
                events.append((ESCROW_EVENTS[entry.kind], escrow.id, _escrow(escrow)))
            for offer in body["result"].get("offers", []):
                if offer["buyer"] == me:
                    events.append(("offer.opened", offer["id"], dict(offer)))
        elif entry.kind == "escrow.deposited":
            escrow = state.escrows.get(str(body["action"]["body"].get("escrow")))
            if escrow is not None and escrow.state == "funded" and me in (escrow.buyer, escrow.supplier):
                events.append(("escrow.funded", escrow.id, _escrow(escrow)))
        elif entry.kind == "offer.accepted":
            offer = state.offers.get(str(body["action"]["body"].get("offer")))
            if offer is not None:
                for other in state.offers.values():
                    if other.lot == offer.lot and other.buyer == me:
                        events.append(
                            (f"offer.{other.state}", other.id, {"offer": other.id, "state": other.state})
                        )
                escrow = state.escrows.get(acceptance_escrow_id(offer.id))
                if escrow is not None and me in (escrow.buyer, escrow.supplier):
                    events.append(("escrow.opened", escrow.id, _escrow(escrow)))
        for type_, subject, data in events:
            publish(
                conn, type_=type_, subject=subject, data={**data, "network_seq": entry.seq}, now_text=now()
            )

    return hook


def _escrow(escrow: EscrowRecord) -> dict[str, Any]:
    return {
        "escrow": escrow.id,
        "state": escrow.state,
        "amount": escrow.amount,
        "currency": escrow.currency,
        "buyer": escrow.buyer,
        "supplier": escrow.supplier,
    }
