"""Peer routes for the network ledger at partner nodes: proposals and replication."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from supplymesh.errors import Forbidden
from supplymesh.network.replica import NetworkReplica, parse
from supplymesh.network.signing import sign_proposal
from supplymesh.web.deps import PeerSender


def get_replica(request: Request) -> NetworkReplica:
    """The node's network replica."""
    replica: NetworkReplica = request.app.state.replica
    return replica


Replica = Annotated[NetworkReplica, Depends(get_replica)]


class DecisionSignatureReply(BaseModel):
    """A partner's signature over a decision entry's hash."""

    signer: str
    sig: str


def network_partner_router() -> APIRouter:
    """``/peer/v1/network/…`` on partner nodes."""
    router = APIRouter(prefix="/peer/v1/network", tags=["peer"])

    @router.post("/proposals", summary="Validate and sign a proposed decision (re-executes the rule)")
    async def proposal(body: dict[str, Any], sender: PeerSender, replica: Replica) -> DecisionSignatureReply:
        signature = await sign_proposal(replica, sender, parse(body))
        return DecisionSignatureReply(signer=signature.signer, sig=signature.sig)

    @router.post("/entries", status_code=204, summary="Replicate a network-ledger entry from the PDU")
    async def entries(body: dict[str, Any], sender: PeerSender, replica: Replica) -> Response:
        if sender != replica.node.config.pdu.id:
            raise Forbidden("only the PDU replicates the network ledger")
        await replica.accept(parse(body))
        return Response(status_code=204)

    return router
