"""OpenAPI links of the ERP API: how the answer of one operation leads to the next.

A link (OpenAPI 3.1 §4.8.20) says which value of an answer fills which parameter of a
following operation: the ``id`` a ``POST /v1/demands`` answers is the ``demand_id`` of
``GET /v1/demands/{demand_id}``, whose first allocation names the escrow to read and to
pay, and so on. ERP developers follow them by hand; stateful API testers (Schemathesis)
follow them to build create → read → act sequences; where the next operation needs a body
(a deposit of the escrow's amount), the link gives it from the answer too. One table serves every role: a
link is added only where the document has both of its operations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Link:
    """From an answer of ``source`` with ``status``, operation ``target`` with ``parameters`` (and a body)."""

    name: str
    source: tuple[str, str]
    status: int
    target: tuple[str, str]
    parameters: tuple[tuple[str, str], ...]
    description: str
    body: dict[str, Any] | None = None


_DEMAND = ("GET", "/v1/demands/{demand_id}")
_ESCROW = ("GET", "/v1/escrows/{escrow_id}")
_DEPOSIT = ("POST", "/v1/escrows/{escrow_id}/deposit")
_OFFER = ("GET", "/v1/offers/{offer_id}")
_ACCEPT = ("POST", "/v1/offers/{offer_id}/accept")
_ORDER = ("GET", "/v1/orders/{order_id}")
_COMPLETE = ("POST", "/v1/orders/{order_id}/production-complete")
_CHANNEL_ENTRIES = ("GET", "/v1/channels/{ledger}/entries")
_CHANNEL_ADD = ("POST", "/v1/channels/{ledger}/entries")
_CHANNEL_ENTRY = ("GET", "/v1/channels/{ledger}/entries/{seq}")
_LEDGER_HEAD = ("GET", "/v1/ledgers/{ledger}/head")
_LEDGER_ENTRIES = ("GET", "/v1/ledgers/{ledger}/entries")

LINKS = (
    Link("GetDemand", ("POST", "/v1/demands"), 202, _DEMAND, (("demand_id", "$response.body#/id"),),
         "The demand just submitted: its split once decided"),
    Link("GetFirstDemand", ("GET", "/v1/demands"), 200, _DEMAND, (("demand_id", "$response.body#/0/id"),),
         "The first demand of the page"),
    Link("GetEscrow", _DEMAND, 200, _ESCROW, (("escrow_id", "$response.body#/allocations/0/escrow_id"),),
         "The escrow of the first allocation"),
    Link("Deposit", _DEMAND, 200, _DEPOSIT, (("escrow_id", "$response.body#/allocations/0/escrow_id"),),
         "Pay the escrow of the first allocation in full",
         {"amount": "$response.body#/allocations/0/escrow_amount",
          "currency": "$response.body#/terms/unit_price/currency",
          "payment_reference": "$response.body#/allocations/0/escrow_id"}),
    Link("DepositEscrow", _ESCROW, 200, _DEPOSIT, (("escrow_id", "$response.body#/id"),),
         "Pay this escrow in full",
         {"amount": "$response.body#/amount", "currency": "$response.body#/currency",
          "payment_reference": "$response.body#/id"}),
    Link("GetFirstOffer", ("GET", "/v1/offers"), 200, _OFFER, (("offer_id", "$response.body#/0/id"),),
         "The first re-offered lot of the page"),
    Link("AcceptOffer", _OFFER, 200, _ACCEPT, (("offer_id", "$response.body#/id"),), "Accept this lot"),
    Link("GetAcceptedEscrow", _ACCEPT, 200, _ESCROW, (("escrow_id", "$response.body#/escrow_id"),),
         "The escrow the acceptance opened"),
    Link("GetFirstOrder", ("GET", "/v1/orders"), 200, _ORDER, (("order_id", "$response.body#/0/id"),),
         "The first order of the page"),
    Link("CompleteOrder", _ORDER, 200, _COMPLETE, (("order_id", "$response.body#/id"),),
         "Report this order's production: all of it, without defects",
         {"produced_quantity": "$response.body#/quantity",
          "defects": {"critical": 0, "major": 0, "minor": 0}}),
    Link("GetChannelEntries", ("GET", "/v1/channels"), 200, _CHANNEL_ENTRIES,
         (("ledger", "$response.body#/0/ledger"),), "The entries of the first channel"),
    Link("AddChannelEntry", ("GET", "/v1/channels"), 200, _CHANNEL_ADD,
         (("ledger", "$response.body#/0/ledger"),), "Add an entry to the first channel"),
    Link("GetChannelEntry", _CHANNEL_ADD, 201, _CHANNEL_ENTRY,
         (("ledger", "$request.path.ledger"), ("seq", "$response.body#/seq")), "The entry just sealed"),
    Link("GetLedgerHead", ("GET", "/v1/ledgers"), 200, _LEDGER_HEAD,
         (("ledger", "$response.body#/0/ledger"),), "The signed head of the first ledger"),
    Link("GetLedgerEntries", ("GET", "/v1/ledgers"), 200, _LEDGER_ENTRIES,
         (("ledger", "$response.body#/0/ledger"),), "The entries of the first ledger"),
    Link("GetLatestAudit", ("POST", "/v1/audits"), 200, ("GET", "/v1/audits/latest"), (),
         "The report of the audit just run"),
    Link("GetCapacity", ("PUT", "/v1/dms/profile"), 200, ("GET", "/v1/capacity"), (),
         "The capacity the new profile gives"),
    Link("ListSensors", ("POST", "/v1/dms/sensors"), 201, ("GET", "/v1/dms/sensors"), (),
         "The sensors now registered"),
)  # fmt: skip


def add_links(schema: dict[str, Any]) -> None:
    """Add every link of :data:`LINKS` whose two operations are in ``schema``."""
    paths: dict[str, Any] = schema.get("paths", {})

    def operation(key: tuple[str, str]) -> dict[str, Any] | None:
        found: dict[str, Any] | None = paths.get(key[1], {}).get(key[0].lower())
        return found

    for link in LINKS:
        source, target = operation(link.source), operation(link.target)
        if source is None or target is None or str(link.status) not in source.get("responses", {}):
            continue
        response = source["responses"][str(link.status)]
        definition: dict[str, Any] = {
            "operationId": target["operationId"],
            "parameters": dict(link.parameters),
            "description": link.description,
        }
        if link.body is not None:
            definition["requestBody"] = link.body
        response.setdefault("links", {})[link.name] = definition
