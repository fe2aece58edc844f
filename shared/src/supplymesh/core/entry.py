"""Ledger entries: the hash chain and the signatures an entry is appended with.

An entry is ``{ledger, seq, prev, time, kind, author, body}`` (SPEC §2). Its hash is
SHA-256 over its RFC 8785 canonical JSON; ``prev`` is the previous entry's hash, and
the first entry (``seq`` 1) has ``prev`` = 64 zeros. Signatures are Ed25519 over the
32-byte entry hash. A :class:`SealedEntry` is an entry together with the signatures
it was appended with (author, countersigner, quorum); its Merkle leaf is the canonical
JSON of both, so signatures cannot be stripped or swapped without changing the tree.

Sequence numbers start at 1, so a ledger of size *n* ends at seq *n*, the Merkle leaf
index of an entry is ``seq - 1``, and a decision computed against base *n* commits at
seq *n + 1*.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from supplymesh.core.canonical import CanonicalizationError, canonicalize, sha256
from supplymesh.core.crypto import Signer
from supplymesh.core.merkle import leaf_hash

GENESIS_PREV = "0" * 64
ENTRY_FIELDS = ("ledger", "seq", "prev", "time", "kind", "author", "body")
_HASH_RE = re.compile(r"^[0-9a-f]{64}$")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._:-]{0,127}$")
_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")


class EntryFormatError(ValueError):
    """An entry or signature list is not well formed."""


def is_ledger_time(text: str) -> bool:
    """True if ``text`` is a ledger time: RFC 3339 UTC (``Z``), at most microseconds, a real instant."""
    if not _TIME_RE.match(text):
        return False
    try:
        parse_time(text)
    except ValueError:
        return False
    return True


def parse_time(text: str) -> datetime:
    """The moment of a ledger time text (RFC 3339, ``Z`` for UTC), the inverse of :func:`format_time`.

    Raises:
        ValueError: if it is not a time.
    """
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC text with microseconds, e.g. ``2026-11-23T02:07:30.123456Z``."""
    if moment.tzinfo is None:
        raise ValueError("a timezone-aware datetime is required")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_name(value: str, what: str) -> str:
    """Require a ledger, kind or member name: lowercase, digits, ``._:-``."""
    if not _NAME_RE.match(value):
        raise EntryFormatError(f"{what} {value!r} is not a valid name")
    return value


@dataclass(frozen=True, slots=True)
class Entry:
    """One ledger entry. Immutable; its canonical bytes and hash are computed once."""

    ledger: str
    seq: int
    prev: str
    time: str
    kind: str
    author: str
    body: Mapping[str, Any]
    canonical: bytes = field(init=False, repr=False, compare=False)
    hash: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_name(self.ledger, "ledger")
        check_name(self.kind, "kind")
        check_name(self.author, "author")
        if isinstance(self.seq, bool) or not isinstance(self.seq, int) or self.seq < 1:
            raise EntryFormatError(f"seq must be an integer ≥ 1, got {self.seq!r}")
        if not _HASH_RE.match(self.prev):
            raise EntryFormatError("prev must be 64 lowercase hex characters")
        if not is_ledger_time(self.time):
            raise EntryFormatError(f"time {self.time!r} is not RFC 3339 UTC")
        if not isinstance(self.body, Mapping):
            raise EntryFormatError("body must be a JSON object")
        try:
            data = canonicalize(self.as_json())
        except CanonicalizationError as exc:
            raise EntryFormatError(f"entry is not canonicalisable: {exc}") from exc
        object.__setattr__(self, "canonical", data)
        object.__setattr__(self, "hash", sha256(data).hex())

    def as_json(self) -> dict[str, object]:
        """The entry as a plain JSON object."""
        return {
            "ledger": self.ledger,
            "seq": self.seq,
            "prev": self.prev,
            "time": self.time,
            "kind": self.kind,
            "author": self.author,
            "body": self.body,
        }

    @property
    def digest(self) -> bytes:
        """The 32-byte hash that signatures cover."""
        return bytes.fromhex(self.hash)

    @classmethod
    def from_json(cls, value: object) -> Entry:
        """Build from a parsed JSON object, refusing missing or extra fields.

        Raises:
            EntryFormatError: if the object is not an entry.
        """
        if not isinstance(value, Mapping) or set(value) != set(ENTRY_FIELDS):
            raise EntryFormatError(f"an entry has exactly the fields {ENTRY_FIELDS}")
        for name in ("ledger", "prev", "time", "kind", "author"):
            if not isinstance(value[name], str):
                raise EntryFormatError(f"{name} must be a string")
        return cls(
            ledger=value["ledger"],
            seq=value["seq"],
            prev=value["prev"],
            time=value["time"],
            kind=value["kind"],
            author=value["author"],
            body=value["body"],
        )

    @classmethod
    def from_canonical(cls, data: bytes) -> Entry:
        """Parse stored canonical bytes.

        Raises:
            EntryFormatError: if the bytes are not a canonical entry.
        """
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise EntryFormatError(f"not valid JSON: {exc}") from exc
        entry = cls.from_json(value)  # refuses floats: they cannot be canonicalised
        if entry.canonical != data:
            raise EntryFormatError("entry bytes are valid JSON but not in RFC 8785 canonical form")
        return entry


