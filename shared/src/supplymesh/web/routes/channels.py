"""Channel routes mounted by supplier and OEM nodes: the ERP's and the peers' (members, PDU)."""

# Route functions are documented by summary= in OpenAPI; a docstring would become its description.
# ruff: noqa: D103

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from supplymesh.channels.service import ChannelService
from supplymesh.channels.wire import parse_sealed, sealed_json
from supplymesh.core.canonical import CanonicalizationError, canonicalize
from supplymesh.core.contracts.channel import is_private
from supplymesh.core.entry import Entry, SealedEntry
from supplymesh.core.sealing import SealingError, sealed_key_id
from supplymesh.errors import BadRequest, Forbidden, NotFound, Unprocessable
from supplymesh.network.copies import StoredChannels, attestation_made_for
from supplymesh.network.signing import CATCH_UP_SECONDS
from supplymesh.storage.ledger_store import StoredEntry
from supplymesh.web.deps import ErpReader, ErpWriter, PeerSender
from supplymesh.web.idempotency import IdempotencyDep, Reply
from supplymesh.web.pagination import DEFAULT_LIMIT, MAX_INT, Limit, cursor_query, page_response
from supplymesh.web.routes.ledgers import LedgerName


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


def _sealed_for(ledger: str, body: dict[str, Any]) -> SealedEntry:
    """The sealed entry in ``body``, which must be for ``ledger``."""
    sealed = parse_sealed(body)
    if sealed.entry.ledger != ledger:
        raise BadRequest(f"entry is for {sealed.entry.ledger}, not {ledger}")
    return sealed


class ChannelEntryIn(BaseModel):
    """A private entry for a channel: channel-specific terms or a message."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["terms", "message"]
    body: dict[str, Any] = Field(description="Any JSON object without binary floats (use decimal strings)")


class PlainEntryOut(BaseModel):
    """A channel entry as its reader sees it: the body opened with the channel key.

    ``hash`` is the hash of the entry as stored (with its sealed body), so it can be
    matched with ``GET /v1/ledgers/{ledger}/entries`` and verified there.
    """

    seq: int
    time: str
    kind: str
    author: str
    hash: str
    sealed: bool = Field(description="True if the stored body is encrypted under the channel key")
    key_id: str | None = Field(description="Key the body is sealed under (for sealed bodies)")
    body: dict[str, Any] | None = Field(description="The plaintext body; null if it cannot be opened here")


class ChannelInfo(BaseModel):
    """A channel this node is a member of."""

    ledger: str
    oem: str
    supplier: str
    size: int
    head_hash: str


erp_router = APIRouter(prefix="/v1/channels", tags=["channels"])
"""``/v1/channels…`` for the node's ERP: list channels, add private entries."""


@erp_router.get("", summary="Channels this node is a member of")
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


@erp_router.post(
    "/{ledger}/entries",
    status_code=201,
    summary="Add channel-specific terms or a message, endorsed by both members",
    description="201 with the sealed entry, `Location` its `GET …/entries/{seq}`; 202 if the supplier (the "
    "sequencer) is unreachable and it was queued (`Location`: the channel's entries, where it will appear).",
    responses={202: {"description": "Queued"}},
)
async def add_entry(
    request: Request, ledger: LedgerName, body: ChannelEntryIn, channels: Channels, idem: IdempotencyDep
) -> JSONResponse:
    async def run() -> dict[str, Any] | Reply:
        try:
            canonicalize(body.body)
        except CanonicalizationError as exc:
            raise Unprocessable(f"body: {exc}") from exc
        sealed = await channels.append(ledger, body.kind, body.body, respond=True)
        return Reply(202, {"queued": True}) if sealed is None else sealed_json(sealed)

    response = await idem.run(201, run)  # a replayed answer gets its Location from its body too
    created = response.status_code == 201
    return _located(
        request, response, ledger, json.loads(bytes(response.body))["entry"]["seq"] if created else None
    )


def _located(request: Request, response: JSONResponse, ledger: str, seq: int | None) -> JSONResponse:
    """``response`` with the ``Location`` of the entry at ``seq``, or of the channel's entries if queued."""
    at = request.url_for("plain_entries", ledger=ledger) if seq is None else None
    response.headers["Location"] = str(at or request.url_for("plain_entry_at", ledger=ledger, seq=seq))
    return response


@erp_router.get(
    "/{ledger}/entries",
    summary="Entries of a channel with their bodies decrypted (members only)",
    response_model=list[PlainEntryOut],
)
def plain_entries(
    request: Request,
    ledger: LedgerName,
    channels: Channels,
    _client: ErpReader,
    after: Annotated[int, cursor_query("Cursor: the `seq` of the last entry you have")] = 0,
    limit: Limit = DEFAULT_LIMIT,
) -> JSONResponse:
    channels.members(ledger)
    rows = channels.node.store.entries(ledger, after=after, limit=limit + 1)

    def render(row: StoredEntry) -> dict[str, Any]:
        return plain_entry(channels, row)

    return page_response(request, rows, limit=limit, cursor=lambda r: r.seq, render=render)


