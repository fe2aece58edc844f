"""Ed25519 identities: key ids, a ``Signer`` that keeps its private key, verification.

A member is known to the network by its raw 32-byte Ed25519 public key (RFC 8032),
written as unpadded base64url. Its key id is the lowercase hex SHA-256 of that raw key,
so a key id names exactly one key. SupplyMesh signs 32-byte SHA-256 digests of
canonical JSON (see :mod:`supplymesh.core.canonical`); what is signed is always such a
digest, never re-serialised text.

Deliberately not here: generating keys or reading key files (that draws randomness and
touches the file system: see :mod:`supplymesh.node.keys`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

from supplymesh.core.encoding import b64url_decode, b64url_encode


class SignatureError(ValueError):
    """A signature or public key is malformed or does not verify."""


@dataclass(frozen=True, slots=True)
class PublicKey:
    """An Ed25519 public key as raw bytes."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != 32:
            raise SignatureError("an Ed25519 public key has 32 bytes")

    @classmethod
    def from_text(cls, text: str) -> PublicKey:
        """Parse unpadded base64url text.

        Raises:
            SignatureError: if the text is not a 32-byte base64url key.
        """
        try:
            return cls(b64url_decode(text))
        except ValueError as exc:
            raise SignatureError(f"bad public key: {exc}") from exc

    @property
    def text(self) -> str:
        """Unpadded base64url of the raw key."""
        return b64url_encode(self.raw)

    @property
    def key_id(self) -> str:
        """Lowercase hex SHA-256 of the raw key."""
        return hashlib.sha256(self.raw).hexdigest()

    def verify(self, signature: bytes, message: bytes) -> None:
        """Check ``signature`` over ``message``.

        Raises:
            SignatureError: if it does not verify.
        """
        if len(signature) != 64:
            raise SignatureError("an Ed25519 signature has 64 bytes")
        # libsodium's verify (via PyNaCl) is about twice as fast here as OpenSSL's, and
        # stricter (it also refuses small-order keys and R points); every node and the
        # auditor verify with this one function, so they always agree.
        try:
            crypto_sign_open(signature + message, self.raw)
        except (BadSignatureError, ValueError) as exc:
            raise SignatureError("signature does not verify") from exc

    def verify_text(self, signature: str, message: bytes) -> None:
        """Check a base64url ``signature`` over ``message``.

        Raises:
            SignatureError: if it is malformed or does not verify.
        """
        try:
            raw = b64url_decode(signature)
        except ValueError as exc:
            raise SignatureError(f"malformed signature: {exc}") from exc
        self.verify(raw, message)


class Signer:
    """Signs with a private key that it never exposes."""

    __slots__ = ("_key", "public_key")

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = PublicKey(private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    @property
    def key_id(self) -> str:
        """Key id of the public half."""
        return self.public_key.key_id

    def sign(self, message: bytes) -> bytes:
        """Raw 64-byte Ed25519 signature over ``message``."""
        return self._key.sign(message)

    def sign_text(self, message: bytes) -> str:
        """Base64url Ed25519 signature over ``message``."""
        return b64url_encode(self._key.sign(message))

    def __repr__(self) -> str:
        return f"Signer(key_id={self.key_id[:16]}…)"
