"""The channel protocol of one node: author, countersign, sequence, replicate, catch up.

:class:`ChannelService` is the one object the node's routes and services use; it
composes the parts of the protocol:

* :mod:`~supplymesh.channels.copies` — the node's copies: members, heads, building,
  verifying, appending and countersigning entries;
* :mod:`~supplymesh.channels.sequencer` — the supplier, which sequences its channels;
* :mod:`~supplymesh.channels.proposer` — the OEM, which proposes its entries to the
  supplier and countersigns the supplier's;
* :mod:`~supplymesh.channels.follower` — the OEM's copy accepting the supplier's sealed
  entries and catching up;
* :mod:`~supplymesh.channels.delivery` — outbox delivery to the counterpart.

The OEM only ever appends sealed entries exactly as the supplier appended them, so
both copies are byte-identical; a member never countersigns two different entries for
one seq (enforced by a primary key). No lock is held across a call to the counterpart
except the supplier's sequencing lock, whose counterpart handlers take no lock that the
supplier could be waiting on, so two nodes cannot deadlock.

Payloads: bodies of private kinds are sealed under the channel's current key as the
entry is built (the seal names ledger, seq, kind and author), so hashes and signatures
cover the ciphertext as stored. If a channel has no key yet, the author first appends a
``channel.key`` entry. A countersigner opens the payload before it signs
(:mod:`supplymesh.channels.keyring`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from supplymesh.channels.copies import ChannelCopies
from supplymesh.channels.delivery import ChannelDelivery
from supplymesh.channels.follower import Follower
from supplymesh.channels.proposer import Proposer
from supplymesh.channels.sequencer import Sequencer
from supplymesh.core.contracts.channel import KEY_KIND, ChannelMembers, may_author
from supplymesh.core.entry import Entry, SealedEntry, Signature
from supplymesh.errors import Forbidden
from supplymesh.node.context import Node
from supplymesh.storage.ledger_store import Head

__all__ = ["ChannelService"]


class ChannelService:
    """Channel operations of this node (supplier or OEM)."""

    def __init__(self, node: Node, *, countersign_timeout: float = 2.0) -> None:
        self.node = node
        self.copies = ChannelCopies(node)
        self.keyring = self.copies.keyring
        self.sequencer = Sequencer(self.copies, countersign_timeout=countersign_timeout)
        self.follower = Follower(self.copies)
        self.proposer = Proposer(self.copies, self.follower)
        self.delivery = ChannelDelivery(self.copies, self.proposer)

    def ledgers(self) -> list[str]:
        """Channel ledgers this node is a member of."""
        return self.copies.ledgers()

    def members(self, ledger: str) -> ChannelMembers:
        """Members of ``ledger``; this node must be one.

        Raises:
            Forbidden: if this node is not a member.
        """
        return self.copies.members(ledger)

    def head(self, ledger: str) -> Head:
        """Own copy's head (empty if nothing appended yet)."""
        return self.copies.head(ledger)

    def open_body(self, entry: Entry) -> dict[str, Any]:
        """The plaintext body of an entry of a channel this node is a member of.

        Raises:
            Forbidden: if this node is not a member.
        """
        return self.copies.open_body(entry)

    async def append(
        self, ledger: str, kind: str, body: Mapping[str, object], *, respond: bool = False
    ) -> SealedEntry | None:
        """Author an entry on ``ledger``; None if it was queued because the supplier is down.

        ``respond``: the entry is what the running ERP request asked for; its answer (201
        with the sealed entry, or 202 queued) is stored in the transaction that commits it.
        """
        members = self.members(ledger)
        if not may_author(members, self.node.id, kind):
            raise Forbidden(f"{self.node.id} may not author {kind!r} on {ledger}")
        if self.node.id == members.supplier:
            return await self.sequencer.append(ledger, kind, body, respond=respond)
        return await self.proposer.propose_or_queue(ledger, kind, body, respond=respond)

    async def rotate_key(self, ledger: str) -> SealedEntry | None:
        """Append a new ``channel.key`` entry: later private entries are sealed under it.

        Earlier entries stay readable: their key entries stay on the ledger. None if the
        entry was queued because the supplier is down.
        """
        return await self.append(ledger, KEY_KIND, self.keyring.new_key_body(ledger))

    async def propose(
        self, ledger: str, kind: str, body: Mapping[str, object], *, respond: bool = False
    ) -> SealedEntry:
        """OEM side: get an own entry sequenced by the supplier (see :meth:`Proposer.propose`)."""
        return await self.proposer.propose(ledger, kind, body, respond=respond)

    async def accept(self, sealed: SealedEntry, *, respond: bool = False) -> None:
        """Append an entry the supplier sealed, catching up first if behind (OEM side)."""
        await self.follower.accept(sealed, respond=respond)

    async def sync(self, ledger: str) -> int:
        """Pull entries the supplier has and this copy lacks (OEM side); return how many."""
        return await self.follower.sync(ledger)

    async def sync_forever(self, interval: float) -> None:
        """Background (OEM side): pull from each supplier every ``interval`` seconds."""
        await self.follower.sync_forever(interval)

    async def recover(self) -> None:
        """Catch the channels this node sequences up from their OEMs (run at start-up, first)."""
        await self.sequencer.recover()

    async def finish_pending(self) -> None:
        """Complete own entries left pending by a crash (run at start-up)."""
        await self.sequencer.finish_pending()

    async def handle_countersign(self, sender: str, sealed: SealedEntry) -> Signature:
        """Countersign the supplier's entry if the rules allow (OEM side)."""
        return await self.proposer.handle_countersign(sender, sealed)

    async def handle_proposal(self, sender: str, sealed: SealedEntry) -> SealedEntry:
        """Sequence, countersign and append the OEM's entry (supplier side)."""
        return await self.sequencer.handle_proposal(sender, sealed)

    async def handle_late_signature(self, sender: str, ledger: str, seq: int, sig: str) -> None:
        """Store the counterpart's countersignature of an entry appended without it."""
        await self.sequencer.handle_late_signature(sender, ledger, seq, sig)

    def outbox_handlers(self) -> dict[str, Any]:
        """Handlers to register with the node's outbox worker."""
        return self.delivery.handlers()
