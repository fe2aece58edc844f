"""Idempotency-Key records: reservations, the write marker and stored responses.

The HTTP side (:mod:`supplymesh.web.idempotency`) turns these into answers; this module
holds what must live with the database, so lower layers (a channel append) can store a
request's response in their own transaction with :func:`respond_in`.

The first request with a key reserves it (a row of ``idempotency_records``), runs, and
stores its response; a retry with the same key and the same request (method, path,
canonical body) gets the stored response; the same key with a different request is
refused with 422. The rule for everything in between:

* **Effects and a marker commit together.** While the handler runs, the first write of
  each of its transactions on this node's database first marks the reservation
  *committed* in that same transaction. So after a crash the row tells which side of
  the handler's commit the process died on: *reserved* (nothing of the handler
  committed) or *committed* (some of it did).
* **A retry while the first request runs** (its reservation belongs to this start of
  the node) is 409 ``conflict``; retry later.
* **A reservation left by a previous start of the node** (the process that made it is
  gone), or by a request of this start whose database failed under it
  (:mod:`supplymesh.storage.held`), is taken over by the retry if it is still
  *reserved*: nothing was committed, so the retry runs the handler once more without
  doubling anything. Of several retries, exactly one takes it over; the others get 409
  as above.
* **A committed reservation without a response** (a crash between the handler's
  commit and storing its response) is never run again by an ordinary handler, as that
  could double its effect. Handlers avoid the case in one of two ways:

  - a handler whose effect is one transaction stores its response in that very
    transaction with :func:`respond_in`, so the retry gets the original outcome;
  - a handler whose effect is idempotent by construction (a party action with an id
    derived from what it acts on, which the PDU sequences at most once) is declared
    ``rerunnable``: the retry takes the reservation over and runs it again, and the
    handler answers from the effect that already stands.

  Where neither applies (a channel entry whose commit completed at the next start),
  the retry gets 409 ``idempotency-response-lost`` (``committed: true``) for good. The
  effect stands; read it back (a list, the event feed) rather than retrying.
* **A handler that raises** drops its reservation, so the client may retry: a handler
  must raise only when a retry cannot double what it committed.

Rows are read as: ``status`` 0 reserved, 1 committed, ≥ 100 the stored HTTP status;
``response`` holds the reservation's owner (node start and attempt) until the response
replaces it. Writes are fenced: a handler whose reservation another process took over
cannot commit (its write fails with 409 ``idempotency-superseded``).
"""

from __future__ import annotations

import json
import threading
import uuid
import weakref
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import Connection, Engine, Row, delete, event, insert, select, update
from sqlalchemy.exc import IntegrityError

from supplymesh.errors import Conflict, Unprocessable
from supplymesh.storage import held
from supplymesh.storage.engine import read_transaction, write_transaction
from supplymesh.storage.tables import idempotency_records

RESERVED = 0
COMMITTED = 1
_WRITES = ("INSERT", "UPDATE", "DELETE")
_MARKED = "supplymesh.idempotency.marked"


class ResponseLost(Conflict):
    """The first request committed its effects, then the node stopped before storing its answer."""

    slug = "idempotency-response-lost"
    title = "Response of the first request lost"


class Superseded(Conflict):
    """A retry took this request's reservation over; it may not commit."""

    slug = "idempotency-superseded"
    title = "Request superseded by a retry"


@dataclass(slots=True)
class Attempt:
    """A keyed request whose handler is running; ``done`` once it returned or raised."""

    engine: Engine
    client: str
    key: str
    owner: str
    status: int
    done: bool = False
    responded: bool = False


_active: ContextVar[Attempt | None] = ContextVar("supplymesh_idempotency_attempt", default=None)
_instances: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()
_instances_lock = threading.Lock()


def instance(engine: Engine) -> str:
    """This start of the node (one engine per start), instrumenting the engine on first use."""
    with _instances_lock:
        if engine not in _instances:
            _instances[engine] = uuid.uuid4().hex
            event.listen(engine, "before_cursor_execute", _mark_committed)
            event.listen(engine, "commit", _clear_mark)
            event.listen(engine, "rollback", _clear_mark)
        return _instances[engine]


def where(client: str, key: str) -> Any:
    """The SQL condition selecting the reservation of ``key`` by ``client``."""
    t = idempotency_records.c
    return (t.client == client) & (t.key == key)


