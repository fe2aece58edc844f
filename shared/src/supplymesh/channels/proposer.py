"""OEM side: propose own entries to the supplier, countersign the supplier's entries.

The OEM signs an entry continuing its copy and proposes it; the supplier checks it
continues its own copy, countersigns and appends; the OEM appends what the supplier
returns. If the supplier's copy has moved on, it answers 409 and the OEM catches up and
tries again. While the supplier is unreachable, an entry is queued in the outbox, sealed
to this node's own key, and proposed when it returns.

Asked to countersign a supplier's entry, the OEM checks it continues its own copy (or
is the very entry it holds at that seq) and signs it, recording the signature first so
it never countersigns two different entries for one seq.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from supplymesh.channels.copies import PROPOSE_TASK, ChannelCopies, LedgerLocks
from supplymesh.channels.follower import Follower
from supplymesh.channels.wire import parse_sealed
from supplymesh.core.contracts.channel import KEY_KIND, ChannelMembers, is_private
from supplymesh.core.entry import SealedEntry, Signature
from supplymesh.errors import Conflict, Forbidden, PeerError, PeerUnavailable
from supplymesh.storage import entry_records, outbox
from supplymesh.storage.engine import write_transaction
from supplymesh.storage.idempotency import respond_in

MAX_PROPOSAL_ROUNDS = 5


class Proposer:
    """The OEM's part of the channel protocol: proposing and countersigning."""

    def __init__(self, copies: ChannelCopies, follower: Follower) -> None:
        self.copies = copies
        self.follower = follower
        self.node = copies.node
        self._locks = LedgerLocks()

    async def propose_or_queue(
        self, ledger: str, kind: str, body: Mapping[str, object], *, respond: bool = False
    ) -> SealedEntry | None:
        """Propose an own entry; None if it was queued because the supplier is down.

        ``respond``: the entry is what the running ERP request asked for; its answer (201
        with the sealed entry, or 202 queued) is stored in the transaction that commits it.
        """
        try:
            return await self.propose(ledger, kind, body, respond=respond)
        except PeerUnavailable:
            self._queue(ledger, kind, body, respond=respond)
            return None

    def _queue(self, ledger: str, kind: str, body: Mapping[str, object], *, respond: bool) -> None:
        """Queue a proposal until the supplier returns.

        Sealed to this node's own key, so the outbox row holds no readable payload either.
        """
        key = f"{ledger}:{self.node.now_text()}:{kind}"
        sealed = self.copies.keyring.seal_local(dict(body), _queued_purpose(ledger, kind))
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
        self.node.wake_outbox()

    async def propose_queued(self, payload: dict[str, Any]) -> None:
        """Outbox: propose an OEM entry that was queued while the supplier was down."""
        ledger, kind = payload["ledger"], payload["kind"]
        if "sealed" in payload:
            body = self.copies.keyring.open_local(payload["sealed"], _queued_purpose(ledger, kind))
        else:  # queued before payloads were sealed at rest
            body = payload["body"]
        await self.propose(ledger, kind, body)

    async def propose(
        self, ledger: str, kind: str, body: Mapping[str, object], *, respond: bool = False
    ) -> SealedEntry:
        """OEM side: get an own entry sequenced by the supplier.

        Raises:
            PeerUnavailable: if the supplier cannot be reached.
            Conflict: if the supplier refuses it, or it could not be placed in time.
        """
        members = self.copies.members(ledger)
        async with self._locks(ledger):
            if is_private(kind):
                await self.follower.sync(ledger)
                if self.copies.keyring.current_key_id(ledger) is None:
                    new_key = self.copies.keyring.new_key_body(ledger)
                    await self._propose_locked(ledger, members, KEY_KIND, new_key)
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
        """Propose until the supplier seals it, catching up before each round."""
        for _ in range(MAX_PROPOSAL_ROUNDS):
            await self.follower.sync(ledger)
            entry = self.copies.next_entry(ledger, kind, body)
            own = self.copies.sign(entry)
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
            await self.follower.accept(sealed, respond=respond)
            return sealed
        raise Conflict(f"could not place an entry on {ledger} after {MAX_PROPOSAL_ROUNDS} rounds")

    async def handle_countersign(self, sender: str, sealed: SealedEntry) -> Signature:
        """Countersign the supplier's entry if the rules allow (OEM side)."""
        entry = sealed.entry
        members = self.copies.members(entry.ledger)
        if sender != members.supplier or entry.author != sender:
            raise Forbidden("only the supplier asks for countersignatures of its own entries")
        self.copies.verify(sealed, members)
        stored = entry_records.sealed_at(self.node.engine, entry.ledger, entry.seq)
        if stored is None and entry.seq > self.copies.head(entry.ledger).size + 1:
            await self.follower.sync(entry.ledger)
            stored = entry_records.sealed_at(self.node.engine, entry.ledger, entry.seq)
        if stored is not None and stored.entry.hash != entry.hash:
            raise Conflict(f"seq {entry.seq} of {entry.ledger} is already a different entry here")
        done = entry_records.countersigned_hash(self.node.engine, entry.ledger, entry.seq)
        if done is not None and done[0] == entry.hash:
            return Signature(self.node.id, done[1])
        if stored is None:
            self.copies.require_countersignable(entry, "countersignature refused")
        return self.copies.countersign(entry)


def _queued_purpose(ledger: str, kind: str) -> str:
    """Purpose a queued proposal's body is sealed under (binds it to ledger and kind)."""
    return f"queued-proposal:{ledger}:{kind}"
