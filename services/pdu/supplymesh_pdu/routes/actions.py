"""Peer route: partners submit their signed actions to be sequenced."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from supplymesh.web.deps import PeerSender
from supplymesh_pdu.deps import SequencerDep

router = APIRouter(prefix="/peer/v1", tags=["peer"])


class ActionIn(BaseModel):
    """A party's signed action statement."""

    model_config = ConfigDict(extra="forbid")
    action: dict[str, Any]
    signature: str = Field(min_length=1, max_length=128)


class Sequenced(BaseModel):
    """Where the action now stands on the network ledger."""

    ledger: str
    seq: int
    hash: str


@router.post("/actions", summary="Sequence a party action on the network ledger")
async def submit_action(body: ActionIn, sender: PeerSender, sequencer: SequencerDep) -> Sequenced:
    return Sequenced(**await sequencer.submit_action(sender, body.action, body.signature))
