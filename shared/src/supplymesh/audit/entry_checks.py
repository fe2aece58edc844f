"""Per-entry checks of served copies: each entry parsed once, each signature verified once.

The record check of a served item is exactly :func:`supplymesh.core.verify.check_record`
on :func:`record_of` the item (well formed, in the right ledger, stored hash, every
signature valid, the author among the signers). Done naively, that parses and
canonicalises each entry three times (``record_of``, ``check_record``, and the parse the
semantic checks use) and verifies every holder's copy of the same signature again. Here:

* every item is parsed once (:class:`Parser`); an item served identically by several
  holders of a ledger (the same JSON value in the same key order, compared by its
  ``orjson`` bytes, which tell ``1``, ``1.0`` and ``true`` apart) is parsed once for all
  of them;
* an item that parses is checked from its parsed form (:func:`sealed_check`): for such an
  item, ``record_of`` yields the entry's canonical bytes, which ``check_record`` parses
  back to the same entry, so the findings are the same; an item that does not parse
  takes ``check_record`` itself;
* the Ed25519 verifications, the bulk of the work, are collected as distinct
  ``(signer, signature, digest)`` jobs and verified on worker processes while the
  parsing goes on (:mod:`supplymesh.audit.signatures`); a job's outcome depends on nothing
  else, so each is computed once, and every copy's findings name its own holder and
  position as before; copies served alike share their record checks (:class:`Shared`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import orjson

from supplymesh.audit.signatures import Outcome
from supplymesh.core.crypto import PublicKey
from supplymesh.core.entry import Entry, EntryFormatError, SealedEntry, parse_signatures
from supplymesh.core.verify import Finding, Link, Record, RecordCheck, check_record

MAX_SEQ_BITS = 62
"""A served ``seq`` wider than this is not a position of any real ledger."""


def sharing_key(item: object) -> bytes | None:
    """What an item's parse and record check depend on, as exact bytes (None: not shareable).

    That is its entry, signatures and stored hash (its late signatures are read apart).
    """
    if not isinstance(item, Mapping):
        return None
    try:
        value = [item.get("entry"), item.get("signatures"), item.get("hash")]
        return orjson.dumps(value)
    except (TypeError, ValueError, RecursionError):  # orjson.JSONEncodeError is a TypeError
        return None


def sealed_check(
    ledger: str,
    item: object,
    position: int,
    sealed: SealedEntry | None,
    keys: Mapping[str, PublicKey],
    outcome: Outcome,
) -> RecordCheck:
    """``check_record(ledger, record_of(item, position), keys)`` without the parsed entry.

    ``sealed`` is ``parse_item(item)``; ``outcome`` answers for each signature by a known
    signer.
    """
    if sealed is None:
        return check_record(ledger, record_of(item, position), keys).without_entry()
    entry = sealed.entry
    findings: list[Finding] = []
    seq = entry.seq
    if entry.ledger != ledger:
        findings.append(Finding(ledger, seq, "wrong_ledger", f"entry claims {entry.ledger} seq {seq}"))
    stored = item.get("hash") if isinstance(item, Mapping) else None
    if isinstance(stored, str) and stored != entry.hash:
        findings.append(Finding(ledger, seq, "stored_hash", f"stored hash {stored[:16]}… ≠ content hash"))
    digest = entry.digest
    for signature in sealed.signatures:
        if signature.signer not in keys:
            detail = f"signed by {signature.signer}, who has no known key"
            findings.append(Finding(ledger, entry.seq, "unknown_signer", detail))
            continue
        why = outcome((signature.signer, signature.sig, digest))
        if why is not None:
            detail = f"signature of {signature.signer}: {why}"
            findings.append(Finding(ledger, entry.seq, "bad_signature", detail))
    if entry.author not in sealed.signers():
        findings.append(Finding(ledger, entry.seq, "missing_signature", f"not signed by {entry.author}"))
    return RecordCheck(entry.seq, None, tuple(findings), Link(entry.hash, entry.prev, sealed.leaf_hash))


T = TypeVar("T")


@dataclass
class Shared:
    """What the copies of one audit share: record checks of shared parsed items, and summaries.

    Valid while the parsed items it saw are alive (it keys them by identity): one
    :func:`supplymesh.audit.copies.verify_copies` call.
    """

    checks: dict[tuple[str, int, int], RecordCheck] = field(default_factory=dict)
    summaries: list[tuple[str, list[RecordCheck], int, str, Any]] = field(default_factory=list)

    def check(
        self,
        ledger: str,
        item: object,
        position: int,
        sealed: SealedEntry | None,
        keys: Mapping[str, PublicKey],
        outcome: Outcome,
    ) -> RecordCheck:
        """:func:`sealed_check`, once per parsed item and position (items that parse alike)."""
        if sealed is None:
            return sealed_check(ledger, item, position, sealed, keys, outcome)
        key = (ledger, id(sealed), position)
        found = self.checks.get(key)
        if found is None:
            found = self.checks[key] = sealed_check(ledger, item, position, sealed, keys, outcome)
        return found

    def summary(
        self, ledger: str, checks: list[RecordCheck], start: int, prev: str, compute: Callable[[], T]
    ) -> T:
        """``compute()``, once per ledger, start, prev and sequence of the very same checks."""
        for known, other, first, after, value in self.summaries:
            if (known, first, after) == (ledger, start, prev) and _same(other, checks):
                return cast(T, value)
        value = compute()
        self.summaries.append((ledger, checks, start, prev, value))
        return value


def _same(one: list[RecordCheck], other: list[RecordCheck]) -> bool:
    return len(one) == len(other) and all(a is b for a, b in zip(one, other, strict=True))


class Parser:
    """Parses the served items of several holders of one ledger, items served alike once.

    Items with equal :func:`sharing_key` share one immutable parsed entry. ``fresh`` are
    the entries the last :meth:`parse` parsed anew (not shared with an earlier item).
    """

    def __init__(self) -> None:
        self._cache: dict[bytes, SealedEntry | None] = {}
        self.fresh: list[SealedEntry | None] = []

    def parse(self, items: Iterable[object]) -> list[SealedEntry | None]:
        """``parse_item`` of each of ``items``."""
        cache, parsed, fresh = self._cache, [], []
        for item in items:
            key = sharing_key(item)
            if key is not None and key in cache:
                parsed.append(cache[key])
                continue
            sealed = parse_item(item)
            fresh.append(sealed)
            parsed.append(sealed)
            if key is not None:
                cache[key] = sealed
        self.fresh = fresh
        return parsed


def parse_shared(copies: Sequence[Sequence[object]]) -> list[list[SealedEntry | None]]:
    """The items of each of ``copies`` (of one ledger) parsed by one :class:`Parser`."""
    parser = Parser()
    return [parser.parse(items) for items in copies]


def parse_item(item: object) -> SealedEntry | None:
    """A served ``{entry, signatures}`` item as a sealed entry (None if it is not one)."""
    if not isinstance(item, Mapping):
        return None
    try:
        return SealedEntry(Entry.from_json(item.get("entry")), parse_signatures(item.get("signatures")))
    except (EntryFormatError, TypeError, ValueError, RecursionError):
        return None


def served_seq(item: object, default: int = 0) -> int:
    """The seq a served item claims (``default`` when it claims none that is an integer)."""
    entry = item.get("entry") if isinstance(item, Mapping) else None
    seq = entry.get("seq") if isinstance(entry, Mapping) else None
    if isinstance(seq, bool) or not isinstance(seq, int) or seq.bit_length() > MAX_SEQ_BITS:
        return default
    return seq


def record_of(item: object, position: int = 0) -> Record:
    """A served ``{entry, hash, signatures}`` item as the verifier's record (total).

    An item that claims no usable seq is placed at ``position`` (where it was served), so
    its findings name that position.
    """
    value = item if isinstance(item, Mapping) else {}
    entry = value.get("entry")
    try:
        data = Entry.from_json(entry).canonical
    except (EntryFormatError, TypeError, ValueError, RecursionError):
        try:
            data = json.dumps(entry, sort_keys=True).encode()
        except (TypeError, ValueError, RecursionError):
            data = b"null"
    stored = value.get("hash")
    return Record(
        seq=served_seq(item, position),
        entry=data,
        signatures=value.get("signatures"),
        stored_hash=stored if isinstance(stored, str) else None,
    )
