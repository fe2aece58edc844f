"""Sealing a value to one X25519 recipient, and the recipient that opens it (pure).

An ephemeral X25519 key agreement with the recipient's public encryption key; HKDF-SHA256
(salt = ephemeral public ‖ recipient public) gives a one-time AES-256-GCM key and nonce;
the caller's associated data binds the purpose. Channel data keys are wrapped this way
for each reader (:mod:`supplymesh.core.sealing`), and a node seals its own queued work at
rest to itself. Randomness (the ephemeral key) is passed in by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from supplymesh.core.encoding import b64url_decode, b64url_encode

KEY_BYTES = 32
NONCE_BYTES = 12
SALT_BYTES = 32
_WRAP_INFO = b"supplymesh.key-wrap.v1"


class SealingError(ValueError):
    """A sealed value is malformed, or does not open with the key given."""


@dataclass(frozen=True, slots=True)
class EncryptionPublicKey:
    """A member's X25519 public key for receiving wrapped keys, as raw bytes."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != 32:
            raise SealingError("an X25519 public key has 32 bytes")

    @classmethod
    def from_text(cls, text: str) -> EncryptionPublicKey:
        """Parse unpadded base64url text.

        Raises:
            SealingError: if the text is not a 32-byte base64url key.
        """
        try:
            return cls(b64url_decode(text))
        except ValueError as exc:
            raise SealingError(f"bad encryption key: {exc}") from exc

    @property
    def text(self) -> str:
        """Unpadded base64url of the raw key."""
        return b64url_encode(self.raw)


class Recipient:
    """Holds an X25519 private key and opens what was sealed to it; never exposes the key."""

    __slots__ = ("_key", "public_key")

    def __init__(self, private_key: X25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = EncryptionPublicKey(
            private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        )

    def open(self, sealed: Mapping[str, Any], aad: bytes) -> bytes:
        """Open a value sealed to this recipient by :func:`seal_to`.

        Raises:
            SealingError: if it is malformed or was not sealed to this key with ``aad``.
        """
        if not isinstance(sealed, Mapping) or set(sealed) != {"epk", "ct"}:
            raise SealingError('a sealed value is {"epk", "ct"}')
        try:
            epk = b64url_decode(str(sealed["epk"]))
            ct = b64url_decode(str(sealed["ct"]))
            shared = self._key.exchange(X25519PublicKey.from_public_bytes(epk))
        except ValueError as exc:
            raise SealingError(f"malformed sealed value: {exc}") from exc
        key, nonce = _wrap_key(shared, epk, self.public_key.raw)
        try:
            return AESGCM(key).decrypt(nonce, ct, aad)
        except InvalidTag as exc:
            raise SealingError("does not open with this key (wrong recipient or associated data)") from exc

    def derive_secret(self, info: bytes, length: int = SALT_BYTES) -> bytes:
        """A secret derived from the private key for ``info`` (HKDF-SHA256).

        E.g. a salt that is the same on every retry yet unpredictable to anyone without
        the key.
        """
        raw = self._key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return HKDF(
            algorithm=hashes.SHA256(), length=length, salt=None, info=b"supplymesh.derive.v1:" + info
        ).derive(raw)

    def __repr__(self) -> str:
        return f"Recipient(public_key={self.public_key.text[:12]}…)"


def _wrap_key(shared: bytes, epk: bytes, recipient: bytes) -> tuple[bytes, bytes]:
    if shared == bytes(32):
        raise SealingError("degenerate key agreement (low-order point)")
    okm = HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES + NONCE_BYTES, salt=epk + recipient, info=_WRAP_INFO
    ).derive(shared)
    return okm[:KEY_BYTES], okm[KEY_BYTES:]


def seal_to(
    recipient: EncryptionPublicKey, plaintext: bytes, aad: bytes, *, ephemeral: X25519PrivateKey
) -> dict[str, str]:
    """Seal ``plaintext`` so that only ``recipient``'s private key opens it.

    ``ephemeral`` must be a fresh X25519 key, used for this one value only.
    """
    epk = ephemeral.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    try:
        shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient.raw))
    except ValueError as exc:
        raise SealingError(f"cannot agree a key with this recipient: {exc}") from exc
    key, nonce = _wrap_key(shared, epk, recipient.raw)
    return {"epk": b64url_encode(epk), "ct": b64url_encode(AESGCM(key).encrypt(nonce, plaintext, aad))}
