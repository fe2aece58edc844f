"""Partner side of decisions: validate a proposal, sign it, never sign two for one seq.

A partner signs the hash of a proposed decision entry only after its replica reached
the proposal's base and re-executing the rule gives the identical result. What it
signed is recorded (``countersigned`` table, ledger ``network``) before it answers, so a
PDU can never collect a certificate for two different decisions at the same seq.
"""

from __future__ import annotations

from supplymesh.channels import state as signed_records
from supplymesh.core.entry import SealedEntry, Signature
from supplymesh.errors import Conflict, Forbidden
from supplymesh.network.replica import NetworkReplica
from supplymesh.network.rules import RuleViolation, validate_proposal


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
            validate_proposal(node.config, replica.state, entry, node.clock())
        except (RuleViolation, ValueError) as exc:
            raise Conflict(f"proposal refused by {node.id}: {exc}") from exc
        own = node.signer.sign_text(entry.digest)
        recorded_hash, recorded_sig = signed_records.record_countersignature(node.engine, entry, own)
        if recorded_hash != entry.hash:
            raise Conflict(
                f"proposal refused by {node.id}: already signed another decision for seq {entry.seq}"
            )
        return Signature(node.id, recorded_sig)
