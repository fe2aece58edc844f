"""Per-entry checks of served copies: each entry parsed once, signatures verified on every core.

The record check of a served item is exactly :func:`supplymesh.core.verify.check_record`
on :func:`record_of` the item (well formed, in the right ledger, stored hash, every
signature valid, the author among the signers). Done naively, that parses and
canonicalises each entry three times (``record_of``, ``check_record``, and the parse the
semantic checks use) and verifies every holder's copy of the same signature again. Here:

* every item is parsed once (:func:`share_parses`); an item served identically by several
  holders of a ledger (the same JSON value, compared by its sorted ``orjson`` bytes, which
  tell ``1``, ``1.0`` and ``true`` apart) is parsed once for all of them;
* an item that parses is checked from its parsed form (:func:`sealed_check`): for such an
  item, ``record_of`` yields the entry's canonical bytes, which ``check_record`` parses
  back to the same entry, so the findings are the same; an item that does not parse
  takes ``check_record`` itself;
* the Ed25519 verifications, the bulk of the work, are collected as distinct
  ``(signer, signature, digest)`` jobs and spread over forked processes
  (:func:`verify_signatures`); a job's outcome depends on nothing else, so each is
  computed once, and every copy's findings name its own holder and position as before.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import orjson

from supplymesh.core.crypto import PublicKey, SignatureError
from supplymesh.core.entry import Entry, EntryFormatError, SealedEntry, parse_signatures
from supplymesh.core.verify import Finding, Link, Record, RecordCheck, check_record

Job = tuple[str, str, bytes]
"""A signature to verify: signer, base64url signature, the 32-byte entry digest."""
Outcome = Callable[[Job], str | None]
"""Why a job's signature does not verify (the verifier's message), or None if it does."""

CHUNK = 2000
"""Signature jobs per task sent to a worker."""
MAX_SEQ_BITS = 62
"""A served ``seq`` wider than this is not a position of any real ledger."""
MIN_PARALLEL = 4000
"""Fewer distinct signatures than this are verified in-process: forking would cost more."""


def worker_count(setting: int) -> int:
    """The workers a setting asks for: ``0`` means one per core."""
    return setting if setting > 0 else os.cpu_count() or 1


def sharing_key(item: object) -> bytes | None:
    """What an item's parse and record check depend on, as exact bytes (None: not shareable).

    That is its entry, signatures and stored hash (its late signatures are read apart).
    """
    if not isinstance(item, Mapping):
        return None
    try:
        value = [item.get("entry"), item.get("signatures"), item.get("hash")]
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except (TypeError, ValueError, RecursionError):  # orjson.JSONEncodeError is a TypeError
        return None


def verify_one(keys: Mapping[str, PublicKey], job: Job) -> str | None:
    """The outcome of one job, verified here (the signer's key must be known)."""
    signer, sig, digest = job
    try:
        keys[signer].verify_text(sig, digest)
    except SignatureError as exc:
        return str(exc)
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


def signature_jobs(
    parsed: Sequence[SealedEntry | None], keys: Mapping[str, PublicKey], into: dict[Job, None]
) -> None:
    """Add to ``into`` (an ordered set) every signature by a known signer in ``parsed``."""
    for sealed in parsed:
        if sealed is None:
            continue
        digest = sealed.entry.digest
        for signature in sealed.signatures:
            if signature.signer in keys:
                into[(signature.signer, signature.sig, digest)] = None


def verify_signatures(
    jobs: Sequence[Job],
    keys: Mapping[str, PublicKey],
    *,
    workers: int = 1,
    chunk: int | None = None,
    threshold: int | None = None,
) -> dict[Job, str]:
    """The jobs that fail and why, verified on ``workers`` forked processes.

    In-process with one worker, below ``threshold`` jobs (default :data:`MIN_PARALLEL`),
    or where ``fork`` is missing. Each worker task takes ``chunk`` jobs (:data:`CHUNK`).
    """
    chunk = chunk or CHUNK
    threshold = MIN_PARALLEL if threshold is None else threshold
    bounds = [(i, min(i + chunk, len(jobs))) for i in range(0, len(jobs), chunk)]
    if workers <= 1 or len(jobs) < threshold or len(bounds) <= 1 or not _can_fork():
        return {job: why for job in jobs if (why := verify_one(keys, job)) is not None}
    parts = _forked(jobs, keys, bounds, workers)
    return {jobs[index]: why for part in parts for index, why in part}


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


# Jobs and keys reach forked workers by inheritance, not through pipes: only the few
# failures travel back. One audit at a time uses them (the lock).
_shared: tuple[Sequence[Job], Mapping[str, PublicKey]] = ((), {})
_shared_lock = threading.Lock()


def _verify_range(bounds: tuple[int, int]) -> list[tuple[int, str]]:
    jobs, keys = _shared
    failed = []
    for index in range(*bounds):
        why = verify_one(keys, jobs[index])
        if why is not None:
            failed.append((index, why))
    return failed


def _forked(
    jobs: Sequence[Job], keys: Mapping[str, PublicKey], bounds: Sequence[tuple[int, int]], workers: int
) -> list[list[tuple[int, str]]]:
    global _shared
    with _shared_lock:
        _shared = (jobs, keys)
        try:
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=min(workers, len(bounds)), mp_context=context) as pool:
                return list(pool.map(_verify_range, bounds))
        finally:
            _shared = ((), {})


def parse_shared(copies: Sequence[Sequence[object]]) -> list[list[SealedEntry | None]]:
    """Every item of each of ``copies`` (the served items of several holders of one ledger), parsed.

    Items served alike (equal :func:`sharing_key`) are parsed once and share one immutable
    parsed entry.
    """
    cache: dict[bytes, Any] = {}
    parsed_copies = []
    for items in copies:
        parsed: list[SealedEntry | None] = []
        for item in items:
            key = sharing_key(item)
            if key is None:
                parsed.append(parse_item(item))
                continue
            found = cache.get(key, cache)
            if found is cache:
                found = cache[key] = parse_item(item)
            parsed.append(found)
        parsed_copies.append(parsed)
    return parsed_copies


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
