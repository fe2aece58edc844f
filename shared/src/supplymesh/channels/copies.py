"""This node's copies of its channels: membership, entries it builds, checks and appends.

What both sides of the channel protocol share: who the members are, the head of the own
copy, building and signing an entry that continues it, verifying a sealed entry's
signatures, appending a sealed entry atomically with its event and follow-up outbox
tasks, and countersigning — never two different entries for one seq (enforced by a
primary key).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from supplymesh.channels.keyring import ChannelKeyring
from supplymesh.channels.wire import sealed_json
from supplymesh.core.contracts.channel import (
    ChannelMembers,
    EndorsementRefused,
    check_countersign,
    is_private,
    may_author,
)
from supplymesh.core.crypto import SignatureError
from supplymesh.core.entry import Entry, SealedEntry, Signature, next_entry
from supplymesh.errors import Conflict, Forbidden, Unprocessable
from supplymesh.node.context import Node
from supplymesh.storage import entry_records, outbox
from supplymesh.storage.events import publish
from supplymesh.storage.idempotency import respond_in
from supplymesh.storage.ledger_store import Head

# Outbox tasks of the channel protocol (handled by :mod:`supplymesh.channels.delivery`).
PROPOSE_TASK = "channel.propose"
LATE_SIGNATURE_TASK = "channel.late-signature"
PUSH_TASK = "channel.push"

Task = tuple[str, str, dict[str, Any]]
"""An outbox task to enqueue with an append: (task, key, payload)."""


class LedgerLocks:
    """One asyncio lock per ledger, created on first use."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    def __call__(self, ledger: str) -> asyncio.Lock:
        """The lock of ``ledger``."""
        return self._locks.setdefault(ledger, asyncio.Lock())


class ChannelCopies:
    """This node's copies of the channels it is a member of (supplier or OEM)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.keyring = ChannelKeyring(node)

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

    def open_body(self, entry: Entry) -> dict[str, Any]:
        """The plaintext body of an entry of a channel this node is a member of.

        Raises:
            Forbidden: if this node is not a member.
        """
        self.members(entry.ledger)
        return self.keyring.open(entry)

    def verify(self, sealed: SealedEntry, members: ChannelMembers) -> None:
        """Check the author may author the entry and every signature is a member's and verifies.

        Raises:
            Unprocessable: if not.
        """
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

    def next_entry(self, ledger: str, kind: str, body: Mapping[str, object]) -> Entry:
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

    def sign(self, entry: Entry) -> Signature:
        """This node's signature of ``entry``."""
        return Signature(signer=self.node.id, sig=self.node.signer.sign_text(entry.digest))

    def append(
        self,
        sealed: SealedEntry,
        *,
        late: Signature | None = None,
        tasks: Sequence[Task] = (),
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
                writer.conn, type_="channel.entry", subject=entry.ledger, data=_event(entry), now_text=now
            )
        if tasks:
            self.node.wake_outbox()

    def require_countersignable(self, entry: Entry, refusal: str, *, size_in_problem: bool = False) -> None:
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

    def countersign(self, entry: Entry) -> Signature:
        """Sign ``entry`` and record it first; never a second entry for one seq."""
        recorded_hash, recorded_sig = entry_records.record_countersignature(
            self.node.engine, entry, self.sign(entry).sig
        )
        if recorded_hash != entry.hash:
            raise Conflict(f"already countersigned a different entry for seq {entry.seq}")
        return Signature(self.node.id, recorded_sig)


def _event(entry: Entry) -> dict[str, Any]:
    """Data of the ``channel.entry`` event of an appended entry."""
    return {
        "ledger": entry.ledger,
        "seq": entry.seq,
        "kind": entry.kind,
        "author": entry.author,
        "hash": entry.hash,
    }
