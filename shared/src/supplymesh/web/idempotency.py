"""Idempotency-Key handling for POSTs that create something (per ERP client).

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
  gone) is taken over by the retry if it is still *reserved*: nothing was committed,
  so the retry runs the handler once more without doubling anything. Of several
  retries, exactly one takes it over; the others get 409 as above.
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

import hashlib
import json
import threading
import uuid
import weakref
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import Connection, Engine, delete, event, insert, select, update
from sqlalchemy.exc import IntegrityError

from supplymesh.core.canonical import CanonicalizationError, canonicalize
from supplymesh.erp_clients import ErpClient
from supplymesh.errors import Conflict, Unprocessable
from supplymesh.storage.engine import read_transaction, write_transaction
from supplymesh.storage.tables import idempotency_records
from supplymesh.web.deps import NodeDep, require_scope
from supplymesh.web.node import Node

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


@dataclass(frozen=True, slots=True)
class Reply:
    """A handler result with its own status code (e.g. 202 when work was queued)."""

    status: int
    body: Any


@dataclass(slots=True)
class _Attempt:
    """A keyed request whose handler is running; ``done`` once it returned or raised."""

    engine: Engine
    client: str
    key: str
    owner: str
    status: int
    done: bool = False
    responded: bool = False


_active: ContextVar[_Attempt | None] = ContextVar("supplymesh_idempotency_attempt", default=None)
_instances: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()
_instances_lock = threading.Lock()


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    """Hash of a request: method, path and (canonical, when JSON) body."""
    try:
        normal = canonicalize(json.loads(body)) if body else b""
    except (ValueError, CanonicalizationError):
        normal = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + normal).hexdigest()


def _instance(engine: Engine) -> str:
    """This start of the node (one engine per start), instrumenting the engine on first use."""
    with _instances_lock:
        if engine not in _instances:
            _instances[engine] = uuid.uuid4().hex
            event.listen(engine, "before_cursor_execute", _mark_committed)
            event.listen(engine, "commit", _clear_mark)
            event.listen(engine, "rollback", _clear_mark)
        return _instances[engine]


def _where(client: str, key: str) -> Any:
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
        .where(_where(attempt.client, attempt.key) & (t.response == attempt.owner) & (t.status <= COMMITTED))
        .values(status=COMMITTED)
    )
    if marked.rowcount != 1 and not attempt.responded:  # another start took it over
        conn.info.pop(_MARKED, None)
        raise Superseded(
            "a retry with this Idempotency-Key took the request over", idempotency_key=attempt.key
        )


def _clear_mark(conn: Connection) -> None:
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
        .where(_where(attempt.client, attempt.key) & (t.response == attempt.owner) & (t.status <= COMMITTED))
        .values(status=status or attempt.status, response=json.dumps(jsonable_encoder(body)))
    )
    attempt.responded = True  # once committed, nobody can take the reservation over


class Idempotency:
    """Runs a creating handler at most once per (client, key)."""

    def __init__(
        self, node: Node, client: ErpClient, key: str | None, method: str, path: str, body: bytes
    ) -> None:
        self.node = node
        self.client = client
        self.key = key
        self.method = method
        self.path = path
        # Only a keyed request needs its fingerprint (a canonical hash of the whole body).
        self.fingerprint = request_fingerprint(method, path, body) if key is not None else ""
        self.owner = f"{_instance(node.engine)}:{uuid.uuid4().hex}" if key is not None else ""
        # True while re-running a rerunnable handler whose first run committed (its
        # response was lost): the handler answers from the effect that already stands.
        self.rerun = False

    async def run(
        self, status_code: int, handler: Callable[[], Awaitable[Any]], *, rerunnable: bool = False
    ) -> JSONResponse:
        """Run ``handler`` once; replay its stored response for a repeated key.

        Args:
            status_code: the status of a plain result (a :class:`Reply` brings its own).
            handler: the work; it raises only when a retry cannot double what it committed.
            rerunnable: the handler may run again after a crash that lost its response
                (its effect is idempotent and it answers from the effect that stands).
        """
        if self.key is None:
            status_code, result = _unpack(status_code, await handler())
            return JSONResponse(result, status_code=status_code)
        stored = self._reserve(rerunnable=rerunnable)
        if stored is not None:
            return stored
        attempt = _Attempt(self.node.engine, self.client.name, self.key, self.owner, status_code)
        try:
            status_code, result = _unpack(status_code, await _call(attempt, handler))
        except BaseException:
            self._release()
            raise
        self._store(status_code, result)
        return JSONResponse(result, status_code=status_code, headers={"Idempotent-Replayed": "false"})

    def _reserve(self, *, rerunnable: bool) -> JSONResponse | None:
        for _ in range(3):
            if self._insert():
                return None
            with read_transaction(self.node.engine) as conn:
                row = conn.execute(select(idempotency_records).where(self._where())).one_or_none()
            if row is None:
                continue  # released in between: reserve again
            if row.request_hash != self.fingerprint:
                raise Unprocessable(
                    "Idempotency-Key was already used for a different request", idempotency_key=self.key
                )
            if row.status > COMMITTED:
                return JSONResponse(
                    json.loads(row.response), status_code=row.status, headers={"Idempotent-Replayed": "true"}
                )
            if row.response.partition(":")[0] == _instance(self.node.engine):
                break  # running in this process
            if row.status == COMMITTED and not rerunnable:
                raise ResponseLost(
                    "the request with this Idempotency-Key was carried out, but the node stopped before "
                    "storing its response; its effect stands: read it back instead of retrying",
                    idempotency_key=self.key,
                    committed=True,
                )
            if self._take_over(row.response, row.status):
                self.rerun = row.status == COMMITTED
                return None
        raise Conflict(
            "a request with this Idempotency-Key is still being processed", idempotency_key=self.key
        )

    def _where(self) -> Any:
        return _where(self.client.name, self.key or "")

    def _insert(self) -> bool:
        try:
            with write_transaction(self.node.engine) as conn:
                conn.execute(
                    insert(idempotency_records).values(
                        client=self.client.name,
                        key=self.key,
                        method=self.method,
                        path=self.path,
                        request_hash=self.fingerprint,
                        status=RESERVED,
                        response=self.owner,
                        created=self.node.now_text(),
                    )
                )
        except IntegrityError:
            return False
        return True

    def _take_over(self, previous_owner: str, status: int) -> bool:
        """Take a reservation of a previous start of the node.

        ``status`` is the one read: RESERVED (it committed nothing), or COMMITTED for a
        rerunnable handler. Of several retries exactly one takes it over.
        """
        t = idempotency_records.c
        with write_transaction(self.node.engine) as conn:
            taken = conn.execute(
                update(idempotency_records)
                .where(self._where() & (t.status == status) & (t.response == previous_owner))
                .values(response=self.owner, created=self.node.now_text())
            )
        return taken.rowcount == 1

    def _store(self, status_code: int, result: Any) -> None:
        t = idempotency_records.c
        with write_transaction(self.node.engine) as conn:
            conn.execute(
                update(idempotency_records)
                .where(self._where() & (t.response == self.owner) & (t.status <= COMMITTED))
                .values(status=status_code, response=json.dumps(result))
            )

    def _release(self) -> None:
        t = idempotency_records.c
        with write_transaction(self.node.engine) as conn:
            conn.execute(
                delete(idempotency_records).where(
                    self._where() & (t.response == self.owner) & (t.status <= COMMITTED)
                )
            )


async def _call(attempt: _Attempt, handler: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``handler`` as ``attempt``: its writes mark (and are fenced by) the reservation."""
    token = _active.set(attempt)
    try:
        return await handler()
    finally:
        attempt.done = True
        _active.reset(token)


def _unpack(default_status: int, outcome: Any) -> tuple[int, Any]:
    if isinstance(outcome, Reply):
        return outcome.status, jsonable_encoder(outcome.body)
    return default_status, jsonable_encoder(outcome)


async def _idempotency(
    request: Request,
    node: NodeDep,
    client: Annotated[ErpClient, require_scope("write")],
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=255,
            pattern=r"^[\x21-\x7e]+$",
            description="Optional key; a retry with the same key and body returns the stored response",
        ),
    ] = None,
) -> Idempotency:
    body = await request.body()
    return Idempotency(node, client, idempotency_key, request.method, request.url.path, body)


IdempotencyDep = Annotated[Idempotency, Depends(_idempotency)]
