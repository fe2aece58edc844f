"""Supplier side: sequence the channel — author own entries, seal the OEM's proposals.

The supplier's own entries: sign → persist as pending → ask the OEM to countersign →
append (with the countersignature if it came in time, otherwise single-signed, with the
countersignature collected later as a *late signature*) → push the sealed entry to the
OEM through the outbox. An OEM proposal that continues the supplier's copy is
countersigned and appended. A pending entry left by a crash is completed at start-up or
before the next entry of its channel.

The sequencing lock of a channel is held across the countersignature request; the
OEM's handlers take no lock the supplier could be waiting on, so two nodes cannot
deadlock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import httpx

from supplymesh.channels.copies import PUSH_TASK, ChannelCopies, LedgerLocks
from supplymesh.channels.recovery import ChannelRecovery
from supplymesh.core.contracts.channel import KEY_KIND, ChannelMembers, is_private
from supplymesh.core.crypto import SignatureError
from supplymesh.core.entry import Entry, SealedEntry, Signature
from supplymesh.errors import Conflict, Forbidden, PeerError, PeerUnavailable, Unprocessable
from supplymesh.storage import entry_records
from supplymesh.storage.engine import write_transaction

log = logging.getLogger("supplymesh.channels")


class Sequencer:
    """The supplier's part of the channel protocol: the channel's sequencer."""

    def __init__(self, copies: ChannelCopies, *, countersign_timeout: float = 2.0) -> None:
        self.copies = copies
        self.node = copies.node
        self.countersign_timeout = countersign_timeout
        self._locks = LedgerLocks()
        self.recovery = ChannelRecovery(copies)

    async def append(
        self, ledger: str, kind: str, body: Mapping[str, object], *, respond: bool = False
    ) -> SealedEntry:
        """Sequence an own entry, first a ``channel.key`` entry if a private one needs a key.

        ``respond``: the entry is what the running ERP request asked for; its answer is
        stored in the transaction that appends it.
        """
        async with self._locks(ledger):
            await self._finish_pending_locked(ledger)
            if is_private(kind) and self.copies.keyring.current_key_id(ledger) is None:
                await self._sequence_locked(ledger, KEY_KIND, self.copies.keyring.new_key_body(ledger))
            return await self._sequence_locked(ledger, kind, body, respond=respond)

    async def _sequence_locked(
        self, ledger: str, kind: str, body: Mapping[str, object], *, respond: bool = False
    ) -> SealedEntry:
        """Build, sign and persist the next entry as pending, then complete it."""
        entry = self.copies.next_entry(ledger, kind, body)
        own = self.copies.sign(entry)
        entry_records.save_pending(self.node.engine, entry, own.sig)
        return await self._complete_locked(entry, own, respond=respond)

    async def recover(self) -> None:
        """Catch every channel this node sequences up from its OEM (run at start-up, before the rest).

        A channel whose OEM does not answer is caught up before its next entry instead.
        """
        for ledger in self.recovery.sequenced():
            async with self._locks(ledger):
                try:
                    await self.recovery.ensure(ledger)
                except (PeerError, Conflict) as exc:
                    log.warning("%s: not caught up at start: %s", ledger, exc)

    async def finish_pending(self) -> None:
        """Complete own entries left pending by a crash (run at start-up)."""
        for ledger in entry_records.pending_ledgers(self.node.engine):
            if self.node.id != ChannelMembers.of(ledger).supplier:
                continue
            async with self._locks(ledger):
                try:
                    await self.recovery.ensure(ledger)
                except (PeerError, Conflict) as exc:  # restored, OEM not heard yet: left for later
                    log.warning("%s: pending entry left until caught up: %s", ledger, exc)
                    continue
                await self._finish_pending_locked(ledger)

    async def _finish_pending_locked(self, ledger: str) -> None:
        """Complete the pending entry of ``ledger``, if any (caught up from the OEM first after a start)."""
        await self.recovery.ensure(ledger)
        pending = entry_records.load_pending(self.node.engine, ledger)
        if pending is None:
            return
        entry, sig = pending
        head = self.copies.head(ledger)
        if head.size >= entry.seq:  # appended before the crash; only the cleanup was lost
            with write_transaction(self.node.engine) as conn:
                entry_records.clear_pending(conn, ledger)
            return
        await self._complete_locked(entry, Signature(self.node.id, sig))

    async def _complete_locked(self, entry: Entry, own: Signature, *, respond: bool = False) -> SealedEntry:
        """Collect the OEM's countersignature if it comes in time, append, queue the push."""
        members = ChannelMembers.of(entry.ledger)
        counter = await self._request_countersignature(entry, own, members.oem)
        signatures = (own,) if counter is None else (own, counter)
        sealed = SealedEntry(entry, signatures)
        key = f"{entry.ledger}:{entry.seq}"
        # Replication to the OEM goes through the outbox, in append order, after the
        # commit: the author's call returns once its own copy is durable and endorsed.
        push = (PUSH_TASK, key, {"ledger": entry.ledger, "seq": entry.seq})
        self.copies.append(sealed, tasks=[push], respond=respond)
        return sealed

    async def _request_countersignature(self, entry: Entry, own: Signature, peer: str) -> Signature | None:
        """The peer's countersignature of ``entry``; None if it does not come in time."""
        try:
            response = await asyncio.wait_for(
                self.node.peers.request(
                    peer,
                    "POST",
                    f"/peer/v1/channels/{entry.ledger}/countersign",
                    json={"entry": entry.as_json(), "signatures": [own.as_json()]},
                ),
                timeout=self.countersign_timeout,
            )
        except (PeerUnavailable, PeerError, TimeoutError) as exc:
            log.info(
                "%s: no countersignature from %s for seq %d (%s); appending single-signed",
                entry.ledger,
                peer,
                entry.seq,
                exc,
            )
            return None
        return self._countersignature_in(response, entry, peer)

    def _countersignature_in(self, response: httpx.Response, entry: Entry, peer: str) -> Signature | None:
        """The countersignature a peer answered with; None if it is to be collected later.

        Raises:
            Conflict: if the peer refused to countersign.
            PeerError: if the countersignature does not verify.
        """
        if response.status_code in (409, 422):
            raise Conflict(
                f"{peer} refused to countersign {entry.ledger} seq {entry.seq}: {response.text[:300]}"
            )
        if response.status_code != 200:  # e.g. 401 just after the peer restarted: collect it later
            log.info(
                "%s: countersignature request answered %d; appending single-signed",
                entry.ledger,
                response.status_code,
            )
            return None
        signature = Signature(signer=peer, sig=str(response.json().get("sig", "")))
        try:
            self.node.config.member(peer).key.verify_text(signature.sig, entry.digest)
        except SignatureError as exc:
            raise PeerError(f"{peer} returned an invalid countersignature") from exc
        return signature

    async def handle_proposal(self, sender: str, sealed: SealedEntry) -> SealedEntry:
        """Sequence, countersign and append the OEM's entry (supplier side)."""
        entry = sealed.entry
        members = self.copies.members(entry.ledger)
        if self.node.id != members.supplier or sender != members.oem or entry.author != sender:
            raise Forbidden("only the OEM proposes, only the supplier sequences")
        self.copies.verify(sealed, members)
        async with self._locks(entry.ledger):
            await self._finish_pending_locked(entry.ledger)
            stored = entry_records.sealed_at(self.node.engine, entry.ledger, entry.seq)
            if stored is not None and stored.entry.hash == entry.hash:
                return stored
            self.copies.require_countersignable(entry, "proposal refused", size_in_problem=True)
            result = SealedEntry(entry, (*sealed.signatures, self.copies.countersign(entry)))
            self.copies.append(result)
            return result

    async def handle_late_signature(self, sender: str, ledger: str, seq: int, sig: str) -> None:
        """Store the counterpart's countersignature of an entry appended without it."""
        members = self.copies.members(ledger)
        if sender != members.other(self.node.id):
            raise Forbidden("only the counterpart sends late countersignatures")
        stored = entry_records.sealed_at(self.node.engine, ledger, seq)
        if stored is None:
            raise Conflict(f"{ledger} has no seq {seq} here yet")
        if sender in stored.signers():
            return
        try:
            self.node.config.member(sender).key.verify_text(sig, stored.entry.digest)
        except SignatureError as exc:
            raise Unprocessable("late countersignature does not verify") from exc
        with write_transaction(self.node.engine) as conn:
            entry_records.add_late_signature(conn, ledger, seq, Signature(sender, sig), self.node.now_text())
