"""Text encodings of binary values used on the wire and in ledgers.

Hashes are lowercase hex (64 characters for SHA-256); signatures and raw public keys
are unpadded base64url (RFC 4648 §5). Decoders are strict: they refuse padding,
whitespace and characters outside the alphabet, so one value has one spelling.
"""

from __future__ import annotations

import base64
import binascii
import re

_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_HEX = re.compile(r"^[0-9a-f]*$")


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url text of ``data``."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url, strictly.

    Raises:
        ValueError: on padding, foreign characters or a non-canonical spelling.
    """
    if not _B64URL.match(text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError(f"not unpadded base64url: {exc}") from exc
    if b64url_encode(data) != text:
        raise ValueError("non-canonical base64url spelling")
    return data


def hex_decode(text: str, *, length: int | None = None) -> bytes:
    """Decode lowercase hex, optionally requiring ``length`` bytes.

    Raises:
        ValueError: on uppercase, odd length, foreign characters or a wrong length.
    """
    if len(text) % 2 or not _HEX.match(text):
        raise ValueError("not lowercase hex")
    data = bytes.fromhex(text)
    if length is not None and len(data) != length:
        raise ValueError(f"expected {length} bytes of hex, got {len(data)}")
    return data
