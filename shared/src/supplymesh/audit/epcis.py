"""Traceability events of the network ledger as a GS1 EPCIS 2.0 document (JSON-LD).

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

Identifiers (URNs of the ``supplymesh`` namespace; no GS1 keys are invented):
parties ``urn:supplymesh:party:<member>``, products ``urn:supplymesh:product:<product>``,
lots ``urn:supplymesh:product:<product>:lot:<escrow>`` (the escrow whose order produced
it), demands ``urn:supplymesh:demand:<buyer>:<demand id>``, orders (one per escrow)
``urn:supplymesh:order:<escrow>``, offers ``urn:supplymesh:offer:<offer>``. CBV values are
bare words; the re-offer transaction type is ``urn:supplymesh:btt:offer``.

Every event carries ``supplymesh:networkEntry`` — ``urn:supplymesh:entry:network:<seq>:<hash>``
of the signed ledger entry it comes from — and its ``eventID`` is its EPCIS Event Hash ID
(:mod:`supplymesh.audit.epcis_hash`). The ``@context`` names the EPCIS 2.0 context by URL
(never fetched) and declares the ``supplymesh`` prefix inline.

Pure and deterministic: the same entries give the same document, byte for byte
(``creationDate`` is the time of the last entry, not the clock).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from supplymesh.audit.epcis_hash import context_namespaces, event_hash_id
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

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
NAMESPACE = "https://supplymesh.dev/epcis/"
CONTEXT: list[Any] = [EPCIS_CONTEXT, {"supplymesh": NAMESPACE}]
MEDIA_TYPE = "application/ld+json"
OFFER_TRANSACTION = "urn:supplymesh:btt:offer"
UTC_OFFSET = "+00:00"


def _part(text: str) -> str:
    return quote(str(text), safe="-._~")


def party(member: str) -> str:
    """URN of a network member."""
    return f"urn:supplymesh:party:{_part(member)}"


def product_class(product: str) -> str:
    """URN of a product (an EPCIS class)."""
    return f"urn:supplymesh:product:{_part(product)}"


def lot_class(product: str, escrow_id: str) -> str:
    """URN of the lot produced for the order of ``escrow_id``."""
    return f"{product_class(product)}:lot:{_part(escrow_id)}"


def demand_urn(demand: DemandRecord) -> str:
    """URN of a demand (its buyer's id), the buyer's purchase order to the network."""
    return f"urn:supplymesh:demand:{_part(demand.buyer)}:{_part(demand.id)}"


def order_urn(escrow_id: str) -> str:
    """URN of a supplier's order (one per escrow)."""
    return f"urn:supplymesh:order:{_part(escrow_id)}"


def offer_urn(offer_id: str) -> str:
    """URN of a re-offer."""
    return f"urn:supplymesh:offer:{_part(offer_id)}"


def entry_urn(entry: Entry) -> str:
    """URN of a network ledger entry: seq and hash."""
    return f"urn:supplymesh:entry:network:{entry.seq}:{entry.hash}"


@dataclass
class _Mapped:
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


class _Mapper:
    """Folds entries and emits the events each one causes."""

    def __init__(self) -> None:
        self.state = NetworkState()
        self.out: list[_Mapped] = []

    def emit(self, event: dict[str, Any], *demands: str | None) -> None:
        self.out.append(_Mapped(event, {d for d in demands if d}))

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
        demand = self.demand_of(escrow)
        urns = ([demand_urn(demand)] if demand is not None else []) + [order_urn(escrow.id)]
        return _po(*urns)

    def lot_quantity(self, escrow: EscrowRecord) -> list[dict[str, Any]]:
        produced = escrow.lot.produced_quantity if escrow.lot is not None else escrow.quantity
        return [{"epcClass": lot_class(escrow.product, self.lot_escrow(escrow)), "quantity": produced}]

    # -- entries -------------------------------------------------------------------------------

    def step(self, entry: Entry) -> None:
        state = self.state
        kind = entry.kind
        body = entry.body
        if kind == "demand.submitted":
            known = entry.hash in state.demands
            apply(state, entry)
            if not known and entry.hash in state.demands:
                self.demand(entry, state.demands[entry.hash])
        elif kind == "production.completed":
            escrow = state.escrows.get(str(body.get("action", {}).get("body", {}).get("escrow")))
            reported = escrow is not None and escrow.lot is not None
            apply(state, entry)
            if escrow is not None and not reported and escrow.lot is not None:
                self.production(entry, escrow)
        elif kind == "offer.accepted":
            offer = state.offers.get(str(body.get("action", {}).get("body", {}).get("offer")))
            was_open = offer is not None and offer.state == "open"
            apply(state, entry)
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
        lot = escrow.lot.as_json() if escrow.lot is not None else {}
        if escrow.offer is None:
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
            self.emit(inspection, *demands)
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


def export_events(
    entries: Iterable[Entry], *, demand: str | None = None, buyer: str | None = None
) -> list[dict[str, Any]]:
    """The EPCIS events of a network ledger (entries in seq order), each with its eventID.

    With ``demand`` (a buyer's demand id, optionally narrowed to ``buyer``) only the events
    about that demand: its allocations, lots, decisions and re-offers, and re-offers made
    to it.
    """
    mapper = _Mapper()
    for entry in entries:
        mapper.step(entry)
    wanted: set[str] | None = None
    if demand is not None:
        wanted = {
            d.hash
            for d in mapper.state.demands.values()
            if d.id == demand and (buyer is None or d.buyer == buyer)
        }
    namespaces = context_namespaces(CONTEXT)
    events = []
    for mapped in mapper.out:
        if wanted is not None and not mapped.demands & wanted:
            continue
        event = {"type": mapped.event["type"], "eventID": event_hash_id(mapped.event, namespaces)}
        event.update((k, v) for k, v in mapped.event.items() if k != "type")
        events.append(event)
    return events


def export_document(
    entries: Sequence[Entry], *, demand: str | None = None, buyer: str | None = None
) -> dict[str, Any]:
    """An ``EPCISDocument`` of the network ledger's traceability events."""
    created = entries[-1].time if entries else "1970-01-01T00:00:00.000000Z"
    return {
        "@context": CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": created,
        "epcisBody": {"eventList": export_events(entries, demand=demand, buyer=buyer)},
    }


def render(document: Mapping[str, Any]) -> bytes:
    """The document's JSON bytes (compact, UTF-8, key order as built: deterministic)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def mismatched_event_ids(document: Mapping[str, Any]) -> list[str]:
    """Event IDs of ``document`` that do not equal the hash of their event's content."""
    namespaces = context_namespaces(document.get("@context"))
    return [
        str(event.get("eventID"))
        for event in document.get("epcisBody", {}).get("eventList", [])
        if event.get("eventID") != event_hash_id(event, namespaces)
    ]
