"""Database faults: which errors mean "the database cannot be used now", and the node's view of them.

A full disk, a dropped or refused connection, a locked SQLite file or a PostgreSQL
server that is restarting are faults of the moment: the transaction rolled back, nothing
of it was stored, and the same request succeeds once the database is back. They become
:class:`~supplymesh.errors.DatabaseUnavailable` (503) in
:func:`~supplymesh.storage.engine.write_transaction` and
:func:`~supplymesh.storage.engine.read_transaction`. Every other database error (a
constraint, a missing table: a bug) stays what it is.

:class:`DatabaseStatus` remembers, per engine, the last fault and whether a write has
succeeded since; ``/health`` reports it, and the log tells an operator once when the
database fails and once when writes succeed again.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy import exc as sa

from supplymesh.errors import DatabaseUnavailable

log = logging.getLogger("supplymesh.database")

SQLITE_FAULTS = {
    "database or disk is full": "disk full",
    "no space left": "disk full",
    "disk i/o error": "disk I/O error",
    "database is locked": "database locked",
    "unable to open database file": "database file cannot be opened",
    "readonly database": "database is read-only",
}
"""SQLite errors of the moment (lower case) and what a client is told, as opposed to errors of a statement."""

PG_CLASSES = {
    "53": "database server out of resources (disk full?)",
    "57": "database server unavailable or restarting",
    "08": "connection to the database failed",
}
"""PostgreSQL SQLSTATE classes of faults of the moment."""


def fault_reason(exc: BaseException) -> str | None:
    """What a client may be told if ``exc`` means the database cannot be used now; None for any other error.

    The reason names the kind of fault only (no host, path or driver message): the
    driver's own message goes to the log.
    """
    if isinstance(exc, DatabaseUnavailable):
        return str(exc.extensions.get("reason", "unavailable"))
    if isinstance(exc, sa.TimeoutError):  # no pooled connection came free in time
        return "no database connection free"
    if isinstance(exc, sa.DBAPIError):
        orig = exc.orig
        if isinstance(orig, sqlite3.Error):
            return _sqlite_reason(orig)
        if exc.connection_invalidated:
            return "connection to the database lost"
        if isinstance(exc, sa.OperationalError | sa.InterfaceError):  # PostgreSQL: connection, server, disk
            sqlstate = str(getattr(orig, "sqlstate", None) or "08")
            return PG_CLASSES.get(sqlstate[:2], "database server error")
        return None
    if isinstance(exc, sqlite3.OperationalError):  # the SQLite append path uses the driver directly
        return _sqlite_reason(exc)
    return None


def _sqlite_reason(exc: sqlite3.Error) -> str | None:
    text = str(exc).lower()
    return next((reason for fault, reason in SQLITE_FAULTS.items() if fault in text), None)


@dataclass
class DatabaseStatus:
    """What this node last saw of its database: the last fault, and whether it is over."""

    last_error: str | None = None
    last_error_at: str | None = None
    failing: bool = False
    """True from a fault until a transaction commits (a write one, if a write failed)."""
    failed_write: bool = False

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def failed(self, reason: str, message: str, *, write: bool) -> None:
        """Record a fault; the first of an episode is logged as a warning with the driver's ``message``."""
        with self._lock:
            first = not self.failing
            self.failing = True
            self.failed_write = self.failed_write or write
            self.last_error = reason
            self.last_error_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        if first:
            log.warning("database unavailable (%s): %s; answering 503 until it is back", reason, message)

    def succeeded(self, *, write: bool) -> None:
        """A transaction committed: the fault is over (after a failed write, only once a write commits)."""
        if not self.failing or (self.failed_write and not write):
            return
        with self._lock:
            was, self.failing, self.failed_write = self.failing, False, False
        if was:
            log.warning("database available again (last fault: %s)", self.last_error)


_statuses: weakref.WeakKeyDictionary[Engine, DatabaseStatus] = weakref.WeakKeyDictionary()
_statuses_lock = threading.Lock()


def status_of(engine: Engine) -> DatabaseStatus:
    """The status of ``engine``'s database (created on first use)."""
    with _statuses_lock:
        status = _statuses.get(engine)
        if status is None:
            status = _statuses[engine] = DatabaseStatus()
        return status


def unavailable(engine: Engine, exc: BaseException, *, write: bool) -> DatabaseUnavailable | None:
    """The 503 error for ``exc`` if it is a database fault (recorded on ``engine``), else None."""
    reason = fault_reason(exc)
    if reason is None:
        return None
    if isinstance(exc, DatabaseUnavailable):
        return exc
    status_of(engine).failed(reason, _first_line(str(exc)), write=write)
    return DatabaseUnavailable(f"this node's database is unavailable ({reason}); retry later", reason=reason)


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0][:300] if lines else "database error"


def committed(engine: Engine, *, write: bool) -> None:
    """A transaction of ``engine`` committed: end its fault, if any (cheap when there is none)."""
    status = _statuses.get(engine)
    if status is not None and status.failing:
        status.succeeded(write=write)
