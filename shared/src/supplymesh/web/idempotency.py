"""Idempotency-Key handling for POSTs that create something (per ERP client).

The first request with a key reserves it, runs, and stores its response; a retry with
the same key and the same request (method, path, canonical body) gets the stored
response; the same key with a different request is refused with 422; a retry while
the first is still running gets 409. If the first request fails, its reservation is
dropped so the client may retry.
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
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from supplymesh.core.canonical import CanonicalizationError, canonicalize
from supplymesh.erp_clients import ErpClient
from supplymesh.errors import Conflict, Unprocessable
from supplymesh.storage.engine import read_transaction, write_transaction
from supplymesh.storage.tables import idempotency_records
from supplymesh.web.deps import NodeDep, require_scope
from supplymesh.web.node import Node

IN_PROGRESS = 0


@dataclass(frozen=True, slots=True)
class Reply:
    """A handler result with its own status code (e.g. 202 when work was queued)."""

    status: int
    body: Any


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    """Hash of a request: method, path and (canonical, when JSON) body."""
    try:
        normal = canonicalize(json.loads(body)) if body else b""
    except (ValueError, CanonicalizationError):
        normal = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + normal).hexdigest()


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

    async def run(self, status_code: int, handler: Callable[[], Awaitable[Any]]) -> JSONResponse:
        """Run ``handler`` once; replay its stored response for a repeated key."""
        if self.key is None:
            status_code, result = _unpack(status_code, await handler())
            return JSONResponse(result, status_code=status_code)
        stored = self._reserve()
        if stored is not None:
            return stored
        try:
            status_code, result = _unpack(status_code, await handler())
        except BaseException:
            self._release()
            raise
        self._store(status_code, result)
        return JSONResponse(result, status_code=status_code, headers={"Idempotent-Replayed": "false"})

    def _where(self) -> Any:
        t = idempotency_records.c
        return (t.client == self.client.name) & (t.key == self.key)

    def _reserve(self) -> JSONResponse | None:
        try:
            with write_transaction(self.node.engine) as conn:
                conn.execute(
                    insert(idempotency_records).values(
                        client=self.client.name,
                        key=self.key,
                        method=self.method,
                        path=self.path,
                        request_hash=self.fingerprint,
                        status=IN_PROGRESS,
                        response="",
                        created=self.node.now_text(),
                    )
                )
            return None
        except IntegrityError:
            pass
        with read_transaction(self.node.engine) as conn:
            row = conn.execute(select(idempotency_records).where(self._where())).one()
        if row.request_hash != self.fingerprint:
            raise Unprocessable(
                "Idempotency-Key was already used for a different request",
                idempotency_key=self.key,
            )
        if row.status == IN_PROGRESS:
            raise Conflict("a request with this Idempotency-Key is still being processed")
        return JSONResponse(
            json.loads(row.response), status_code=row.status, headers={"Idempotent-Replayed": "true"}
        )

    def _store(self, status_code: int, result: Any) -> None:
        with write_transaction(self.node.engine) as conn:
            conn.execute(
                update(idempotency_records)
                .where(self._where())
                .values(status=status_code, response=json.dumps(result))
            )

    def _release(self) -> None:
        with write_transaction(self.node.engine) as conn:
            conn.execute(delete(idempotency_records).where(self._where()))


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
