"""The PDU's decision loop: splits, quality decisions and cancellations, each on its own.

Whatever is due is decided in one pass, splits first. A decision that fails or gets no
quorum backs off its own subject only (exponentially, up to ``BACKOFF_CAP_SECONDS``);
a split that cannot be built or reach a quorum within ``attempts`` rounds ends its
demand ``failed`` with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine, Sequence
from typing import Any

from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.contracts.network import (
    CANCEL,
    DEMAND_FAILED,
    SPLIT,
    decide_cancel,
    decide_quality,
    decide_split,
    deposit_overdue,
)
from supplymesh.core.entry import SealedEntry
from supplymesh.network.replica import NetworkReplica
from supplymesh.node.context import Node
from supplymesh.storage import entry_records
from supplymesh_pdu.attestations import Gathered, gather_attestations
from supplymesh_pdu.rounds import QuorumRounds
from supplymesh_pdu.votes import unbuildable

log = logging.getLogger("supplymesh.pdu")

BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 300.0


class DecisionLoop(QuorumRounds):
    """Decides whatever is due on the network ledger, each decision by a quorum round."""

    def __init__(self, node: Node, replica: NetworkReplica, *, attempts: int, timeout: float) -> None:
        super().__init__(node, replica, timeout=timeout)
        self.attempts = attempts
        self._backoff: dict[str, tuple[int, float]] = {}

    async def run_forever(self) -> None:
        """Background: decide whatever is due, whenever something is appended."""
        while True:
            try:
                await self.step()
            except Exception:  # keep deciding; the reason is logged
                log.exception("decision round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=1.0)
            self.wake.clear()

    async def step(self) -> None:
        """One pass over everything due: splits first, then quality decisions, then cancellations.

        Each decision is tried on its own: one that cannot be built or cannot reach a
        quorum ends by its retry rule (a demand ``failed`` with the reason; an escrow
        decision retried later with backoff) and never keeps the next one from being decided.
        """
        for demand in list(self.replica.state.undecided_demands()):
            await self._guarded(demand.hash, self.decide_split(demand.hash))
        for escrow in list(self.replica.state.awaiting_quality_decision()):
            if self._due(escrow.id):
                await self._guarded(escrow.id, self.decide_quality(escrow.id))
        window = self.node.config.deposit_window_seconds
        for escrow in list(self.replica.state.escrows.values()):
            if deposit_overdue(escrow, self.node.now_text(), window) and self._due(escrow.id):
                await self._guarded(escrow.id, self.decide_cancel(escrow.id))

    async def _guarded(self, subject: str, decision: Coroutine[Any, Any, bool]) -> None:
        """Run one decision; a failure backs off that subject only."""
        try:
            decided = await decision
        except Exception as exc:  # one subject's fault must not stop the others
            log.exception("deciding %s failed", subject)
            self.failures.setdefault(subject, []).append(f"could not be decided: {type(exc).__name__}: {exc}")
            decided = False
        if decided:
            self._backoff.pop(subject, None)
            return
        tries = self._backoff.get(subject, (0, 0.0))[0] + 1
        delay = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (tries - 1))
        self._backoff[subject] = (tries, time.monotonic() + delay)

    def _due(self, subject: str) -> bool:
        """True unless ``subject`` is backing off."""
        return time.monotonic() >= self._backoff.get(subject, (0, 0.0))[1]

    async def decide_cancel(self, escrow_id: str) -> bool:
        """Cancel an allocation whose deposit did not arrive within the window."""
        async with self.replica.lock:
            escrow = self.replica.state.escrows[escrow_id]
            if not deposit_overdue(escrow, self.node.now_text(), self.node.config.deposit_window_seconds):
                return True
            return await self._round(
                CANCEL, {"escrow": escrow_id}, decide_cancel(self.replica.state, escrow_id), subject=escrow_id
            )

    async def decide_split(self, demand_hash: str) -> bool:
        """Algorithm 3 for one demand, committed with a quorum certificate.

        Attestations are asked for before the first round and again before each retry
        (suppliers answer a repeated request with the attestation they already made, so
        nothing grows): an attestation that arrived after the first round's timeout is
        used then, and the pending proposal that lacked it is withdrawn, since the
        supplier and its buyer refuse a split that leaves out an attested supplier.
        Otherwise the same proposal is re-offered for up to ``attempts`` rounds. A split
        that cannot be built (its result would not be a valid network message) or that
        gets no quorum ends the demand as ``failed`` with the reason.
        """
        demand = self.replica.state.demands[demand_hash]
        gathered = await self._gather(demand.buyer, demand_hash, demand.terms.priority_suppliers)
        for attempt in range(self.attempts):
            renewed = False
            if attempt:
                fresh = await self._gather(demand.buyer, demand_hash, demand.terms.priority_suppliers)
                renewed = fresh.adds_to(gathered)
                gathered = fresh.merged(gathered) if renewed else gathered
            settled = await self._split_round(demand_hash, gathered, renewed=renewed)
            if settled is not None:
                return settled
        async with self.replica.lock:
            reason = "no quorum: " + " | ".join(self.failures.get(demand_hash, ["no answer"])[-4:])
            self._fail_locked(demand_hash, reason)
        return False

    async def _split_round(self, demand_hash: str, gathered: Gathered, *, renewed: bool) -> bool | None:
        """One round of a split from ``gathered``.

        Returns:
            True once the demand is decided, False if the split cannot be built (the
            demand is then ``failed``), None if the round got no quorum.
        """
        async with self.replica.lock:
            if self.replica.state.demands[demand_hash].status != "pending":
                return True
            inputs = {
                "demand": demand_hash,
                "attestations": list(gathered.attestations.values()),
                "unavailable": gathered.unavailable,
            }
            result = decide_split(self.replica.state, demand_hash, gathered.capacities, gathered.unavailable)
            why_not = unbuildable(SPLIT, inputs, result)
            if why_not is not None:
                self._fail_locked(demand_hash, f"the split cannot be built: {why_not}")
                return False
            if renewed:
                self._withdraw_split_locked(demand_hash)
            if await self._round(SPLIT, inputs, result):
                return True
        return None

    async def _gather(self, buyer: str, demand_hash: str, suppliers: Sequence[str]) -> Gathered:
        """What the priority suppliers (or, for a silent one, its buyer) attest for the demand."""
        attestations, unavailable = await gather_attestations(
            self.node, buyer, demand_hash, suppliers, timeout=self.timeout
        )
        return Gathered(attestations, unavailable)

    def _withdraw_split_locked(self, demand_hash: str) -> None:
        """Withdraw a pending split of ``demand_hash`` made without attestations known now."""
        kept = entry_records.load_pending(self.node.engine, NETWORK_LEDGER)
        if kept is None or kept[0].seq != self.replica.state.size + 1 or kept[0].kind != SPLIT:
            return
        inputs = kept[0].body.get("inputs")
        if isinstance(inputs, dict) and inputs.get("demand") == demand_hash:
            self._withdraw_locked(kept[0], "an attestation it left out arrived")

    def _fail_locked(self, demand_hash: str, reason: str) -> None:
        """Mark a still-pending demand ``failed`` with ``reason`` (lock held)."""
        if self.replica.state.demands[demand_hash].status != "pending":
            return
        # The failure takes the seq of any proposal still pending (``_append`` clears it in
        # the same transaction): that proposal can then never be certified, whoever signed it.
        entry = self._entry(DEMAND_FAILED, {"demand": demand_hash, "reason": reason[:2000]})
        self._append(SealedEntry(entry, (self._own(entry),)))

    async def decide_quality(self, escrow_id: str) -> bool:
        """Algorithm 4 for one reported lot (or accepted offer), committed with a quorum."""
        for _ in range(self.attempts):
            async with self.replica.lock:
                escrow = self.replica.state.escrows[escrow_id]
                if escrow.state != "funded" or escrow.lot is None:
                    return True
                kind, result = decide_quality(self.replica.state, escrow_id)
                if await self._round(kind, {"escrow": escrow_id}, result, subject=escrow_id):
                    return True
        return False
