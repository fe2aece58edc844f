"""Ledger verification: locate the exact entry where a chain or signature fails.

Input is what a holder stores or serves: per entry, its canonical bytes and the list
of signatures it was appended with. Each record is checked on its own
(:func:`check_record`: well formed and canonical, in the right ledger, every signature
valid, every required signer present) and then the records are linked
(:func:`link_chain`: seq continuous from 1, each ``prev`` equal to the hash of the
entry before). The per-record step is independent per entry, so callers may spread it
over processes; linking is a cheap sequential pass.

Findings name the ledger, the seq and the rule; an empty list means the ledger
verifies. Rules: ``malformed``, ``wrong_ledger``, ``unknown_signer``, ``bad_signature``,
``missing_signature``, ``sequence``, ``hash_chain``, ``stored_hash``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from supplymesh.core.crypto import PublicKey, SignatureError
from supplymesh.core.entry import (
    GENESIS_PREV,
    Entry,
    EntryFormatError,
    SealedEntry,
    parse_signatures,
)
from supplymesh.core.merkle import root_from_leaf_hashes

RequiredSigners = Callable[[Entry], Collection[str]]


def author_only(entry: Entry) -> Collection[str]:
    """Default signing rule: the author must have signed."""
    return (entry.author,)


@dataclass(frozen=True, slots=True)
class Finding:
    """One violation: which ledger, which entry, which rule, and why."""

    ledger: str
    seq: int | None
    rule: str
    detail: str

    def as_json(self) -> dict[str, object]:
        """``{"ledger", "seq", "rule", "detail"}``."""
        return {"ledger": self.ledger, "seq": self.seq, "rule": self.rule, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Record:
    """An entry as stored or served: its position, canonical bytes and signatures."""

    seq: int
    entry: bytes
    signatures: object
    stored_hash: str | None = None


@dataclass(frozen=True, slots=True)
class Link:
    """What chaining and the Merkle tree need of a well-formed entry."""

    hash: str
    prev: str
    leaf_hash: bytes


@dataclass(frozen=True, slots=True)
class RecordCheck:
    """Result of checking one record on its own.

    ``link`` is None exactly when the record is malformed. ``sealed`` may be dropped
    (None) by callers that only link and summarise, e.g. to send less between processes.
    """

    seq: int
    sealed: SealedEntry | None
    findings: tuple[Finding, ...]
    link: Link | None = None

    def without_entry(self) -> RecordCheck:
        """The same result without the parsed entry (findings and link only)."""
        return RecordCheck(self.seq, None, self.findings, self.link)


def check_record(
    ledger: str,
    record: Record,
    keys: Mapping[str, PublicKey],
    required: RequiredSigners = author_only,
) -> RecordCheck:
    """Check one record: form, ledger name, signatures, required signers."""
    findings: list[Finding] = []

    def add(rule: str, detail: str) -> None:
        findings.append(Finding(ledger, record.seq, rule, detail))

    try:
        entry = Entry.from_canonical(record.entry)
        sealed = SealedEntry(entry, parse_signatures(record.signatures))
    except EntryFormatError as exc:
        add("malformed", str(exc))
        return RecordCheck(record.seq, None, tuple(findings))
    if entry.ledger != ledger or entry.seq != record.seq:
        add("wrong_ledger", f"entry claims {entry.ledger} seq {entry.seq}")
    if record.stored_hash is not None and record.stored_hash != entry.hash:
        add("stored_hash", f"stored hash {record.stored_hash[:16]}… ≠ content hash")
    for signature in sealed.signatures:
        key = keys.get(signature.signer)
        if key is None:
            add("unknown_signer", f"signed by {signature.signer}, who has no known key")
            continue
        try:
            key.verify_text(signature.sig, entry.digest)
        except SignatureError as exc:
            add("bad_signature", f"signature of {signature.signer}: {exc}")
    missing = sorted(set(required(entry)) - sealed.signers())
    if missing:
        add("missing_signature", f"not signed by {', '.join(missing)}")
    link = Link(entry.hash, entry.prev, sealed.leaf_hash)
    return RecordCheck(record.seq, sealed, tuple(findings), link)


def link_chain(
    ledger: str, checks: Sequence[RecordCheck], *, start: int = 1, prev: str = GENESIS_PREV
) -> list[Finding]:
    """Check seq continuity from ``start`` and that each ``prev`` is the previous hash.

    A whole ledger starts at seq 1 after the genesis ``prev``; the part of a ledger after
    an already verified prefix starts at the prefix's size + 1 after its last hash.
    """
    findings: list[Finding] = []
    expected_prev = prev
    for position, check in enumerate(checks, start=start):
        if check.seq != position:
            findings.append(
                Finding(ledger, check.seq, "sequence", f"expected seq {position}, found {check.seq}")
            )
        link = check.link
        if link is None:
            expected_prev = ""  # unknown: the next link cannot be judged
            continue
        if expected_prev and link.prev != expected_prev:
            findings.append(
                Finding(
                    ledger,
                    check.seq,
                    "hash_chain",
                    f"prev {link.prev[:16]}… is not the hash of entry {position - 1} ({expected_prev[:16]}…)",
                )
            )
        expected_prev = link.hash
    return findings


@dataclass(frozen=True, slots=True)
class LedgerReport:
    """Outcome of verifying a whole ledger."""

    ledger: str
    size: int
    head_hash: str
    root_hash: str
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        """True exactly when there are no findings."""
        return not self.findings


def summarise(
    ledger: str, checks: Sequence[RecordCheck], *, start: int = 1, prev: str = GENESIS_PREV
) -> LedgerReport:
    """Link already-checked records and compute the head and Merkle root.

    With ``start``/``prev`` (a part after a verified prefix) the root covers the part only.
    """
    findings = [f for check in checks for f in check.findings]
    findings.extend(link_chain(ledger, checks, start=start, prev=prev))
    findings.sort(key=lambda f: (f.seq or 0, f.rule))
    leaves = [c.link.leaf_hash for c in checks if c.link is not None]
    last = checks[-1].link if checks else None
    return LedgerReport(
        ledger=ledger,
        size=len(checks),
        head_hash=last.hash if last is not None else GENESIS_PREV,
        root_hash=root_from_leaf_hashes(leaves).hex(),
        findings=tuple(findings),
    )


def verify_ledger(
    ledger: str,
    records: Iterable[Record],
    keys: Mapping[str, PublicKey],
    required: RequiredSigners = author_only,
    *,
    start: int = 1,
    prev: str = GENESIS_PREV,
) -> LedgerReport:
    """Verify a whole ledger in one process (or the part from seq ``start`` after ``prev``)."""
    checks = [check_record(ledger, r, keys, required) for r in records]
    return summarise(ledger, checks, start=start, prev=prev)
