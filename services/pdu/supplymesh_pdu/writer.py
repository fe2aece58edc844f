"""The PDU's own entries on the network ledger: dated, signed, appended, queued for every partner.

:class:`LedgerWriter` is the base of the :class:`~supplymesh_pdu.sequencer.Sequencer`:
it holds the node and its network replica, and appends (with the replica's lock held)
in one transaction with the pushes to every partner and the clearing of any pending
proposal.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Connection

from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.contracts.network import NetworkState
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

    @property
    def partners(self) -> list[str]:
        """Members that hold a replica (suppliers and OEMs)."""
        return [m.id for m in self.node.config.partners()]

    def _append(self, sealed: SealedEntry) -> None:
        """Append (lock held), fold, and queue the pushes to every partner, in one transaction."""
        now = self.node.now_text()

        def follow_up(conn: Connection, _sealed: SealedEntry, _state: NetworkState) -> None:
            entry_records.clear_pending(conn, NETWORK_LEDGER)
            queue_pushes(conn, self.partners, sealed.entry.seq, now_text=now)

        self.replica.append(sealed, extra=follow_up)
        self.node.wake_outbox()

    def _time(self) -> str:
        """Now, but never before the ledger's last time (a clock stepped back stays monotonic)."""
        now = self.node.clock()
        last = self.replica.state.time
        if last and now < parse_time(last):
            return last
        return format_time(now)

    def _entry(self, kind: str, body: dict[str, Any]) -> Entry:
        """The next entry of the network ledger, authored by the PDU now."""
        state = self.replica.state
        return next_entry(
            ledger=NETWORK_LEDGER,
            head=(state.size, state.head),
            time=self._time(),
            kind=kind,
            author=self.node.id,
            body=body,
        )

    def _own(self, entry: Entry) -> Signature:
        """The PDU's signature of ``entry``."""
        return Signature(self.node.id, self.node.signer.sign_text(entry.digest))
