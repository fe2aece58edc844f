"""Tests for supplymesh.core.treehead: signing, verifying and parsing signed tree heads."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from supplymesh.core.canonical import canonical_hash
from supplymesh.core.crypto import SignatureError
from supplymesh.core.encoding import b64url_decode, b64url_encode
from supplymesh.core.treehead import (
    TREE_HEAD_TYPE,
    SignedTreeHead,
    TreeHead,
    sign_tree_head,
    verify_tree_head,
)
from tests.unit.ledger_fixtures import LEDGER, OEM, OTHER_LEDGER, SUPPLIER, signer_for

HOLDER = SUPPLIER
HEAD = TreeHead(
    ledger=LEDGER,
    tree_size=20,
    root_hash="11" * 32,
    head_hash="22" * 32,
    timestamp="2026-03-01T08:00:20.000020Z",
    signer=HOLDER,
)


def signed() -> SignedTreeHead:
    return sign_tree_head(HEAD, signer_for(HOLDER))


def test_signed_tree_head_verifies_under_holder_key() -> None:
    sth = signed()
    verify_tree_head(sth, signer_for(HOLDER).public_key)
    assert sth.head == HEAD


def test_tree_head_digest_is_hash_of_canonical_json_with_type_tag() -> None:
    assert HEAD.as_json()["type"] == TREE_HEAD_TYPE == "supplymesh.tree-head.v1"
    assert HEAD.digest == canonical_hash(HEAD.as_json())
    signer_for(HOLDER).public_key.verify_text(signed().signature, HEAD.digest)


def test_signature_over_untagged_tree_head_fields_does_not_verify_as_tree_head() -> None:
    untagged = {k: v for k, v in HEAD.as_json().items() if k != "type"}
    forged = SignedTreeHead(head=HEAD, signature=signer_for(HOLDER).sign_text(canonical_hash(untagged)))
    with pytest.raises(SignatureError):
        verify_tree_head(forged, signer_for(HOLDER).public_key)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tree_size", 21),
        ("tree_size", 19),
        ("tree_size", 0),
        ("root_hash", "12" * 32),
        ("head_hash", "23" * 32),
        ("timestamp", "2026-03-01T08:00:20.000021Z"),
        ("ledger", OTHER_LEDGER),
        ("signer", OEM),
    ],
)
def test_verify_tree_head_refuses_any_changed_field(field: str, value: Any) -> None:
    sth = signed()
    tampered = SignedTreeHead(head=replace(sth.head, **{field: value}), signature=sth.signature)
    with pytest.raises(SignatureError):
        verify_tree_head(tampered, signer_for(HOLDER).public_key)


@pytest.mark.parametrize("bit", [0, 100, 300, 511])
def test_verify_tree_head_refuses_signature_with_flipped_bit(bit: int) -> None:
    sth = signed()
    raw = bytearray(b64url_decode(sth.signature))
    raw[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(SignatureError):
        verify_tree_head(SignedTreeHead(sth.head, b64url_encode(bytes(raw))), signer_for(HOLDER).public_key)


@pytest.mark.parametrize("signature", ["", "not base64!", "AA", b64url_encode(b"\x00" * 64)])
def test_verify_tree_head_refuses_malformed_or_foreign_signature(signature: str) -> None:
    with pytest.raises(SignatureError):
        verify_tree_head(SignedTreeHead(HEAD, signature), signer_for(HOLDER).public_key)


def test_verify_tree_head_refuses_another_members_key() -> None:
    with pytest.raises(SignatureError, match=LEDGER):
        verify_tree_head(signed(), signer_for(OEM).public_key)


def test_tree_head_signed_by_another_member_does_not_verify_as_holders() -> None:
    by_oem = sign_tree_head(HEAD, signer_for(OEM))
    with pytest.raises(SignatureError):
        verify_tree_head(by_oem, signer_for(HOLDER).public_key)


# --- JSON form ------------------------------------------------------------------


def test_signed_tree_head_as_json_has_tree_head_fields_and_signature() -> None:
    sth = signed()
    assert sth.as_json() == {
        "type": TREE_HEAD_TYPE,
        "ledger": LEDGER,
        "tree_size": 20,
        "root_hash": "11" * 32,
        "head_hash": "22" * 32,
        "timestamp": "2026-03-01T08:00:20.000020Z",
        "signer": HOLDER,
        "signature": sth.signature,
    }


def test_signed_tree_head_from_json_round_trips_and_still_verifies() -> None:
    sth = signed()
    again = SignedTreeHead.from_json(sth.as_json())
    assert again == sth
    verify_tree_head(again, signer_for(HOLDER).public_key)


def test_signed_tree_head_from_json_accepts_empty_tree() -> None:
    empty = replace(HEAD, tree_size=0)
    sth = sign_tree_head(empty, signer_for(HOLDER))
    assert SignedTreeHead.from_json(sth.as_json()).head.tree_size == 0


def served(**overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = dict(signed().as_json())
    value.update(overrides)
    return value


@pytest.mark.parametrize(
    "value",
    [
        served(type="supplymesh.tree-head.v2"),
        served(type="supplymesh.entry.v1"),
        served(type=None),
        served(tree_size=-1),
        served(tree_size=True),
        served(tree_size=False),
        served(tree_size="20"),
        served(tree_size=20.0),
        served(tree_size=None),
        served(ledger=1),
        served(root_hash=None),
        served(head_hash=b"22"),
        served(timestamp=0),
        served(signer=["supplier-a"]),
        served(signature=None),
    ],
    ids=[
        "type-v2",
        "type-entry",
        "type-none",
        "size-negative",
        "size-true",
        "size-false",
        "size-string",
        "size-float",
        "size-none",
        "ledger-int",
        "root-none",
        "head-bytes",
        "timestamp-int",
        "signer-list",
        "signature-none",
    ],
)
def test_signed_tree_head_from_json_refuses_wrong_tag_or_types(value: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="tree"):
        SignedTreeHead.from_json(value)


@pytest.mark.parametrize(
    "missing",
    ["type", "ledger", "tree_size", "root_hash", "head_hash", "timestamp", "signer", "signature"],
)
def test_signed_tree_head_from_json_refuses_missing_field(missing: str) -> None:
    value = served()
    del value[missing]
    with pytest.raises(ValueError, match="missing"):
        SignedTreeHead.from_json(value)
