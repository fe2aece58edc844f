"""The PDU's sequencer: party actions in, decisions out, every entry replicated.

One lock orders everything appended to the network ledger. A decision round runs under
it: the proposal is built at base = current head, persisted (so a restart re-offers the
same entry, never a different one for that seq), sent to every partner in parallel, and
appended with its certificate once the policy is met. Pushes to partners go through the
outbox, in order. A demand whose split cannot reach a quorum after ``attempts`` rounds is
marked ``failed`` with the reasons the partners gave.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Coroutine, Sequence
from typing import Any

from sqlalchemy import Connection

from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.actions import Action, ActionError, check_action
from supplymesh.core.contracts.network import (
    CANCEL,
    DEMAND_FAILED,
    PROPOSAL_WITHDRAWN,
    SPLIT,
    NetworkState,
    decide_cancel,
    decide_quality,
    decide_split,
    deposit_overdue,
)
from supplymesh.core.entry import Entry, SealedEntry, Signature, format_time, next_entry, parse_time
from supplymesh.core.quorum import check
from supplymesh.errors import Forbidden, PeerError, Unprocessable
from supplymesh.network.replica import NetworkReplica
from supplymesh.network.rules import MAX_CLOCK_SKEW_SECONDS, policy_for
from supplymesh.node.context import Node
from supplymesh.storage import entry_records, outbox
from supplymesh.storage.engine import write_transaction
from supplymesh_pdu.admission import admit
from supplymesh_pdu.attestations import Gathered, gather_attestations
from supplymesh_pdu.votes import Refused, ask_partner, unbuildable

log = logging.getLogger("supplymesh.pdu")
PUSH_TASK = "network.push"


WITHDRAW_AFTER_SECONDS = MAX_CLOCK_SKEW_SECONDS // 2
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 300.0


class Sequencer:
    """Sequences the network ledger and runs decision rounds."""

    def __init__(
        self, node: Node, replica: NetworkReplica, *, attempts: int = 3, timeout: float = 3.0
    ) -> None:
        self.node = node
        self.replica = replica
        self.attempts = attempts
        self.timeout = timeout
        self.wake = asyncio.Event()
        self.failures: dict[str, list[str]] = {}
        self._backoff: dict[str, tuple[int, float]] = {}
        self._index: dict[tuple[str, str, str], tuple[int, str]] | None = None

    @property
    def partners(self) -> list[str]:
        """Members that hold a replica (suppliers and OEMs)."""
        return [m.id for m in self.node.config.partners()]

    # -- appending ---------------------------------------------------------------------------

    def _append(self, sealed: SealedEntry) -> None:
        """Append (lock held), fold, and queue the pushes to every partner, in one transaction."""
        now = self.node.now_text()

        def follow_up(conn: Connection, _sealed: SealedEntry, _state: NetworkState) -> None:
            entry_records.clear_pending(conn, NETWORK_LEDGER)
            for partner in self.partners:
                outbox.enqueue(
                    conn,
                    task=PUSH_TASK,
                    key=f"{partner}:{sealed.entry.seq}",
                    payload={"partner": partner, "seq": sealed.entry.seq},
                    now_text=now,
                )

        self.replica.append(sealed, extra=follow_up)
        self.node.wake_outbox()

    def _time(self) -> str:
        """Now, but never before the ledger's last time (a clock stepped back stays monotonic)."""
        now = self.node.clock()
        last = self.replica.state.time
        if last and now < parse_time(last):
            return last
        return format_time(now)

    def _entry(self, kind: str, body: dict[str, Any]) -> Entry:
        state = self.replica.state
        return next_entry(
            ledger=NETWORK_LEDGER,
            head=(state.size, state.head),
            time=self._time(),
            kind=kind,
            author=self.node.id,
            body=body,
        )

    def _own(self, entry: Entry) -> Signature:
        return Signature(self.node.id, self.node.signer.sign_text(entry.digest))

    async def submit_action(self, sender: str, statement: object, signature: str) -> dict[str, Any]:
        """Check a party action against the network state and sequence it.

        Raises:
            Forbidden: the sender is not the acting party.
            Unprocessable: malformed or badly signed.
            Conflict: the state does not allow it (e.g. the offer was already taken).
        """
        try:
            action = Action.from_statement(statement)
        except ActionError as exc:
            raise Unprocessable(str(exc)) from exc
        if action.party != sender:
            raise Forbidden(f"{sender} may not submit an action of {action.party}")
        member = self.node.config.member(sender)
        try:
            check_action(action, signature, role=str(member.role), key=member.key)
        except ActionError as exc:
            raise Unprocessable(str(exc)) from exc
        async with self.replica.lock:
            found = self._find(action)
            if found is not None:
                return found
            admit(self.node.config, self.replica.state, action)
            entry = self._entry(action.kind, {"action": action.statement(), "signature": signature})
            self._append(SealedEntry(entry, (self._own(entry),)))
            if self._index is not None:
                self._index[(action.kind, action.party, action.id)] = (entry.seq, entry.hash)
        self.wake.set()
        return {"ledger": NETWORK_LEDGER, "seq": entry.seq, "hash": entry.hash}

    def _find(self, action: Action) -> dict[str, Any] | None:
        if self._index is None:
            self._index = {}
            for row in self.node.store.iter_entries(NETWORK_LEDGER):
                body = Entry.from_canonical(row.entry).body
                if "action" in body:
                    act = body["action"]
                    self._index[(act["kind"], act["party"], act["id"])] = (row.seq, row.hash)
        found = self._index.get((action.kind, action.party, action.id))
        return None if found is None else {"ledger": NETWORK_LEDGER, "seq": found[0], "hash": found[1]}

    # -- decisions ---------------------------------------------------------------------------

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
            async with self.replica.lock:
                if self.replica.state.demands[demand_hash].status != "pending":
                    return True
                inputs = {
                    "demand": demand_hash,
                    "attestations": list(gathered.attestations.values()),
                    "unavailable": gathered.unavailable,
                }
                result = decide_split(
                    self.replica.state, demand_hash, gathered.capacities, gathered.unavailable
                )
                why_not = unbuildable(SPLIT, inputs, result)
                if why_not is not None:
                    self._fail_locked(demand_hash, f"the split cannot be built: {why_not}")
                    return False
                if renewed:
                    self._withdraw_split_locked(demand_hash)
                if await self._round(SPLIT, inputs, result):
                    return True
        async with self.replica.lock:
            reason = "no quorum: " + " | ".join(self.failures.get(demand_hash, ["no answer"])[-4:])
            self._fail_locked(demand_hash, reason)
        return False

    async def _gather(self, buyer: str, demand_hash: str, suppliers: Sequence[str]) -> Gathered:
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

    async def _round(
        self, kind: str, inputs: dict[str, Any], result: dict[str, Any], *, subject: str = ""
    ) -> bool:
        """Propose at the current base, collect signatures, commit (lock held).

        A proposal still pending at the next seq is offered again instead (partners may
        have signed it), unless it is older than ``WITHDRAW_AFTER_SECONDS``: partners no
        longer sign an entry dated that far from their clocks, so the PDU withdraws it
        (a ``proposal.withdrawn`` entry takes its seq) and proposes afresh.
        """
        kept = entry_records.load_pending(self.node.engine, NETWORK_LEDGER)
        if kept is not None and kept[0].seq == self.replica.state.size + 1 and self._expired(kept[0]):
            self._withdraw_locked(kept[0])
            kept = None
        state = self.replica.state
        body = {
            "decision": kind,
            "base": {"seq": state.size, "hash": state.head},
            "inputs": inputs,
            "result": result,
        }
        if kept is not None and kept[0].seq == state.size + 1:
            # Partners may already have signed it: only this entry can be certified at
            # this seq, so it is offered again, whatever was due next.
            entry, own = kept[0], Signature(self.node.id, kept[1])
            kind = entry.kind
        else:
            entry = self._entry(kind, body)
            own = self._own(entry)
            entry_records.save_pending(self.node.engine, entry, own.sig)
        policy = policy_for(self.node.config, kind)
        votes = await asyncio.gather(*(self._ask(p, entry, own) for p in sorted(policy.members)))
        signatures = [v for v in votes if isinstance(v, Signature)]
        outcome = check(policy, signatures, entry.digest, self.node.config.keys())
        if not outcome.ok:
            reasons = [v.reason for v in votes if isinstance(v, Refused)]
            if not signatures and all(isinstance(v, Refused) and v.answered for v in votes):
                # Every partner answered and refused: nobody holds a signature of it, so a
                # fresh proposal may take this seq. A partner that did not answer in time
                # may have signed it: then the same proposal is offered again.
                with write_transaction(self.node.engine) as conn:
                    entry_records.clear_pending(conn, NETWORK_LEDGER)
            key = subject or str(inputs.get("demand", ""))
            self.failures.setdefault(key, []).append(f"{outcome.describe()}: " + "; ".join(reasons))
            log.warning("%s at seq %d: %s %s", kind, entry.seq, outcome.describe(), reasons)
            return False
        self._append(SealedEntry(entry, (own, *signatures)))
        return True

    def _expired(self, entry: Entry) -> bool:
        return (self.node.clock() - parse_time(entry.time)).total_seconds() > WITHDRAW_AFTER_SECONDS

    def _withdraw_locked(self, entry: Entry, reason: str = "") -> None:
        """Give up the seq of an uncertified proposal: no certificate for it can commit after this."""
        reason = reason or f"not certified within {WITHDRAW_AFTER_SECONDS} s"
        log.warning("withdrawing %s proposed at seq %d: %s", entry.kind, entry.seq, reason)
        withdrawal = self._entry(PROPOSAL_WITHDRAWN, {"proposal": entry.hash, "reason": reason})
        self._append(SealedEntry(withdrawal, (self._own(withdrawal),)))

    async def _ask(self, partner: str, entry: Entry, own: Signature) -> Signature | Refused:
        return await ask_partner(self.node, partner, entry, own, timeout=self.timeout)

    # -- replication ---------------------------------------------------------------------------

    async def push(self, payload: dict[str, Any]) -> None:
        """Outbox: deliver one entry to one partner."""
        partner, seq = payload["partner"], int(payload["seq"])
        rows = self.node.store.entries(NETWORK_LEDGER, after=seq - 1, limit=1)
        if not rows:
            raise LookupError(f"network seq {seq} not found")
        item = {"entry": json.loads(rows[0].entry), "signatures": json.loads(rows[0].signatures)}
        response = await self.node.peers.request(partner, "POST", "/peer/v1/network/entries", json=item)
        if response.status_code >= 400:
            raise PeerError(
                f"{partner} refused network seq {seq}: HTTP {response.status_code} {response.text[:200]}"
            )

    async def resume(self) -> None:
        """Start-up: finish a proposal that may have collected signatures before a crash."""
        async with self.replica.lock:
            kept = entry_records.load_pending(self.node.engine, NETWORK_LEDGER)
            if kept is not None and kept[0].seq <= self.replica.state.size:
                with write_transaction(self.node.engine) as conn:
                    entry_records.clear_pending(conn, NETWORK_LEDGER)
            elif kept is not None:
                entry = kept[0]
                await self._round(
                    entry.kind, dict(entry.body.get("inputs", {})), dict(entry.body.get("result", {}))
                )
        self.wake.set()
