"""Tests for supplymesh.core.merkle (RFC 9162 §2.1 Merkle trees).

Expected values come from two independent sources: the Certificate Transparency test
vectors published with transparency-dev/merkle (hard-coded below), and a deliberately
naive reference written here straight from the RFC's recursive definitions of MTH, PATH
and SUBPROOF (list slicing, recursion, hashlib called directly).
"""

from __future__ import annotations

import contextlib
import hashlib

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from supplymesh.core.merkle import (
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

# ---------------------------------------------------------------------------
# Reference implementation: RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1, verbatim.
# Proof elements carry a tag saying how they combine: "L" (left sibling), "R" (right
# sibling) or "B" (the first node of a consistency proof whose old tree is not a
# complete subtree). The tags alone are the "shape" of a proof.
# ---------------------------------------------------------------------------

Tagged = list[tuple[str, bytes]]


def _ref_split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _ref_mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = _ref_split(len(d))
    return hashlib.sha256(b"\x01" + _ref_mth(d[:k]) + _ref_mth(d[k:])).digest()


def _ref_path(m: int, d: list[bytes]) -> Tagged:
    n = len(d)
    if n == 1:
        return []
    k = _ref_split(n)
    if m < k:
        return [*_ref_path(m, d[:k]), ("R", _ref_mth(d[k:]))]
    return [*_ref_path(m - k, d[k:]), ("L", _ref_mth(d[:k]))]


def _ref_subproof(m: int, d: list[bytes], b: bool) -> Tagged:
    n = len(d)
    if m == n:
        return [] if b else [("B", _ref_mth(d))]
    k = _ref_split(n)
    if m <= k:
        return [*_ref_subproof(m, d[:k], b), ("R", _ref_mth(d[k:]))]
    return [*_ref_subproof(m - k, d[k:], False), ("L", _ref_mth(d[:k]))]


_DUMMY = [b"\x00" * 32]


def _inclusion_shape(index: int, size: int) -> list[str] | None:
    if not 0 <= index < size:
        return None
    return [tag for tag, _ in _ref_path(index, _DUMMY * size)]


def _consistency_shape(first: int, second: int) -> list[str] | None:
    if not 0 < first <= second:
        return None
    return [tag for tag, _ in _ref_subproof(first, _DUMMY * second, True)]


def _hashes(tagged: Tagged) -> list[bytes]:
    return [h for _, h in tagged]


def _flip_bit(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[(bit // 8) % len(out)] ^= 1 << (bit % 8)
    return bytes(out)


@st.composite
def _trees(draw: st.DrawFn, min_size: int = 1, max_size: int = 150) -> list[bytes]:
    """Leaf hashes of a tree with pairwise distinct leaves."""
    n = draw(st.integers(min_value=min_size, max_value=max_size))
    salt = draw(st.binary(max_size=8))
    return [leaf_hash(salt + i.to_bytes(4, "big")) for i in range(n)]


# ---------------------------------------------------------------------------
# Known-answer vectors (transparency-dev/merkle testonly/constants.go, verify_test.go)
# ---------------------------------------------------------------------------

EMPTY_ROOT = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
CT_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_HASHES = [leaf_hash(leaf) for leaf in CT_LEAVES]
CT_ROOTS = {
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
_H96A = "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"
_H5F0 = "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"
_H6B4 = "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"
_HBC1 = "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"
_HCA8 = "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"
_H0EB = "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"
_HB08 = "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"
# (zero-based leaf index, tree size, proof)
CT_INCLUSION = [
    (0, 1, []),
    (0, 8, [_H96A, _H5F0, _H6B4]),
    (5, 8, [_HBC1, _HCA8, CT_ROOTS[4]]),
    (2, 3, [CT_ROOTS[2]]),
    (1, 5, [CT_ROOTS[1], _H5F0, _HBC1]),
]
# (first, second, proof)
CT_CONSISTENCY = [
    (1, 1, []),
    (1, 8, [_H96A, _H5F0, _H6B4]),
    (6, 8, [_H0EB, _HCA8, CT_ROOTS[4]]),
    (2, 5, [_H5F0, _HBC1]),
    (6, 7, [_H0EB, _HB08, CT_ROOTS[4]]),
]


def test_empty_tree_root_is_sha256_of_empty_string() -> None:
    assert root_from_leaf_hashes([]).hex() == EMPTY_ROOT


def test_leaf_hash_is_sha256_of_zero_byte_prefixed_leaf() -> None:
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()


def test_node_hash_is_sha256_of_one_byte_prefixed_children() -> None:
    left, right = b"L" * 32, b"R" * 32
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()


def test_size_one_and_size_eight_roots_match_ct_vectors() -> None:
    assert root_from_leaf_hashes(CT_HASHES[:1]).hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert root_from_leaf_hashes(CT_HASHES).hex() == (
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    )


@pytest.mark.parametrize("size", sorted(CT_ROOTS))
def test_root_matches_ct_vector_and_reference_for_each_size(size: int) -> None:
    assert root_from_leaf_hashes(CT_HASHES[:size]).hex() == CT_ROOTS[size]
    assert _ref_mth(CT_HASHES[:size]).hex() == CT_ROOTS[size]


@pytest.mark.parametrize(("index", "size", "proof"), CT_INCLUSION)
def test_inclusion_proof_matches_ct_vector_and_verifies(index: int, size: int, proof: list[str]) -> None:
    expected = [bytes.fromhex(h) for h in proof]
    assert inclusion_proof(CT_HASHES, index, size) == expected
    assert _hashes(_ref_path(index, CT_HASHES[:size])) == expected
    root = bytes.fromhex(CT_ROOTS[size])
    verify_inclusion(leaf_hash=CT_HASHES[index], index=index, size=size, proof=expected, root=root)


@pytest.mark.parametrize(("first", "second", "proof"), CT_CONSISTENCY)
def test_consistency_proof_matches_ct_vector_and_verifies(first: int, second: int, proof: list[str]) -> None:
    expected = [bytes.fromhex(h) for h in proof]
    assert consistency_proof(CT_HASHES, first, second) == expected
    assert _hashes(_ref_subproof(first, CT_HASHES[:second], True)) == expected
    verify_consistency(
        first=first,
        second=second,
        first_root=bytes.fromhex(CT_ROOTS[first]),
        second_root=bytes.fromhex(CT_ROOTS[second]),
        proof=expected,
    )


# ---------------------------------------------------------------------------
# Exhaustive agreement with the reference for small trees
# ---------------------------------------------------------------------------

_SMALL = [leaf_hash(b"small-%d" % i) for i in range(40)]


def test_every_root_up_to_size_40_matches_reference() -> None:
    for n in range(41):
        assert root_from_leaf_hashes(_SMALL[:n]) == _ref_mth(_SMALL[:n]), n


def test_every_inclusion_proof_up_to_size_40_matches_reference_and_verifies() -> None:
    for size in range(1, 41):
        root = _ref_mth(_SMALL[:size])
        for index in range(size):
            proof = inclusion_proof(_SMALL, index, size)
            assert proof == _hashes(_ref_path(index, _SMALL[:size])), (index, size)
            verify_inclusion(leaf_hash=_SMALL[index], index=index, size=size, proof=proof, root=root)


def test_every_consistency_proof_up_to_size_40_matches_reference_and_verifies() -> None:
    roots = [_ref_mth(_SMALL[:n]) for n in range(41)]
    for second in range(1, 41):
        for first in range(1, second + 1):
            proof = consistency_proof(_SMALL, first, second)
            assert proof == _hashes(_ref_subproof(first, _SMALL[:second], True))
            verify_consistency(
                first=first,
                second=second,
                first_root=roots[first],
                second_root=roots[second],
                proof=proof,
            )


# ---------------------------------------------------------------------------
# Properties: genuine proofs verify and match the reference
# ---------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(tree=_trees(min_size=0))
def test_root_from_leaf_hashes_matches_reference(tree: list[bytes]) -> None:
    assert root_from_leaf_hashes(tree) == _ref_mth(tree)


@settings(max_examples=80, deadline=None)
@given(tree=_trees(), data=st.data())
def test_inclusion_proof_matches_reference_and_verifies(tree: list[bytes], data: st.DataObject) -> None:
    size = data.draw(st.integers(1, len(tree)), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = inclusion_proof(tree, index, size)
    assert proof == _hashes(_ref_path(index, tree[:size]))
    root = root_from_leaf_hashes(tree[:size])
    verify_inclusion(leaf_hash=tree[index], index=index, size=size, proof=proof, root=root)


@settings(max_examples=80, deadline=None)
@given(tree=_trees(), data=st.data())
def test_consistency_proof_matches_reference_and_verifies(tree: list[bytes], data: st.DataObject) -> None:
    second = data.draw(st.integers(1, len(tree)), label="second")
    first = data.draw(st.integers(1, second), label="first")
    proof = consistency_proof(tree, first, second)
    assert proof == _hashes(_ref_subproof(first, tree[:second], True))
    verify_consistency(
        first=first,
        second=second,
        first_root=root_from_leaf_hashes(tree[:first]),
        second_root=root_from_leaf_hashes(tree[:second]),
        proof=proof,
    )


# ---------------------------------------------------------------------------
# Properties: tampered inclusion proofs are rejected
# ---------------------------------------------------------------------------


def _inclusion_case(tree: list[bytes], data: st.DataObject) -> tuple[int, int, list[bytes], bytes]:
    size = data.draw(st.integers(2, len(tree)), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    return (
        index,
        size,
        inclusion_proof(tree, index, size),
        root_from_leaf_hashes(tree[:size]),
    )


@settings(max_examples=60, deadline=None)
@given(tree=_trees(min_size=2), data=st.data())
def test_inclusion_proof_fails_when_proof_element_tampered(tree: list[bytes], data: st.DataObject) -> None:
    index, size, proof, root = _inclusion_case(tree, data)
    j = data.draw(st.integers(0, len(proof) - 1), label="element")
    proof[j] = _flip_bit(proof[j], data.draw(st.integers(0, 255), label="bit"))
    with pytest.raises(ProofError, match="root"):
        verify_inclusion(leaf_hash=tree[index], index=index, size=size, proof=proof, root=root)


@settings(max_examples=60, deadline=None)
@given(tree=_trees(min_size=2), data=st.data())
def test_inclusion_proof_fails_when_leaf_tampered(tree: list[bytes], data: st.DataObject) -> None:
    index, size, proof, root = _inclusion_case(tree, data)
    other = data.draw(st.sampled_from([h for h in tree if h != tree[index]]), label="leaf")
    with pytest.raises(ProofError):
        verify_inclusion(leaf_hash=other, index=index, size=size, proof=proof, root=root)


@settings(max_examples=60, deadline=None)
@given(tree=_trees(min_size=2), data=st.data())
def test_inclusion_proof_fails_when_root_tampered(tree: list[bytes], data: st.DataObject) -> None:
    index, size, proof, root = _inclusion_case(tree, data)
    bad_root = _flip_bit(root, data.draw(st.integers(0, 255), label="bit"))
    with pytest.raises(ProofError, match="expected " + bad_root.hex()):
        verify_inclusion(leaf_hash=tree[index], index=index, size=size, proof=proof, root=bad_root)


@settings(max_examples=60, deadline=None)
@given(tree=_trees(min_size=2), data=st.data())
def test_inclusion_proof_fails_when_index_tampered(tree: list[bytes], data: st.DataObject) -> None:
    index, size, proof, root = _inclusion_case(tree, data)
    bad = data.draw(st.integers(-3, size + 3).filter(lambda i: i != index), label="bad_index")
    with pytest.raises(ProofError):
        verify_inclusion(leaf_hash=tree[index], index=bad, size=size, proof=proof, root=root)


@settings(max_examples=80, deadline=None)
@given(tree=_trees(min_size=2), data=st.data())
def test_inclusion_proof_fails_when_size_tampered_unless_path_shape_is_identical(
    tree: list[bytes], data: st.DataObject
) -> None:
    """The root is what binds the size: the RFC algorithm only checks the path shape."""
    index, size, proof, root = _inclusion_case(tree, data)
    bad = data.draw(st.integers(-2, 2 * size + 2).filter(lambda n: n != size), label="bad_size")

    def check() -> None:
        verify_inclusion(leaf_hash=tree[index], index=index, size=bad, proof=proof, root=root)

    if _inclusion_shape(index, bad) == _inclusion_shape(index, size):
        check()
    else:
        with pytest.raises(ProofError):
            check()


def test_inclusion_proof_for_size_three_also_verifies_under_a_size_four_claim() -> None:
    """Documents the case above: PATH(0, D[3]) and PATH(0, D[4]) have the same shape."""
    proof = inclusion_proof(CT_HASHES, 0, 3)
    root3 = root_from_leaf_hashes(CT_HASHES[:3])
    verify_inclusion(leaf_hash=CT_HASHES[0], index=0, size=4, proof=proof, root=root3)
    with pytest.raises(ProofError, match="has 2 nodes, needs only 1"):
        verify_inclusion(leaf_hash=CT_HASHES[0], index=0, size=2, proof=proof, root=root3)


@settings(max_examples=60, deadline=None)
@given(tree=_trees(min_size=2), data=st.data(), extra=st.binary(max_size=40))
def test_inclusion_proof_fails_when_too_long_or_too_short(
    tree: list[bytes], data: st.DataObject, extra: bytes
) -> None:
    index, size, proof, root = _inclusion_case(tree, data)
    j = data.draw(st.integers(0, len(proof)), label="position")
    variants = [
        [*proof[:j], extra, *proof[j:]],
        proof[:-1],
        proof[1:],
        [*proof, root],
        [],
    ]
    for bad_proof in variants:
        with pytest.raises(ProofError):
            verify_inclusion(
                leaf_hash=tree[index],
                index=index,
                size=size,
                proof=bad_proof,
                root=root,
            )


@settings(max_examples=150, deadline=None)
@given(
    leaf=st.binary(max_size=40),
    index=st.integers(-(2**70), 2**70),
    size=st.integers(-(2**70), 2**70),
    proof=st.lists(st.binary(max_size=40), max_size=80),
    root=st.binary(max_size=40),
)
def test_verify_inclusion_raises_only_proof_error_on_malformed_input(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes
) -> None:
    with contextlib.suppress(ProofError):
        verify_inclusion(leaf_hash=leaf, index=index, size=size, proof=proof, root=root)


# ---------------------------------------------------------------------------
# Properties: tampered consistency proofs are rejected
# ---------------------------------------------------------------------------


def _consistency_case(tree: list[bytes], data: st.DataObject) -> tuple[int, int, list[bytes], bytes, bytes]:
    second = data.draw(st.integers(2, len(tree)), label="second")
    first = data.draw(st.integers(1, second - 1), label="first")
    return (
        first,
        second,
        consistency_proof(tree, first, second),
        root_from_leaf_hashes(tree[:first]),
        root_from_leaf_hashes(tree[:second]),
    )


@settings(max_examples=60, deadline=None)
@given(tree=_trees(min_size=2), data=st.data())
def test_consistency_proof_fails_when_proof_element_tampered(tree: list[bytes], data: st.DataObject) -> None:
    first, second, proof, r1, r2 = _consistency_case(tree, data)
    j = data.draw(st.integers(0, len(proof) - 1), label="element")
    proof[j] = _flip_bit(proof[j], data.draw(st.integers(0, 255), label="bit"))
    with pytest.raises(ProofError, match="root"):
        verify_consistency(first=first, second=second, first_root=r1, second_root=r2, proof=proof)


@settings(max_examples=60, deadline=None)
@given(tree=_trees(min_size=2), data=st.data())
def test_consistency_proof_fails_when_either_root_tampered_or_roots_swapped(
    tree: list[bytes], data: st.DataObject
) -> None:
    first, second, proof, r1, r2 = _consistency_case(tree, data)
    bit = data.draw(st.integers(0, 255), label="bit")
    for a, b in [(_flip_bit(r1, bit), r2), (r1, _flip_bit(r2, bit)), (r2, r1)]:
        with pytest.raises(ProofError, match="root"):
            verify_consistency(first=first, second=second, first_root=a, second_root=b, proof=proof)


@settings(max_examples=60, deadline=None)
@given(tree=_trees(min_size=2), data=st.data(), extra=st.binary(max_size=40))
def test_consistency_proof_fails_when_too_long_or_too_short(
    tree: list[bytes], data: st.DataObject, extra: bytes
) -> None:
    first, second, proof, r1, r2 = _consistency_case(tree, data)
    j = data.draw(st.integers(0, len(proof)), label="position")
    variants = [
        [*proof[:j], extra, *proof[j:]],
        proof[:-1],
        proof[1:],
        [*proof, r2],
        [r1, *proof],
    ]
    variants.append([])
    for bad_proof in variants:
        with pytest.raises(ProofError):
            verify_consistency(
                first=first,
                second=second,
                first_root=r1,
                second_root=r2,
                proof=bad_proof,
            )


@settings(max_examples=80, deadline=None)
@given(tree=_trees(min_size=2), data=st.data())
def test_consistency_proof_fails_when_sizes_tampered_unless_proof_shape_is_identical(
    tree: list[bytes], data: st.DataObject
) -> None:
    first, second, proof, r1, r2 = _consistency_case(tree, data)
    bad_first = data.draw(st.integers(-2, second + 2), label="bad_first")
    bad_second = data.draw(st.integers(-2, 2 * second + 2), label="bad_second")
    assume((bad_first, bad_second) != (first, second))

    def check() -> None:
        verify_consistency(
            first=bad_first,
            second=bad_second,
            first_root=r1,
            second_root=r2,
            proof=proof,
        )

    if _consistency_shape(bad_first, bad_second) == _consistency_shape(first, second):
        check()
    else:
        with pytest.raises(ProofError):
            check()


@settings(max_examples=60, deadline=None)
@given(tree=_trees(min_size=2), data=st.data())
def test_consistency_proof_fails_when_first_size_tampered(tree: list[bytes], data: st.DataObject) -> None:
    first, second, proof, r1, r2 = _consistency_case(tree, data)
    bad = data.draw(st.integers(-2, second + 2).filter(lambda m: m != first), label="bad_first")
    assume(_consistency_shape(bad, second) != _consistency_shape(first, second))
    with pytest.raises(ProofError):
        verify_consistency(first=bad, second=second, first_root=r1, second_root=r2, proof=proof)


@settings(max_examples=150, deadline=None)
@given(
    first=st.integers(-(2**70), 2**70),
    second=st.integers(-(2**70), 2**70),
    first_root=st.binary(max_size=40),
    second_root=st.binary(max_size=40),
    proof=st.lists(st.binary(max_size=40), max_size=80),
)
def test_verify_consistency_raises_only_proof_error_on_malformed_input(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]
) -> None:
    with contextlib.suppress(ProofError):
        verify_consistency(
            first=first,
            second=second,
            first_root=first_root,
            second_root=second_root,
            proof=proof,
        )


def test_verify_consistency_with_equal_sizes_accepts_empty_proof_and_equal_roots() -> None:
    root = bytes.fromhex(CT_ROOTS[5])
    verify_consistency(first=5, second=5, first_root=root, second_root=root, proof=[])


def test_verify_consistency_with_equal_sizes_fails_when_roots_differ() -> None:
    r5, r6 = bytes.fromhex(CT_ROOTS[5]), bytes.fromhex(CT_ROOTS[6])
    with pytest.raises(ProofError, match="roots differ"):
        verify_consistency(first=5, second=5, first_root=r5, second_root=r6, proof=[])


def test_verify_consistency_with_equal_sizes_fails_when_proof_not_empty() -> None:
    root = bytes.fromhex(CT_ROOTS[5])
    with pytest.raises(ProofError, match="must be empty"):
        verify_consistency(first=5, second=5, first_root=root, second_root=root, proof=[root])


def test_verify_consistency_fails_when_first_size_is_zero() -> None:
    empty = bytes.fromhex(EMPTY_ROOT)
    with pytest.raises(ProofError, match="0 < first"):
        verify_consistency(first=0, second=0, first_root=empty, second_root=empty, proof=[])


def test_proof_error_is_a_value_error() -> None:
    assert issubclass(ProofError, ValueError)


# ---------------------------------------------------------------------------
# Out-of-range arguments to proof generation
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "size", "message"),
    [
        (8, 8, "leaf index 8"),
        (9, 8, "leaf index 9"),
        (-1, 8, "leaf index -1"),
        (0, 0, "tree size 0"),
        (0, -1, "tree size -1"),
        (0, 9, "tree size 9"),
    ],
)
def test_inclusion_proof_rejects_out_of_range_arguments(index: int, size: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        inclusion_proof(CT_HASHES, index, size)


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        (0, 8, "first size 0"),
        (-1, 8, "first size -1"),
        (6, 5, "first size 6"),
        (1, 9, "second size 9"),
        (0, 0, "second size 0"),
    ],
)
def test_consistency_proof_rejects_out_of_range_arguments(first: int, second: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        consistency_proof(CT_HASHES, first, second)


def test_proofs_over_empty_hash_list_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"."):
        inclusion_proof([], 0, 0)
    with pytest.raises(ValueError, match=r"."):
        consistency_proof([], 0, 0)


def test_proof_generation_ignores_leaves_beyond_requested_size() -> None:
    assert inclusion_proof(CT_HASHES, 2, 3) == inclusion_proof(CT_HASHES[:3], 2, 3)
    assert consistency_proof(CT_HASHES, 2, 5) == consistency_proof(CT_HASHES[:5], 2, 5)


# ---------------------------------------------------------------------------
# Values from the wire: every hash is 32 bytes, every size and index a uint64
# ---------------------------------------------------------------------------


def test_inclusion_of_an_empty_leaf_hash_under_an_empty_root_with_an_empty_proof_fails() -> None:
    with pytest.raises(ProofError, match="leaf hash is 0 bytes"):
        verify_inclusion(leaf_hash=b"", index=0, size=1, proof=[], root=b"")


def test_inclusion_with_a_short_leaf_hash_fails_even_when_the_root_is_computed_from_it() -> None:
    short, sibling = b"\x07" * 5, leaf_hash(b"b")
    with pytest.raises(ProofError, match="leaf hash is 5 bytes"):
        verify_inclusion(leaf_hash=short, index=0, size=2, proof=[sibling], root=node_hash(short, sibling))


def test_inclusion_with_a_short_proof_node_fails_even_when_the_root_is_computed_from_it() -> None:
    leaf, short = leaf_hash(b"a"), b"\x07" * 31
    with pytest.raises(ProofError, match="proof node 0 is 31 bytes"):
        verify_inclusion(leaf_hash=leaf, index=0, size=2, proof=[short], root=node_hash(leaf, short))


def test_inclusion_with_a_long_root_fails() -> None:
    leaf = leaf_hash(b"a")
    with pytest.raises(ProofError, match="root is 33 bytes"):
        verify_inclusion(leaf_hash=leaf, index=0, size=1, proof=[], root=leaf + b"\x00")


def test_inclusion_with_sizes_past_uint64_fails() -> None:
    leaf = leaf_hash(b"a")
    with pytest.raises(ProofError, match="outside 0"):
        verify_inclusion(leaf_hash=leaf, index=2**64, size=2**64 + 1, proof=[leaf] * 65, root=leaf)


def test_consistency_of_equal_sizes_with_empty_roots_fails() -> None:
    with pytest.raises(ProofError, match="first root is 0 bytes"):
        verify_consistency(first=1, second=1, first_root=b"", second_root=b"", proof=[])


def test_consistency_with_a_short_proof_node_fails_even_when_the_root_is_computed_from_it() -> None:
    first_root, short = leaf_hash(b"a"), b"\x07" * 16
    with pytest.raises(ProofError, match="proof node 0 is 16 bytes"):
        verify_consistency(
            first=1, second=2, first_root=first_root, second_root=node_hash(first_root, short), proof=[short]
        )


def test_consistency_with_sizes_past_uint64_fails() -> None:
    root = bytes.fromhex(CT_ROOTS[5])
    with pytest.raises(ProofError, match="outside 0"):
        verify_consistency(first=2**64, second=2**64, first_root=root, second_root=root, proof=[])


def test_a_genuine_proof_of_32_byte_hashes_still_verifies() -> None:
    leaves = [leaf_hash(bytes([i])) for i in range(5)]
    verify_inclusion(
        leaf_hash=leaves[3],
        index=3,
        size=5,
        proof=inclusion_proof(leaves, 3, 5),
        root=root_from_leaf_hashes(leaves),
    )
    verify_consistency(
        first=2,
        second=5,
        first_root=root_from_leaf_hashes(leaves[:2]),
        second_root=root_from_leaf_hashes(leaves),
        proof=consistency_proof(leaves, 2, 5),
    )
