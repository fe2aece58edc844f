"""Tests for supplymesh.core.crypto: RFC 8032 Ed25519 vectors, key ids, refusals."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from supplymesh.core.crypto import PublicKey, SignatureError, Signer
from supplymesh.core.encoding import b64url_encode


@dataclass(frozen=True)
class Vector:
    name: str
    secret: bytes
    public: bytes
    message: bytes
    signature: bytes


# RFC 8032 §7.1, TEST 1, TEST 2 and TEST 3.
RFC8032_VECTORS = [
    Vector(
        "TEST 1",
        bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"),
        bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"),
        b"",
        bytes.fromhex(
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        ),
    ),
    Vector(
        "TEST 2",
        bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"),
        bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"),
        bytes.fromhex("72"),
        bytes.fromhex(
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
        ),
    ),
    Vector(
        "TEST 3",
        bytes.fromhex("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7"),
        bytes.fromhex("fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025"),
        bytes.fromhex("af82"),
        bytes.fromhex(
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"
        ),
    ),
]
VECTOR_IDS = [v.name for v in RFC8032_VECTORS]
TEST1, TEST2, TEST3 = RFC8032_VECTORS


def signer_of(vector: Vector) -> Signer:
    return Signer(Ed25519PrivateKey.from_private_bytes(vector.secret))


def flip_bit(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@pytest.mark.parametrize("vector", RFC8032_VECTORS, ids=VECTOR_IDS)
def test_signer_derives_rfc8032_public_key(vector: Vector) -> None:
    signer = signer_of(vector)
    assert signer.public_key.raw == vector.public
    assert signer.public_key == PublicKey(vector.public)


@pytest.mark.parametrize("vector", RFC8032_VECTORS, ids=VECTOR_IDS)
def test_signer_produces_rfc8032_signature_exactly(vector: Vector) -> None:
    signer = signer_of(vector)
    assert signer.sign(vector.message) == vector.signature
    assert signer.sign_text(vector.message) == b64url_encode(vector.signature)


@pytest.mark.parametrize("vector", RFC8032_VECTORS, ids=VECTOR_IDS)
def test_public_key_verifies_rfc8032_signature(vector: Vector) -> None:
    key = PublicKey(vector.public)
    key.verify(vector.signature, vector.message)
    key.verify_text(b64url_encode(vector.signature), vector.message)


@pytest.mark.parametrize("vector", RFC8032_VECTORS, ids=VECTOR_IDS)
@pytest.mark.parametrize("bit", [0, 7, 255, 256, 300, 511])
def test_verify_refuses_signature_with_one_flipped_bit(vector: Vector, bit: int) -> None:
    with pytest.raises(SignatureError):
        PublicKey(vector.public).verify(flip_bit(vector.signature, bit), vector.message)


@pytest.mark.parametrize("vector", [TEST2, TEST3], ids=["TEST 2", "TEST 3"])
@pytest.mark.parametrize("bit", [0, 7])
def test_verify_refuses_message_with_one_flipped_bit(vector: Vector, bit: int) -> None:
    with pytest.raises(SignatureError):
        PublicKey(vector.public).verify(vector.signature, flip_bit(vector.message, bit))


def test_verify_refuses_empty_message_signature_for_a_one_byte_message() -> None:
    with pytest.raises(SignatureError):
        PublicKey(TEST1.public).verify(TEST1.signature, b"\x00")


@pytest.mark.parametrize(
    ("signed", "other"),
    [(TEST1, TEST2), (TEST2, TEST3), (TEST3, TEST1)],
    ids=["1-by-2", "2-by-3", "3-by-1"],
)
def test_verify_refuses_signature_under_another_key(signed: Vector, other: Vector) -> None:
    with pytest.raises(SignatureError):
        PublicKey(other.public).verify(signed.signature, signed.message)


@pytest.mark.parametrize("length", [0, 63, 65, 128])
def test_verify_refuses_signature_of_wrong_length(length: int) -> None:
    signature = (TEST2.signature * 2)[:length]
    with pytest.raises(SignatureError, match="64 bytes"):
        PublicKey(TEST2.public).verify(signature, TEST2.message)
    with pytest.raises(SignatureError):
        PublicKey(TEST2.public).verify_text(b64url_encode(signature), TEST2.message)


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_public_key_refuses_raw_key_of_wrong_length(length: int) -> None:
    raw = (TEST1.public * 2)[:length]
    with pytest.raises(SignatureError, match="32 bytes"):
        PublicKey(raw)
    with pytest.raises(SignatureError):
        PublicKey.from_text(b64url_encode(raw))


def test_public_key_text_round_trips_as_unpadded_base64url() -> None:
    key = PublicKey(TEST3.public)
    assert key.text == base64.urlsafe_b64encode(TEST3.public).decode().rstrip("=")
    assert "=" not in key.text
    assert PublicKey.from_text(key.text) == key


B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
MALFORMED_KINDS = [
    "padded",
    "standard-padded",
    "leading-space",
    "trailing-newline",
    "bang",
    "trailing-bits",
    "empty",
]


def malformed_text(raw: bytes, kind: str) -> str:
    """A spelling of ``raw`` (32 or 64 bytes, so with unused trailing bits) that must be refused."""
    good = b64url_encode(raw)
    last = B64URL_ALPHABET.index(good[-1])
    variants = {
        "padded": good + "=",
        "standard-padded": base64.b64encode(raw).decode(),
        "leading-space": " " + good,
        "trailing-newline": good + "\n",
        "bang": good[:-1] + "!",
        "trailing-bits": good[:-1] + B64URL_ALPHABET[last | 1],  # an unused low bit set
        "empty": "",
    }
    assert len(raw) % 3, "needs a length with unused trailing bits"
    return variants[kind]


@pytest.mark.parametrize("kind", MALFORMED_KINDS)
def test_public_key_from_text_refuses_malformed_base64url(kind: str) -> None:
    with pytest.raises(SignatureError):
        PublicKey.from_text(malformed_text(TEST1.public, kind))


@pytest.mark.parametrize("kind", MALFORMED_KINDS)
def test_verify_text_refuses_malformed_base64url_signature(kind: str) -> None:
    with pytest.raises(SignatureError):
        PublicKey(TEST1.public).verify_text(malformed_text(TEST1.signature, kind), TEST1.message)


def test_verify_text_refuses_standard_base64_signature_with_plus_and_slash() -> None:
    standard = base64.b64encode(TEST2.signature).decode().rstrip("=")
    urlsafe = b64url_encode(TEST2.signature)
    assert standard != urlsafe, "vector should contain '+' or '/' in standard base64"
    with pytest.raises(SignatureError):
        PublicKey(TEST2.public).verify_text(standard, TEST2.message)


@pytest.mark.parametrize("vector", RFC8032_VECTORS, ids=VECTOR_IDS)
def test_key_id_is_lowercase_hex_sha256_of_raw_public_key(vector: Vector) -> None:
    expected = hashlib.sha256(vector.public).hexdigest()
    assert PublicKey(vector.public).key_id == expected
    assert signer_of(vector).key_id == expected
    assert len(expected) == 64
    assert expected == expected.lower()


def test_key_ids_of_different_keys_differ() -> None:
    assert len({PublicKey(v.public).key_id for v in RFC8032_VECTORS}) == 3


@pytest.mark.parametrize("vector", RFC8032_VECTORS, ids=VECTOR_IDS)
def test_signer_repr_shows_no_private_key_material(vector: Vector) -> None:
    signer = signer_of(vector)
    key = Ed25519PrivateKey.from_private_bytes(vector.secret)
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    pem_body = "".join(pem.splitlines()[1:-1])
    forbidden = [
        vector.secret.hex(),
        vector.secret.hex()[:16],
        b64url_encode(vector.secret),
        base64.b64encode(vector.secret).decode().rstrip("="),
        repr(vector.secret),
        pem_body,
    ]
    for text in (repr(signer), str(signer), f"{signer}"):
        for secret in forbidden:
            assert secret not in text
    assert signer.key_id[:16] in repr(signer)


def test_signer_has_no_instance_dict_exposing_the_key() -> None:
    signer = signer_of(TEST1)
    assert not hasattr(signer, "__dict__")


# Group order of edwards25519 (RFC 8032 §5.1).
ED25519_L = 2**252 + 27742317777372353535851937790883648493


def test_verify_refuses_a_malleated_signature_with_s_plus_group_order() -> None:
    key = Ed25519PrivateKey.generate()
    message = hashlib.sha256(b"entry").digest()
    signature = key.sign(message)
    s = int.from_bytes(signature[32:], "little") + ED25519_L
    assert s < 2**256
    malleated = signature[:32] + s.to_bytes(32, "little")
    public = PublicKey(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    public.verify(signature, message)
    with pytest.raises(SignatureError):
        public.verify(malleated, message)


def test_verify_refuses_a_small_order_key_whatever_the_signature() -> None:
    identity = (1).to_bytes(32, "little")  # the neutral point: every "signature" would fit it
    public = PublicKey(identity)
    forged = identity + bytes(32)  # R = identity, S = 0
    with pytest.raises(SignatureError):
        public.verify(forged, b"anything")
