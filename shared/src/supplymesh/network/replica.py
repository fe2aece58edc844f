"""A node's copy of the network ledger and the state folded from it.

The PDU appends; partners accept exactly the PDU's sealed entries after checking them
(:func:`supplymesh.network.rules.check_entry`), pulling whatever they miss, and keep the
folded :class:`NetworkState` in memory (rebuilt from the stored entries at start).
Projection hooks run inside the append transaction, so a node's own tables (orders,
escrows, demands) change atomically with its replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sqlalchemy import Connection

from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.contracts.network import NetworkState, apply
from supplymesh.core.entry import Entry, SealedEntry, parse_signatures
from supplymesh.errors import Conflict, DatabaseUnavailable, PeerError, Unprocessable
from supplymesh.network.rules import RuleViolation, check_entry
from supplymesh.node.context import Node
from supplymesh.storage.events import publish

log = logging.getLogger("supplymesh.network")
Hook = Callable[[Connection, SealedEntry, NetworkState], None]


class ChannelCatchUp(Protocol):
    """Pulls what a channel's supplier holds and this node's copy lacks."""

    async def sync(self, ledger: str) -> int:
        """Catch ``ledger`` up; return how many entries were appended."""


def parse(item: Any) -> SealedEntry:
    """A sealed entry from its wire form.

    Raises:
        Unprocessable: if malformed.
    """
    try:
        return SealedEntry(Entry.from_json(item["entry"]), parse_signatures(item["signatures"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise Unprocessable(f"malformed network entry: {exc}") from exc


class NetworkReplica:
    """The network ledger held by one node."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self._state: NetworkState | None = NetworkState()
        self.hooks: list[Hook] = []
        self.lock = asyncio.Lock()
        self.appended = asyncio.Event()
        # The node's channels, if wired: a partner about to sign a split catches up the
        # channel of an attestation it does not hold yet (supplymesh.network.signing).
        self.channels: ChannelCatchUp | None = None
        self._load()

    def _load(self) -> None:
        self.state = self._rebuilt()

    @property
    def state(self) -> NetworkState:
        """The folded state; rebuilt first if a failed append left it unknown (the database was down).

        Raises:
            DatabaseUnavailable: it must be rebuilt and the database is still down.
        """
        if self._state is None:
            self._state = self._rebuilt()
        return self._state

    @state.setter
    def state(self, value: NetworkState) -> None:
        self._state = value

    def append(self, sealed: SealedEntry, *, extra: Hook | None = None) -> None:
        """Append exactly ``sealed`` (it must continue the replica), fold it, run hooks."""
        self.append_many([sealed], extra=extra)

    def append_many(self, block: Sequence[SealedEntry], *, extra: Hook | None = None) -> None:
        """Append consecutive entries in one transaction, folding each and running hooks per entry.

        The fold never raises, but the transaction can fail (a hook, the database, a
        cancellation): then the in-memory state is rebuilt from what the database holds
        (on next use, if the database is down), so it never keeps half of a change that
        was rolled back.
        """
        try:
            with self.node.store.writer(NETWORK_LEDGER) as writer:
                now = self.node.now_text()
                for sealed in block:
                    writer.append(sealed)
                    apply(self.state, sealed.entry)
                    for hook in [*self.hooks, *([extra] if extra else [])]:
                        hook(writer.conn, sealed, self.state)
                    entry = sealed.entry
                    data = {"seq": entry.seq, "kind": entry.kind, "hash": entry.hash}
                    publish(
                        writer.conn, type_="network.entry", subject=NETWORK_LEDGER, data=data, now_text=now
                    )
        except BaseException:
            self._state = None  # rebuilt from what the database holds: now, or on next use if it is down
            with contextlib.suppress(DatabaseUnavailable):
                self._state = self._rebuilt()
            raise
        self.appended.set()

    def _rebuilt(self) -> NetworkState:
        state = NetworkState()
        for row in self.node.store.iter_entries(NETWORK_LEDGER):
            apply(state, Entry.from_canonical(row.entry))
        return state

    async def accept(self, sealed: SealedEntry) -> None:
        """Partner side: check and append an entry the PDU sealed, catching up first."""
        async with self.lock:
            await self._accept_locked(sealed)

    async def _accept_locked(self, sealed: SealedEntry) -> None:
        seq = sealed.entry.seq
        if seq <= self.state.size:
            stored = self.node.store.entries(NETWORK_LEDGER, after=seq - 1, limit=1)
            if not stored or stored[0].hash != sealed.entry.hash:
                raise Conflict(f"network seq {seq} differs from this replica")
            return
        if seq > self.state.size + 1:
            await self._pull_locked()
            if seq <= self.state.size:
                return
        try:
            check_entry(self.node.config, sealed)
        except RuleViolation as exc:
            raise Unprocessable(f"network entry {seq} refused: {exc}") from exc
        if seq != self.state.size + 1 or sealed.entry.prev != self.state.head:
            raise Conflict(f"network entry {seq} does not continue this replica (size {self.state.size})")
        self.append(sealed)

    async def sync(self) -> int:
        """Pull what the PDU has and this replica lacks; return how many entries."""
        async with self.lock:
            return await self._pull_locked()

    async def sync_if_reachable(self) -> None:
        """Catch up with the PDU if it answers; if it is down, keep the replica as it is.

        For reads that answer from the replica: a PDU that is down must not fail them.
        """
        with contextlib.suppress(PeerError):
            await self.sync()

    async def pull_from(self, member: str) -> int:
        """Pull what ``member``'s replica has beyond this one; return how many entries.

        Every entry is checked as from the PDU (its signature, its certificate), so any
        holder will do: a restored PDU learns its own ledger back from the partners.
        """
        async with self.lock:
            return await self._pull_locked(member)

    async def _pull_locked(self, source: str | None = None) -> int:
        pulled = 0
        while True:
            try:
                page = await self.node.peers.get_json(
                    source or self.node.config.pdu.id,
                    f"/peer/v1/ledgers/{NETWORK_LEDGER}/entries",
                    after=self.state.size,
                    limit=500,
                )
            except PeerError as exc:
                if exc.extensions.get("peer_status") == 404:
                    return pulled
                raise
            if not page:
                return pulled
            fresh = [s for s in (parse(item) for item in page) if s.entry.seq > self.state.size]
            self._append_checked(fresh)
            pulled += len(fresh)

    def _append_checked(self, block: Sequence[SealedEntry]) -> None:
        """Check each entry the PDU sealed and that they continue the replica; append all in one transaction.

        Raises:
            Unprocessable: an entry breaks a rule (nothing is appended).
            Conflict: they do not continue the replica.
        """
        size, head = self.state.size, self.state.head
        for sealed in block:
            try:
                check_entry(self.node.config, sealed)
            except RuleViolation as exc:
                raise Unprocessable(f"network entry {sealed.entry.seq} refused: {exc}") from exc
            if sealed.entry.seq != size + 1 or sealed.entry.prev != head:
                raise Conflict(
                    f"network entry {sealed.entry.seq} does not continue this replica (size {size})"
                )
            size, head = sealed.entry.seq, sealed.entry.hash
        if block:
            self.append_many(block)

    async def accept_many(self, block: Sequence[SealedEntry]) -> None:
        """Partner side: a range of entries the PDU sealed, checked and appended in one transaction."""
        async with self.lock:
            held = [s for s in block if s.entry.seq <= self.state.size]
            for sealed in held:
                await self._accept_locked(sealed)  # already held: must be the same entry
            fresh = [s for s in block if s.entry.seq > self.state.size]
            if fresh and fresh[0].entry.seq > self.state.size + 1:
                await self._pull_locked()
                fresh = [s for s in fresh if s.entry.seq > self.state.size]
            self._append_checked(fresh)

    async def sync_forever(self, interval: float) -> None:
        """Background: converge with the PDU even if pushes were missed."""
        while True:
            try:
                await self.sync()
            except Exception as exc:  # the PDU being down is normal; try again next round
                log.debug("network sync failed: %s", exc)
            await asyncio.sleep(interval)
