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
from collections.abc import Callable

from supplymesh.channels.copies import ChannelCopies
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
