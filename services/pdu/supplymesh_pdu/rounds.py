"""Quorum rounds: propose a decision at the current base, collect signatures, commit.

A proposal is persisted before any partner sees it, so a restart re-offers the same
entry, never a different one for that seq. A proposal still pending at the next seq is
offered again, whatever was due next (partners may have signed it), until it is older
than ``WITHDRAW_AFTER_SECONDS``: then a ``proposal.withdrawn`` entry takes its seq.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.contracts.network import PROPOSAL_WITHDRAWN
from supplymesh.core.entry import Entry, SealedEntry, Signature, parse_time
from supplymesh.core.quorum import check
from supplymesh.network.replica import NetworkReplica
from supplymesh.network.rules import MAX_CLOCK_SKEW_SECONDS, policy_for
from supplymesh.node.context import Node
from supplymesh.storage import entry_records
from supplymesh.storage.engine import write_transaction
from supplymesh_pdu.votes import Refused, ask_partner
from supplymesh_pdu.writer import LedgerWriter

log = logging.getLogger("supplymesh.pdu")

WITHDRAW_AFTER_SECONDS = MAX_CLOCK_SKEW_SECONDS // 2


class QuorumRounds(LedgerWriter):
    """Runs decision rounds on the network ledger; ``failures`` keeps why rounds failed, by subject."""

    def __init__(self, node: Node, replica: NetworkReplica, *, timeout: float) -> None:
        super().__init__(node, replica)
        self.timeout = timeout
        self.failures: dict[str, list[str]] = {}

    async def _round(
        self, kind: str, inputs: dict[str, Any], result: dict[str, Any], *, subject: str = ""
    ) -> bool:
        """Propose at the current base, collect signatures, commit (lock held).

        A proposal still pending at the next seq is offered again instead (partners may
        have signed it), unless it is older than ``WITHDRAW_AFTER_SECONDS``: partners no
        longer sign an entry dated that far from their clocks, so the PDU withdraws it
        (a ``proposal.withdrawn`` entry takes its seq) and proposes afresh.
        """
        entry, own = self._proposal(kind, inputs, result)
        policy = policy_for(self.node.config, entry.kind)
        votes = await asyncio.gather(*(self._ask(p, entry, own) for p in sorted(policy.members)))
        signatures = [v for v in votes if isinstance(v, Signature)]
        outcome = check(policy, signatures, entry.digest, self.node.config.keys())
        if not outcome.ok:
            subject = subject or str(inputs.get("demand", ""))
            self._not_certified(entry, votes, outcome.describe(), subject=subject)
            return False
        self._append(SealedEntry(entry, (own, *signatures)))
        return True

    def _proposal(self, kind: str, inputs: dict[str, Any], result: dict[str, Any]) -> tuple[Entry, Signature]:
        """The entry to offer at the next seq, with the PDU's signature (lock held).

        The kept proposal if one stands at that seq and is not too old (an expired one is
        withdrawn first); otherwise a fresh one, saved as pending before it is offered.
        """
        kept = entry_records.load_pending(self.node.engine, NETWORK_LEDGER)
        if kept is not None and kept[0].seq == self.replica.state.size + 1 and self._expired(kept[0]):
            self._withdraw_locked(kept[0])
            kept = None
        state = self.replica.state
        if kept is not None and kept[0].seq == state.size + 1:
            # Partners may already have signed it: only this entry can be certified at
            # this seq, so it is offered again, whatever was due next.
            return kept[0], Signature(self.node.id, kept[1])
        body = {
            "decision": kind,
            "base": {"seq": state.size, "hash": state.head},
            "inputs": inputs,
            "result": result,
        }
        entry = self._entry(kind, body)
        own = self._own(entry)
        entry_records.save_pending(self.node.engine, entry, own.sig)
        return entry, own

    def _not_certified(
        self, entry: Entry, votes: Sequence[Signature | Refused], described: str, *, subject: str
    ) -> None:
        """Record why ``entry`` got no quorum; drop it if every partner answered and refused."""
        reasons = [v.reason for v in votes if isinstance(v, Refused)]
        if all(isinstance(v, Refused) and v.answered for v in votes):
            # Every partner answered and refused: nobody holds a signature of it, so a
            # fresh proposal may take this seq. A partner that did not answer in time
            # may have signed it: then the same proposal is offered again.
            with write_transaction(self.node.engine) as conn:
                entry_records.clear_pending(conn, NETWORK_LEDGER)
        self.failures.setdefault(subject, []).append(f"{described}: " + "; ".join(reasons))
        log.warning("%s at seq %d: %s %s", entry.kind, entry.seq, described, reasons)

    def _expired(self, entry: Entry) -> bool:
        """True if partners would no longer sign ``entry`` for its age."""
        return (self.node.clock() - parse_time(entry.time)).total_seconds() > WITHDRAW_AFTER_SECONDS

    def _withdraw_locked(self, entry: Entry, reason: str = "") -> None:
        """Give up the seq of an uncertified proposal: no certificate for it can commit after this."""
        reason = reason or f"not certified within {WITHDRAW_AFTER_SECONDS} s"
        log.warning("withdrawing %s proposed at seq %d: %s", entry.kind, entry.seq, reason)
        withdrawal = self._entry(PROPOSAL_WITHDRAWN, {"proposal": entry.hash, "reason": reason})
        self._append(SealedEntry(withdrawal, (self._own(withdrawal),)))

    async def _ask(self, partner: str, entry: Entry, own: Signature) -> Signature | Refused:
        """``partner``'s vote on ``entry``."""
        return await ask_partner(self.node, partner, entry, own, timeout=self.timeout)

    async def resume(self) -> None:
        """Start-up: finish a proposal that may have collected signatures before a crash."""
        async with self.replica.lock:
            kept = entry_records.load_pending(self.node.engine, NETWORK_LEDGER)
            if kept is not None and kept[0].seq <= self.replica.state.size:
                with write_transaction(self.node.engine) as conn:
                    entry_records.clear_pending(conn, NETWORK_LEDGER)
            elif kept is not None:
                entry = kept[0]
                await self._round(
                    entry.kind, dict(entry.body.get("inputs", {})), dict(entry.body.get("result", {}))
                )
        self.wake.set()
