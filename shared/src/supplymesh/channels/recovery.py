"""Supplier side: learn what the counterpart holds of a channel before sequencing on it again.

A supplier restored from a backup (or rebuilt with an empty database) may lack entries
it sealed after the backup; the OEM's copy holds every one that reached it. Before its
first entry on a channel after a start, the supplier pulls the OEM's copy beyond its
own head: each entry must carry the supplier's own valid signature and continue its
copy, and is appended exactly as served (so the two copies stay byte-identical, and the
next seq it signs is after every seq it signed that a peer knows of). What it recovered
is named in the node's recovery report.

Only a node marked restored (``supplymesh restore``) does this, and it refuses to
sequence on a channel whose OEM has not answered yet (503 ``peer-unavailable``):
appending there could sign a second, different entry for a seq it signed before. A node
not marked trusts its database, which holds everything it signed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from supplymesh.channels.copies import PUSH_TASK, ChannelCopies
from supplymesh.channels.wire import parse_sealed
from supplymesh.core.contracts.channel import ChannelMembers
from supplymesh.core.crypto import SignatureError
from supplymesh.core.entry import SealedEntry, Signature
from supplymesh.errors import Conflict, PeerError, PeerUnavailable, Unprocessable
from supplymesh.node.recovery import seqs
from supplymesh.storage.ledger_store import AppendConflictError

log = logging.getLogger("supplymesh.channels")
PULL_PAGE = 500


class ChannelRecovery:
    """Catches up the channels this node sequences from their OEMs, once per start."""

    def __init__(self, copies: ChannelCopies) -> None:
        self.copies = copies
        self.node = copies.node
        self.checked: set[str] = set()
        self.checks: list[Callable[[str], None]] = []
        """Run on a channel just caught up after a restore, before anything new is sequenced on it."""
        self.cited: Callable[[str, int], Awaitable[list[SealedEntry]]] | None = None
        """Entries of a channel beyond a seq that other ledgers carry (a split's attestations)."""
        for ledger in self.sequenced():
            self.node.recovery.expect(ledger)

    def sequenced(self) -> list[str]:
        """Channels this node sequences (it is their supplier)."""
        return [name for name in self.copies.ledgers() if ChannelMembers.of(name).supplier == self.node.id]

    async def ensure(self, ledger: str) -> None:
        """Catch ``ledger`` up from its OEM unless done since this start (sequencing lock held).

        Raises:
            PeerUnavailable: the node is marked restored and the OEM did not answer.
            Conflict: the OEM's copy is not a continuation of this one.
        """
        if ledger in self.checked:
            return
        members = ChannelMembers.of(ledger)
        if members.supplier != self.node.id or not self.node.recovery.restored:
            self.checked.add(ledger)  # not restored: the database holds everything this node signed
            return
        try:
            await self._pull(ledger, members)
        except PeerError as exc:
            raise PeerUnavailable(
                f"{ledger}: this node was restored and sequences nothing on it until "
                f"{members.oem} says what it holds ({exc.detail})"
            ) from exc
        await self._adopt_cited(ledger, members)
        self.checked.add(ledger)
        for check in self.checks:
            check(ledger)
        self.node.recovery.done(ledger)

    async def _pull(self, ledger: str, members: ChannelMembers) -> None:
        """Append every entry the OEM holds beyond this copy, then name what was recovered."""
        first = self.copies.head(ledger).size + 1
        while True:
            after = self.copies.head(ledger).size
            try:
                page = await self.node.peers.get_json(
                    members.oem, f"/peer/v1/ledgers/{ledger}/entries", after=after, limit=PULL_PAGE
                )
            except PeerError as exc:
                if exc.extensions.get("peer_status") != 404:  # 404: the OEM holds nothing yet
                    raise
                page = []
            if not page:
                break
            for item in page:
                self._append_recovered(ledger, members, item)
        last = self.copies.head(ledger).size
        if last >= first:
            self.node.recovery.note_recovered(
                f"{ledger}: {seqs(first, last)}, sealed by {self.node.id}, missing from this "
                f"database; recovered from {members.oem}'s copy"
            )

    async def _adopt_cited(self, ledger: str, members: ChannelMembers) -> None:
        """Put back own entries on no copy that the network ledger carries, if they continue this copy.

        An entry sealed while the OEM was down and lost with the database before its push
        arrived is on no peer's copy, but a split may carry it as an attestation. Put back
        (and pushed to the OEM), it keeps its seq; one that cannot be put back is named.
        """
        if self.cited is None:
            return
        for sealed in await self.cited(ledger, self.copies.head(ledger).size):
            head, seq = self.copies.head(ledger), sealed.entry.seq
            where = (
                f"{ledger}: seq {seq}, sealed by {self.node.id} and carried by a split on the network ledger"
            )
            if (
                seq != head.size + 1
                or sealed.entry.prev != head.head_hash
                or self.node.id not in sealed.signers()
            ):
                self.node.recovery.note_lost(
                    f"{where}, is on no copy and does not continue this one: an entry sealed here at that "
                    "seq will differ from it"
                )
                return
            try:
                self.copies.verify(sealed, members)
            except Unprocessable as exc:
                self.node.recovery.note_lost(f"{where}, does not verify ({exc.detail})")
                return
            push = (PUSH_TASK, f"{ledger}:{seq}", {"ledger": ledger, "seq": seq})
            self.copies.append(sealed, tasks=[push])
            self.node.recovery.note_recovered(f"{where}, was on no copy; put back and sent to {members.oem}")

    def _append_recovered(self, ledger: str, members: ChannelMembers, item: object) -> None:
        """Append one entry of the OEM's copy, which this node must have sealed.

        Raises:
            Conflict: it does not carry this node's signature, or does not continue the copy.
        """
        sealed = parse_sealed(item)
        try:
            self.copies.verify(sealed, members)
        except Unprocessable as exc:
            self.node.recovery.note_lost(
                f"{ledger}: {members.oem} serves seq {sealed.entry.seq} that does not verify ({exc.detail}); "
                "the channel is not sequenced here until that is resolved"
            )
            raise Conflict(f"{ledger}: {members.oem} serves a seq {sealed.entry.seq} that fails") from exc
        if self.node.id not in sealed.signers() or sealed.entry.ledger != ledger:
            self.node.recovery.note_lost(
                f"{ledger}: {members.oem} holds seq {sealed.entry.seq} without {self.node.id}'s "
                "signature; the channel is not sequenced here until that is resolved"
            )
            raise Conflict(f"{ledger}: {members.oem} holds a seq {sealed.entry.seq} not sealed here")
        late = _late_signature(item, sealed, members.oem, self.copies)
        try:
            self.copies.append(sealed, late=late)
        except AppendConflictError as exc:
            self.node.recovery.note_lost(
                f"{ledger}: {members.oem}'s copy differs from this database at seq {sealed.entry.seq} ({exc})"
            )
            raise Conflict(f"{ledger}: {members.oem}'s copy does not continue this one") from exc


def _late_signature(item: object, sealed: SealedEntry, oem: str, copies: ChannelCopies) -> Signature | None:
    """The OEM's countersignature served beside a single-signed entry, if it verifies."""
    if oem in sealed.signers() or not isinstance(item, dict):
        return None
    for value in item.get("late_signatures") or []:
        if isinstance(value, dict) and value.get("signer") == oem:
            signature = Signature(oem, str(value.get("sig", "")))
            try:
                copies.node.config.member(oem).key.verify_text(signature.sig, sealed.entry.digest)
            except SignatureError:
                return None
            return signature
    return None
