"""Database helpers of the channel protocol.

Pending own entries, countersignatures, late signatures, and sealed entries read back
from the store.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import Connection, Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from supplymesh.core.entry import Entry, SealedEntry, Signature, parse_signatures
from supplymesh.storage.engine import read_transaction, write_transaction
from supplymesh.storage.tables import (
    countersigned,
    late_signatures,
    ledger_entries,
    pending_blocks,
    pending_entries,
)


def sealed_at(engine: Engine, ledger: str, seq: int) -> SealedEntry | None:
    """The stored entry at ``seq`` with the signatures it was appended with."""
    with read_transaction(engine) as conn:
        row = conn.execute(
            select(ledger_entries.c.entry, ledger_entries.c.signatures).where(
                ledger_entries.c.ledger == ledger, ledger_entries.c.seq == seq
            )
        ).one_or_none()
    if row is None:
        return None
    return SealedEntry(Entry.from_canonical(row.entry.encode()), parse_signatures(json.loads(row.signatures)))


def latest_of_kind(engine: Engine, ledger: str, kind: str, **match: str) -> SealedEntry | None:
    """The newest entry of ``kind`` whose body has the given string fields."""
    with read_transaction(engine) as conn:
        rows = conn.execute(
            select(ledger_entries.c.entry, ledger_entries.c.signatures)
            .where(ledger_entries.c.ledger == ledger, ledger_entries.c.kind == kind)
            .order_by(ledger_entries.c.seq.desc())
        )
        for row in rows:
            entry = Entry.from_canonical(row.entry.encode())
            if all(entry.body.get(k) == v for k, v in match.items()):
                return SealedEntry(entry, parse_signatures(json.loads(row.signatures)))
    return None


def countersigned_hash(engine: Engine, ledger: str, seq: int) -> tuple[str, str] | None:
    """(hash, sig) this member countersigned for ``seq``, if any."""
    with read_transaction(engine) as conn:
        row = conn.execute(
            select(countersigned.c.hash, countersigned.c.sig).where(
                countersigned.c.ledger == ledger, countersigned.c.seq == seq
            )
        ).one_or_none()
    return None if row is None else (row.hash, row.sig)


def countersigned_hashes(engine: Engine, ledger: str, seqs: Sequence[int]) -> dict[int, str]:
    """The hashes this member countersigned for any of ``seqs``, by seq."""
    with read_transaction(engine) as conn:
        rows = conn.execute(
            select(countersigned.c.seq, countersigned.c.hash).where(
                countersigned.c.ledger == ledger, countersigned.c.seq.in_(list(seqs))
            )
        )
        return {int(r.seq): str(r.hash) for r in rows}


def record_countersignature(engine: Engine, entry: Entry, sig: str) -> tuple[str, str]:
    """Record that this member countersigned ``entry``; return what is recorded for its seq.

    The primary key (ledger, seq) makes a second, different countersignature for the
    same seq impossible even under concurrency: the first one wins and is returned.
    """
    try:
        with write_transaction(engine) as conn:
            conn.execute(
                insert(countersigned).values(ledger=entry.ledger, seq=entry.seq, hash=entry.hash, sig=sig)
            )
        return entry.hash, sig
    except IntegrityError:
        found = countersigned_hash(engine, entry.ledger, entry.seq)
        assert found is not None
        return found


def record_countersignatures(engine: Engine, signed: Sequence[tuple[Entry, str]]) -> list[tuple[str, str]]:
    """Record a block's countersignatures in one transaction; return what is recorded per seq.

    If any seq already holds a record (the same entry signed before, or another), each is
    recorded on its own as :func:`record_countersignature` does, and the first wins.
    """
    try:
        with write_transaction(engine) as conn:
            conn.execute(
                insert(countersigned),
                [{"ledger": e.ledger, "seq": e.seq, "hash": e.hash, "sig": sig} for e, sig in signed],
            )
        return [(e.hash, sig) for e, sig in signed]
    except IntegrityError:
        return [record_countersignature(engine, e, sig) for e, sig in signed]


def add_late_signature(conn: Connection, ledger: str, seq: int, signature: Signature, now_text: str) -> bool:
    """Store a countersignature that arrived after the append; False if already stored."""
    exists = conn.execute(
        select(late_signatures.c.sig).where(
            late_signatures.c.ledger == ledger,
            late_signatures.c.seq == seq,
            late_signatures.c.signer == signature.signer,
        )
    ).first()
    if exists is not None:
        return False
    conn.execute(
        insert(late_signatures).values(
            ledger=ledger, seq=seq, signer=signature.signer, sig=signature.sig, received=now_text
        )
    )
    return True


def late_signatures_of(engine: Engine, ledger: str, seqs: list[int]) -> dict[int, list[dict[str, str]]]:
    """Late signatures by seq for the given entries."""
    if not seqs:
        return {}
    with read_transaction(engine) as conn:
        rows = conn.execute(
            select(late_signatures).where(late_signatures.c.ledger == ledger, late_signatures.c.seq.in_(seqs))
        ).all()
    found: dict[int, list[dict[str, str]]] = {}
    for row in rows:
        found.setdefault(int(row.seq), []).append({"signer": row.signer, "sig": row.sig})
    return found


def load_pending(engine: Engine, ledger: str) -> tuple[Entry, str] | None:
    """This member's own signed entry still waiting on ``ledger``."""
    with read_transaction(engine) as conn:
        row = conn.execute(select(pending_entries).where(pending_entries.c.ledger == ledger)).one_or_none()
    return None if row is None else (Entry.from_canonical(row.entry.encode()), row.signature)


