"""Partner side of a block: consecutive decisions validated in order, signed all or none.

The PDU proposes every decision that is due as a block of consecutive network entries,
each an ordinary decision entry whose base is the entry before it. A partner checks each
exactly as it checks a single proposal (:func:`supplymesh.network.signing.validate_at`),
against a fork of its replica with the block's earlier entries folded in, so a later
decision sees the effects of the earlier ones: two splits in one block that compete for
a supplier's hours cannot both count them.

It signs every entry of the block or none. One entry that fails a rule refuses the whole
block, naming the entry's position (``index``) and the rule, so the PDU can drop that
decision and propose the others again; nothing is recorded for a refused block. A block
it signs is recorded seq by seq (``countersigned``) in one transaction before it answers:
a PDU can never collect a certificate for two different entries at one seq, inside a
block or across blocks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from supplymesh.core.contracts.network import NetworkState, apply
from supplymesh.core.entry import SealedEntry, Signature
from supplymesh.errors import Conflict, Forbidden, PeerError, Unprocessable
from supplymesh.network.copies import StoredChannels
from supplymesh.network.replica import NetworkReplica, parse
from supplymesh.network.rules import RuleViolation
from supplymesh.network.signing import validate_at
from supplymesh.storage import entry_records

log = logging.getLogger("supplymesh.network")

MAX_BLOCK_ENTRIES = 256
"""The most entries a partner validates in one block (the PDU proposes at most 64)."""


async def take_carried(replica: NetworkReplica, sender: str, carried: Any) -> None:
    """Committed entries the PDU carried with a proposal, taken like a push before it is judged.

    They save a partner the pull of what it lacks. Anything wrong with them (not from the
    PDU, malformed, a certificate that fails) is ignored here: the partner then pulls, as
    it would without them, and the proposal is judged the same way.
    """
    if sender != replica.node.config.pdu.id or not isinstance(carried, list) or not carried:
        return
    try:
        await replica.accept_many([parse(item) for item in carried[:MAX_BLOCK_ENTRIES]])
    except (Unprocessable, Conflict, PeerError) as exc:
        log.info("entries carried with a proposal not taken (%s); pulling instead", exc)


def refused(index: int, detail: str) -> Conflict:
    """The answer for a block whose entry at ``index`` breaks a rule."""
    return Conflict(detail, index=index)


async def sign_block(replica: NetworkReplica, sender: str, block: Sequence[SealedEntry]) -> list[Signature]:
    """Validate every entry of ``block`` in order and sign them all, or refuse the block.

    Raises:
        Forbidden: the sender is not the PDU.
        Unprocessable: the block is empty, too long, or its entries are not consecutive.
        Conflict: an entry breaks a rule (``index`` names it), or this partner already
            signed another entry for one of its seqs.
    """
    node = replica.node
    pdu = node.config.pdu.id
    if sender != pdu:
        raise Forbidden("only the PDU proposes decisions")
    if not 0 < len(block) <= MAX_BLOCK_ENTRIES:
        raise Unprocessable(f"a block holds 1 to {MAX_BLOCK_ENTRIES} entries, not {len(block)}")
    for before, after in pairwise(block):
        if after.entry.seq != before.entry.seq + 1 or after.entry.prev != before.entry.hash:
            raise Unprocessable(f"block entry {after.entry.seq} does not follow entry {before.entry.seq}")
    async with replica.lock:
        if replica.state.size < block[0].entry.seq - 1:
            await replica._pull_locked()
        again = _signed_before(replica, block)
        if again is not None:
            return again
        await _validate(replica, pdu, block)
        signed = [(s.entry, node.signer.sign_text(s.entry.digest)) for s in block]
        recorded = entry_records.record_countersignatures(node.engine, signed)
    for index, ((entry, _), (recorded_hash, _)) in enumerate(zip(signed, recorded, strict=True)):
        if recorded_hash != entry.hash:
            raise refused(
                index, f"block refused by {node.id}: already signed another decision for seq {entry.seq}"
            )
    return [Signature(node.id, sig) for _, sig in recorded]


def _signed_before(replica: NetworkReplica, block: Sequence[SealedEntry]) -> list[Signature] | None:
    """The signatures already given to exactly this block, while its first entry is next to commit."""
    node = replica.node
    if block[0].entry.seq != replica.state.size + 1:
        return None
    found = []
    for sealed in block:
        recorded = entry_records.countersigned_hash(node.engine, sealed.entry.ledger, sealed.entry.seq)
        if recorded is None or recorded[0] != sealed.entry.hash:
            return None
        found.append(Signature(node.id, recorded[1]))
    return found


async def _validate(replica: NetworkReplica, pdu: str, block: Sequence[SealedEntry]) -> None:
    """Every check of every entry, each at the state its predecessors in the block leave (lock held).

    Raises:
        Conflict: naming the first entry that fails and why.
    """
    node = replica.node
    key = node.config.member(pdu).key
    state: NetworkState = replica.state
    records = StoredChannels(node.engine)
    signed = entry_records.countersigned_hashes(
        node.engine, block[0].entry.ledger, [s.entry.seq for s in block]
    )
    for index, sealed in enumerate(block):
        entry = sealed.entry
        own = next((s for s in sealed.signatures if s.signer == pdu), None)
        try:
            if own is None:
                raise RuleViolation("not signed by the PDU")
            key.verify_text(own.sig, entry.digest)
            if signed.get(entry.seq, entry.hash) != entry.hash:
                raise RuleViolation(f"already signed another decision for seq {entry.seq}")
            await validate_at(replica, state, entry, records)
        except (RuleViolation, ValueError) as exc:
            raise refused(index, f"block refused by {node.id} at entry {entry.seq}: {exc}") from exc
        if index < len(block) - 1:
            if state is replica.state:
                state = state.fork()
            apply(state, entry)
