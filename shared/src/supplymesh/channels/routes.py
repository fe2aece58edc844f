"""Peer routes of the channel protocol, mounted by supplier and OEM nodes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from supplymesh.channels.service import ChannelService, parse_sealed, sealed_json
from supplymesh.core.canonical import CanonicalizationError, canonicalize
from supplymesh.errors import BadRequest, Unprocessable
from supplymesh.web.deps import ErpReader, PeerSender
from supplymesh.web.idempotency import IdempotencyDep, Reply
from supplymesh.web.ledger_api import LedgerName


def get_channels(request: Request) -> ChannelService:
    """The node's channel service."""
    service: ChannelService = request.app.state.channels
    return service


Channels = Annotated[ChannelService, Depends(get_channels)]


class LateSignatureIn(BaseModel):
    """A countersignature delivered after its entry was appended."""

    model_config = ConfigDict(extra="forbid")
    seq: int = Field(ge=1)
    sig: str = Field(min_length=1, max_length=128)


class SignatureReply(BaseModel):
    """A countersignature."""

    signer: str
    sig: str


def _sealed_for(ledger: str, body: dict[str, Any]) -> Any:
    sealed = parse_sealed(body)
    if sealed.entry.ledger != ledger:
        raise BadRequest(f"entry is for {sealed.entry.ledger}, not {ledger}")
    return sealed


class ChannelEntryIn(BaseModel):
    """A private entry for a channel: channel-specific terms or a message."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["terms", "message"]
    body: dict[str, Any] = Field(description="Any JSON object without binary floats (use decimal strings)")


class ChannelInfo(BaseModel):
    """A channel this node is a member of."""

    ledger: str
    oem: str
    supplier: str
    size: int
    head_hash: str


def channel_erp_router() -> APIRouter:
    """``/v1/channels…`` for the node's ERP: list channels, add private entries."""
    router = APIRouter(prefix="/v1/channels", tags=["channels"])

    @router.get("", summary="Channels this node is a member of")
    def list_channels(channels: Channels, _client: ErpReader) -> list[ChannelInfo]:
        result = []
        for ledger in channels.ledgers():
            head = channels.head(ledger)
            members = channels.members(ledger)
            result.append(
                ChannelInfo(
                    ledger=ledger,
                    oem=members.oem,
                    supplier=members.supplier,
                    size=head.size,
                    head_hash=head.head_hash,
                )
            )
        return result

    @router.post(
        "/{ledger}/entries",
        status_code=201,
        summary="Add channel-specific terms or a message, endorsed by both members",
        description="201 with the sealed entry; 202 if the supplier (the channel's sequencer) is unreachable "
        "and the entry was queued to be proposed when it returns.",
        responses={202: {"description": "Queued"}},
    )
    async def add_entry(
        ledger: LedgerName, body: ChannelEntryIn, channels: Channels, idem: IdempotencyDep
    ) -> JSONResponse:
        async def run() -> dict[str, Any] | Reply:
            try:
                canonicalize(body.body)
            except CanonicalizationError as exc:
                raise Unprocessable(f"body: {exc}") from exc
            sealed = await channels.append(ledger, body.kind, body.body)
            return Reply(202, {"queued": True}) if sealed is None else sealed_json(sealed)

        return await idem.run(201, run)

    return router


def channel_peer_router() -> APIRouter:
    """``/peer/v1/channels/{ledger}/…``."""
    router = APIRouter(prefix="/peer/v1/channels/{ledger}", tags=["peer"])

    @router.post("/countersign", summary="Countersign the supplier's entry (OEM)")
    async def countersign(
        ledger: LedgerName, body: dict[str, Any], sender: PeerSender, channels: Channels
    ) -> SignatureReply:
        signature = await channels.handle_countersign(sender, _sealed_for(ledger, body))
        return SignatureReply(signer=signature.signer, sig=signature.sig)

    @router.post("/proposals", summary="Sequence the OEM's entry (supplier)")
    async def propose(
        ledger: LedgerName, body: dict[str, Any], sender: PeerSender, channels: Channels
    ) -> dict[str, Any]:
        return sealed_json(await channels.handle_proposal(sender, _sealed_for(ledger, body)))

    @router.post("/entries", status_code=204, summary="Replicate a sealed entry (OEM)")
    async def receive(
        ledger: LedgerName, body: dict[str, Any], sender: PeerSender, channels: Channels
    ) -> Response:
        members = channels.members(ledger)
        if sender != members.supplier:
            raise BadRequest("only the supplier replicates its channel")
        await channels.accept(_sealed_for(ledger, body))
        return Response(status_code=204)

    @router.post("/countersignatures", status_code=204, summary="Deliver a late countersignature")
    async def late(
        ledger: LedgerName, body: LateSignatureIn, sender: PeerSender, channels: Channels
    ) -> Response:
        await channels.handle_late_signature(sender, ledger, body.seq, body.sig)
        return Response(status_code=204)

    return router