@dataclass(frozen=True, slots=True)
class Signature:
    """An Ed25519 signature by a network member over an entry hash."""

    signer: str
    sig: str

    def as_json(self) -> dict[str, str]:
        """``{"signer": …, "sig": …}``."""
        return {"signer": self.signer, "sig": self.sig}


def sign_entry(entry: Entry, *, signer_id: str, signer: Signer) -> Signature:
    """Sign ``entry``'s hash as member ``signer_id``."""
    return Signature(signer=signer_id, sig=signer.sign_text(entry.digest))


@dataclass(frozen=True, slots=True)
class SealedEntry:
    """An entry with the signatures it was appended with, sorted by signer."""

    entry: Entry
    signatures: tuple[Signature, ...]
    leaf: bytes = field(init=False, repr=False, compare=False)
    signatures_canonical: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.signatures, key=lambda s: s.signer))
        signers = [s.signer for s in ordered]
        if len(set(signers)) != len(signers):
            raise EntryFormatError("a member signs an entry at most once")
        object.__setattr__(self, "signatures", ordered)
        try:
            signatures = canonicalize(self.signatures_json())
        except CanonicalizationError as exc:
            raise EntryFormatError(f"signatures are not canonicalisable: {exc}") from exc
        object.__setattr__(self, "signatures_canonical", signatures)
        # RFC 8785 is compositional: the canonical form of {"entry": E, "signatures": S}
        # is its members' canonical forms joined in key order ("entry" < "signatures"),
        # so the entry's bytes are reused rather than serialised twice.
        leaf = b'{"entry":' + self.entry.canonical + b',"signatures":' + signatures + b"}"
        object.__setattr__(self, "leaf", leaf)

    def signatures_json(self) -> list[dict[str, str]]:
        """The signatures as JSON objects."""
        return [s.as_json() for s in self.signatures]

    def as_json(self) -> dict[str, object]:
        """``{"entry", "hash", "signatures"}`` as served to readers."""
        return {
            "entry": self.entry.as_json(),
            "hash": self.entry.hash,
            "signatures": self.signatures_json(),
        }

    @property
    def leaf_hash(self) -> bytes:
        """RFC 9162 leaf hash of :attr:`leaf`."""
        return leaf_hash(self.leaf)

    def signers(self) -> frozenset[str]:
        """Members that signed."""
        return frozenset(s.signer for s in self.signatures)

    def with_signatures(self, extra: Iterable[Signature]) -> SealedEntry:
        """A copy with more signatures (e.g. a countersignature)."""
        return SealedEntry(self.entry, (*self.signatures, *extra))


def parse_signatures(value: object) -> tuple[Signature, ...]:
    """Parse a JSON list of ``{"signer", "sig"}`` objects.

    Raises:
        EntryFormatError: if the list is malformed.
    """
    if not isinstance(value, list):
        raise EntryFormatError("signatures must be a list")
    result = []
    for item in value:
        if (
            not isinstance(item, Mapping)
            or set(item) != {"signer", "sig"}
            or not isinstance(item["signer"], str)
            or not isinstance(item["sig"], str)
        ):
            raise EntryFormatError('each signature is {"signer": str, "sig": str}')
        result.append(Signature(signer=item["signer"], sig=item["sig"]))
    return tuple(result)


def next_entry(
    *,
    ledger: str,
    head: tuple[int, str],
    time: str,
    kind: str,
    author: str,
    body: Mapping[str, Any],
) -> Entry:
    """The entry that follows a ledger whose head is ``(size, head_hash)``."""
    size, head_hash = head
    return Entry(
        ledger=ledger,
        seq=size + 1,
        prev=head_hash,
        time=time,
        kind=kind,
        author=author,
        body=body,
    )
