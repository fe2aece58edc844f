"""Quorum rounds: a block of decisions proposed at the current base, signed, committed.

Every decision that is due goes into one block of consecutive entries, each computed
against the state the entries before it leave (:meth:`QuorumRounds._compose`), up to
``BLOCK_MAX`` entries. Partners sign the whole block or none of it
(:mod:`supplymesh.network.blocks`); each entry carries its own certificate, so every
decision stays individually verifiable and re-executable. The certified prefix commits
in one transaction.

A block is persisted before any partner sees it, so a restart re-offers the same block,
never a different one for those seqs. What is left of it uncertified is offered again,
whatever was due next (partners may have signed it), until it is older than
``WITHDRAW_AFTER_SECONDS`` or a partner refused one of its entries outright: then
``proposal.withdrawn`` entries take its seqs. If every partner refused it outright,
nobody signed it, and it is simply dropped.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.contracts.network import NetworkState, apply
from supplymesh.core.entry import Entry, SealedEntry, Signature, parse_time
from supplymesh.core.quorum import check
from supplymesh.network.replica import NetworkReplica
from supplymesh.network.rules import MAX_CLOCK_SKEW_SECONDS, policy_for
from supplymesh.node import crashpoints
from supplymesh.node.context import Node
from supplymesh.storage import entry_records
from supplymesh.storage.engine import write_transaction
from supplymesh_pdu.votes import Refused, ask_block
from supplymesh_pdu.writer import LedgerWriter

log = logging.getLogger("supplymesh.pdu")

WITHDRAW_AFTER_SECONDS = MAX_CLOCK_SKEW_SECONDS // 2
BLOCK_MAX = 64
CARRY_MAX = 256
"""The most entries a partner lacks that are carried with a block (a partner further behind pulls)."""
"""The most decisions proposed in one block (partners accept up to 256)."""

Decision = tuple[str, dict[str, Any], dict[str, Any]]
"""A decision's kind, inputs and result."""


@dataclass
class Outcome:
    """What one round did: decisions committed, decisions a partner refused outright, and why."""

    committed: list[str] = field(default_factory=list)
    contested: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    """Subjects of the block that did not commit, with why (no quorum, refused)."""


def subject_of(entry: Entry) -> str:
    """The demand or escrow a decision entry decides."""
    inputs = entry.body.get("inputs", {}) if isinstance(entry.body, dict) else {}
    return str(inputs.get("demand") or inputs.get("escrow") or "") if isinstance(inputs, dict) else ""


