"""Ledger benchmarks: durable signed appends and verification, next to raw floors.

Measures, in one run on this machine:

* raw floors: sqlite3 commits/s (WAL, synchronous=FULL, one row per transaction),
  psycopg commits/s (one row per transaction), Ed25519 sign/s and verify/s;
* SupplyMesh: durable signed appends/s through ``LedgerStore`` (canonicalise, hash,
  sign, lock head, insert, commit) on SQLite and PostgreSQL, and verification
  throughput of whole ledgers on one process and on every core.

Each SupplyMesh figure is printed with its ratio to the matching raw figure. Results are
written to ``benchmarks/results/ledger.json``.

Usage: ``python -m benchmarks.bench_ledger [--pg URL] [--appends N] [--verify N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.bindings import crypto_sign_open
from sqlalchemy import create_engine, text

from supplymesh.audit.parallel_verify import verify_ledger_parallel
from supplymesh.core.crypto import Signer
from supplymesh.core.entry import SealedEntry, format_time, next_entry, sign_entry
from supplymesh.core.verify import Record, verify_ledger
from supplymesh.storage.engine import close_engine, make_engine
from supplymesh.storage.ledger_store import Head, LedgerStore
from supplymesh.storage.migrate import migrate

RESULTS = Path(__file__).parent / "results" / "ledger.json"
BODY = {
    "product": "P-100",
    "quantity": 1000,
    "lead_time_days": 5,
    "required_machine_hours": "400",
    "note": "x" * 300,
}


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def raw_sqlite_commits(n: int, directory: Path) -> float:
    conn = sqlite3.connect(directory / "raw.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
    payload = json.dumps(BODY)

    def work() -> None:
        for i in range(n):
            conn.execute("BEGIN")
            conn.execute("INSERT INTO t VALUES (?, ?)", (i, payload))
            conn.execute("COMMIT")

    seconds = timed(work)
    conn.close()
    return rate(n, seconds)


def raw_pg_commits(n: int, url: str) -> float:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    payload = json.dumps(BODY)
    table = f"bench_raw_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (id BIGINT PRIMARY KEY, payload TEXT NOT NULL)")
        try:

            def work() -> None:
                for i in range(n):
                    with conn.transaction():
                        conn.execute(f"INSERT INTO {table} VALUES (%s, %s)", (i, payload))

            seconds = timed(work)
        finally:
            conn.execute(f"DROP TABLE {table}")
    return rate(n, seconds)


def raw_sign_verify(n: int) -> tuple[float, float, float]:
    """Ed25519 sign/s (OpenSSL), verify/s with OpenSSL and with libsodium (what we use)."""
    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    raw_public = public.public_bytes_raw()
    message = os.urandom(32)
    sig = key.sign(message)
    sign_s = timed(lambda: [key.sign(message) for _ in range(n)] and None)
    verify_s = timed(lambda: [public.verify(sig, message) for _ in range(n)] and None)
    sodium_s = timed(lambda: [crypto_sign_open(sig + message, raw_public) for _ in range(n)] and None)
    return rate(n, sign_s), rate(n, verify_s), rate(n, sodium_s)


def _build(signer: Signer, ledger: str, head: Head) -> SealedEntry:
    entry = next_entry(
        ledger=ledger,
        head=(head.size, head.head_hash),
        time=format_time(datetime.now(UTC)),
        kind="bench.item",
        author="pdu",
        body=BODY,
    )
    return SealedEntry(entry, (sign_entry(entry, signer_id="pdu", signer=signer),))


def store_appends(n: int, url: str) -> float:
    engine = make_engine(url)
    migrate(engine)
    store = LedgerStore(engine)
    signer = Signer(Ed25519PrivateKey.generate())
    store.append("warmup", lambda head: _build(signer, "warmup", head))
    seconds = timed(
        lambda: [store.append("network", lambda h: _build(signer, "network", h)) for _ in range(n)] and None
    )
    close_engine(engine)
    return rate(n, seconds)


def store_appends_batched(n: int, url: str, batch: int) -> float:
    """Group commit: ``batch`` signed appends per durable transaction."""
    engine = make_engine(url)
    migrate(engine)
    store = LedgerStore(engine)
    signer = Signer(Ed25519PrivateKey.generate())

    def work() -> None:
        for _ in range(n // batch):
            with store.writer("network") as writer:
                for _ in range(batch):
                    writer.append(_build(signer, "network", writer.head))

    seconds = timed(work)
    close_engine(engine)
    return rate(n // batch * batch, seconds)


def make_records(n: int, signer: Signer) -> list[Record]:
    records = []
    head = Head("network", 0, "0" * 64)
    for _ in range(n):
        sealed = _build(signer, "network", head)
        records.append(
            Record(seq=sealed.entry.seq, entry=sealed.entry.canonical, signatures=sealed.signatures_json())
        )
        head = Head("network", sealed.entry.seq, sealed.entry.hash)
    return records


def verification(n: int) -> tuple[float, float, int]:
    signer = Signer(Ed25519PrivateKey.generate())
    records = make_records(n, signer)
    keys = {"pdu": signer.public_key}
    one = timed(lambda: verify_ledger("network", records, keys) and None)
    workers = os.cpu_count() or 1
    many = timed(lambda: verify_ledger_parallel("network", records, keys, workers=workers) and None)
    return rate(n, one), rate(n, many), workers


def pg_schema_url(url: str) -> tuple[str, Callable[[], None]]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={schema}')}", drop


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pg", default=os.environ.get("SUPPLYMESH_TEST_DATABASE_URL"), help="PostgreSQL URL")
    parser.add_argument("--appends", type=int, default=3000)
    parser.add_argument("--verify", type=int, default=20000)
    args = parser.parse_args()
    results: dict[str, object] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        raw_sqlite = raw_sqlite_commits(args.appends, directory)
        sign, verify_openssl, verify = raw_sign_verify(20000)
        sqlite_appends = store_appends(args.appends, f"sqlite:///{directory / 'store.db'}")
        sqlite_batched = store_appends_batched(args.appends * 4, f"sqlite:///{directory / 'batch.db'}", 16)
    one, many, workers = verification(args.verify)
    results["raw"] = {
        "sqlite_commits_per_s": raw_sqlite,
        "ed25519_sign_per_s": sign,
        "ed25519_verify_per_s_openssl": verify_openssl,
        "ed25519_verify_per_s": verify,
    }
    results["sqlite"] = {
        "signed_appends_per_s": sqlite_appends,
        "ratio_to_raw_commits": sqlite_appends / raw_sqlite,
        "group_commit_16_signed_appends_per_s": sqlite_batched,
    }
    results["verification"] = {
        "entries": args.verify,
        "one_process_per_s": one,
        "workers": workers,
        "all_cores_per_s": many,
        "ratio_to_raw_verify": many / verify,
        "ratio_to_raw_verify_all_cores": many / (verify * workers),
    }
    if args.pg:
        url, drop = pg_schema_url(args.pg)
        try:
            raw_pg = raw_pg_commits(min(args.appends, 2000), args.pg.split("?")[0])
            pg_appends = store_appends(min(args.appends, 2000), url)
            pg_batched = store_appends_batched(min(args.appends, 2000) * 4, url, 16)
        finally:
            drop()
        results["postgresql"] = {
            "raw_commits_per_s": raw_pg,
            "signed_appends_per_s": pg_appends,
            "ratio_to_raw_commits": pg_appends / raw_pg,
            "group_commit_16_signed_appends_per_s": pg_batched,
        }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
