"""Peer routes: the capacity and quality views (the only channel data the PDU may read).

Readers: the PDU, the auditor and the buyer of that channel. The view is the signed
channel entry of that kind, so anyone can check the supplier's signature on it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from supplymesh.channels.wire import sealed_json
from supplymesh.config import Role, channel_ledger
from supplymesh.core.contracts.channel import CAPACITY_KIND, QUALITY_KIND
from supplymesh.errors import Conflict, Forbidden, NotFound
from supplymesh.node import crashpoints
from supplymesh.node.context import Node
from supplymesh.storage.entry_records import late_signatures_of, latest_of_kind
from supplymesh.web.deps import NodeDep, PeerSender
from supplymesh_supplier.deps import AttestationsDep

router = APIRouter(prefix="/peer/v1", tags=["peer"])
Buyer = Annotated[str, Query(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="OEM member id")]


class AttestRequest(BaseModel):
    """Ask for a capacity attestation made for a demand, or for several demands of one buyer at once."""

    model_config = ConfigDict(extra="forbid")
    buyer: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    demand: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{64}$", description="Hash of the demand's network-ledger entry"
    )
    demands: list[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]] | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="Hashes of several demands of the buyer: one attestation answers them all",
    )

    @model_validator(mode="after")
    def _one_of(self) -> AttestRequest:
        if (self.demand is None) == (self.demands is None):
            raise ValueError("give either demand or demands")
        return self


def _allow(node: Node, sender: str, buyer: str) -> str:
    ledger = channel_ledger(buyer, node.id)
    if node.config.channel(ledger) is None:
        raise NotFound(f"{node.id} has no channel with {buyer}")
    role = node.config.member(sender).role
    if sender != buyer and role not in (Role.PDU, Role.AUDITOR):
        raise Forbidden(f"{sender} may not read {node.id}'s views for {buyer}")
    return ledger


def _view(node: Node, ledger: str, kind: str, **match: str) -> dict[str, Any]:
    sealed = latest_of_kind(node.engine, ledger, kind, **match)
    if sealed is None:
        raise NotFound(f"no {kind} on {ledger}")
    late = late_signatures_of(node.engine, ledger, [sealed.entry.seq]).get(sealed.entry.seq, [])
    return {**sealed_json(sealed), "late_signatures": late}


@router.get("/views/capacity", summary="Latest capacity attestation for a buyer")
def capacity_view(node: NodeDep, sender: PeerSender, buyer: Buyer) -> dict[str, Any]:
    return _view(node, _allow(node, sender, buyer), CAPACITY_KIND)


@router.get("/views/quality/{order_id}", summary="Lot quality of an order")
def quality_view(
    node: NodeDep, sender: PeerSender, buyer: Buyer, order_id: Annotated[str, Path(max_length=64)]
) -> dict[str, Any]:
    return _view(node, _allow(node, sender, buyer), QUALITY_KIND, order=order_id)


@router.post("/capacity/attestations", summary="Attest capacity for a pending demand (PDU)")
async def attest_for_demand(
    body: AttestRequest, node: NodeDep, sender: PeerSender, attestations: AttestationsDep
) -> dict[str, Any]:
    """The attestation made for the demand (or demands), on the channel with its buyer.

    Only for a demand this supplier's network replica holds as pending, from that buyer,
    listing this supplier (404 if unknown, 409 otherwise); the attestation made for it
    before is returned while the figures are unchanged. For ``demands``, one attestation
    answers every one it may attest for, and ``refused`` says why not for the others
    (409 if it may attest for none).
    """
    if node.config.member(sender).role != Role.PDU:
        raise Forbidden("only the PDU asks for attestations for a demand")
    _allow(node, sender, body.buyer)
    if body.demand is not None:
        one = await attestations.for_demand(body.buyer, body.demand)
        crashpoints.reached("supplier.attested")
        return sealed_json(one)
    made, refused = await attestations.for_demands(body.buyer, list(body.demands or ()))
    if made is None:
        raise Conflict("none of these demands can be attested for", refused=refused)
    crashpoints.reached("supplier.attested")
    return {**sealed_json(made), "refused": refused}
