"""Builders for signed test ledgers, shared by the unit tests.

Keys are derived deterministically from member names (SHA-256 of a fixed prefix and the
name as the Ed25519 seed), so every run builds byte-identical ledgers. Ledgers are
cached: tests must not mutate what they get back (everything returned is immutable, and
:meth:`Ledger.records` hands out a fresh list each call).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from supplymesh.core.crypto import PublicKey, Signer
from supplymesh.core.entry import (
    GENESIS_PREV,
    Entry,
    SealedEntry,
    format_time,
    next_entry,
    sign_entry,
)
from supplymesh.core.verify import Record

SUPPLIER = "supplier-a"
OEM = "oem-b"
OUTSIDER = "mallory"
LEDGER = "channel:oem-b:supplier-a"
OTHER_LEDGER = "channel:oem-b:supplier-c"
START = datetime(2026, 3, 1, 8, 0, 0, tzinfo=UTC)


@functools.cache
def signer_for(name: str) -> Signer:
    """A deterministic Ed25519 signer for member ``name``."""
    seed = hashlib.sha256(f"supplymesh-unit-test-key:{name}".encode()).digest()
    return Signer(Ed25519PrivateKey.from_private_bytes(seed))


def keys_for(*names: str) -> dict[str, PublicKey]:
    """Public keys by member name."""
    return {name: signer_for(name).public_key for name in names}


def body_for(seq: int) -> dict[str, object]:
    """A small order-like body; the ``part`` value contains ``bolt`` for byte flips."""
    return {"part": "bolt-m8", "qty": 10 * seq, "lot": f"L-{seq:05d}", "accepted": seq % 2 == 0}


def record_of(sealed: SealedEntry) -> Record:
    """The record a holder stores for ``sealed``."""
    return Record(
        seq=sealed.entry.seq,
        entry=sealed.entry.canonical,
        signatures=sealed.signatures_json(),
        stored_hash=sealed.entry.hash,
    )


@dataclass(frozen=True)
class Ledger:
    """A signed ledger: its sealed entries and the members that signed them."""

    name: str
    sealed: tuple[SealedEntry, ...]
    members: tuple[str, ...]

    @property
    def keys(self) -> dict[str, PublicKey]:
        """Public keys of the members (not of outsiders)."""
        return keys_for(*self.members)

    def records(self) -> list[Record]:
        """A fresh list of the stored records."""
        return [record_of(s) for s in self.sealed]

    def entry(self, seq: int) -> Entry:
        """The entry at ``seq`` (1-based)."""
        return self.sealed[seq - 1].entry

    def countersigned(self) -> set[int]:
        """Seqs of entries signed by both members."""
        return {s.entry.seq for s in self.sealed if len(s.signatures) > 1}


def author_of(seq: int, members: Sequence[str]) -> str:
    """Members take turns authoring: odd seqs by the first, even by the second."""
    return members[(seq - 1) % len(members)]


@functools.cache
def build_ledger(
    size: int = 20,
    *,
    name: str = LEDGER,
    members: tuple[str, ...] = (SUPPLIER, OEM),
    countersign_every: int = 3,
) -> Ledger:
    """A ledger of ``size`` entries; every ``countersign_every``-th is countersigned."""
    sealed: list[SealedEntry] = []
    head = (0, GENESIS_PREV)
    for seq in range(1, size + 1):
        author = author_of(seq, members)
        entry = next_entry(
            ledger=name,
            head=head,
            time=format_time(START + timedelta(seconds=seq, microseconds=seq)),
            kind="order" if seq % 2 else "order-ack",
            author=author,
            body=body_for(seq),
        )
        signatures = [sign_entry(entry, signer_id=author, signer=signer_for(author))]
        if countersign_every and seq % countersign_every == 0:
            other = next(m for m in members if m != author)
            signatures.append(sign_entry(entry, signer_id=other, signer=signer_for(other)))
        sealed.append(SealedEntry(entry, tuple(signatures)))
        head = (entry.seq, entry.hash)
    return Ledger(name=name, sealed=tuple(sealed), members=members)


def replace_at(records: Sequence[Record], seq: int, record: Record) -> list[Record]:
    """A copy of ``records`` with the record at ``seq`` (1-based position) replaced."""
    result = list(records)
    result[seq - 1] = record
    return result


def with_entry_bytes(record: Record, data: bytes) -> Record:
    """``record`` with different entry bytes (same seq, signatures, stored hash)."""
    return Record(seq=record.seq, entry=data, signatures=record.signatures, stored_hash=record.stored_hash)


def with_signatures(record: Record, signatures: Sequence[Mapping[str, str]]) -> Record:
    """``record`` with a different signature list."""
    return Record(
        seq=record.seq,
        entry=record.entry,
        signatures=[dict(s) for s in signatures],
        stored_hash=record.stored_hash,
    )