def save_pending(engine: Engine, entry: Entry, signature: str) -> None:
    """Persist an own signed entry before offering it to the counterpart."""
    with write_transaction(engine) as conn:
        conn.execute(delete(pending_entries).where(pending_entries.c.ledger == entry.ledger))
        conn.execute(
            insert(pending_entries).values(
                ledger=entry.ledger, entry=entry.canonical.decode(), signature=signature
            )
        )


def clear_pending(conn: Connection, ledger: str) -> None:
    """Drop the pending entry of ``ledger`` (inside the append transaction)."""
    conn.execute(delete(pending_entries).where(pending_entries.c.ledger == ledger))


def save_pending_block(engine: Engine, block: Sequence[tuple[Entry, str]]) -> None:
    """Persist the PDU's signed block before offering it (replacing any block kept before)."""
    ledger = block[0][0].ledger
    with write_transaction(engine) as conn:
        conn.execute(delete(pending_blocks).where(pending_blocks.c.ledger == ledger))
        conn.execute(delete(pending_entries).where(pending_entries.c.ledger == ledger))
        conn.execute(
            insert(pending_blocks).values(
                ledger=ledger,
                entries=json.dumps([e.canonical.decode() for e, _ in block]),
                signatures=json.dumps([sig for _, sig in block]),
            )
        )


def load_pending_block(engine: Engine, ledger: str) -> list[tuple[Entry, str]]:
    """The block kept on ``ledger`` (a single pending entry kept by an older version counts as one)."""
    with read_transaction(engine) as conn:
        row = conn.execute(select(pending_blocks).where(pending_blocks.c.ledger == ledger)).one_or_none()
    if row is None:
        single = load_pending(engine, ledger)
        return [] if single is None else [single]
    entries, signatures = json.loads(row.entries), json.loads(row.signatures)
    return [(Entry.from_canonical(e.encode()), sig) for e, sig in zip(entries, signatures, strict=True)]


def clear_pending_block(conn: Connection, ledger: str) -> None:
    """Drop the block (and any single pending entry) kept on ``ledger``, inside a transaction."""
    conn.execute(delete(pending_blocks).where(pending_blocks.c.ledger == ledger))
    conn.execute(delete(pending_entries).where(pending_entries.c.ledger == ledger))


def pending_ledgers(engine: Engine) -> list[str]:
    """Ledgers with a pending own entry."""
    with read_transaction(engine) as conn:
        return list(conn.execute(select(pending_entries.c.ledger)).scalars())
