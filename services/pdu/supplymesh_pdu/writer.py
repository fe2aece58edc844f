"""The PDU's own entries on the network ledger: dated, signed, appended, queued for every partner.

:class:`LedgerWriter` is the base of the :class:`~supplymesh_pdu.sequencer.Sequencer`:
it holds the node and its network replica, and appends (with the replica's lock held)
in one transaction with the pushes to every partner and the clearing of any pending
proposal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.contracts.network import PROPOSAL_WITHDRAWN, NetworkState
from supplymesh.core.entry import Entry, SealedEntry, Signature, format_time, next_entry, parse_time
from supplymesh.network.replica import NetworkReplica
from supplymesh.node.context import Node
from supplymesh.storage import entry_records
from supplymesh_pdu.replication import queue_pushes


class LedgerWriter:
    """Writes the PDU's entries to the network ledger and queues their replication."""

    def __init__(self, node: Node, replica: NetworkReplica) -> None:
        self.node = node
        self.replica = replica
        self.wake = asyncio.Event()
        """Set when something may have become due for a decision."""
        self.held: dict[str, int] = {}
        """The network seq each partner is known to hold (it took a push of it, or signed after it)."""

    def holds(self, partner: str, seq: int) -> None:
        """Note that ``partner`` holds the network ledger up to ``seq``."""
        self.held[partner] = max(self.held.get(partner, 0), seq)

    @property
    def partners(self) -> list[str]:
        """Members that hold a replica (suppliers and OEMs)."""
        return [m.id for m in self.node.config.partners()]

    def _append(self, sealed: SealedEntry) -> None:
        """Append one of the PDU's own entries (lock held); it takes the seq of any pending block.

        Partners may have signed the rest of that block, seq by seq: withdrawals fill those
        seqs in the same transaction, so no partner is left holding a signature for a seq
        a later decision needs.
        """
        stranded = self._stranded()
        self._commit([sealed])
        for entry in stranded:
            self._commit([self._withdrawal(entry, "another entry took the seq before it")])

    def _commit(self, block: Sequence[SealedEntry], *, keep_pending: bool = False) -> None:
        """Append, fold and queue the pushes to every partner, in one transaction (lock held).

        The pending block is dropped in the same transaction unless ``keep_pending`` (a
        certified prefix of it was committed; the rest is offered again).
        """
        now = self.node.now_text()

        first, last = block[0].entry.seq, block[-1].entry.seq

        def follow_up(conn: Connection, sealed: SealedEntry, _state: NetworkState) -> None:
            if sealed.entry.seq != last:
                return
            if not keep_pending:
                entry_records.clear_pending_block(conn, NETWORK_LEDGER)
            queue_pushes(conn, self.partners, first, last, now_text=now)

        self.replica.append_many(block, extra=follow_up)
        self.node.wake_outbox()

    def _stranded(self) -> list[Entry]:
        """Entries of the pending block after its first that are still ahead of the ledger."""
        state = self.replica.state
        kept = [e for e, _ in entry_records.load_pending_block(self.node.engine, NETWORK_LEDGER)]
        rest = [e for e in kept if e.seq > state.size]
        if not rest or rest[0].seq != state.size + 1 or rest[0].prev != state.head:
            return []
        return rest[1:]

    def _withdrawal(self, entry: Entry, reason: str) -> SealedEntry:
        """The PDU's entry that gives up the seq of the uncertified proposal ``entry``."""
        withdrawal = self._entry(PROPOSAL_WITHDRAWN, {"proposal": entry.hash, "reason": reason})
        return SealedEntry(withdrawal, (self._own(withdrawal),))

    def _time(self, state: NetworkState | None = None) -> str:
        """Now, never before the last time of the ledger (or ``state``): monotonic if the clock steps back."""
        now = self.node.clock()
        last = (self.replica.state if state is None else state).time
        if last and now < parse_time(last):
            return last
        return format_time(now)

    def _entry(self, kind: str, body: dict[str, Any], state: NetworkState | None = None) -> Entry:
        """The next entry of the network ledger (or of ``state``, a fork of it), authored by the PDU now."""
        at = self.replica.state if state is None else state
        return next_entry(
            ledger=NETWORK_LEDGER,
            head=(at.size, at.head),
            time=self._time(at),
            kind=kind,
            author=self.node.id,
            body=body,
        )

    def _own(self, entry: Entry) -> Signature:
        """The PDU's signature of ``entry``."""
        return Signature(self.node.id, self.node.signer.sign_text(entry.digest))
