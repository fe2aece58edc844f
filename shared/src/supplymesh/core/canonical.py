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

import orjson
import rfc8785

MAX_SAFE_INTEGER = 2**53 - 1


class CanonicalizationError(ValueError):
    """The value cannot be canonicalised under SupplyMesh's rules."""


def _check(value: object) -> bool:  # noqa: C901, PLR0912 - one flat type dispatch: the measured fast path
    """Validate the domain; return True if the fast path applies.

    That is: every mapping is a plain ``dict`` and every object key is ASCII. On a value
    outside the domain it raises with no location; :func:`_locate` then finds it (paths
    are not built on the hot path, where every value is valid). Exact built-in types are
    dispatched first; subclasses (enums, other mappings) take :func:`_check_general`.
    """
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:  # type: ignore[operator]
            return True
        raise CanonicalizationError
    if kind is dict:
        fast = True
        for key, item in value.items():  # type: ignore[attr-defined]
            if type(key) is not str:
                if not isinstance(key, str):
                    raise CanonicalizationError
                fast = False  # e.g. an enum member as key: rfc8785 takes it, orjson does not
            elif not key.isascii():
                fast = False
            item_kind = type(item)
            if item_kind is str or item_kind is bool or item is None:
                continue
            if not _check(item):
                fast = False
        return fast
    if kind is list or kind is tuple:
        fast = True
        for item in value:  # type: ignore[attr-defined]
            item_kind = type(item)
            if item_kind is str or item_kind is bool or item is None:
                continue
            if not _check(item):
                fast = False
        return fast
    return _check_general(value)


def _check_general(value: object) -> bool:
    """:func:`_check` for subclasses of the JSON types and other mappings."""
    if isinstance(value, (bool, str)):
        return True
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise CanonicalizationError
        return True
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalizationError
            _check(item)
        return False  # not a plain dict: the rfc8785 path
    if isinstance(value, (list, tuple)):
        fast = True
        for item in value:
            fast = _check(item) and fast
        return fast
    raise CanonicalizationError


def _locate(value: object, path: str) -> CanonicalizationError:  # noqa: C901 - mirrors _check, case by case
    """The error, with its path, for a value :func:`_check` refused."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return CanonicalizationError(f"{path}: no error found")
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            return CanonicalizationError(f"{path}: integer {value} is outside ±(2**53-1)")
        return CanonicalizationError(f"{path}: no error found")
    if isinstance(value, float):
        return CanonicalizationError(f"{path}: binary floats are refused; use a decimal string or an integer")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return CanonicalizationError(f"{path}: object key {key!r} is not a string")
            try:
                _check(item)
            except CanonicalizationError:
                return _locate(item, f"{path}.{key}")
        return CanonicalizationError(f"{path}: no error found")
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            try:
                _check(item)
            except CanonicalizationError:
                return _locate(item, f"{path}[{index}]")
        return CanonicalizationError(f"{path}: no error found")
    return CanonicalizationError(f"{path}: {type(value).__name__} is not a JSON value")


def canonicalize(value: object) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of ``value``.

    Raises:
        CanonicalizationError: on floats, unsafe integers, non-string keys or any
            value that is not plain JSON.
    """
    try:
        ascii_keys = _check(value)
    except CanonicalizationError:
        raise _locate(value, "$") from None
    try:
        if ascii_keys:
            return _fast_dumps(value)
        return rfc8785.dumps(cast(Any, value))  # the domain was checked above
    except (rfc8785.CanonicalizationError, orjson.JSONEncodeError) as exc:  # e.g. lone surrogates
        raise CanonicalizationError(str(exc)) from exc


def _fast_dumps(value: object) -> bytes:
    r"""RFC 8785 bytes for the checked domain when every object key is ASCII.

    Within that domain (no floats, safe integers, ASCII keys, plain dicts) orjson's
    sorted, compact UTF-8 output is byte-identical to RFC 8785: key order by code point
    equals order by UTF-16 code unit for ASCII keys, integers print alike, and string
    escaping matches (two-character escapes for backspace, form feed, newline, carriage
    return and tab, lowercase ``\u00xx`` for other controls, everything else literal;
    lone surrogates are refused). Property tests compare the two on generated values;
    anything outside the domain goes through ``rfc8785``.
    """
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


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