def _mark_committed(conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
    """Before a handler's first write in a transaction, mark its reservation committed there."""
    attempt = _active.get()
    if attempt is None or attempt.done or conn.engine is not attempt.engine:
        return  # not a handler's write (a task it spawned may write after it is done)
    if conn.info.get(_MARKED) == attempt.owner or not statement.lstrip()[:6].upper().startswith(_WRITES):
        return
    conn.info[_MARKED] = attempt.owner  # before executing: the marker is a write too
    t = idempotency_records.c
    marked = conn.execute(
        update(idempotency_records)
        .where(where(attempt.client, attempt.key) & (t.response == attempt.owner) & (t.status <= COMMITTED))
        .values(status=COMMITTED)
    )
    if marked.rowcount != 1 and not attempt.responded:  # another start took it over
        conn.info.pop(_MARKED, None)
        raise Superseded(
            "a retry with this Idempotency-Key took the request over", idempotency_key=attempt.key
        )


def _clear_mark(conn: Connection) -> None:
    if conn.invalidated:  # the connection dropped (its info is cleared on reconnect); nothing to clear
        return
    conn.info.pop(_MARKED, None)


def respond_in(conn: Connection, body: Any, status: int | None = None) -> None:
    """Store the running keyed request's response in the handler's own transaction ``conn``.

    A crash after that commit then loses nothing: a retry gets this response. Outside a
    keyed request (or on another node's database) it does nothing.
    """
    attempt = _active.get()
    if attempt is None or attempt.done or conn.engine is not attempt.engine:
        return
    t = idempotency_records.c
    conn.execute(
        update(idempotency_records)
        .where(where(attempt.client, attempt.key) & (t.response == attempt.owner) & (t.status <= COMMITTED))
        .values(status=status or attempt.status, response=json.dumps(to_jsonable_python(body)))
    )
    attempt.responded = True  # once committed, nobody can take the reservation over


async def run_as(attempt: Attempt, handler: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``handler`` as ``attempt``: its writes mark (and are fenced by) the reservation."""
    token = _active.set(attempt)
    try:
        return await handler()
    finally:
        attempt.done = True
        _active.reset(token)


@dataclass
class Reservation:
    """One (client, key) reservation, as one request of this start of the node holds it."""

    engine: Engine
    client: str
    key: str
    fingerprint: str
    method: str
    path: str
    owner: str = ""

    def __post_init__(self) -> None:
        self.owner = self.owner or f"{instance(self.engine)}:{uuid.uuid4().hex}"

    def reserve(self, now_text: str, *, rerunnable: bool) -> Row[Any] | bool:
        """Reserve the key for this request.

        Returns True if this request now holds it, False if it took over a committed
        reservation (a rerun), or the stored row whose response answers it.

        Raises:
            Unprocessable: the key was used for a different request.
            ResponseLost: the first request committed, its answer was lost, no rerun allowed.
            Conflict: a request with this key is still running.
        """
        for _ in range(3):
            if self._insert(now_text):
                return True
            with read_transaction(self.engine) as conn:
                row = conn.execute(select(idempotency_records).where(self._where())).one_or_none()
            if row is None:
                continue  # released in between: reserve again
            if row.request_hash != self.fingerprint:
                raise Unprocessable(
                    "Idempotency-Key was already used for a different request", idempotency_key=self.key
                )
            if row.status > COMMITTED:
                return row
            if self._take_abandoned(row, now_text):
                return True  # its request raised and could not drop it: run afresh
            if row.response.partition(":")[0] == instance(self.engine) and held.holds(row.response):
                break  # running in this process
            if row.status == COMMITTED and not rerunnable:
                raise ResponseLost(
                    "the request with this Idempotency-Key was carried out, but the node stopped before "
                    "storing its response; its effect stands: read it back instead of retrying",
                    idempotency_key=self.key,
                    committed=True,
                )
            if self._take_over(row.response, row.status, now_text):
                return bool(row.status != COMMITTED)
        raise Conflict(
            "a request with this Idempotency-Key is still being processed", idempotency_key=self.key
        )

    def _take_abandoned(self, row: Row[Any], now_text: str) -> bool:
        """Take over a reservation whose request raised and could not drop it (its database failed)."""
        if not held.abandoned(row.response) or not self._take_over(row.response, row.status, now_text):
            return False
        held.forget(row.response)
        return True

    def _where(self) -> Any:
        return where(self.client, self.key)

    def _insert(self, now_text: str) -> bool:
        try:
            with held.holding(self.owner, until_error=True), write_transaction(self.engine) as conn:
                conn.execute(
                    insert(idempotency_records).values(
                        client=self.client,
                        key=self.key,
                        method=self.method,
                        path=self.path,
                        request_hash=self.fingerprint,
                        status=RESERVED,
                        response=self.owner,
                        created=now_text,
                    )
                )
        except IntegrityError:
            return False
        return True

    def _take_over(self, previous_owner: str, status: int, now_text: str) -> bool:
        """Take a reservation of a previous start of the node.

        ``status`` is the one read: RESERVED (it committed nothing), or COMMITTED for a
        rerunnable handler. Of several retries exactly one takes it over.
        """
        t = idempotency_records.c
        with held.holding(self.owner, until_error=True), write_transaction(self.engine) as conn:
            taken = conn.execute(
                update(idempotency_records)
                .where(self._where() & (t.status == status) & (t.response == previous_owner))
                .values(response=self.owner, created=now_text)
            )
        if taken.rowcount != 1:
            held.drop(self.owner)
        return taken.rowcount == 1

    def store(self, status_code: int, result: Any) -> None:
        """Store the response of the request holding the reservation."""
        t = idempotency_records.c
        with held.holding(self.owner), write_transaction(self.engine) as conn:
            conn.execute(
                update(idempotency_records)
                .where(self._where() & (t.response == self.owner) & (t.status <= COMMITTED))
                .values(status=status_code, response=json.dumps(result))
            )

    def release(self) -> None:
        """Drop the reservation (the handler raised): the key is free again."""
        t = idempotency_records.c
        with held.releasing(self.owner), write_transaction(self.engine) as conn:
            conn.execute(
                delete(idempotency_records).where(
                    self._where() & (t.response == self.owner) & (t.status <= COMMITTED)
                )
            )
