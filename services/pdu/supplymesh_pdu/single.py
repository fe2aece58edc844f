"""Decisions one subject at a time: a split, a quality decision or a cancellation on its own.

The same rounds as the loop's blocks (:mod:`supplymesh_pdu.decision_loop`), for one
subject: for start-up checks, operators and tests that drive a single decision.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from supplymesh_pdu.decision_loop import DecisionLoop, Maker


class SingleDecisions(DecisionLoop):
    """One subject's decision, up to ``attempts`` rounds."""

    async def decide_split(self, demand_hash: str) -> bool:
        """Algorithm 3 for one demand, up to ``attempts`` rounds; True once decided."""
        return await self._decide_one(demand_hash, lambda: self._gather_for(demand_hash), self._split)

    async def decide_quality(self, escrow_id: str) -> bool:
        """Algorithm 4 for one reported lot (or accepted offer); True once decided."""
        return await self._decide_one(escrow_id, None, lambda e, _g: self._quality(e))

    async def decide_cancel(self, escrow_id: str) -> bool:
        """Cancel an allocation whose deposit did not arrive within the window; True once settled."""
        return await self._decide_one(escrow_id, None, lambda e, _g: self._cancel(e))

    async def _decide_one(self, subject: str, gather: Any, maker: Callable[[str, Any], Maker]) -> bool:
        for _ in range(self.attempts):
            outcome = await self._settle_kept()
            if outcome is None:
                gathered = await gather() if gather is not None else None
                async with self.replica.lock:
                    if maker(subject, gathered)(self.replica.state) is None and not self.left_out:
                        return True  # nothing (any more) to decide
                    self.left_out.clear()
                    outcome = await self._decide_locked([(subject, maker(subject, gathered))])
            if subject in outcome.committed:
                return True
            demand = self.replica.state.demands.get(subject)
            if demand is not None and demand.status != "pending":
                return demand.decision is not None
        return False
