"""Partner side of decisions: validate a proposal, sign it, never sign two for one seq.

A partner signs the hash of a proposed decision entry only after its replica reached
the proposal's base, re-executing the rule gives the identical result, and the checks
only it can make as a witness hold (:mod:`supplymesh.network.witness`): the time is
within the skew of its own clock and not before its base, a cancellation is due by its
own clock, and a split uses, from its channels, exactly the attestations standing there.
What it signed is recorded (``countersigned`` table, ledger ``network``) before it
answers, so a PDU can never collect a certificate for two different decisions at the
same seq.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

from supplymesh.core.contracts.network import NetworkState
from supplymesh.core.entry import Entry, SealedEntry, Signature
from supplymesh.errors import Conflict, Forbidden
from supplymesh.network.clocks import check_after_base, check_after_inputs, check_cancel_due, check_clock
from supplymesh.network.copies import StoredChannels, head_time
from supplymesh.network.replica import NetworkReplica
from supplymesh.network.rules import RuleViolation, validate_proposal
from supplymesh.network.witness import check_as_buyer, check_as_supplier, unheld
from supplymesh.storage import entry_records

log = logging.getLogger("supplymesh.network")
# How long a buyer waits for a supplier to serve its channel before signing a split
# whose attestation it does not hold (well within the PDU's wait for an answer).
CATCH_UP_SECONDS = 2.0


async def sign_proposal(replica: NetworkReplica, sender: str, sealed: SealedEntry) -> Signature:
    """Validate and sign a proposed decision.

    Raises:
        Forbidden: if the sender is not the PDU.
        Conflict: with the rule that fails (stale base, wrong result, forged input …).
    """
    node = replica.node
    if sender != node.config.pdu.id:
        raise Forbidden("only the PDU proposes decisions")
    entry = sealed.entry
    async with replica.lock:
        if replica.state.size < entry.seq - 1:
            await replica._pull_locked()
        pdu_sig = next((s for s in sealed.signatures if s.signer == sender), None)
        if pdu_sig is None:
            raise Conflict("proposal refused: not signed by the PDU")
        try:
            node.config.member(sender).key.verify_text(pdu_sig.sig, entry.digest)
            again = _signed_before(replica, entry)
            if again is not None:
                return again
            await validate_at(replica, replica.state, entry)
        except (RuleViolation, ValueError) as exc:
            raise Conflict(f"proposal refused by {node.id}: {exc}") from exc
        own = node.signer.sign_text(entry.digest)
        recorded_hash, recorded_sig = entry_records.record_countersignature(node.engine, entry, own)
        if recorded_hash != entry.hash:
            raise Conflict(
                f"proposal refused by {node.id}: already signed another decision for seq {entry.seq}"
            )
        return Signature(node.id, recorded_sig)


def _signed_before(replica: NetworkReplica, entry: Entry) -> Signature | None:
    """The signature this partner already gave ``entry``, while it is still next to commit.

    The replica is then at the very base it was validated against, so the answer is the
    same; only the clock moved on. A proposal re-offered after a timeout thus keeps the
    signatures it collected, even once its time is older than the skew.
    """
    if entry.seq != replica.state.size + 1:
        return None
    recorded = entry_records.countersigned_hash(replica.node.engine, entry.ledger, entry.seq)
    if recorded is None or recorded[0] != entry.hash:
        return None
    return Signature(replica.node.id, recorded[1])


async def validate_at(
    replica: NetworkReplica, state: NetworkState, entry: Entry, records: StoredChannels | None = None
) -> None:
    """Every check a partner makes before signing ``entry`` at ``state`` (lock held).

    ``state`` is the replica's, or for a later entry of a block, a fork of it with the
    block's earlier entries folded in (:mod:`supplymesh.network.blocks`); ``records``
    this node's channel records, shared by the entries of a block.

    Raises:
        RuleViolation: naming the first rule that fails.
    """
    node = replica.node
    now = node.clock()
    check_clock(entry, now, me=node.id)
    validate_proposal(node.config, state, entry, now)
    check_after_base(entry, head_time(node.engine, state))
    check_after_inputs(entry)
    check_cancel_due(node.config, state, entry, now)
    records = records or StoredChannels(node.engine)
    check_as_supplier(node.config, state, entry, node.id, records)
    served = await _catch_up(replica, unheld(state, entry, node.id, records))
    if served:
        records.forget()
    check_as_buyer(state, entry, node.id, records, served=served)


async def _catch_up(replica: NetworkReplica, ledgers: Collection[str]) -> set[str]:
    """Pull each channel from its supplier; return those it served in time."""
    served: set[str] = set()
    if replica.channels is None:
        return served
    for ledger in sorted(ledgers):
        try:
            await asyncio.wait_for(replica.channels.sync(ledger), timeout=CATCH_UP_SECONDS)
        except Exception as exc:  # unreachable or refused: the attestation cannot be checked now
            log.info("%s: catch-up before signing failed (%s); the audit checks it", ledger, exc)
            continue
        served.add(ledger)
    return served