class QuorumRounds(LedgerWriter):
    """Runs decision rounds on the network ledger; ``failures`` keeps why rounds failed, by subject."""

    def __init__(self, node: Node, replica: NetworkReplica, *, timeout: float) -> None:
        super().__init__(node, replica)
        self.timeout = timeout
        self.failures: dict[str, list[str]] = {}
        self.left_out: dict[str, str] = {}
        """Subjects left out of the block being composed, with why (they cannot be proposed)."""

    async def _round(
        self, kind: str, inputs: dict[str, Any], result: dict[str, Any], *, subject: str = ""
    ) -> bool:
        """One decision as a block of one (lock held); True if the round committed anything.

        A block still pending at the next seq is offered again instead (see the module).
        """
        block = self._kept() or self._compose([lambda _state: (kind, inputs, result)])
        return bool((await self._offer(block)).committed)

    def _kept(self) -> list[tuple[Entry, Signature]]:
        """What is left of the pending block, if it continues the ledger and is not too old (lock held).

        An expired rest is withdrawn; a rest the ledger has moved past is dropped.
        """
        state = self.replica.state
        kept = entry_records.load_pending_block(self.node.engine, NETWORK_LEDGER)
        rest = [(e, Signature(self.node.id, sig)) for e, sig in kept if e.seq > state.size]
        if rest and rest[0][0].seq == state.size + 1 and rest[0][0].prev == state.head:
            if not self._expired(rest[0][0]):
                return rest
            self._withdraw_locked([e for e, _ in rest])
        elif kept:
            with write_transaction(self.node.engine) as conn:
                entry_records.clear_pending_block(conn, NETWORK_LEDGER)
        return []

    def _compose(self, decide: Sequence[Any]) -> list[tuple[Entry, Signature]]:
        """A block from ``decide`` (functions of the state giving a decision), saved before it is offered.

        Each decision is computed against the state the earlier ones leave, on a fork of
        the replica. A function may return None (nothing to decide any more). A decision
        the PDU's own fold refuses is left out and named in ``unbuildable``.
        """
        fork: NetworkState = self.replica.state.fork()
        block: list[tuple[Entry, Signature]] = []
        for make in decide[:BLOCK_MAX]:
            decision = make(fork)
            if decision is None:
                continue
            kind, inputs, result = decision
            base = {"seq": fork.size, "hash": fork.head}
            body = {"decision": kind, "base": base, "inputs": inputs, "result": result}
            entry = self._entry(kind, body, fork)
            refused = apply(fork, entry)
            if refused is not None:
                self.left_out[subject_of(entry)] = f"the fold refuses it: {refused}"
                fork = self.replica.state.fork()  # without it
                for earlier, _ in block:
                    apply(fork, earlier)
                continue
            block.append((entry, self._own(entry)))
        if block:
            entry_records.save_pending_block(self.node.engine, [(e, own.sig) for e, own in block])
            crashpoints.reached("pdu.block.saved", *(e.kind for e, _ in block))
        return block

    async def _offer(self, block: Sequence[tuple[Entry, Signature]]) -> Outcome:
        """Offer ``block`` to every partner a quorum of its entries may need; commit the certified prefix."""
        outcome = Outcome()
        if not block:
            return outcome
        members = sorted({m for e, _ in block for m in policy_for(self.node.config, e.kind).members})
        lacking = self._lacking(members, block[0][0].seq)
        votes = await asyncio.gather(
            *(ask_block(self.node, p, block, timeout=self.timeout, before=lacking[p]) for p in members)
        )
        for p, vote in zip(members, votes, strict=True):
            if not isinstance(vote, Refused):
                self.holds(p, block[0][0].seq - 1)
        by_member = {p: v for p, v in zip(members, votes, strict=True) if not isinstance(v, Refused)}
        refusals = [v for v in votes if isinstance(v, Refused)]
        certified: list[SealedEntry] = []
        described = ""
        for entry, own in block:
            policy = policy_for(self.node.config, entry.kind)
            signatures = [sigs[len(certified)] for p, sigs in by_member.items() if p in policy.members]
            quorum = check(policy, signatures, entry.digest, self.node.config.keys())
            if not quorum.ok:
                described = quorum.describe()
                break
            certified.append(SealedEntry(entry, (own, *signatures)))
        if certified:
            self._commit(certified, keep_pending=len(certified) < len(block))
            crashpoints.reached("pdu.block.committed", *(s.entry.kind for s in certified))
            outcome.committed = [subject_of(s.entry) for s in certified]
        if len(certified) < len(block):
            self._not_certified(block, len(certified), refusals, described, outcome)
        return outcome

    def _lacking(self, members: Sequence[str], first: int) -> dict[str, list[dict[str, Any]]]:
        """The entries before ``first`` each partner is not known to hold, sent with the block.

        A partner then signs without pulling them first; one further behind than
        ``CARRY_MAX`` entries is sent none and pulls.
        """
        start = {p: self.held.get(p, 0) + 1 for p in members}
        wanted = [s for s in start.values() if first - CARRY_MAX <= s < first]
        if not wanted:
            return {p: [] for p in members}
        rows = self.node.store.entries(NETWORK_LEDGER, after=min(wanted) - 1, limit=first - min(wanted))
        items = [
            (r.seq, {"entry": json.loads(r.entry), "signatures": json.loads(r.signatures)}) for r in rows
        ]
        return {p: [i for seq, i in items if seq >= start[p]] if start[p] in wanted else [] for p in members}

    def _not_certified(
        self,
        block: Sequence[tuple[Entry, Signature]],
        start: int,
        refusals: Sequence[Refused],
        described: str,
        outcome: Outcome,
    ) -> None:
        """Record why ``block[start:]`` got no quorum; drop or withdraw it if waiting cannot help."""
        rest = block[start:]
        reasons = [r.reason for r in refusals]
        for index, (entry, _) in enumerate(block[start:], start):
            subject = subject_of(entry)
            named = [r.reason for r in refusals if r.index == index]
            if named:
                outcome.contested[subject] = "; ".join(named)
            outcome.failed[subject] = f"{described}: " + "; ".join(named or reasons)
            self.failures.setdefault(subject, []).append(outcome.failed[subject])
        log.warning("block at seq %d (%d entries): %s %s", rest[0][0].seq, len(rest), described, reasons)
        every_partner_refused = len(refusals) == len(self._asked(block)) and all(r.answered for r in refusals)
        if every_partner_refused:
            # Nobody signed any of it (a partner signs a whole block or nothing): a fresh
            # block may take these seqs.
            with write_transaction(self.node.engine) as conn:
                entry_records.clear_pending_block(conn, NETWORK_LEDGER)
        elif outcome.contested and len(rest) > 1:
            # Some partner signed it, another refused an entry outright: waiting for the
            # refusal to change would hold every decision in it; its seqs are given up now.
            self._withdraw_locked([e for e, _ in rest], "a partner refused one of its decisions")

    def _asked(self, rest: Sequence[tuple[Entry, Signature]]) -> set[str]:
        return {m for e, _ in rest for m in policy_for(self.node.config, e.kind).members}

    def _expired(self, entry: Entry) -> bool:
        """True if partners would no longer sign ``entry`` for its age."""
        return (self.node.clock() - parse_time(entry.time)).total_seconds() > WITHDRAW_AFTER_SECONDS

    def _withdraw_locked(self, entries: Sequence[Entry], reason: str = "") -> None:
        """Give up the seqs of uncertified proposals: no certificate for them can commit after this."""
        reason = reason or f"not certified within {WITHDRAW_AFTER_SECONDS} s"
        for entry in entries:
            log.warning("withdrawing %s proposed at seq %d: %s", entry.kind, entry.seq, reason)
            self._commit([self._withdrawal(entry, reason)])

    async def resume(self) -> None:
        """Start-up: finish a block that may have collected signatures before a crash."""
        async with self.replica.lock:
            kept = self._kept()
            if kept:
                await self._offer(kept)
        self.wake.set()
