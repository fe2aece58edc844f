"""Capacity attestations and lot quality on the supplier's channels (Algorithm 2).

An attestation is appended to a channel when the figures it would attest differ from
the channel's latest one (after a profile change, or when new runs move the
efficiency), and on request for a demand (``demand`` = hash of the demand's network
ledger entry: the challenge that proves freshness without comparing clocks).

A request for a demand is bounded: the supplier attests only for a demand that its
replica (synced from the PDU once if needed) holds as pending, from that buyer, with
this supplier on its priority list; and it answers with the attestation it already made
for that demand while its figures are unchanged, so a PDU that asks again and again adds
one entry to the channel, not one per request.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from supplymesh.channels.service import ChannelService
from supplymesh.config import channel_ledger
from supplymesh.core.contracts.capacity import made_for
from supplymesh.core.contracts.channel import CAPACITY_KIND
from supplymesh.core.contracts.network import NetworkState, demand_terms
from supplymesh.core.entry import SealedEntry
from supplymesh.errors import Conflict, NotFound, PeerError, Unprocessable
from supplymesh.network.copies import attestation_made_for
from supplymesh.node.context import Node
from supplymesh.storage.entry_records import latest_of_kind
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

    def body(self, demand: str | None = None, demands: list[str] | None = None) -> dict[str, Any]:
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
        if demands is not None:
            body["demands"] = demands
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
        """The attestation for ``demand`` on the channel with ``buyer``.

        The one made for it before if the figures did not change since, else a fresh one.

        Raises:
            NotFound: if the demand is not on this supplier's replica.
            Conflict: if it is not a pending demand of ``buyer`` listing this supplier,
                or no plant profile is set.
        """
        await self._require_pending(buyer, demand)
        ledger = channel_ledger(buyer, self.node.id)
        async with self._refreshing:
            made = attestation_made_for(self.node.engine, ledger, demand)
            body = self.body(demand)
            if made is not None and _figures(made.entry.body) == _figures(body):
                return made
            sealed = await self.channels.append(ledger, CAPACITY_KIND, body)
        assert sealed is not None  # the supplier sequences its channels; it never queues
        return sealed

    async def for_demands(self, buyer: str, demands: list[str]) -> tuple[SealedEntry | None, dict[str, str]]:
        """One attestation for every demand of ``buyer`` in ``demands`` that it may attest for.

        Returns the attestation (the one made before if it answers all of them and the
        figures did not change since, else a fresh one naming them all) and, for each
        demand it may not attest for, why (as :meth:`for_demand` would refuse it).
        """
        replica = self.dms.replica
        if any(d not in replica.state.demands for d in demands):
            try:  # the PDU may ask right after sequencing them, before their push arrived
                await replica.sync()
            except (PeerError, Unprocessable) as exc:
                log.info("replica sync before attesting failed: %s", exc)
        refused = {
            d: str(p) for d in demands if (p := _not_attestable(replica.state, buyer, d, self.node.id))
        }
        wanted = sorted({d for d in demands if d not in refused})
        if not wanted:
            return None, refused
        ledger = channel_ledger(buyer, self.node.id)
        async with self._refreshing:
            made = attestation_made_for(self.node.engine, ledger, wanted[0])
            body = self.body(demands=wanted)
            if (
                made is not None
                and _figures(made.entry.body) == _figures(body)
                and all(made_for(made.entry.body, d) for d in wanted)
                and all(attestation_made_for(self.node.engine, ledger, d) == made for d in wanted[1:])
            ):
                return made, refused
            sealed = await self.channels.append(ledger, CAPACITY_KIND, body)
        assert sealed is not None  # the supplier sequences its channels; it never queues
        return sealed, refused

    async def _require_pending(self, buyer: str, demand: str) -> None:
        replica = self.dms.replica
        if demand not in replica.state.demands:
            try:  # the PDU may ask right after sequencing it, before its push arrived
                await replica.sync()
            except (PeerError, Unprocessable) as exc:
                log.info("replica sync before attesting failed: %s", exc)
        problem = _not_attestable(replica.state, buyer, demand, self.node.id)
        if problem is not None:
            raise problem

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


def _not_attestable(state: NetworkState, buyer: str, demand: str, me: str) -> NotFound | Conflict | None:
    """Why ``me`` may not attest for ``demand`` of ``buyer`` (None if it may)."""
    record = state.demands.get(demand)
    if record is None:
        return NotFound(f"demand {demand} is not on {me}'s network replica")
    if record.buyer != buyer:
        return Conflict(f"demand {demand} is a demand of {record.buyer}, not of {buyer}")
    if record.status != "pending":
        return Conflict(f"demand {demand} is already {record.status}")
    if me not in demand_terms(record).priority:
        return Conflict(f"demand {demand} does not list {me} among its priority suppliers")
    return None


def _figures(body: Any) -> tuple[Any, ...]:
    return (
        body.get("efficiency"),
        body.get("mhc_per_day"),
        body.get("queued_machine_hours"),
        body.get("products"),
    )
