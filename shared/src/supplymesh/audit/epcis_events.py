"""The EPCIS events of a network ledger: the fold, and the events each kind of entry causes.

The network ledger is folded entry by entry (:func:`supplymesh.core.contracts.network.apply`,
the same fold every partner runs) and each step that moves goods or changes whom they
belong to becomes an EPCIS event:

- ``demand.submitted``: TransactionEvent ``ADD``, the demand as a ``po``;
- ``decision.split``, per allocation: TransactionEvent ``ADD``, demand and order as ``po``;
- ``production.completed``: TransformationEvent, the lot as output, ``commissioning``;
- ``decision.release`` / ``decision.refund`` of an allocation: ObjectEvent ``OBSERVE``,
  ``inspecting``, ``conformant`` / ``non_conformant``, with the defect counts;
- ``decision.release``: TransactionEvent ``OBSERVE``, ``accepting``;
- ``decision.refund``: TransactionEvent ``DELETE``, then one TransactionEvent ``ADD`` per
  re-offer;
- ``offer.accepted``: TransactionEvent ``ADD``, the new order as ``po``;
- ``decision.cancel``: TransactionEvent ``DELETE``.

Identifiers are the URNs of :mod:`supplymesh.audit.epcis_ids`; CBV values are bare words;
the re-offer transaction type is ``urn:supplymesh:btt:offer``. Every event carries
``supplymesh:networkEntry``, the URN of the signed ledger entry it comes from. Events
come without ``eventID``: :mod:`supplymesh.audit.epcis` adds it when it assembles the
document.

Pure and deterministic: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from supplymesh.audit.epcis_ids import (
    demand_urn,
    entry_urn,
    lot_class,
    offer_urn,
    order_urn,
    party,
    product_class,
)
from supplymesh.core.contracts.dms import DEFECT_CLASSES
from supplymesh.core.contracts.network import (
    CANCEL,
    REFUND,
    RELEASE,
    SPLIT,
    DemandRecord,
    EscrowRecord,
    NetworkState,
    apply,
)
from supplymesh.core.entry import Entry

OFFER_TRANSACTION = "urn:supplymesh:btt:offer"
UTC_OFFSET = "+00:00"


@dataclass
class MappedEvent:
    """One EPCIS event (without its ``eventID``) and the hashes of the demands it is about."""

    event: dict[str, Any]
    demands: set[str] = field(default_factory=set)


def _po(*urns: str) -> list[dict[str, str]]:
    return [{"type": "po", "bizTransaction": u} for u in urns]


def _parties(supplier: str | None, buyer: str) -> dict[str, Any]:
    lists: dict[str, Any] = {}
    if supplier is not None:
        lists["sourceList"] = [{"type": "owning_party", "source": party(supplier)}]
    lists["destinationList"] = [{"type": "owning_party", "destination": party(buyer)}]
    return lists


def _event(kind: str, entry: Entry, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"type": kind, "eventTime": entry.time, "eventTimeZoneOffset": UTC_OFFSET}
    event.update(fields)
    event["supplymesh:networkEntry"] = entry_urn(entry)
    return event


class EventMapper:
    """Folds entries (:meth:`step`, in seq order) and keeps the events each one causes in ``out``."""

    def __init__(self) -> None:
        self.state = NetworkState()
        self.out: list[MappedEvent] = []

    def emit(self, event: dict[str, Any], *demands: str | None) -> None:
        """Keep ``event``, about the demands named (``None`` for none)."""
        self.out.append(MappedEvent(event, {d for d in demands if d}))

    # -- helpers -------------------------------------------------------------------------------

    def demand_of(self, escrow: EscrowRecord) -> DemandRecord | None:
        """The demand an order serves: its allocation's, or the accepting buyer's."""
        if escrow.demand is not None:
            return self.state.demands.get(escrow.demand)
        offer = self.state.offers.get(str(escrow.offer))
        return None if offer is None else self.state.demands.get(offer.demand)

    def lot_escrow(self, escrow: EscrowRecord) -> str:
        """The escrow whose order produced the lot ``escrow`` is about."""
        offer = self.state.offers.get(str(escrow.offer)) if escrow.offer else None
        return offer.lot if offer is not None else escrow.id

    def origin_demand(self, escrow: EscrowRecord) -> str | None:
        """For an accepted re-offer, the demand the lot was first made for."""
        lot = self.state.escrows.get(self.lot_escrow(escrow))
        return lot.demand if lot is not None else None

    def orders(self, escrow: EscrowRecord) -> list[dict[str, str]]:
        """The ``po`` transactions of an order: its demand's (when known) and its own."""
        demand = self.demand_of(escrow)
        urns = ([demand_urn(demand)] if demand is not None else []) + [order_urn(escrow.id)]
        return _po(*urns)

    def lot_quantity(self, escrow: EscrowRecord) -> list[dict[str, Any]]:
        """The lot of ``escrow`` as a quantity: produced units, else the ordered ones."""
        produced = escrow.lot.produced_quantity if escrow.lot is not None else escrow.quantity
        return [{"epcClass": lot_class(escrow.product, self.lot_escrow(escrow)), "quantity": produced}]

    # -- entries -------------------------------------------------------------------------------

    def step(self, entry: Entry) -> None:
        """Fold one entry and emit the events it causes (an entry the fold ignores causes none)."""
        state = self.state
        kind = entry.kind
        body = entry.body
        if kind == "demand.submitted":
            known = entry.hash in state.demands
            apply(state, entry)
            if not known and entry.hash in state.demands:
                self.demand(entry, state.demands[entry.hash])
        elif kind == "production.completed":
            # The fold replaces the records it changes: compare before and after by id.
            escrow_id = str(body.get("action", {}).get("body", {}).get("escrow"))
            before = state.escrows.get(escrow_id)
            reported = before is not None and before.lot is not None
            apply(state, entry)
            escrow = state.escrows.get(escrow_id)
            if escrow is not None and not reported and escrow.lot is not None:
                self.production(entry, escrow)
        elif kind == "offer.accepted":
            offer_id = str(body.get("action", {}).get("body", {}).get("offer"))
            offer = state.offers.get(offer_id)
            was_open = offer is not None and offer.state == "open"
            apply(state, entry)
            offer = state.offers.get(offer_id)
            if offer is not None and was_open and offer.state == "accepted":
                self.acceptance(entry, offer.id)
        else:
            apply(state, entry)
            result = body.get("result", {}) if isinstance(body, Mapping) else {}
            if kind == SPLIT:
                self.split(entry, result)
            elif kind in (RELEASE, REFUND, CANCEL):
                escrow = state.escrows.get(str(result.get("escrow")))
                if escrow is not None:
                    self.decision(entry, escrow, result)

    def demand(self, entry: Entry, demand: DemandRecord) -> None:
        """A new demand: the buyer's purchase order."""
        event = _event(
            "TransactionEvent",
            entry,
            bizTransactionList=_po(demand_urn(demand)),
            quantityList=[{"epcClass": product_class(demand.product), "quantity": demand.terms.quantity}],
            action="ADD",
            **_parties(None, demand.buyer),
        )
        self.emit(event, demand.hash)

    def split(self, entry: Entry, result: Mapping[str, Any]) -> None:
        """A split decision: one order per allocation."""
        demand = self.state.demands.get(str(result.get("demand")))
        if demand is None:
            return
        for allocation in result.get("allocations", []):
            escrow_id = str(allocation["escrow_id"])
            event = _event(
                "TransactionEvent",
                entry,
                bizTransactionList=_po(demand_urn(demand), order_urn(escrow_id)),
                quantityList=[
                    {"epcClass": product_class(demand.product), "quantity": int(allocation["quantity"])}
                ],
                action="ADD",
                **_parties(str(allocation["supplier"]), demand.buyer),
            )
            self.emit(event, demand.hash)

    def production(self, entry: Entry, escrow: EscrowRecord) -> None:
        """A first production report: the lot made for the order."""
        event = _event(
            "TransformationEvent",
            entry,
            outputQuantityList=self.lot_quantity(escrow),
            transformationID=order_urn(escrow.id),
            bizStep="commissioning",
            disposition="active",
            bizTransactionList=self.orders(escrow),
        )
        self.emit(event, escrow.demand)

    def decision(self, entry: Entry, escrow: EscrowRecord, result: Mapping[str, Any]) -> None:
        """A release, refund or cancel of ``escrow``: inspection, transaction, re-offers."""
        demands = (escrow.demand, self.origin_demand(escrow), getattr(self.demand_of(escrow), "hash", None))
        if entry.kind == CANCEL:
            event = _event(
                "TransactionEvent",
                entry,
                bizTransactionList=self.orders(escrow),
                quantityList=[{"epcClass": product_class(escrow.product), "quantity": escrow.quantity}],
                action="DELETE",
                **_parties(escrow.supplier, escrow.buyer),
            )
            self.emit(event, *demands)
            return
        if escrow.offer is None:
            self.emit(self.inspection(entry, escrow, result), *demands)
        release = entry.kind == RELEASE
        transaction = _event(
            "TransactionEvent",
            entry,
            bizTransactionList=self.orders(escrow),
            quantityList=self.lot_quantity(escrow),
            action="OBSERVE" if release else "DELETE",
            **({"bizStep": "accepting"} if release else {}),
            **_parties(escrow.supplier, escrow.buyer),
        )
        self.emit(transaction, *demands)
        if entry.kind == REFUND:
            self.reoffers(entry, escrow, result)

    def inspection(self, entry: Entry, escrow: EscrowRecord, result: Mapping[str, Any]) -> dict[str, Any]:
        """The quality inspection of an allocation's lot that a release or refund decided on."""
        lot = escrow.lot.as_json() if escrow.lot is not None else {}
        defects = lot.get("defects", {})
        inspection = _event(
            "ObjectEvent",
            entry,
            quantityList=self.lot_quantity(escrow),
            action="OBSERVE",
            bizStep="inspecting",
            disposition="conformant" if entry.kind == RELEASE else "non_conformant",
            bizTransactionList=self.orders(escrow),
        )
        for defect_class in DEFECT_CLASSES:
            name = str(defect_class)
            inspection[f"supplymesh:defects{name.capitalize()}"] = int(defects.get(name, 0))
        inspection["supplymesh:qualitySource"] = str(lot.get("source", ""))
        inspection["supplymesh:reason"] = str(result.get("reason", ""))
        inspection["supplymesh:networkEntry"] = inspection.pop("supplymesh:networkEntry")
        return inspection

    def reoffers(self, entry: Entry, escrow: EscrowRecord, result: Mapping[str, Any]) -> None:
        """One transaction per re-offer of a refunded lot, to the buyer it is offered to."""
        for offer in result.get("offers", []):
            offered = self.state.demands.get(str(offer["demand"]))
            urns = [{"type": OFFER_TRANSACTION, "bizTransaction": offer_urn(str(offer["id"]))}]
            if offered is not None:
                urns += _po(demand_urn(offered))
            event = _event(
                "TransactionEvent",
                entry,
                bizTransactionList=urns,
                quantityList=self.lot_quantity(escrow),
                action="ADD",
                **_parties(escrow.supplier, str(offer["buyer"])),
            )
            self.emit(event, escrow.demand, str(offer["demand"]))

    def acceptance(self, entry: Entry, offer_id: str) -> None:
        """An accepted re-offer: the new order for the lot."""
        offer = self.state.offers[offer_id]
        escrow = next((e for e in self.state.escrows.values() if e.offer == offer_id), None)
        if escrow is None:
            return
        urns = [*self.orders(escrow), {"type": OFFER_TRANSACTION, "bizTransaction": offer_urn(offer_id)}]
        event = _event(
            "TransactionEvent",
            entry,
            bizTransactionList=urns,
            quantityList=self.lot_quantity(escrow),
            action="ADD",
            **_parties(escrow.supplier, escrow.buyer),
        )
        self.emit(event, offer.demand, self.origin_demand(escrow))
