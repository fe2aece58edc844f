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

import rfc8785

MAX_SAFE_INTEGER = 2**53 - 1


class CanonicalizationError(ValueError):
    """The value cannot be canonicalised under SupplyMesh's rules."""


def _check(value: object, path: str) -> None:
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise CanonicalizationError(f"{path}: integer {value} is outside ±(2**53-1)")
        return
    if isinstance(value, float):
        raise CanonicalizationError(
            f"{path}: binary floats are refused; use a decimal string or an integer"
        )
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalizationError(f"{path}: object key {key!r} is not a string")
            _check(item, f"{path}.{key}")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]")
        return
    raise CanonicalizationError(f"{path}: {type(value).__name__} is not a JSON value")


def canonicalize(value: object) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of ``value``.

    Raises:
        CanonicalizationError: on floats, unsafe integers, non-string keys or any
            value that is not plain JSON.
    """
    _check(value, "$")
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:  # e.g. lone surrogates
        raise CanonicalizationError(str(exc)) from exc


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
