"""A restored PDU learns the network ledger back from the partners before it appends.

The PDU sequences the network ledger; a PDU restored from a backup (or rebuilt with an
empty database) lacks the entries it sealed after the backup, and every partner's
replica holds those that were committed. At start, before it resumes anything, the PDU
pulls each partner's replica beyond its own head; each entry is checked as a partner
checks it (the PDU's signature, the quorum certificate of a decision, the party's
signature of an action), so a partner cannot slip in anything the PDU did not seal.
Only then does a ledger that is still empty get its genesis.

Only a PDU marked restored (``supplymesh restore``) does this, and it waits until at
least one partner served its replica: appending before that could sign a second,
different entry for a seq it signed before. A partner whose replica does not continue
the PDU's is named (the PDU sealed two different entries for one seq). A PDU not marked
trusts its database.
"""

from __future__ import annotations

import asyncio
import logging

from supplymesh.config import NETWORK_LEDGER
from supplymesh.errors import Conflict, PeerError, Unprocessable
from supplymesh.network.replica import NetworkReplica
from supplymesh.node.context import Node
from supplymesh.node.recovery import seqs
from supplymesh.storage.ledger_store import Head
from supplymesh_pdu.genesis import genesis_entry

log = logging.getLogger("supplymesh.recovery")
STEP = NETWORK_LEDGER
RETRY_SECONDS = 2.0


class LedgerRecovery:
    """The PDU's start-up catch-up of its own ledger from the partners' replicas."""

    def __init__(self, node: Node, replica: NetworkReplica, *, retry: float = RETRY_SECONDS) -> None:
        self.node = node
        self.replica = replica
        self.retry = retry
        node.recovery.expect(STEP)

    async def run(self) -> None:
        """Marked restored: catch up (waiting for a partner), then append the genesis if still empty."""
        if not self.node.recovery.restored:
            return  # the database holds everything this PDU signed; the genesis is appended at creation
        first = self.replica.state.size + 1
        while not await self._pull_all():
            log.warning("restored: waiting for a partner to serve its replica of the network ledger")
            await asyncio.sleep(self.retry)
        last = self.replica.state.size
        if last >= first:
            self.node.recovery.note_recovered(
                f"{NETWORK_LEDGER}: {seqs(first, last)}, sealed by {self.node.id}, missing from this "
                "database; recovered from the partners' replicas"
            )
        if self.replica.state.size == 0:
            self.replica.append(genesis_entry(self.node, self.node.store.head(NETWORK_LEDGER) or _empty()))
        self.node.recovery.done(STEP)

    async def _pull_all(self) -> bool:
        """Pull from every partner in turn; True if at least one served its replica."""
        answered = False
        for partner in (m.id for m in self.node.config.partners()):
            try:
                await self.replica.pull_from(partner)
            except Conflict as exc:
                self.node.recovery.note_lost(
                    f"{NETWORK_LEDGER}: {partner}'s replica does not continue this database ({exc.detail}): "
                    f"{self.node.id} sealed two different entries for one seq"
                )
            except (PeerError, Unprocessable) as exc:
                log.info("%s did not serve its network replica: %s", partner, exc)
                continue
            answered = True
        return answered


def _empty() -> Head:
    return Head(NETWORK_LEDGER, 0, "0" * 64)
