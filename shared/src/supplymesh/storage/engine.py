"""Engine construction for SQLite and PostgreSQL, with write transactions that lock.

SQLite: every connection runs in WAL mode with ``synchronous=FULL`` (an acknowledged
append survives power loss), a busy timeout, and foreign keys on. pysqlite's implicit
transaction handling is switched off so that SQLAlchemy's ``begin()`` emits ``BEGIN``
itself; a connection created with ``write=True`` emits ``BEGIN IMMEDIATE`` so that a
read-then-append sequence holds the database write lock from its first statement.

PostgreSQL: ``postgresql+psycopg://…``; a per-ledger row lock (``SELECT … FOR UPDATE``)
serialises appends to one ledger while other ledgers proceed in parallel. Pooled
connections are checked before use (``pool_pre_ping``), so after a server restart or a
dropped connection the next transaction opens a fresh one by itself.

A database fault of the moment (a full disk, a refused or dropped connection;
:mod:`supplymesh.storage.faults`) raised inside :func:`write_transaction` or
:func:`read_transaction` leaves as :class:`~supplymesh.errors.DatabaseUnavailable`
(503) once the transaction rolled back; a later transaction that commits ends the fault.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from supplymesh.storage.faults import committed, unavailable

SQLITE_BUSY_TIMEOUT_S = 30
PG_CONNECT_TIMEOUT_S = 10


def is_sqlite(engine: Engine) -> bool:
    """True for an SQLite engine."""
    return engine.dialect.name == "sqlite"


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine for ``url`` with SupplyMesh's connection settings.

    Raises:
        ValueError: for a database other than SQLite or PostgreSQL.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = create_engine(
            parsed,
            echo=echo,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
        )
        _configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(
            parsed,
            echo=echo,
            pool_pre_ping=True,
            pool_size=10,
            connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S},
        )
    raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get("supplymesh_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class _SqliteWriter:
    """One long-lived write connection per SQLite engine, used by one thread at a time.

    SQLite admits one writer at a time anyway; keeping the connection checked out saves
    the pool round trip on every append (measured: about a third of a small durable
    transaction's cost here). Other processes are still excluded by BEGIN IMMEDIATE.
    """

    def __init__(self, engine: Engine) -> None:
        self.lock = threading.RLock()  # re-entry fails loudly in begin(), not by deadlock
        self.conn = engine.connect().execution_options(supplymesh_write=True)


_writers: weakref.WeakKeyDictionary[Engine, _SqliteWriter] = weakref.WeakKeyDictionary()
_writers_lock = threading.Lock()


def _sqlite_writer(engine: Engine) -> _SqliteWriter:
    with _writers_lock:
        writer = _writers.get(engine)
        if writer is None:
            writer = _writers[engine] = _SqliteWriter(engine)
        return writer


@contextlib.contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that takes the SQLite write lock at once (plain on PostgreSQL).

    Raises:
        DatabaseUnavailable: the database failed for the moment (nothing was committed).
    """
    with _faults_as_unavailable(engine, write=True):
        if is_sqlite(engine):
            writer = _sqlite_writer(engine)
            with writer.lock, writer.conn.begin():
                yield writer.conn
        else:
            with engine.connect() as conn, conn.begin():
                yield conn
    committed(engine, write=True)


@contextlib.contextmanager
def _faults_as_unavailable(engine: Engine, *, write: bool) -> Iterator[None]:
    """Turn a database fault of the moment into DatabaseUnavailable; other errors pass unchanged."""
    try:
        yield
    except Exception as exc:
        error = unavailable(engine, exc, write=write)
        if error is None or error is exc:
            raise
        raise error from exc


def close_engine(engine: Engine) -> None:
    """Close the SQLite write connection (if any) and every pooled connection."""
    with _writers_lock:
        writer = _writers.pop(engine, None)
    if writer is not None:
        with writer.lock:
            writer.conn.close()
    engine.dispose()


@contextlib.contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A read transaction: one consistent snapshot for several queries.

    Raises:
        DatabaseUnavailable: the database cannot be read for the moment.
    """
    with _faults_as_unavailable(engine, write=False), engine.connect() as conn, conn.begin():
        yield conn
    committed(engine, write=False)
