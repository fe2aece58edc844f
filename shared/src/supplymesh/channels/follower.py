"""OEM side: the member's copy follows the supplier's — accept sealed entries, catch up.

The OEM only ever appends sealed entries exactly as the supplier appended them, so both
copies are byte-identical. An entry arriving beyond the copy's head makes it pull what
it lacks first; a sealed entry lacking this member's signature is countersigned on
acceptance and the signature sent to the supplier later (a *late signature*). A
background loop pulls now and then, so a copy that missed pushes converges without
waiting for the next entry.
"""

from __future__ import annotations

import asyncio
import logging

from supplymesh.channels.copies import LATE_SIGNATURE_TASK, ChannelCopies, LedgerLocks, Task
from supplymesh.channels.wire import parse_sealed
from supplymesh.core.contracts.channel import ChannelMembers
from supplymesh.core.entry import SealedEntry, Signature
from supplymesh.errors import Conflict, PeerError
from supplymesh.storage import entry_records

log = logging.getLogger("supplymesh.channels")
PULL_PAGE = 500


class Follower:
    """Accepts the supplier's sealed entries into this node's copies and catches them up."""

    def __init__(self, copies: ChannelCopies) -> None:
        self.copies = copies
        self.node = copies.node
        self._locks = LedgerLocks()

    async def accept(self, sealed: SealedEntry, *, respond: bool = False) -> None:
        """Append an entry the supplier sealed, catching up first if behind (OEM side)."""
        ledger = sealed.entry.ledger
        members = self.copies.members(ledger)
        self.copies.verify(sealed, members)
        async with self._locks(ledger):
            head = self.copies.head(ledger)
            if sealed.entry.seq > head.size + 1:
                await self._pull_locked(ledger, members)
                head = self.copies.head(ledger)
            if sealed.entry.seq <= head.size:
                stored = entry_records.sealed_at(self.node.engine, ledger, sealed.entry.seq)
                if stored is None or stored.leaf != sealed.leaf:
                    raise Conflict(f"{ledger} seq {sealed.entry.seq} differs from this copy")
                return
            self._accept_next(sealed, respond=respond)

    def _accept_next(self, sealed: SealedEntry, *, respond: bool = False) -> None:
        """Append ``sealed``, the next entry, countersigning it late if it lacks this member."""
        entry = sealed.entry
        late: Signature | None = None
        tasks: list[Task] = []
        if self.node.id not in sealed.signers():
            self.copies.require_countersignable(entry, f"will not accept {entry.ledger} seq {entry.seq}")
            late = self.copies.countersign(entry)
            tasks.append(
                (
                    LATE_SIGNATURE_TASK,
                    f"{entry.ledger}:{entry.seq}",
                    {"ledger": entry.ledger, "seq": entry.seq, "sig": late.sig},
                )
            )
        self.copies.append(sealed, late=late, tasks=tasks, respond=respond)

    async def sync(self, ledger: str) -> int:
        """Pull entries the supplier has and this copy lacks (OEM side); return how many."""
        members = self.copies.members(ledger)
        if self.node.id == members.supplier:
            return 0
        async with self._locks(ledger):
            return await self._pull_locked(ledger, members)

    async def _pull_locked(self, ledger: str, members: ChannelMembers) -> int:
        """Pull and accept the supplier's entries beyond this copy's head, page by page."""
        pulled = 0
        while True:
            after = self.copies.head(ledger).size
            try:
                page = await self.node.peers.get_json(
                    members.supplier, f"/peer/v1/ledgers/{ledger}/entries", after=after, limit=PULL_PAGE
                )
            except PeerError as exc:
                if exc.extensions.get("peer_status") == 404:  # the supplier holds nothing yet
                    return pulled
                raise
            if not page:
                return pulled
            for item in page:
                sealed = parse_sealed(item)
                self.copies.verify(sealed, members)
                self._accept_next(sealed)
                pulled += 1

    async def sync_forever(self, interval: float) -> None:
        """Background (OEM side): pull from each supplier now and then.

        A copy that missed pushes (this node or the supplier was down) converges
        without waiting for the next entry.
        """
        while True:
            for ledger in self.copies.ledgers():
                if self.copies.members(ledger).supplier == self.node.id:
                    continue
                try:
                    await self.sync(ledger)
                except Exception as exc:  # a peer being down is normal; try again next round
                    log.debug("sync of %s failed: %s", ledger, exc)
            await asyncio.sleep(interval)
