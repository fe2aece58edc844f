"""Channel payload encryption and data-key wrapping (pure functions).

SPEC §2: bodies of channel entries other than capacity and quality attestations are
encrypted with a per-channel key held only by the two members and the auditor; hashes
and signatures stay verifiable without the key because they cover the ciphertext as it
is stored.

* **Data key.** 32 random bytes; AES-256-GCM. Its id is a commitment to it,
  ``key_id = SHA-256("supplymesh.channel-key.v1" ‖ 0x00 ‖ key)``, so a reader that
  unwraps a key can check it is the key the ledger names (a member cannot hand the
  auditor a different key than the counterpart got without being caught).
* **Sealed body.** ``{"enc": {"alg": "A256GCM", "key_id", "nonce", "ct"}}`` (nonce and
  ciphertext unpadded base64url). The associated data is the canonical JSON of
  ``{type, ledger, seq, kind, author, key_id}``, so a ciphertext cannot be moved to
  another ledger, position, kind or author without failing to decrypt.
* **Wrapped key.** For each reader, an ephemeral X25519 key agreement with the reader's
  public encryption key; HKDF-SHA256 (salt = ephemeral public ‖ reader public, info
  bound to the purpose) gives a one-time AES-256-GCM key and nonce; the associated data
  names the ledger, key id and reader (:mod:`supplymesh.core.recipients` holds the
  X25519 construction, which also seals a node's own queued work at rest).

Salted commitments to payment references are in :mod:`supplymesh.core.commitment`.

Deliberately not here: drawing randomness (keys, nonces, ephemeral keys, salts). The
callers pass them in (see :mod:`supplymesh.channels.keyring`), which keeps this module
deterministic and testable with fixed vectors.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from supplymesh.core.canonical import CanonicalizationError, canonicalize
from supplymesh.core.encoding import b64url_decode, b64url_encode
from supplymesh.core.recipients import (
    KEY_BYTES,
    NONCE_BYTES,
    EncryptionPublicKey,
    Recipient,
    SealingError,
    seal_to,
)

# SealingError is this module's error too: callers catch it from here.
__all__ = ["SealingError"]

ENC_FIELD = "enc"
ALG = "A256GCM"
WRAP_ALG = "X25519-HKDF-SHA256-A256GCM"
_KEY_ID_DOMAIN = b"supplymesh.channel-key.v1\x00"
_BODY_AAD_TYPE = "supplymesh.channel-body.v1"


def key_id_of(key: bytes) -> str:
    """The public id of a data key: a hash commitment to it."""
    if len(key) != KEY_BYTES:
        raise SealingError(f"a data key has {KEY_BYTES} bytes")
    return hashlib.sha256(_KEY_ID_DOMAIN + key).hexdigest()


def wrap_aad(ledger: str, key_id: str, reader: str) -> bytes:
    """Associated data of a data key wrapped for ``reader`` on ``ledger``."""
    return canonicalize(
        {"type": "supplymesh.channel-key-wrap.v1", "ledger": ledger, "key_id": key_id, "reader": reader}
    )


def body_aad(*, ledger: str, seq: int, kind: str, author: str, key_id: str) -> bytes:
    """Associated data of a sealed entry body: its ledger, position, kind, author and key."""
    return canonicalize(
        {
            "type": _BODY_AAD_TYPE,
            "ledger": ledger,
            "seq": seq,
            "kind": kind,
            "author": author,
            "key_id": key_id,
        }
    )


def seal_body(
    body: Mapping[str, Any], *, key: bytes, nonce: bytes, ledger: str, seq: int, kind: str, author: str
) -> dict[str, Any]:
    """The sealed form of an entry body. ``nonce`` must be 12 fresh random bytes.

    Raises:
        SealingError: if the body is not canonicalisable or the nonce has the wrong size.
    """
    if len(nonce) != NONCE_BYTES:
        raise SealingError(f"a nonce has {NONCE_BYTES} bytes")
    key_id = key_id_of(key)
    try:
        plaintext = canonicalize(dict(body))
    except CanonicalizationError as exc:
        raise SealingError(f"body is not canonicalisable: {exc}") from exc
    aad = body_aad(ledger=ledger, seq=seq, kind=kind, author=author, key_id=key_id)
    ct = AESGCM(key).encrypt(nonce, plaintext, aad)
    return {ENC_FIELD: {"alg": ALG, "key_id": key_id, "nonce": b64url_encode(nonce), "ct": b64url_encode(ct)}}


def sealed_key_id(body: Mapping[str, Any]) -> str:
    """The key id a sealed body names.

    Raises:
        SealingError: if ``body`` is not exactly a sealed body.
    """
    if set(body) != {ENC_FIELD}:
        raise SealingError(f'a sealed body has exactly the field "{ENC_FIELD}"')
    enc = body[ENC_FIELD]
    if not isinstance(enc, Mapping) or set(enc) != {"alg", "key_id", "nonce", "ct"}:
        raise SealingError('"enc" has exactly alg, key_id, nonce and ct')
    if enc["alg"] != ALG:
        raise SealingError(f"unknown algorithm {enc['alg']!r}")
    key_id = enc["key_id"]
    if not isinstance(key_id, str) or len(key_id) != 64 or any(c not in "0123456789abcdef" for c in key_id):
        raise SealingError("key_id is 64 lowercase hex characters")
    for name in ("nonce", "ct"):
        if not isinstance(enc[name], str):
            raise SealingError(f"{name} is base64url text")
    return key_id


def is_sealed(body: Mapping[str, Any]) -> bool:
    """True if ``body`` has the shape of a sealed body."""
    try:
        sealed_key_id(body)
    except SealingError:
        return False
    return True


def open_body(
    body: Mapping[str, Any], *, key: bytes, ledger: str, seq: int, kind: str, author: str
) -> dict[str, Any]:
    """Decrypt a sealed body with ``key`` and check it is a JSON object without floats.

    Raises:
        SealingError: if it is malformed, names another key, or does not decrypt here.
    """
    key_id = sealed_key_id(body)
    if key_id != key_id_of(key):
        raise SealingError("the body is sealed under another key")
    enc = body[ENC_FIELD]
    try:
        nonce = b64url_decode(enc["nonce"])
        ct = b64url_decode(enc["ct"])
    except ValueError as exc:
        raise SealingError(f"malformed sealed body: {exc}") from exc
    if len(nonce) != NONCE_BYTES:
        raise SealingError(f"a nonce has {NONCE_BYTES} bytes")
    aad = body_aad(ledger=ledger, seq=seq, kind=kind, author=author, key_id=key_id)
    try:
        plaintext = AESGCM(key).decrypt(nonce, ct, aad)
    except InvalidTag as exc:
        raise SealingError("the body does not decrypt (wrong key, or moved to another entry)") from exc
    try:
        value = json.loads(plaintext, parse_float=_refuse_float)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SealingError(f"the plaintext is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise SealingError("the plaintext is not a JSON object")
    return value


def _refuse_float(text: str) -> object:
    raise SealingError(f"binary float {text} in a sealed body")


def wrap_key_for(
    key: bytes, *, ledger: str, reader: str, reader_key: EncryptionPublicKey, ephemeral: X25519PrivateKey
) -> dict[str, str]:
    """The data ``key`` of ``ledger`` wrapped for ``reader``."""
    return seal_to(reader_key, key, wrap_aad(ledger, key_id_of(key), reader), ephemeral=ephemeral)


def unwrap_key(
    wrapped: Mapping[str, Any], *, recipient: Recipient, ledger: str, reader: str, key_id: str
) -> bytes:
    """Unwrap a data key and check it is the key ``key_id`` commits to.

    Raises:
        SealingError: if it does not unwrap, or unwraps to another key than named.
    """
    key = recipient.open(wrapped, wrap_aad(ledger, key_id, reader))
    if len(key) != KEY_BYTES or key_id_of(key) != key_id:
        raise SealingError("the wrapped key is not the key its id names")
    return key


def key_entry_body(
    key: bytes,
    *,
    ledger: str,
    readers: Mapping[str, EncryptionPublicKey],
    ephemerals: Mapping[str, X25519PrivateKey],
) -> dict[str, Any]:
    """Body of a ``channel.key`` entry: the data key wrapped for each reader.

    ``ephemerals`` holds one fresh X25519 key per reader.
    """
    return {
        "key_id": key_id_of(key),
        "alg": ALG,
        "wrap": WRAP_ALG,
        "readers": {
            reader: wrap_key_for(
                key, ledger=ledger, reader=reader, reader_key=public, ephemeral=ephemerals[reader]
            )
            for reader, public in sorted(readers.items())
        },
    }


def check_key_entry_body(body: Mapping[str, Any], *, expected_readers: frozenset[str] | None) -> str:
    """Shape of a ``channel.key`` body; return its key id.

    ``expected_readers`` None checks the shape only (who must read is in the config).

    Raises:
        SealingError: if it is malformed or wraps for other readers than expected.
    """
    if set(body) != {"key_id", "alg", "wrap", "readers"}:
        raise SealingError("a key entry has exactly key_id, alg, wrap and readers")
    if body["alg"] != ALG or body["wrap"] != WRAP_ALG:
        raise SealingError("unknown key or wrap algorithm")
    key_id = body["key_id"]
    if not isinstance(key_id, str) or len(key_id) != 64:
        raise SealingError("key_id is 64 lowercase hex characters")
    readers = body["readers"]
    if not isinstance(readers, Mapping) or not readers:
        raise SealingError("readers maps member ids to wrapped keys")
    if expected_readers is not None and set(readers) != expected_readers:
        raise SealingError(f"the key must be wrapped for exactly {sorted(expected_readers)}")
    for wrapped in readers.values():
        if not isinstance(wrapped, Mapping) or set(wrapped) != {"epk", "ct"}:
            raise SealingError('each wrapped key is {"epk", "ct"}')
    return key_id
