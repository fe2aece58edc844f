"""Merkle tree hashing as defined by RFC 9162 (Certificate Transparency v2), section 2.1.

Implemented:

* §2.1.1 Merkle Tree Hash (MTH): leaf hash ``SHA-256(0x00 || leaf)``, interior node
  hash ``SHA-256(0x01 || left || right)``, empty tree hash ``SHA-256("")``; the tree is
  split at the largest power of two strictly smaller than the number of leaves.
* §2.1.3 inclusion proofs: generation (``PATH``) and the bit-shifting verification
  algorithm of §2.1.3.2.
* §2.1.4 consistency proofs: generation (``PROOF``/``SUBPROOF``) and the bit-shifting
  verification algorithm of §2.1.4.2.

Generation works on leaf hashes (not raw leaves) over index ranges, so it never copies
sublists recursively; a root over n leaf hashes costs n - 1 node hashes.

Deliberately not implemented: storage of leaves or nodes, signed tree heads or any
signing, and log bookkeeping. The module is pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = [
    "ProofError",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_from_leaf_hashes",
    "verify_consistency",
    "verify_inclusion",
]

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


class ProofError(ValueError):
    """An inclusion or consistency proof failed verification."""


def leaf_hash(leaf: bytes) -> bytes:
    """Returns the RFC 9162 leaf hash ``SHA-256(0x00 || leaf)``."""
    return hashlib.sha256(_LEAF_PREFIX + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Returns the RFC 9162 interior node hash ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """Returns k, the largest power of two with k < n (requires n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _range_root(hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    """Returns MTH(D[lo:hi]) for leaf hashes D, with lo < hi.

    Hashes bottom-up level by level, carrying an unpaired last node up unchanged;
    this yields exactly the RFC's largest-power-of-two split tree.
    """
    level = list(hashes[lo:hi])
    sha256 = hashlib.sha256
    while len(level) > 1:
        paired = [
            sha256(_NODE_PREFIX + a + b).digest()
            for a, b in zip(level[0::2], level[1::2], strict=False)
        ]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """Returns the Merkle Tree Hash (RFC 9162 §2.1.1) over already-hashed leaves.

    Args:
        hashes: Leaf hashes, in log order.

    Returns:
        The 32-byte root; ``SHA-256(b"")`` for an empty sequence.
    """
    if not hashes:
        return hashlib.sha256(b"").digest()
    return _range_root(hashes, 0, len(hashes))


def inclusion_proof(hashes: Sequence[bytes], index: int, size: int) -> list[bytes]:
    """Returns the audit path PATH(index, D[0:size]) of RFC 9162 §2.1.3.1.

    Args:
        hashes: Leaf hashes D; only the first ``size`` are used.
        index: Zero-based index of the leaf to prove.
        size: Tree size the proof is relative to.

    Returns:
        Sibling hashes ordered from the leaf level up to the root.

    Raises:
        ValueError: If not ``0 <= index < size <= len(hashes)``.
    """
    if not 0 < size <= len(hashes):
        raise ValueError(f"tree size {size} is not in 1..{len(hashes)} (leaf hashes available)")
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in 0..{size - 1} for tree size {size}")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append(_range_root(hashes, lo + k, hi))
            hi = lo + k
        else:
            path.append(_range_root(hashes, lo, lo + k))
            lo += k
    path.reverse()
    return path


def consistency_proof(hashes: Sequence[bytes], first: int, second: int) -> list[bytes]:
    """Returns PROOF(first, D[0:second]) of RFC 9162 §2.1.4.1.

    Args:
        hashes: Leaf hashes D; only the first ``second`` are used.
        first: Size of the older tree, ``0 < first``.
        second: Size of the newer tree, ``first <= second``.

    Returns:
        The proof nodes; empty when ``first == second``.

    Raises:
        ValueError: If not ``0 < first <= second <= len(hashes)``.
    """
    if not 0 < second <= len(hashes):
        raise ValueError(f"second size {second} is not in 1..{len(hashes)} (leaf hashes available)")
    if not 0 < first <= second:
        raise ValueError(f"first size {first} is not in 1..{second} (the second size)")
    proof: list[bytes] = []
    lo, hi, m, complete = 0, second, first, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            proof.append(_range_root(hashes, lo + k, hi))
            hi = lo + k
        else:
            proof.append(_range_root(hashes, lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    if not complete:
        proof.append(_range_root(hashes, lo, hi))
    proof.reverse()
    return proof


def verify_inclusion(
    *, leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Verifies an inclusion proof with the algorithm of RFC 9162 §2.1.3.2.

    Raises:
        ProofError: If the index is out of range, the proof has the wrong length, or
            the recomputed root does not equal ``root``.
    """
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in 0..{size - 1} for tree size {size}")
    fn, sn, r = index, size - 1, leaf_hash
    for i, p in enumerate(proof):
        if sn == 0:
            raise ProofError(f"inclusion proof too long: {len(proof)} nodes, needed {i}")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError(f"inclusion proof too short: {len(proof)} nodes for size {size}")
    if r != root:
        raise ProofError(
            f"inclusion proof for leaf {index} of size {size} yields root {r.hex()}, "
            f"expected {root.hex()}"
        )


def verify_consistency(
    *, first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """Verifies a consistency proof with the algorithm of RFC 9162 §2.1.4.2.

    When ``first == second`` the proof must be empty and the roots equal.

    Raises:
        ProofError: If not ``0 < first <= second``, the proof has the wrong length, or
            a recomputed root does not equal the supplied one.
    """
    if not 0 < first <= second:
        raise ProofError(f"sizes {first} -> {second} do not satisfy 0 < first <= second")
    if first == second:
        if proof:
            raise ProofError(f"proof between equal sizes must be empty, got {len(proof)} nodes")
        if first_root != second_root:
            raise ProofError(
                f"roots differ for equal size {first}: {first_root.hex()} != {second_root.hex()}"
            )
        return
    if not proof:
        raise ProofError(f"consistency proof {first} -> {second} is empty")
    path = list(proof)
    prepended = first & (first - 1) == 0
    if prepended:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for i, c in enumerate(path[1:], start=1):
        if sn == 0:
            needed = i - prepended
            raise ProofError(f"consistency proof too long: {len(proof)} nodes, needed {needed}")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError(f"consistency proof too short: {len(proof)} nodes for {first} -> {second}")
    if fr != first_root:
        raise ProofError(f"proof yields first root {fr.hex()}, expected {first_root.hex()}")
    if sr != second_root:
        raise ProofError(f"proof yields second root {sr.hex()}, expected {second_root.hex()}")
