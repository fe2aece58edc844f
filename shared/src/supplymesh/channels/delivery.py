"""Outbox delivery of the channel protocol: pushes, late signatures, queued proposals.

Each task was enqueued in the transaction that made it necessary and is retried by the
node's outbox worker until the counterpart takes it.
"""

from __future__ import annotations

from typing import Any

from supplymesh.channels.copies import LATE_SIGNATURE_TASK, PROPOSE_TASK, PUSH_TASK, ChannelCopies
from supplymesh.channels.proposer import Proposer
from supplymesh.channels.wire import sealed_json
from supplymesh.errors import PeerError
from supplymesh.storage import entry_records


class ChannelDelivery:
    """Outbox handlers that deliver channel work to the counterpart."""

    def __init__(self, copies: ChannelCopies, proposer: Proposer) -> None:
        self.copies = copies
        self.proposer = proposer
        self.node = copies.node

    async def deliver_push(self, payload: dict[str, Any]) -> None:
        """Outbox: (re)deliver a sealed entry to the OEM, asking for its countersignature."""
        ledger, seq = payload["ledger"], int(payload["seq"])
        sealed = entry_records.sealed_at(self.node.engine, ledger, seq)
        if sealed is None:
            raise LookupError(f"{ledger} seq {seq} not found")
        response = await self.node.peers.request(
            self.copies.members(ledger).oem,
            "POST",
            f"/peer/v1/channels/{ledger}/entries",
            json=sealed_json(sealed),
        )
        if response.status_code >= 400:
            raise PeerError(f"push refused: HTTP {response.status_code} {response.text[:200]}")

    async def deliver_late_signature(self, payload: dict[str, Any]) -> None:
        """Outbox: send this member's late countersignature to the supplier."""
        ledger = payload["ledger"]
        response = await self.node.peers.request(
            self.copies.members(ledger).other(self.node.id),
            "POST",
            f"/peer/v1/channels/{ledger}/countersignatures",
            json={"seq": payload["seq"], "sig": payload["sig"]},
        )
        if response.status_code >= 400:
            raise PeerError(f"late signature refused: HTTP {response.status_code} {response.text[:200]}")

    async def deliver_proposal(self, payload: dict[str, Any]) -> None:
        """Outbox: propose an OEM entry that was queued while the supplier was down."""
        await self.proposer.propose_queued(payload)

    def handlers(self) -> dict[str, Any]:
        """Handlers to register with the node's outbox worker."""
        return {
            PUSH_TASK: self.deliver_push,
            LATE_SIGNATURE_TASK: self.deliver_late_signature,
            PROPOSE_TASK: self.deliver_proposal,
        }
