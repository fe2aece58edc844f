"""Idempotency-Key handling for POSTs that create something (per ERP client).

A FastAPI dependency over the records of :mod:`supplymesh.storage.idempotency`, whose
docstring states the rules: a retry with the same key and request gets the stored
answer, a different request with the key 422, a request still running 409; a crash is
survived by marking the reservation committed with the handler's first write and by
handlers that store their answer in their own transaction (:func:`respond_in`) or are
declared ``rerunnable``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from supplymesh.core.canonical import CanonicalizationError, canonicalize
from supplymesh.errors import PeerUnavailable
from supplymesh.node import crashpoints
from supplymesh.node.context import Node
from supplymesh.node.erp_clients import ErpClient
from supplymesh.storage.idempotency import (
    COMMITTED,
    RESERVED,
    Attempt,
    Reservation,
    ResponseLost,
    Superseded,
    respond_in,
    run_as,
)
from supplymesh.web.deps import NodeDep, require_scope

__all__ = [
    "COMMITTED",
    "RESERVED",
    "Idempotency",
    "IdempotencyDep",
    "Reply",
    "ResponseLost",
    "Superseded",
    "request_fingerprint",
    "respond_in",
]


_OUTCOME_UNKNOWN_MAX = 10_000
_outcome_unknown: dict[tuple[str, str], None] = {}
"""(client, key) of this start whose rerunnable handler lost its peer mid-request, oldest first.

A party action the PDU sequenced just before it went down stands, though the handler
failed with 503: the client's retry with the key then runs as a rerun, which answers
from the effect that stands (instead of 409 for its own deposit or acceptance).
"""


@dataclass(frozen=True, slots=True)
class Reply:
    """A handler result with its own status code (e.g. 202 when work was queued)."""

    status: int
    body: Any


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    """Hash of a request: method, path and (canonical, when JSON) body.

    A body that is not JSON, or is nested too deeply to parse, is hashed as sent: the
    route refuses it later, and the fingerprint must not fail first (it was a 500).
    """
    try:
        normal = canonicalize(json.loads(body)) if body else b""
    except (ValueError, RecursionError, CanonicalizationError):
        normal = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + normal).hexdigest()


class Idempotency:
    """Runs a creating handler at most once per (client, key)."""

    def __init__(
        self, node: Node, client: ErpClient, key: str | None, method: str, path: str, body: bytes
    ) -> None:
        self.node = node
        self.key = key
        self.kind = path.rstrip("/").rsplit("/", 1)[-1]
        """The request's kind for crash points: the last segment of its path."""
        # Only a keyed request needs its fingerprint (a canonical hash of the whole body).
        self.reservation = (
            None
            if key is None
            else Reservation(
                node.engine, client.name, key, request_fingerprint(method, path, body), method, path
            )
        )
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
        reservation = self.reservation
        if reservation is None:
            status_code, result = _unpack(status_code, await handler())
            crashpoints.reached("erp.applied", self.kind)
            return JSONResponse(result, status_code=status_code)
        held = reservation.reserve(self.node.now_text(), rerunnable=rerunnable)
        if not isinstance(held, bool):
            return JSONResponse(
                json.loads(held.response), status_code=held.status, headers={"Idempotent-Replayed": "true"}
            )
        self.rerun = not held or (reservation.client, reservation.key) in _outcome_unknown
        attempt = Attempt(
            self.node.engine, reservation.client, reservation.key, reservation.owner, status_code
        )
        try:
            status_code, result = _unpack(status_code, await run_as(attempt, handler))
        except PeerUnavailable:
            if rerunnable:  # the peer may have done it before it went down: the retry is a rerun
                _note_outcome_unknown((reservation.client, reservation.key))
            self._release()
            raise
        except BaseException:
            self._release()
            raise
        _outcome_unknown.pop((reservation.client, reservation.key), None)
        crashpoints.reached("erp.applied", self.kind)
        self._store(status_code, result)
        return JSONResponse(result, status_code=status_code, headers={"Idempotent-Replayed": "false"})

    def _store(self, status_code: int, result: Any) -> None:
        if self.reservation is not None:
            self.reservation.store(status_code, result)

    def _release(self) -> None:
        if self.reservation is not None:
            self.reservation.release()


def _note_outcome_unknown(client_key: tuple[str, str]) -> None:
    _outcome_unknown[client_key] = None
    while len(_outcome_unknown) > _OUTCOME_UNKNOWN_MAX:
        del _outcome_unknown[next(iter(_outcome_unknown))]


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
