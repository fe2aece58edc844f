"""The PDU's sequencer: party actions in, decisions out, every entry replicated.

One lock orders everything appended to the network ledger. :class:`Sequencer` checks
and sequences the partners' signed actions (a repeated action answers where it stands)
and is assembled from the seams that follow it:

* :mod:`supplymesh_pdu.writer` — the PDU's entries, appended with their pushes queued;
* :mod:`supplymesh_pdu.rounds` — quorum rounds: propose at a base, re-offer a kept
  proposal, withdraw an expired one, collect signatures, commit;
* :mod:`supplymesh_pdu.decision_loop` — splits, quality decisions and cancellations in blocks
  (:mod:`supplymesh_pdu.single` decides one subject on its own),
  with per-subject back-off; a demand whose split cannot reach a quorum after
  ``attempts`` rounds is marked ``failed`` with the reasons the partners gave;
* :mod:`supplymesh_pdu.replication` — pushes to partners through the outbox, in order.
"""

from __future__ import annotations

from typing import Any

from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.actions import Action, ActionError, check_action
from supplymesh.core.entry import Entry, SealedEntry
from supplymesh.errors import Forbidden, Unprocessable
from supplymesh.network.replica import NetworkReplica
from supplymesh.node import crashpoints
from supplymesh.node.context import Node
from supplymesh_pdu import replication
from supplymesh_pdu.admission import admit
from supplymesh_pdu.single import SingleDecisions


class Sequencer(SingleDecisions):
    """Sequences the network ledger and runs decision rounds."""

    def __init__(
        self, node: Node, replica: NetworkReplica, *, attempts: int = 3, timeout: float = 3.0
    ) -> None:
        super().__init__(node, replica, attempts=attempts, timeout=timeout)
        self._index: dict[tuple[str, str, str], tuple[int, str]] | None = None

    async def submit_action(self, sender: str, statement: object, signature: str) -> dict[str, Any]:
        """Check a party action against the network state and sequence it.

        Raises:
            Forbidden: the sender is not the acting party.
            Unprocessable: malformed or badly signed.
            Conflict: the state does not allow it (e.g. the offer was already taken).
        """
        try:
            action = Action.from_statement(statement)
        except ActionError as exc:
            raise Unprocessable(str(exc)) from exc
        if action.party != sender:
            raise Forbidden(f"{sender} may not submit an action of {action.party}")
        member = self.node.config.member(sender)
        try:
            check_action(action, signature, role=str(member.role), key=member.key)
        except ActionError as exc:
            raise Unprocessable(str(exc)) from exc
        async with self.replica.lock:
            found = self._find(action)
            if found is not None:
                return found
            admit(self.node.config, self.replica.state, action)
            entry = self._entry(action.kind, {"action": action.statement(), "signature": signature})
            self._append(SealedEntry(entry, (self._own(entry),)))
            if self._index is not None:
                self._index[(action.kind, action.party, action.id)] = (entry.seq, entry.hash)
        self.wake.set()
        crashpoints.reached("pdu.action.sequenced", action.kind)
        return {"ledger": NETWORK_LEDGER, "seq": entry.seq, "hash": entry.hash}

    def _find(self, action: Action) -> dict[str, Any] | None:
        """Where ``action`` already stands on the ledger, if it was sequenced before."""
        if self._index is None:
            self._index = {}
            for row in self.node.store.iter_entries(NETWORK_LEDGER):
                body = Entry.from_canonical(row.entry).body
                if "action" in body:
                    act = body["action"]
                    self._index[(act["kind"], act["party"], act["id"])] = (row.seq, row.hash)
        found = self._index.get((action.kind, action.party, action.id))
        return None if found is None else {"ledger": NETWORK_LEDGER, "seq": found[0], "hash": found[1]}

    async def push(self, payload: dict[str, Any]) -> None:
        """Outbox: deliver entries to one partner (see :func:`supplymesh_pdu.replication.push`).

        Nothing is sent for entries the partner is known to hold already (an earlier push
        of a longer range, or a block that carried them); otherwise everything up to the
        head is sent in the same request, up to ``replication.RANGE_MAX`` entries.
        """
        partner = str(payload["partner"])
        last = int(payload.get("last", payload["seq"]))
        if self.held.get(partner, 0) >= last:
            return
        head = self.replica.state.size
        sent = {**payload, "last": max(last, min(head, int(payload["seq"]) + replication.RANGE_MAX - 1))}
        await replication.push(self.node, sent)
        self.holds(partner, int(sent["last"]))
