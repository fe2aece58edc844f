"""Peer routes for the network ledger at partner nodes: proposals and replication."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from supplymesh.core.entry import SealedEntry
from supplymesh.errors import Forbidden, Unprocessable
from supplymesh.network.blocks import sign_block, take_carried
from supplymesh.network.replica import NetworkReplica, parse
from supplymesh.network.signing import sign_proposal
from supplymesh.node import crashpoints
from supplymesh.web.deps import PeerSender


def get_replica(request: Request) -> NetworkReplica:
    """The node's network replica."""
    replica: NetworkReplica = request.app.state.replica
    return replica


Replica = Annotated[NetworkReplica, Depends(get_replica)]


class BlockSignaturesReply(BaseModel):
    """A partner's signatures over every entry of a block, in the block's order."""

    signer: str
    sigs: list[str]


def parse_block(body: Any) -> list[SealedEntry]:
    """The sealed entries of a block body ``{"entries": [{entry, signatures}, …]}``.

    Raises:
        Unprocessable: if malformed.
    """
    items = body.get("entries") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise Unprocessable("a block is {'entries': [{entry, signatures}, …]}")
    return [parse(item) for item in items]


class DecisionSignatureReply(BaseModel):
    """A partner's signature over a decision entry's hash."""

    signer: str
    sig: str


async def _replicate(replica: NetworkReplica, body: dict[str, Any]) -> None:
    """Append what the PDU pushed: one entry, or a range ``{"entries": [...]}``."""
    block = parse_block(body) if "entries" in body else [parse(body)]
    kinds = [s.entry.kind for s in block]
    crashpoints.reached("network.push.received", *kinds)
    if "entries" in body:
        await replica.accept_many(block)
    else:
        await replica.accept(block[0])
    crashpoints.reached("network.push.applied", *kinds)


def network_partner_router() -> APIRouter:
    """``/peer/v1/network/…`` on partner nodes."""
    router = APIRouter(prefix="/peer/v1/network", tags=["peer"])

    @router.post("/proposals", summary="Validate and sign a proposed decision (re-executes the rule)")
    async def proposal(body: dict[str, Any], sender: PeerSender, replica: Replica) -> DecisionSignatureReply:
        await take_carried(replica, sender, body.get("before"))
        sealed = parse(body)
        crashpoints.reached("network.vote.received", sealed.entry.kind)
        signature = await sign_proposal(replica, sender, sealed)
        crashpoints.reached("network.vote.signed", sealed.entry.kind)
        return DecisionSignatureReply(signer=signature.signer, sig=signature.sig)

    @router.post(
        "/blocks",
        summary="Validate a block of consecutive decisions in order and sign all of them, or none",
    )
    async def block(body: dict[str, Any], sender: PeerSender, replica: Replica) -> BlockSignaturesReply:
        await take_carried(replica, sender, body.get("before"))
        block = parse_block(body)
        kinds = [s.entry.kind for s in block]
        crashpoints.reached("network.vote.received", *kinds)
        signatures = await sign_block(replica, sender, block)
        crashpoints.reached("network.vote.signed", *kinds)
        return BlockSignaturesReply(signer=replica.node.id, sigs=[s.sig for s in signatures])

    @router.post(
        "/entries",
        status_code=204,
        summary="Replicate a network-ledger entry (or a range, {entries: [...]}) from the PDU",
    )
    async def entries(body: dict[str, Any], sender: PeerSender, replica: Replica) -> Response:
        if sender != replica.node.config.pdu.id:
            raise Forbidden("only the PDU replicates the network ledger")
        await _replicate(replica, body)
        return Response(status_code=204)

    return router
