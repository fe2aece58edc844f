"""Integrity checks: each copy as its holder served it, and copies against the reference.

Every finding here names the holder whose copy breaks the rule. What each copy verifies
is computed once (:func:`supplymesh.audit.copies.verification`); these checks report it.
"""

from __future__ import annotations

from collections.abc import Iterable

from supplymesh.audit.copies import Copy, verification
from supplymesh.audit.pull import Pull, SeenHead, finding, flag
from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.contracts.channel import ChannelMembers, EndorsementRefused
from supplymesh.core.verify import Finding


def check_tree_heads(pull: Pull) -> list[Finding]:
    """Every copy is exactly what its holder's signed tree head commits to."""
    findings: list[Finding] = []
    for copy in pull.copies:
        if copy.signed_size is None:
            continue
        if copy.size != copy.signed_size:
            found = f"served {copy.size} entries for its signed tree head of size {copy.signed_size}"
            findings.append(flag(copy, finding(copy.ledger, None, "tree_head", found, copy.holder)))
            continue
        root = copy.root(copy.size)
        if root is not None and copy.size and root != copy.signed_root:
            detail = f"the served entries do not give the root of its signed tree head of size {copy.size}"
            findings.append(flag(copy, finding(copy.ledger, None, "tree_head", detail, copy.holder)))
    return findings


def check_hash_chain_and_signatures(pull: Pull) -> list[Finding]:
    """Every copy: well formed, chained, every signature valid, authors signed.

    Only the served part is verified; it must continue the verified prefix's last hash.
    """
    findings: list[Finding] = []
    for copy in pull.copies:
        for f in verification(copy, pull.config).records:
            findings.append(flag(copy, finding(f.ledger, f.seq, f.rule, f.detail, copy.holder)))
    return findings


def check_countersignatures(pull: Pull) -> list[Finding]:
    """Channel entries carry the counterpart's signature, in the leaf or as a late signature.

    A copy missing one is still kept for the next incremental audit (the late signature
    may follow), but the entry is not part of the prefix that verifies.
    """
    findings: list[Finding] = []
    for copy in pull.copies:
        if copy.ledger == NETWORK_LEDGER:
            continue
        missing = verification(copy, pull.config).missing
        copy.missing_countersignatures = set(missing)
        for seq in sorted(missing):
            detail = f"not countersigned by {_counterpart(copy, seq)}"
            findings.append(finding(copy.ledger, seq, "missing_countersignature", detail, copy.holder))
    return findings


def _counterpart(copy: Copy, seq: int) -> str:
    sealed = copy.every_sealed()[seq - 1] if 1 <= seq <= copy.size else None
    try:
        members = ChannelMembers.of(copy.ledger)
    except EndorsementRefused:
        return "a member (not a channel ledger)"
    return members.other(sealed.entry.author) if sealed is not None else "the counterpart"


def check_quorum_certs(pull: Pull) -> list[Finding]:
    """Every network entry is authored by the PDU, and every decision carries a valid certificate.

    Checked on every copy's served part (the verified prefix of an incremental audit
    passed before); a copy that fails is not built on.
    """
    findings: list[Finding] = []
    for copy in pull.of(NETWORK_LEDGER):
        findings += [flag(copy, f) for f in verification(copy, pull.config).network]
    return findings


def check_replicas_agree(pull: Pull) -> list[Finding]:
    """Copies agree with the reference; old heads are consistent.

    Each copy is compared with the reference (the longest prefix that verifies) over
    their common length, and the holder that diverges is named. Entries a copy holds
    beyond the reference did not verify; the checks above name them against the holder.
    Heads seen before within a copy's verified prefix were checked when it was verified,
    and a consistency proof showed the prefix unchanged since; later ones are checked here.
    """
    findings: list[Finding] = []
    for ledger in sorted({c.ledger for c in pull.copies}):
        reference = pull.reference(ledger)
        if reference is None:
            continue
        expected = reference.hashes()
        for copy in pull.of(ledger):
            if copy is reference.copy:
                continue
            for index, (mine, theirs) in enumerate(zip(copy.leaf_hashes(), expected, strict=False)):
                if mine != theirs:
                    detail = f"entry differs from {reference.holder}'s copy, the longest that verifies"
                    findings.append(finding(ledger, index + 1, "replicas_diverge", detail, copy.holder))
                    break
        for copy in pull.of(ledger):
            history = _history(copy, [s for s in pull.seen if s.ledger == ledger and s.holder == copy.holder])
            findings += [flag(copy, f) for f in history]
            if copy.proof_failed and not history:
                detail = f"served an invalid consistency proof: {copy.proof_failed}"
                findings.append(flag(copy, finding(ledger, None, "consistency_proof", detail, copy.holder)))
    return findings


def _history(copy: Copy, seen: Iterable[SeenHead]) -> list[Finding]:
    """``copy`` against every head of its holder seen before (beyond its verified prefix)."""
    findings = []
    for head in seen:
        if head.size <= copy.offset:
            continue
        if copy.size < head.size:
            detail = f"served {copy.size} entries after a tree head of size {head.size}"
            findings.append(finding(copy.ledger, head.size, "history_truncated", detail, copy.holder))
            continue
        root = copy.root(head.size)
        if root is not None and root != head.root_hash:
            detail = f"the first {head.size} entries no longer match the tree head seen before"
            findings.append(finding(copy.ledger, None, "history_rewritten", detail, copy.holder))
    return findings
