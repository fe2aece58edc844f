"""The PDU's decision loop: whatever is due, proposed as one block per quorum round.

A pass first settles what is left of a pending block (offered again, or withdrawn when
an attestation it left out has arrived), then gathers the attestations of every
undecided demand at once and proposes every split, quality decision and cancellation
that is due as one block (:mod:`supplymesh_pdu.rounds`), splits first. A decision that
does not commit is tried again in the next pass: a split up to ``attempts`` times, then
its demand ends ``failed`` with the reasons; an escrow decision with back-off of its own
subject only (exponentially, up to ``BACKOFF_CAP_SECONDS``). One decision's fault never
keeps the others from being decided.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.contracts.network import (
    CANCEL,
    DEMAND_FAILED,
    SPLIT,
    NetworkState,
    decide_cancel,
    decide_quality,
    decide_split,
    deposit_overdue,
)
from supplymesh.core.entry import Entry, SealedEntry
from supplymesh.errors import DatabaseUnavailable
from supplymesh.network.replica import NetworkReplica
from supplymesh.node.context import Node
from supplymesh.storage import entry_records
from supplymesh.storage.engine import write_transaction
from supplymesh_pdu.attestations import Gathered, gather_attestations, gather_round
from supplymesh_pdu.rounds import BLOCK_MAX, Decision, Outcome, QuorumRounds, subject_of
from supplymesh_pdu.votes import unbuildable

log = logging.getLogger("supplymesh.pdu")

BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 300.0
Maker = Callable[[NetworkState], Decision | None]


class DecisionLoop(QuorumRounds):
    """Decides whatever is due on the network ledger, a block per quorum round."""

    def __init__(self, node: Node, replica: NetworkReplica, *, attempts: int, timeout: float) -> None:
        super().__init__(node, replica, timeout=timeout)
        self.attempts = attempts
        self._backoff: dict[str, tuple[int, float]] = {}
        self._tries: dict[str, int] = {}

    async def run_forever(self) -> None:
        """Background: decide whatever is due, whenever something is appended."""
        while True:
            try:
                await self.step()
            except DatabaseUnavailable as exc:  # warned once by the database status; retried next pass
                log.debug("decision round failed: %s", exc)
            except Exception:  # keep deciding; the reason is logged
                log.exception("decision round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=1.0)
            self.wake.clear()

    async def step(self) -> None:
        """One pass: up to ``attempts`` rounds, each re-offering the pending block or proposing a new one.

        Rounds stop once everything offered committed; what stays undecided is counted
        (a split ends ``failed`` at ``attempts``) and tried again in the next pass.
        """
        for _ in range(self.attempts):
            outcome = await self._settle_kept()
            makers: list[tuple[str, Maker]] = []
            if outcome is None:
                makers = await self._due_makers()
                if not makers:
                    return
                async with self.replica.lock:
                    outcome = await self._decide_locked(makers)
            if not outcome.failed:
                if len(makers) >= BLOCK_MAX:
                    self.wake.set()  # more may be due than one block holds
                return

    async def _due_makers(self) -> list[tuple[str, Maker]]:
        """Everything due now, splits first; the attestations of every undecided demand gathered at once."""
        state = self.replica.state
        demands = state.undecided_demands()[:BLOCK_MAX]
        wanted = [(d.buyer, d.hash, d.terms.priority_suppliers) for d in demands]
        gathered = await gather_round(self.node, wanted, timeout=self.timeout)
        makers: list[tuple[str, Maker]] = [(h, self._split(h, g)) for h, g in gathered.items()]
        makers += [(e.id, self._quality(e.id)) for e in state.awaiting_quality_decision() if self._due(e.id)]
        window = self.node.config.deposit_window_seconds
        now = self.node.now_text()
        overdue = [e.id for e in state.escrows.values() if deposit_overdue(e, now, window)]
        makers += [(e, self._cancel(e)) for e in overdue if self._due(e)]
        return makers

    async def _decide_locked(self, makers: Sequence[tuple[str, Maker]]) -> Outcome:
        """Compose, offer and settle one block (lock held); nothing if a block is pending again.

        When partners refused decisions of the block outright, the others are proposed
        again at once without them: one bad decision never holds the rest of its block.
        """
        if self._kept():
            return Outcome()
        block = self._compose([m for _, m in makers])
        if self.left_out:  # never offered: the block is dropped and composed without them
            self._discard_unoffered()
            for subject, why in self.left_out.items():
                self.failures.setdefault(subject, []).append(f"cannot be proposed: {why}")
                if subject in self.replica.state.demands:
                    self._fail_locked(subject, f"the split cannot be built: {why}")
                else:
                    self._back_off(subject)
            skipped = set(self.left_out)
            self.left_out.clear()
            block = self._compose([m for s, m in makers if s not in skipped])
        outcome = await self._offer(block)
        self._settle(outcome)
        others = [(s, m) for s, m in makers if s not in outcome.committed and s not in outcome.contested]
        if outcome.contested and others and not self._kept():
            again = await self._offer(self._compose([m for _, m in others]))
            self._settle(again)
            outcome.committed += again.committed
        return outcome

    async def _settle_kept(self) -> Outcome | None:
        """Offer what is left of a pending block again, or withdraw it if an attestation it lacked arrived.

        Returns:
            The round's outcome (empty after a withdrawal), None if no block was pending.
        """
        async with self.replica.lock:
            kept = self._kept()
        if not kept:
            return None
        renewed = await self._renewed([e for e, _ in kept])
        async with self.replica.lock:
            kept = self._kept()
            if not kept:
                return Outcome()
            if renewed:
                self._withdraw_locked([e for e, _ in kept], "an attestation it left out arrived")
                return Outcome(failed={subject_of(e): "withdrawn" for e, _ in kept})
            outcome = await self._offer(kept)
            self._settle(outcome)
            return outcome

    async def _renewed(self, entries: Sequence[Entry]) -> bool:
        """True if a split among ``entries`` lacks an attestation its suppliers or buyer give now."""
        splits = {subject_of(e): e for e in entries if e.kind == SPLIT}
        demands = [self.replica.state.demands[h] for h in splits if h in self.replica.state.demands]
        wanted = [(d.buyer, d.hash, d.terms.priority_suppliers) for d in demands]
        fresh = await gather_round(self.node, wanted, timeout=self.timeout) if wanted else {}
        earlier = {h: Gathered.from_inputs(splits[h].body.get("inputs", {})) for h in fresh}
        return any(gathered.adds_to(earlier[h]) for h, gathered in fresh.items())

    def _settle(self, outcome: Outcome) -> None:
        """After a round (lock held): reset what committed; count or back off what did not.

        When partners named the decisions they refused, only those count as failed: the
        others were refused with them and are proposed again.
        """
        for subject in outcome.committed:
            self._backoff.pop(subject, None)
            self._tries.pop(subject, None)
        for subject in outcome.contested or outcome.failed:
            if subject in self.replica.state.demands:
                self._tries[subject] = self._tries.get(subject, 0) + 1
                if self._tries[subject] >= self.attempts:
                    self._tries.pop(subject)
                    reason = "no quorum: " + " | ".join(self.failures.get(subject, ["no answer"])[-4:])
                    self._fail_locked(subject, reason)
            else:
                self._back_off(subject)

    def _back_off(self, subject: str) -> None:
        tries = self._backoff.get(subject, (0, 0.0))[0] + 1
        delay = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (tries - 1))
        self._backoff[subject] = (tries, time.monotonic() + delay)

    def _due(self, subject: str) -> bool:
        """True unless ``subject`` is backing off."""
        return time.monotonic() >= self._backoff.get(subject, (0, 0.0))[1]

    # -- the decisions, each a function of the state the block's earlier entries leave ------------

    def _guard(self, subject: str, make: Maker) -> Maker:
        """``make``, with a fault of its own recorded and its subject backed off instead of raised."""

        def guarded(state: NetworkState) -> Decision | None:
            try:
                return make(state)
            except Exception as exc:  # one subject's fault must not stop the others
                log.exception("deciding %s failed", subject)
                self.failures.setdefault(subject, []).append(
                    f"could not be decided: {type(exc).__name__}: {exc}"
                )
                self._back_off(subject)
                return None

        return guarded

    def _split(self, demand_hash: str, gathered: Gathered) -> Maker:
        def make(state: NetworkState) -> Decision | None:
            if state.demands[demand_hash].status != "pending":
                return None
            inputs = {
                "demand": demand_hash,
                "attestations": list(gathered.attestations.values()),
                "unavailable": gathered.unavailable,
            }
            result = decide_split(state, demand_hash, gathered.capacities, gathered.unavailable)
            why_not = unbuildable(SPLIT, inputs, result)
            if why_not is not None:
                self.left_out[demand_hash] = why_not
                return None
            return SPLIT, inputs, result

        return self._guard(demand_hash, make)

    def _quality(self, escrow_id: str) -> Maker:
        def make(state: NetworkState) -> Decision | None:
            escrow = state.escrows[escrow_id]
            if escrow.state != "funded" or escrow.lot is None:
                return None
            kind, result = decide_quality(state, escrow_id)
            return kind, {"escrow": escrow_id}, result

        return self._guard(escrow_id, make)

    def _cancel(self, escrow_id: str) -> Maker:
        def make(state: NetworkState) -> Decision | None:
            window = self.node.config.deposit_window_seconds
            if not deposit_overdue(state.escrows[escrow_id], self.node.now_text(), window):
                return None
            return CANCEL, {"escrow": escrow_id}, decide_cancel(state, escrow_id)

        return self._guard(escrow_id, make)

    async def _gather_for(self, demand_hash: str) -> Gathered:
        """What the priority suppliers (or, for a silent one, its buyer) attest for the demand."""
        demand = self.replica.state.demands[demand_hash]
        return await self._gather(demand.buyer, demand_hash, demand.terms.priority_suppliers)

    async def _gather(self, buyer: str, demand_hash: str, suppliers: Sequence[str]) -> Gathered:
        attestations, unavailable = await gather_attestations(
            self.node, buyer, demand_hash, suppliers, timeout=self.timeout
        )
        return Gathered(attestations, unavailable)

    def _discard_unoffered(self) -> None:
        """Drop the block just composed and not offered to anyone (lock held)."""
        with write_transaction(self.node.engine) as conn:
            entry_records.clear_pending_block(conn, NETWORK_LEDGER)

    def _fail_locked(self, demand_hash: str, reason: str) -> None:
        """Mark a still-pending demand ``failed`` with ``reason`` (lock held).

        The failure takes the seq of any block still pending (its other seqs are withdrawn
        in the same step): that block can then never be certified, whoever signed it.
        """
        if self.replica.state.demands[demand_hash].status != "pending":
            return
        entry = self._entry(DEMAND_FAILED, {"demand": demand_hash, "reason": reason[:2000]})
        self._append(SealedEntry(entry, (self._own(entry),)))
