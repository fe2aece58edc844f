"""Canonical JSON (RFC 8785, JSON Canonicalization Scheme) and SHA-256 hashing.

Every hash and signature in SupplyMesh is computed over the bytes produced here.
The encoding itself is delegated to the ``rfc8785`` package; this module adds the
project's stricter value domain: binary floats are refused outright (SPEC §10: money,
quantities and hours must never pass through a float), integers must fit the
interoperable range |n| < 2**53, and mapping keys must be strings.

Deliberately not here: parsing canonical bytes back (use :func:`json.loads`, then
:func:`canonicalize` again to check a received document is canonical).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, cast

import rfc8785

MAX_SAFE_INTEGER = 2**53 - 1


class CanonicalizationError(ValueError):
    """The value cannot be canonicalised under SupplyMesh's rules."""


def _check(value: object, path: str) -> bool:
    """Validate the domain; return True if the stdlib fast path applies.

    That is: every mapping is a plain ``dict`` and every object key is ASCII.
    """
    if value is None or isinstance(value, (bool, str)):
        return True
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise CanonicalizationError(f"{path}: integer {value} is outside ±(2**53-1)")
        return True
    if isinstance(value, float):
        raise CanonicalizationError(f"{path}: binary floats are refused; use a decimal string or an integer")
    if isinstance(value, Mapping):
        ascii_keys = True
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalizationError(f"{path}: object key {key!r} is not a string")
            ascii_keys = _check(item, f"{path}.{key}") and key.isascii() and ascii_keys
        return ascii_keys and type(value) is dict
    if isinstance(value, (list, tuple)):
        ascii_keys = True
        for index, item in enumerate(value):
            ascii_keys = _check(item, f"{path}[{index}]") and ascii_keys
        return ascii_keys
    raise CanonicalizationError(f"{path}: {type(value).__name__} is not a JSON value")


def canonicalize(value: object) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of ``value``.

    Raises:
        CanonicalizationError: on floats, unsafe integers, non-string keys or any
            value that is not plain JSON.
    """
    ascii_keys = _check(value, "$")
    try:
        if ascii_keys:
            return _fast_dumps(value)
        return rfc8785.dumps(cast(Any, value))  # the domain was checked above
    except (rfc8785.CanonicalizationError, UnicodeEncodeError) as exc:  # e.g. lone surrogates
        raise CanonicalizationError(str(exc)) from exc


def _fast_dumps(value: object) -> bytes:
    r"""RFC 8785 bytes for the checked domain when every object key is ASCII.

    Within that domain (no floats, safe integers, ASCII keys) the standard library's
    sorted, compact, non-ASCII-preserving JSON is byte-identical to RFC 8785: key order
    by code point equals order by UTF-16 code unit for ASCII keys, integers print alike,
    and string escaping matches (two-character escapes for backspace, form feed, newline,
    carriage return and tab, lowercase ``\u00xx`` for other controls, everything else
    literal). Property tests compare the two on generated values; anything outside the
    domain goes through ``rfc8785``.
    """
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sha256(data: bytes) -> bytes:
    """SHA-256 digest of ``data``."""
    return hashlib.sha256(data).digest()


def canonical_hash(value: object) -> bytes:
    """SHA-256 over the canonical bytes of ``value``."""
    return sha256(canonicalize(value))


def parse_canonical(data: bytes) -> object:
    """Parse ``data`` as JSON and require it to be in canonical form.

    Raises:
        CanonicalizationError: if the bytes are not valid JSON or not canonical.
    """
    try:
        value: object = json.loads(data, parse_float=_refuse_float)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CanonicalizationError(f"not valid JSON: {exc}") from exc
    if canonicalize(value) != data:
        raise CanonicalizationError("JSON is valid but not in RFC 8785 canonical form")
    return value


def _refuse_float(text: str) -> object:
    raise CanonicalizationError(f"binary float {text} in JSON input")
