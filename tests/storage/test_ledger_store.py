"""Ledger store on the configured database: appends, concurrency, append-only triggers."""

from __future__ import annotations

import functools
import json
import threading
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from supplymesh.core import merkle
from supplymesh.core.crypto import Signer
from supplymesh.core.entry import GENESIS_PREV, SealedEntry, format_time, next_entry, sign_entry
from supplymesh.core.verify import verify_ledger
from supplymesh.storage.engine import is_sqlite
from supplymesh.storage.ledger_store import AppendConflictError, Head, LedgerStore
from supplymesh.storage.migrate import migrate

pytestmark = pytest.mark.db
SIGNER = Signer(Ed25519PrivateKey.generate())


def _sealed(ledger: str, head: Head, n: int = 0) -> SealedEntry:
    entry = next_entry(
        ledger=ledger,
        head=(head.size, head.head_hash),
        time=format_time(datetime(2026, 1, 1, tzinfo=UTC)),
        kind="test.item",
        author="pdu",
        body={"n": n},
    )
    return SealedEntry(entry, (sign_entry(entry, signer_id="pdu", signer=SIGNER),))


@pytest.fixture
def store(engine: Engine) -> LedgerStore:
    return LedgerStore(engine)


def _fill(store: LedgerStore, ledger: str, count: int) -> None:
    for n in range(count):
        store.append(ledger, functools.partial(_sealed, ledger, n=n))


def test_appends_are_sequential_and_verify(store: LedgerStore) -> None:
    _fill(store, "network", 10)
    head = store.head("network")
    assert head is not None and head.size == 10
    rows = list(store.iter_entries("network", batch=3))
    assert [r.seq for r in rows] == list(range(1, 11))
    report = verify_ledger("network", [r.record() for r in rows], {"pdu": SIGNER.public_key})
    assert report.ok and report.head_hash == head.head_hash
    assert bytes.fromhex(report.root_hash) == merkle.root_from_leaf_hashes(store.leaf_hashes("network", 10))


def test_unknown_ledger_has_no_head(store: LedgerStore) -> None:
    assert store.head("nothing") is None
    assert store.entries("nothing") == []


def test_append_refuses_entry_that_does_not_continue_head(store: LedgerStore) -> None:
    _fill(store, "network", 2)
    stale = _sealed("network", Head("network", 1, GENESIS_PREV))
    with pytest.raises(AppendConflictError), store.writer("network") as writer:
        writer.append(stale)
    with pytest.raises(AppendConflictError), store.writer("network") as writer:
        writer.append(_sealed("other", writer.head))
    assert store.count("network") == 2


def test_failed_transaction_leaves_nothing(store: LedgerStore) -> None:
    def crash_after_append() -> None:
        with store.writer("network") as writer:
            writer.append(_sealed("network", writer.head))
            raise RuntimeError("crash after append, before commit")

    with pytest.raises(RuntimeError):
        crash_after_append()
    assert store.count("network") == 0
    head = store.head("network")
    assert head is None or head.size == 0
    _fill(store, "network", 1)
    assert store.head("network") == Head("network", 1, next(store.iter_entries("network")).hash)


def test_concurrent_writers_leave_no_gap_and_no_fork(store: LedgerStore) -> None:
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        try:
            for n in range(25):
                store.append("network", functools.partial(_sealed, "network", n=worker * 100 + n))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = list(store.iter_entries("network"))
    assert [r.seq for r in rows] == list(range(1, 151))
    assert verify_ledger("network", [r.record() for r in rows], {"pdu": SIGNER.public_key}).ok
    assert sorted(json.loads(r.entry)["body"]["n"] for r in rows) == sorted(
        w * 100 + n for w in range(6) for n in range(25)
    )


@pytest.mark.parametrize(
    "statement", ["UPDATE ledger_entries SET kind = 'forged'", "DELETE FROM ledger_entries"]
)
def test_database_refuses_update_and_delete_of_entries(
    store: LedgerStore, engine: Engine, statement: str
) -> None:
    _fill(store, "network", 3)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement))
    assert store.count("network") == 3


@pytest.mark.pg
def test_postgresql_refuses_truncate(store: LedgerStore, engine: Engine) -> None:
    _fill(store, "network", 1)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text("TRUNCATE ledger_entries"))


def _drop_triggers(engine: Engine) -> None:
    with engine.begin() as conn:
        if is_sqlite(engine):
            conn.execute(text("DROP TRIGGER ledger_entries_no_update"))
            conn.execute(text("DROP TRIGGER ledger_entries_no_delete"))
        else:
            conn.execute(text("DROP TRIGGER ledger_entries_no_change ON ledger_entries"))


def test_insider_edit_with_triggers_dropped_is_located_by_verifier(
    store: LedgerStore, engine: Engine
) -> None:
    _fill(store, "network", 8)
    _drop_triggers(engine)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE ledger_entries SET entry = replace(entry, :old, :new) WHERE seq = 5"),
            {"old": '"n":4', "new": '"n":5'},
        )
    rows = [r.record() for r in store.iter_entries("network")]
    report = verify_ledger("network", rows, {"pdu": SIGNER.public_key})
    assert not report.ok
    assert {(f.seq, f.rule) for f in report.findings} >= {
        (5, "bad_signature"),
        (5, "stored_hash"),
        (6, "hash_chain"),
    }
    assert {f.seq for f in report.findings} <= {5, 6}


def test_insider_delete_with_triggers_dropped_is_located_by_verifier(
    store: LedgerStore, engine: Engine
) -> None:
    _fill(store, "network", 6)
    _drop_triggers(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM ledger_entries WHERE seq = 3"))
    report = verify_ledger(
        "network", [r.record() for r in store.iter_entries("network")], {"pdu": SIGNER.public_key}
    )
    assert {(f.seq, f.rule) for f in report.findings} >= {(4, "sequence"), (4, "hash_chain")}


def test_schema_creation_is_idempotent(engine: Engine, store: LedgerStore) -> None:
    _fill(store, "network", 2)
    migrate(engine)
    assert store.count("network") == 2