@erp_router.get(
    "/{ledger}/entries/{seq}",
    summary="One channel entry with its body decrypted (members only)",
    response_model=PlainEntryOut,
)
def plain_entry_at(
    ledger: LedgerName,
    seq: Annotated[int, Path(ge=1, le=MAX_INT)],
    channels: Channels,
    _client: ErpReader,
) -> dict[str, Any]:
    channels.members(ledger)
    rows = channels.node.store.entries(ledger, after=seq - 1, limit=1)
    if not rows or rows[0].seq != seq:
        raise NotFound(f"{ledger} has no entry {seq}")
    return plain_entry(channels, rows[0])


@erp_router.post(
    "/{ledger}/keys",
    status_code=201,
    summary="Rotate the channel key: later private entries are sealed under a new key",
    description="Appends a channel.key entry wrapping a fresh key for both members and the auditor. "
    "Earlier entries stay readable under their own keys. 202 if queued (supplier unreachable).",
    responses={202: {"description": "Queued"}},
)
async def rotate(
    request: Request, ledger: LedgerName, channels: Channels, _client: ErpWriter
) -> JSONResponse:
    channels.members(ledger)
    sealed = await channels.rotate_key(ledger)
    if sealed is None:
        return _located(request, JSONResponse({"queued": True}, status_code=202), ledger, None)
    created = JSONResponse(
        {"key_id": sealed.entry.body["key_id"], "seq": sealed.entry.seq, "hash": sealed.entry.hash},
        status_code=201,
    )
    return _located(request, created, ledger, sealed.entry.seq)


def plain_entry(channels: ChannelService, row: StoredEntry) -> dict[str, Any]:
    """A stored channel entry with its body opened by this member's keys."""
    entry = Entry.from_canonical(row.entry)
    sealed = is_private(entry.kind)
    body: dict[str, Any] | None = None
    with contextlib.suppress(SealingError):
        body = channels.open_body(entry)
    key_id = None
    if sealed:
        with contextlib.suppress(SealingError):
            key_id = sealed_key_id(entry.body)
    return {
        "seq": entry.seq,
        "time": entry.time,
        "kind": entry.kind,
        "author": entry.author,
        "hash": entry.hash,
        "sealed": sealed,
        "key_id": key_id,
        "body": body,
    }


peer_router = APIRouter(prefix="/peer/v1/channels/{ledger}", tags=["peer"])
"""``/peer/v1/channels/{ledger}/…``: the channel protocol between members, and the PDU's reads."""


@peer_router.post("/countersign", summary="Countersign the supplier's entry (OEM)")
async def countersign(
    ledger: LedgerName, body: dict[str, Any], sender: PeerSender, channels: Channels
) -> SignatureReply:
    signature = await channels.handle_countersign(sender, _sealed_for(ledger, body))
    return SignatureReply(signer=signature.signer, sig=signature.sig)


@peer_router.post("/proposals", summary="Sequence the OEM's entry (supplier)")
async def propose(
    ledger: LedgerName, body: dict[str, Any], sender: PeerSender, channels: Channels
) -> dict[str, Any]:
    return sealed_json(await channels.handle_proposal(sender, _sealed_for(ledger, body)))


@peer_router.post("/entries", status_code=204, summary="Replicate a sealed entry (OEM)")
async def receive(
    ledger: LedgerName, body: dict[str, Any], sender: PeerSender, channels: Channels
) -> Response:
    members = channels.members(ledger)
    if sender != members.supplier:
        raise BadRequest("only the supplier replicates its channel")
    await channels.accept(_sealed_for(ledger, body))
    return Response(status_code=204)


@peer_router.get(
    "/attestations",
    summary="The capacity attestation made for a demand, as this member holds it (PDU)",
    description="The PDU asks the buyer for a supplier's attestation when the supplier does not "
    "answer: a capacity view, which the PDU may read. 404 if this copy holds none for the demand.",
)
async def attestation(
    ledger: LedgerName,
    sender: PeerSender,
    channels: Channels,
    demand: Annotated[str, Query(pattern="^[0-9a-f]{64}$", description="Hash of the demand's entry")],
) -> dict[str, Any]:
    members = channels.members(ledger)
    if sender != channels.node.config.pdu.id:
        raise Forbidden("only the PDU reads attestations through this route")
    engine = channels.node.engine
    found = attestation_made_for(engine, ledger, demand)
    if found is None and channels.node.id == members.oem and StoredChannels(engine).behind(ledger):
        # It countersigned an entry the supplier's push has not brought yet: catch up first.
        with contextlib.suppress(Exception):  # the supplier is unreachable: answer from the copy
            await asyncio.wait_for(channels.sync(ledger), timeout=CATCH_UP_SECONDS)
        found = attestation_made_for(engine, ledger, demand)
    if found is None:
        raise NotFound(f"{ledger} holds no attestation for demand {demand}")
    return sealed_json(found)


@peer_router.post("/countersignatures", status_code=204, summary="Deliver a late countersignature")
async def late(ledger: LedgerName, body: LateSignatureIn, sender: PeerSender, channels: Channels) -> Response:
    await channels.handle_late_signature(sender, ledger, body.seq, body.sig)
    return Response(status_code=204)
