"""Merkle trees of RFC 9162 (Certificate Transparency v2) §2.1, over SHA-256.

Implements §2.1.1 MTH (leaf hash ``SHA-256(0x00 || leaf)``, node hash
``SHA-256(0x01 || left || right)``, empty tree ``SHA-256("")``, split at the largest
power of two below n), §2.1.3 inclusion proofs (PATH, and the bit-shifting verifier of
§2.1.3.2) and §2.1.4 consistency proofs (PROOF/SUBPROOF, and the verifier of §2.1.4.2).
Generation takes leaf hashes and works over index ranges, never copying sublists
recursively; a root over n leaf hashes costs n - 1 node hashes. The verifiers take
values straight from the wire: every hash they are given (leaf hash, roots, proof
nodes) must be exactly 32 bytes and every size and index a uint64, or the proof fails.

Deliberately not here: storage of leaves or nodes, signed tree heads or any signing.
The module is pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32
"""Bytes in every hash of a tree: SHA-256."""
MAX_TREE_SIZE = 2**64 - 1
"""Largest tree size a proof may name (RFC 9162 sizes and indexes are uint64)."""


class ProofError(ValueError):
    """An inclusion or consistency proof failed verification."""


def _check_proof_values(
    what: str, sizes: Sequence[int], hashes: dict[str, bytes], proof: Sequence[bytes]
) -> None:
    """Refuse sizes past uint64 and any hash, in the proof or not, that is not 32 bytes."""
    if any(not 0 <= size <= MAX_TREE_SIZE for size in sizes):
        raise ProofError(f"{what}: a size or index is outside 0..2^64-1")
    for name, value in hashes.items():
        if len(value) != HASH_SIZE:
            raise ProofError(f"{what}: {name} is {len(value)} bytes, not {HASH_SIZE}")
    for i, node in enumerate(proof):
        if len(node) != HASH_SIZE:
            raise ProofError(f"{what}: proof node {i} is {len(node)} bytes, not {HASH_SIZE}")


def leaf_hash(leaf: bytes) -> bytes:
    """Returns the RFC 9162 leaf hash ``SHA-256(0x00 || leaf)``."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Returns the RFC 9162 interior node hash ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Returns k, the largest power of two with k < n (requires n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _range_root(hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    """Returns MTH(D[lo:hi]) for leaf hashes D and lo < hi.

    Pairs nodes level by level, carrying an unpaired last node up unchanged, which
    builds exactly the RFC's largest-power-of-two split tree.
    """
    level = list(hashes[lo:hi])
    sha256 = hashlib.sha256
    while len(level) > 1:
        paired = [
            sha256(b"\x01" + left + right).digest()
            for left, right in zip(level[0::2], level[1::2], strict=False)
        ]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """Returns the Merkle Tree Hash (RFC 9162 §2.1.1) over already-hashed leaves.

    Args:
        hashes: Leaf hashes in log order; empty gives ``SHA-256(b"")``.
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
        Sibling hashes, leaf level first.

    Raises:
        ValueError: If not ``0 <= index < size <= len(hashes)``.
    """
    if not 0 < size <= len(hashes):
        raise ValueError(f"tree size {size} is not in 1..{len(hashes)} (leaves held)")
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in 0..{size - 1} (size {size})")
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
        first: Size of the older tree.
        second: Size of the newer tree.

    Returns:
        The proof nodes; empty when ``first == second``.

    Raises:
        ValueError: If not ``0 < first <= second <= len(hashes)``.
    """
    if not 0 < second <= len(hashes):
        raise ValueError(f"second size {second} not in 1..{len(hashes)} (leaves held)")
    if not 0 < first <= second:
        raise ValueError(f"first size {first} is not in 1..{second} (second size)")
    proof: list[bytes] = []
    lo, hi, m, complete = 0, second, first, True  # SUBPROOF(m, D[lo:hi], complete)
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


def verify_inclusion(*, leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Verifies an inclusion proof with the algorithm of RFC 9162 §2.1.3.2.

    Args:
        leaf_hash: Hash of the leaf claimed to be at ``index``.
        index: Zero-based leaf index.
        size: Size of the tree whose root is ``root``.
        proof: The audit path, leaf level first.
        root: Trusted root of the tree of ``size`` leaves.

    Raises:
        ProofError: If the index is out of range, a hash (leaf, root or proof node) is
            not 32 bytes, the proof length does not fit the index and size, or the
            recomputed root differs from ``root``.
    """
    what = f"inclusion proof for leaf {index} of tree size {size}"
    if not 0 <= index < size:
        raise ProofError(f"{what}: index out of range")
    _check_proof_values(what, (index, size), {"leaf hash": leaf_hash, "root": root}, proof)
    fn, sn, r = index, size - 1, leaf_hash
    for used, p in enumerate(proof):
        if sn == 0:
            raise ProofError(f"{what}: has {len(proof)} nodes, needs only {used}")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError(f"{what}: has {len(proof)} nodes, too few")
    if r != root:
        raise ProofError(f"{what}: yields root {r.hex()}, expected {root.hex()}")


# size: RFC 9162 §2.1.4.2 transcribed step by step, so it can be checked against the RFC line by line
def verify_consistency(  # noqa: C901, PLR0912 - RFC 9162 §2.1.4.2 transcribed step by step
    *,
    first: int,
    second: int,
    first_root: bytes,
    second_root: bytes,
    proof: Sequence[bytes],
) -> None:
    """Verifies a consistency proof with the algorithm of RFC 9162 §2.1.4.2.

    When ``first == second`` the proof must be empty and the two roots equal.

    Args:
        first: Size of the older tree.
        second: Size of the newer tree.
        first_root: Trusted root of the older tree.
        second_root: Trusted root of the newer tree.
        proof: The consistency proof nodes.

    Raises:
        ProofError: If not ``0 < first <= second < 2^64``, a hash (either root or a
            proof node) is not 32 bytes, the proof length does not fit the sizes, or a
            recomputed root differs from the supplied one.
    """
    what = f"consistency proof {first} -> {second}"
    if not 0 < first <= second:
        raise ProofError(f"{what}: sizes violate 0 < first <= second")
    _check_proof_values(what, (first, second), {"first root": first_root, "second root": second_root}, proof)
    if first == second:
        if proof:
            raise ProofError(f"{what}: must be empty for equal sizes, has {len(proof)}")
        if first_root != second_root:
            raise ProofError(f"{what}: roots differ, {first_root.hex()} != {second_root.hex()}")
        return
    if not proof:
        raise ProofError(f"{what}: is empty")
    prepended = first & (first - 1) == 0  # first is a power of two
    path = [first_root, *proof] if prepended else list(proof)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for used, c in enumerate(path[1:], start=1 - prepended):
        if sn == 0:
            raise ProofError(f"{what}: has {len(proof)} nodes, needs only {used}")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError(f"{what}: has {len(proof)} nodes, too few")
    for name, got, want in (("first", fr, first_root), ("second", sr, second_root)):
        if got != want:
            raise ProofError(f"{what}: yields {name} root {got.hex()}, expected {want.hex()}")
