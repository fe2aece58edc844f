"""Salted commitments (pure): a value kept off a ledger, provably fixed on it.

``SHA-256`` over the canonical JSON of ``{type, salt, value}`` with a 256-bit random
salt: a guessable value (a payment reference, a small number) cannot be found from the
commitment by trying candidates; whoever holds the salt can open it.
"""

from __future__ import annotations

from supplymesh.core.canonical import canonicalize, sha256
from supplymesh.core.encoding import b64url_decode, b64url_encode
from supplymesh.core.recipients import SALT_BYTES, SealingError

COMMITMENT_TYPE = "supplymesh.commitment.v1"


def commitment(value: str, salt: bytes) -> str:
    """Salted commitment to ``value``: lowercase hex SHA-256 of canonical ``{type, salt, value}``.

    Raises:
        SealingError: if the salt is shorter than 32 bytes.
    """
    if len(salt) < SALT_BYTES:
        raise SealingError(f"a commitment salt has at least {SALT_BYTES} bytes")
    return sha256(canonicalize({"type": COMMITMENT_TYPE, "salt": b64url_encode(salt), "value": value})).hex()


def opens(commitment_hex: str, *, value: str, salt_text: str) -> bool:
    """True if ``value`` with the base64url ``salt_text`` opens ``commitment_hex``."""
    try:
        return commitment(value, b64url_decode(salt_text)) == commitment_hex
    except (ValueError, SealingError):
        return False
