"""Proofs the auditor checks before it builds on a copy.

A stored copy proves itself against its holder's signed tree head (its leaves give the
signed root), and a holder's new signed head proves itself an extension of the head
verified before (an RFC 9162 consistency proof).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from supplymesh.core import merkle
from supplymesh.core.crypto import SignatureError
from supplymesh.core.treehead import SignedTreeHead, verify_tree_head
from supplymesh.errors import PeerError
from supplymesh.node.context import Node


@dataclass
class Verified:
    """A copy an earlier audit verified, proven against its holder's signed tree head."""

    holder: str
    ledger: str
    tree_head: SignedTreeHead
    leaves: list[bytes]
    missing_countersignatures: list[int]

    @property
    def size(self) -> int:
        """Verified entries."""
        return self.tree_head.head.tree_size

    @property
    def root_hash(self) -> str:
        """Merkle root of the verified entries."""
        return self.tree_head.head.root_hash


def prove_copy(node: Node, row: Any, leaves: Sequence[Any], missing: Sequence[Any]) -> Verified:
    """A stored copy, if its leaves give the root its holder signed.

    ``row`` is an ``audit_copies`` row whose auditor's signature was checked, ``missing``
    its parsed ``missing_countersignatures``, ``leaves`` its ``audit_entries`` rows
    (seq, leaf) in seq order.

    Raises:
        ValueError: if the copy does not prove itself (the message says why).
    """
    sth = SignedTreeHead.from_json(json.loads(row.tree_head))
    try:
        verify_tree_head(sth, node.config.member(row.holder).key)
    except SignatureError as exc:
        raise ValueError("is stored with a tree head its holder did not sign") from exc
    head = sth.head
    if (head.signer, head.ledger, head.tree_size, head.root_hash) != (
        row.holder,
        row.ledger,
        int(row.size),
        row.root_hash,
    ):
        raise ValueError("does not match the tree head stored with it")
    if [int(r.seq) for r in leaves] != list(range(1, head.tree_size + 1)):
        raise ValueError(f"does not hold entries 1…{head.tree_size}")
    data = [r.leaf.encode() for r in leaves]
    root = merkle.root_from_leaf_hashes([merkle.leaf_hash(leaf) for leaf in data]).hex()
    if root != head.root_hash:
        raise ValueError(f"does not give the root its holder signed at size {head.tree_size}")
    return Verified(row.holder, row.ledger, sth, data, [int(s) for s in missing])


async def consistent(
    node: Node, holder: str, ledger: str, known: Verified, sth: SignedTreeHead
) -> str | None:
    """None if ``sth`` extends the verified head by a valid RFC 9162 proof, else why not."""
    first, second = known.size, sth.head.tree_size
    if second < first:
        return f"its tree head of size {second} is smaller than the verified size {first}"
    proof: list[bytes] = []
    if second > first:
        try:
            answer = await node.peers.get_json(
                holder, f"/peer/v1/ledgers/{ledger}/proofs/consistency", first=first, second=second
            )
            proof = [bytes.fromhex(p) for p in answer["proof"]]
        except (PeerError, KeyError, TypeError, ValueError, AttributeError) as exc:
            return f"no consistency proof from size {first} to {second}: {exc}"
    try:
        merkle.verify_consistency(
            first=first,
            second=second,
            first_root=bytes.fromhex(known.root_hash),
            second_root=bytes.fromhex(sth.head.root_hash),
            proof=proof,
        )
    except merkle.ProofError as exc:
        return str(exc)
    return None
