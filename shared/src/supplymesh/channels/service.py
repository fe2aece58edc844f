"""The channel protocol of one node: author, countersign, sequence, replicate, catch up.

The supplier sequences its channels. Its own entries: sign → persist as pending →
ask the OEM to countersign → append (with the countersignature if it came in time,
otherwise single-signed, with the countersignature collected later as a *late
signature*) → push the sealed entry to the OEM. The OEM's entries: the OEM signs an
entry continuing its copy and proposes it; the supplier checks it continues its own
copy, countersigns and appends; the OEM appends what the supplier returns. If the
supplier's copy has moved on, it answers 409 and the OEM catches up and tries again.

The OEM only ever appends sealed entries exactly as the supplier appended them, so
both copies are byte-identical; a member never countersigns two different entries for
one seq (enforced by a primary key). No lock is held across a call to the counterpart
except the supplier's sequencing lock, whose counterpart handlers take no lock that the
supplier could be waiting on, so two nodes cannot deadlock.

Payloads: bodies of private kinds are sealed under the channel's current key as the
entry is built (the seal names ledger, seq, kind and author), so hashes and signatures
cover the ciphertext as stored. If a channel has no key yet, the author first appends a
``channel.key`` entry. A countersigner opens the payload before it signs
(:mod:`supplymesh.channels.keyring`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from supplymesh.channels.keyring import ChannelKeyring
from supplymesh.core.contracts.channel import (
    KEY_KIND,
    ChannelMembers,
    EndorsementRefused,
    check_countersign,
    is_private,
    may_author,
)
from supplymesh.core.crypto import SignatureError
from supplymesh.core.entry import (
    Entry,
    EntryFormatError,
    SealedEntry,
    Signature,
    next_entry,
    parse_signatures,
)
from supplymesh.errors import Conflict, Forbidden, PeerError, PeerUnavailable, Unprocessable
from supplymesh.node.context import Node
from supplymesh.storage import entry_records, outbox
from supplymesh.storage.engine import write_transaction
from supplymesh.storage.events import publish
from supplymesh.storage.idempotency import respond_in
from supplymesh.storage.ledger_store import Head

log = logging.getLogger("supplymesh.channels")
PROPOSE_TASK = "channel.propose"
LATE_SIGNATURE_TASK = "channel.late-signature"
PUSH_TASK = "channel.push"
MAX_PROPOSAL_ROUNDS = 5


def sealed_json(sealed: SealedEntry) -> dict[str, Any]:
    """Wire form of a sealed entry."""
    return sealed.as_json()


def parse_sealed(value: object) -> SealedEntry:
    """Parse the wire form of a sealed entry.

    Raises:
        Unprocessable: if it is malformed.
    """
    try:
        if not isinstance(value, Mapping):
            raise EntryFormatError("expected an object")
        return SealedEntry(Entry.from_json(value.get("entry")), parse_signatures(value.get("signatures")))
    except EntryFormatError as exc:
        raise Unprocessable(f"malformed sealed entry: {exc}") from exc


class ChannelService:
    """Channel operations of this node (supplier or OEM)."""

    def __init__(self, node: Node, *, countersign_timeout: float = 2.0) -> None:
        self.node = node
        self.countersign_timeout = countersign_timeout
        self._sequence_locks: dict[str, asyncio.Lock] = {}
        self._accept_locks: dict[str, asyncio.Lock] = {}
        self._propose_locks: dict[str, asyncio.Lock] = {}
        self.keyring = ChannelKeyring(node)

    # -- shared helpers ---------------------------------------------------------------

    def ledgers(self) -> list[str]:
        """Channel ledgers this node is a member of."""
        return [c.id for c in self.node.config.channels_of(self.node.id)]

    def members(self, ledger: str) -> ChannelMembers:
        """Members of ``ledger``; this node must be one.

        Raises:
            Forbidden: if this node is not a member.
        """
        if ledger not in self.ledgers():
            raise Forbidden(f"{self.node.id} is not a member of {ledger}")
        return ChannelMembers.of(ledger)

    def head(self, ledger: str) -> Head:
        """Own copy's head (empty if nothing appended yet)."""
        return self.node.store.head(ledger) or Head(ledger, 0, "0" * 64)

    def _lock(self, table: dict[str, asyncio.Lock], ledger: str) -> asyncio.Lock:
        return table.setdefault(ledger, asyncio.Lock())

    def _verify(self, sealed: SealedEntry, members: ChannelMembers) -> None:
        entry = sealed.entry
        if not may_author(members, entry.author, entry.kind):
            raise Unprocessable(f"{entry.author} may not author {entry.kind!r} on {entry.ledger}")
        if entry.author not in sealed.signers():
            raise Unprocessable("the author's signature is missing")
        keys = self.node.config.keys()
        for signature in sealed.signatures:
            if signature.signer not in (members.oem, members.supplier):
                raise Unprocessable(f"{signature.signer} is not a member of {entry.ledger}")
            try:
                keys[signature.signer].verify_text(signature.sig, entry.digest)
            except SignatureError as exc:
                raise Unprocessable(f"signature of {signature.signer} does not verify") from exc

    def _next(self, ledger: str, kind: str, body: Mapping[str, object]) -> Entry:
        """This node's entry continuing its own copy of ``ledger`` (private bodies sealed)."""
        head = self.head(ledger)
        if is_private(kind):
            body = self.keyring.seal(
                ledger=ledger, seq=head.size + 1, kind=kind, author=self.node.id, body=body
            )
        return next_entry(
            ledger=ledger,
            head=(head.size, head.head_hash),
            time=self.node.now_text(),
            kind=kind,
            author=self.node.id,
            body=body,
        )

    def _sign(self, entry: Entry) -> Signature:
        return Signature(signer=self.node.id, sig=self.node.signer.sign_text(entry.digest))

    def _wake(self) -> None:
        self.node.wake_outbox()

    def _append(
        self,
        sealed: SealedEntry,
        *,
        late: Signature | None = None,
        tasks: Sequence[tuple[str, str, dict[str, Any]]] = (),
        respond: bool = False,
    ) -> None:
        """Append exactly ``sealed``, with its event and follow-up tasks, atomically.

        ``respond``: ``sealed`` is what the running ERP request asked for; its answer is
        stored with it (a keyed retry after a crash gets that very answer).
        """
        now = self.node.now_text()
        entry = sealed.entry
        with self.node.store.writer(entry.ledger) as writer:
            writer.append(sealed)
            entry_records.clear_pending(writer.conn, entry.ledger)
            if respond:
                respond_in(writer.conn, sealed_json(sealed), 201)
            if late is not None:
                entry_records.add_late_signature(writer.conn, entry.ledger, entry.seq, late, now)
            for task, key, payload in tasks:
                outbox.enqueue(writer.conn, task=task, key=key, payload=payload, now_text=now)
            publish(
                writer.conn,
                type_="channel.entry",
                subject=entry.ledger,
                data={
                    "ledger": entry.ledger,
                    "seq": entry.seq,
                    "kind": entry.kind,
                    "author": entry.author,
                    "hash": entry.hash,
                },
                now_text=now,
            )
        if tasks:
            self._wake()

    # -- authoring ----------------------------------------------------------------------

    async def append(
        self, ledger: str, kind: str, body: Mapping[str, object], *, respond: bool = False
    ) -> SealedEntry | None:
        """Author an entry on ``ledger``; None if it was queued because the supplier is down.

        ``respond``: the entry is what the running ERP request asked for; its answer (201
        with the sealed entry, or 202 queued) is stored in the transaction that commits it.
        """
        members = self.members(ledger)
        if not may_author(members, self.node.id, kind):
            raise Forbidden(f"{self.node.id} may not author {kind!r} on {ledger}")
        if self.node.id == members.supplier:
            return await self._append_as_sequencer(ledger, kind, body, respond=respond)
        try:
            return await self.propose(ledger, kind, body, respond=respond)
        except PeerUnavailable:
            key = f"{ledger}:{self.node.now_text()}:{kind}"
            # Queued until the supplier returns: sealed to this node's own key, so the
            # outbox row holds no readable payload either.
            sealed = self.keyring.seal_local(dict(body), _queued_purpose(ledger, kind))
            with write_transaction(self.node.engine) as conn:
                outbox.enqueue(
                    conn,
                    task=PROPOSE_TASK,
                    key=key,
                    payload={"ledger": ledger, "kind": kind, "sealed": sealed},
                    now_text=self.node.now_text(),
                )
                if respond:
                    respond_in(conn, {"queued": True}, 202)
            self._wake()
            return None

    async def rotate_key(self, ledger: str) -> SealedEntry | None:
        """Append a new ``channel.key`` entry: later private entries are sealed under it.

        Earlier entries stay readable: their key entries stay on the ledger. None if the
        entry was queued because the supplier is down.
        """
        return await self.append(ledger, KEY_KIND, self.keyring.new_key_body(ledger))

    def open_body(self, entry: Entry) -> dict[str, Any]:
        """The plaintext body of an entry of a channel this node is a member of.

        Raises:
            Forbidden: if this node is not a member.
        """
        self.members(entry.ledger)
        return self.keyring.open(entry)

    async def _append_as_sequencer(
        self, ledger: str, kind: str, body: Mapping[str, object], *, respond: bool = False
    ) -> SealedEntry:
        async with self._lock(self._sequence_locks, ledger):
            await self._finish_pending_locked(ledger)
            if is_private(kind) and self.keyring.current_key_id(ledger) is None:
                await self._sequence_locked(ledger, KEY_KIND, self.keyring.new_key_body(ledger))
            return await self._sequence_locked(ledger, kind, body, respond=respond)

    async def _sequence_locked(
        self, ledger: str, kind: str, body: Mapping[str, object], *, respond: bool = False
    ) -> SealedEntry:
        entry = self._next(ledger, kind, body)
        own = self._sign(entry)
        entry_records.save_pending(self.node.engine, entry, own.sig)
        return await self._complete_locked(entry, own, respond=respond)

    async def finish_pending(self) -> None:
        """Complete own entries left pending by a crash (run at start-up)."""
        for ledger in entry_records.pending_ledgers(self.node.engine):
            if self.node.id != ChannelMembers.of(ledger).supplier:
                continue
            async with self._lock(self._sequence_locks, ledger):
                await self._finish_pending_locked(ledger)

    async def _finish_pending_locked(self, ledger: str) -> None:
        pending = entry_records.load_pending(self.node.engine, ledger)
        if pending is None:
            return
        entry, sig = pending
        head = self.head(ledger)
        if head.size >= entry.seq:  # appended before the crash; only the cleanup was lost
            with write_transaction(self.node.engine) as conn:
                entry_records.clear_pending(conn, ledger)
            return
        await self._complete_locked(entry, Signature(self.node.id, sig))

    async def _complete_locked(self, entry: Entry, own: Signature, *, respond: bool = False) -> SealedEntry:
        members = ChannelMembers.of(entry.ledger)
        counter = await self._request_countersignature(entry, own, members.oem)
        signatures = (own,) if counter is None else (own, counter)
        sealed = SealedEntry(entry, signatures)
        key = f"{entry.ledger}:{entry.seq}"
        # Replication to the OEM goes through the outbox, in append order, after the
        # commit: the author's call returns once its own copy is durable and endorsed.
        self._append(
            sealed, tasks=[(PUSH_TASK, key, {"ledger": entry.ledger, "seq": entry.seq})], respond=respond
        )
        return sealed

    async def _request_countersignature(self, entry: Entry, own: Signature, peer: str) -> Signature | None:
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

    async def propose(
        self, ledger: str, kind: str, body: Mapping[str, object], *, respond: bool = False
    ) -> SealedEntry:
        """OEM side: get an own entry sequenced by the supplier.

        Raises:
            PeerUnavailable: if the supplier cannot be reached.
            Conflict: if the supplier refuses it, or it could not be placed in time.
        """
        members = self.members(ledger)
        async with self._lock(self._propose_locks, ledger):
            if is_private(kind):
                await self.sync(ledger)
                if self.keyring.current_key_id(ledger) is None:
                    await self._propose_locked(ledger, members, KEY_KIND, self.keyring.new_key_body(ledger))
            return await self._propose_locked(ledger, members, kind, body, respond=respond)

    async def _propose_locked(
        self,
        ledger: str,
        members: ChannelMembers,
        kind: str,
        body: Mapping[str, object],
        *,
        respond: bool = False,
    ) -> SealedEntry:
        for _ in range(MAX_PROPOSAL_ROUNDS):
            await self.sync(ledger)
            entry = self._next(ledger, kind, body)
            own = self._sign(entry)
            response = await self.node.peers.request(
                members.supplier,
                "POST",
                f"/peer/v1/channels/{ledger}/proposals",
                json={"entry": entry.as_json(), "signatures": [own.as_json()]},
            )
            if response.status_code == 409:
                continue
            if response.status_code != 200:
                raise Conflict(f"{members.supplier} refused the proposal: {response.text[:300]}")
            sealed = parse_sealed(response.json())
            if sealed.entry.hash != entry.hash:
                raise PeerError(f"{members.supplier} sealed a different entry than proposed")
            await self.accept(sealed, respond=respond)
            return sealed
        raise Conflict(f"could not place an entry on {ledger} after {MAX_PROPOSAL_ROUNDS} rounds")

    # -- counterpart handlers ----------------------------------------------------------------

    async def handle_countersign(self, sender: str, sealed: SealedEntry) -> Signature:
        """Countersign the supplier's entry if the rules allow (OEM side)."""
        entry = sealed.entry
        members = self.members(entry.ledger)
        if sender != members.supplier or entry.author != sender:
            raise Forbidden("only the supplier asks for countersignatures of its own entries")
        self._verify(sealed, members)
        stored = entry_records.sealed_at(self.node.engine, entry.ledger, entry.seq)
        if stored is None and entry.seq > self.head(entry.ledger).size + 1:
            await self.sync(entry.ledger)
            stored = entry_records.sealed_at(self.node.engine, entry.ledger, entry.seq)
        if stored is not None and stored.entry.hash != entry.hash:
            raise Conflict(f"seq {entry.seq} of {entry.ledger} is already a different entry here")
        done = entry_records.countersigned_hash(self.node.engine, entry.ledger, entry.seq)
        if done is not None and done[0] == entry.hash:
            return Signature(self.node.id, done[1])
        if stored is None:
            self._require_countersignable(entry, "countersignature refused")
        return self._countersign(entry)

    def _require_countersignable(self, entry: Entry, refusal: str, *, size_in_problem: bool = False) -> None:
        """Raise Conflict unless this member may countersign ``entry`` against its own copy."""
        head = self.head(entry.ledger)
        done = entry_records.countersigned_hash(self.node.engine, entry.ledger, entry.seq)
        try:
            check_countersign(
                entry,
                me=self.node.id,
                head=(head.size, head.head_hash),
                already_countersigned=done[0] if done else None,
            )
            self.keyring.check_entry(entry)
        except EndorsementRefused as exc:
            extensions = {"size": head.size} if size_in_problem else {}
            raise Conflict(f"{refusal}: {exc}", **extensions) from exc

    def _countersign(self, entry: Entry) -> Signature:
        """Sign ``entry`` and record it first; never a second entry for one seq."""
        recorded_hash, recorded_sig = entry_records.record_countersignature(
            self.node.engine, entry, self._sign(entry).sig
        )
        if recorded_hash != entry.hash:
            raise Conflict(f"already countersigned a different entry for seq {entry.seq}")
        return Signature(self.node.id, recorded_sig)

    async def handle_proposal(self, sender: str, sealed: SealedEntry) -> SealedEntry:
        """Sequence, countersign and append the OEM's entry (supplier side)."""
        entry = sealed.entry
        members = self.members(entry.ledger)
        if self.node.id != members.supplier or sender != members.oem or entry.author != sender:
            raise Forbidden("only the OEM proposes, only the supplier sequences")
        self._verify(sealed, members)
        async with self._lock(self._sequence_locks, entry.ledger):
            await self._finish_pending_locked(entry.ledger)
            stored = entry_records.sealed_at(self.node.engine, entry.ledger, entry.seq)
            if stored is not None and stored.entry.hash == entry.hash:
                return stored
            self._require_countersignable(entry, "proposal refused", size_in_problem=True)
            result = SealedEntry(entry, (*sealed.signatures, self._countersign(entry)))
            self._append(result)
            return result

    async def accept(self, sealed: SealedEntry, *, respond: bool = False) -> None:
        """Append an entry the supplier sealed, catching up first if behind (OEM side)."""
        ledger = sealed.entry.ledger
        members = self.members(ledger)
        self._verify(sealed, members)
        async with self._lock(self._accept_locks, ledger):
            head = self.head(ledger)
            if sealed.entry.seq > head.size + 1:
                await self._pull_locked(ledger, members)
                head = self.head(ledger)
            if sealed.entry.seq <= head.size:
                stored = entry_records.sealed_at(self.node.engine, ledger, sealed.entry.seq)
                if stored is None or stored.leaf != sealed.leaf:
                    raise Conflict(f"{ledger} seq {sealed.entry.seq} differs from this copy")
                return
            self._accept_next(sealed, members, respond=respond)

    def _accept_next(self, sealed: SealedEntry, members: ChannelMembers, *, respond: bool = False) -> None:
        entry = sealed.entry
        late: Signature | None = None
        tasks: list[tuple[str, str, dict[str, Any]]] = []
        if self.node.id not in sealed.signers():
            self._require_countersignable(entry, f"will not accept {entry.ledger} seq {entry.seq}")
            late = self._countersign(entry)
            tasks.append(
                (
                    LATE_SIGNATURE_TASK,
                    f"{entry.ledger}:{entry.seq}",
                    {"ledger": entry.ledger, "seq": entry.seq, "sig": late.sig},
                )
            )
        self._append(sealed, late=late, tasks=tasks, respond=respond)

    async def sync(self, ledger: str) -> int:
        """Pull entries the supplier has and this copy lacks (OEM side); return how many."""
        members = self.members(ledger)
        if self.node.id == members.supplier:
            return 0
        async with self._lock(self._accept_locks, ledger):
            return await self._pull_locked(ledger, members)

    async def _pull_locked(self, ledger: str, members: ChannelMembers) -> int:
        pulled = 0
        while True:
            after = self.head(ledger).size
            try:
                page = await self.node.peers.get_json(
                    members.supplier, f"/peer/v1/ledgers/{ledger}/entries", after=after, limit=500
                )
            except PeerError as exc:
                if exc.extensions.get("peer_status") == 404:  # the supplier holds nothing yet
                    return pulled
                raise
            if not page:
                return pulled
            for item in page:
                sealed = parse_sealed(item)
                self._verify(sealed, members)
                self._accept_next(sealed, members)
                pulled += 1

    async def handle_late_signature(self, sender: str, ledger: str, seq: int, sig: str) -> None:
        """Store the counterpart's countersignature of an entry appended without it."""
        members = self.members(ledger)
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

    async def sync_forever(self, interval: float) -> None:
        """Background (OEM side): pull from each supplier now and then.

        A copy that missed pushes (this node or the supplier was down) converges
        without waiting for the next entry.
        """
        while True:
            for ledger in self.ledgers():
                if self.members(ledger).supplier == self.node.id:
                    continue
                try:
                    await self.sync(ledger)
                except Exception as exc:  # a peer being down is normal; try again next round
                    log.debug("sync of %s failed: %s", ledger, exc)
            await asyncio.sleep(interval)

    # -- outbox handlers --------------------------------------------------------------------

    async def deliver_push(self, payload: dict[str, Any]) -> None:
        """Outbox: (re)deliver a sealed entry to the OEM, asking for its countersignature."""
        ledger, seq = payload["ledger"], int(payload["seq"])
        sealed = entry_records.sealed_at(self.node.engine, ledger, seq)
        if sealed is None:
            raise LookupError(f"{ledger} seq {seq} not found")
        response = await self.node.peers.request(
            self.members(ledger).oem, "POST", f"/peer/v1/channels/{ledger}/entries", json=sealed_json(sealed)
        )
        if response.status_code >= 400:
            raise PeerError(f"push refused: HTTP {response.status_code} {response.text[:200]}")

    async def deliver_late_signature(self, payload: dict[str, Any]) -> None:
        """Outbox: send this member's late countersignature to the supplier."""
        ledger = payload["ledger"]
        response = await self.node.peers.request(
            self.members(ledger).other(self.node.id),
            "POST",
            f"/peer/v1/channels/{ledger}/countersignatures",
            json={"seq": payload["seq"], "sig": payload["sig"]},
        )
        if response.status_code >= 400:
            raise PeerError(f"late signature refused: HTTP {response.status_code} {response.text[:200]}")

    async def deliver_proposal(self, payload: dict[str, Any]) -> None:
        """Outbox: propose an OEM entry that was queued while the supplier was down."""
        ledger, kind = payload["ledger"], payload["kind"]
        if "sealed" in payload:
            body = self.keyring.open_local(payload["sealed"], _queued_purpose(ledger, kind))
        else:  # queued before payloads were sealed at rest
            body = payload["body"]
        await self.propose(ledger, kind, body)

    def outbox_handlers(self) -> dict[str, Any]:
        """Handlers to register with the node's outbox worker."""
        return {
            PUSH_TASK: self.deliver_push,
            LATE_SIGNATURE_TASK: self.deliver_late_signature,
            PROPOSE_TASK: self.deliver_proposal,
        }


def _queued_purpose(ledger: str, kind: str) -> str:
    return f"queued-proposal:{ledger}:{kind}"
