"""Capacity attestations and lot quality on the supplier's channels (Algorithm 2).

An attestation is appended to a channel when the figures it would attest differ from
the channel's latest one (after a profile change, or when new runs move the
efficiency), and on request for a demand (``demand`` = hash of the demand's network
ledger entry: the challenge that proves freshness without comparing clocks).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from supplymesh.channels.service import ChannelService
from supplymesh.channels.state import latest_of_kind
from supplymesh.config import channel_ledger
from supplymesh.core.contracts.channel import CAPACITY_KIND
from supplymesh.core.entry import SealedEntry
from supplymesh.errors import Conflict
from supplymesh.web.node import Node
from supplymesh_supplier.dms import Dms

log = logging.getLogger("supplymesh.supplier")
ATTEST_INTERVAL_SECONDS = 2.0


class Attestations:
    """Keeps every channel's capacity attestation current."""

    def __init__(self, node: Node, dms: Dms, channels: ChannelService) -> None:
        self.node = node
        self.dms = dms
        self.channels = channels
        self._refreshing = asyncio.Lock()  # check-then-append must not interleave

    def body(self, demand: str | None = None) -> dict[str, Any]:
        """The attestation body for the current figures.

        Raises:
            Conflict: if no plant profile is set yet.
        """
        current = self.dms.capacity()
        if current is None:
            raise Conflict("no plant profile is set: PUT /v1/dms/profile first")
        body: dict[str, Any] = {**current.as_json(), "computed_at": self.node.now_text()}
        if demand is not None:
            body["demand"] = demand
        return body

    async def refresh(self) -> int:
        """Attest on every channel whose latest attestation is out of date; return how many."""
        async with self._refreshing:
            return await self._refresh_locked()

    async def _refresh_locked(self) -> int:
        if self.dms.capacity() is None:
            return 0
        figures = self.body()
        count = 0
        for ledger in self.channels.ledgers():
            latest = latest_of_kind(self.node.engine, ledger, CAPACITY_KIND)
            if latest is not None and _figures(latest.entry.body) == _figures(figures):
                continue
            await self.channels.append(ledger, CAPACITY_KIND, self.body())
            count += 1
        return count

    async def for_demand(self, buyer: str, demand: str) -> SealedEntry:
        """A fresh attestation for ``demand`` on the channel with ``buyer``."""
        sealed = await self.channels.append(
            channel_ledger(buyer, self.node.id), CAPACITY_KIND, self.body(demand)
        )
        assert sealed is not None  # the supplier sequences its channels; it never queues
        return sealed

    async def run_forever(self) -> None:
        """Background: refresh attestations when the DMS changed."""
        while True:
            await asyncio.sleep(ATTEST_INTERVAL_SECONDS)
            if not self.dms.dirty.is_set():
                continue
            self.dms.dirty.clear()
            try:
                await self.refresh()
            except Exception:  # keep attesting on later changes; the reason is logged
                log.exception("capacity attestation failed")
                self.dms.dirty.set()


def _figures(body: Any) -> tuple[Any, ...]:
    return (
        body.get("efficiency"),
        body.get("mhc_per_day"),
        body.get("queued_machine_hours"),
        body.get("products"),
    )
