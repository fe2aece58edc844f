"""RFC 9457 problem+json responses for every error a node returns.

One handler per exception family: SupplyMesh errors, FastAPI validation errors
(malformed JSON → 400, invalid fields → 422), Starlette HTTP errors (404 for unknown
routes, 405), database errors raised outside a transaction helper (a fault of the
moment → 503 ``database-unavailable`` with ``Retry-After``, anything else → 500) and, as
a last resort, unexpected exceptions (500, details logged, not leaked). Bodies refused
before routing (413 too large, 415 not JSON; :mod:`supplymesh.web.limits`) are rendered
by :func:`problem_json`.
"""

from __future__ import annotations

import json
import logging
import sqlite3

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa
from starlette.exceptions import HTTPException as StarletteHTTPException

from supplymesh.errors import PROBLEM_BASE, DatabaseUnavailable, SupplyMeshError, Unauthenticated
from supplymesh.storage.faults import unavailable

PROBLEM_MEDIA_TYPE = "application/problem+json"
RETRY_AFTER_SECONDS = 5
"""What a 503 for the node's own database asks the client to wait before retrying."""
DATABASE_ERRORS = (sa.OperationalError, sa.InterfaceError, sa.TimeoutError, sqlite3.OperationalError)
log = logging.getLogger("supplymesh.web")


def problem_response(
    *,
    status: int,
    title: str,
    detail: str,
    type_uri: str,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: object,
) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, object] = {"type": type_uri, "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(jsonable_encoder(extensions))
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def problem_json(exc: SupplyMeshError, instance: str | None = None) -> bytes:
    """The problem+json bytes of a SupplyMesh error, for middleware that answers without FastAPI."""
    body: dict[str, object] = {
        "type": exc.type_uri,
        "title": exc.title,
        "status": exc.status,
        "detail": exc.detail,
    }
    if instance:
        body["instance"] = instance
    body.update(jsonable_encoder(exc.extensions))
    return json.dumps(body).encode()


def error_response(exc: SupplyMeshError, instance: str | None = None) -> JSONResponse:
    """Render a SupplyMesh error."""
    headers = None
    if isinstance(exc, Unauthenticated):
        headers = {"WWW-Authenticate": 'Bearer realm="supplymesh"'}
    elif isinstance(exc, DatabaseUnavailable):
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return problem_response(
        status=exc.status,
        title=exc.title,
        detail=exc.detail,
        type_uri=exc.type_uri,
        instance=instance,
        headers=headers,
        **exc.extensions,
    )


async def _supplymesh_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SupplyMeshError)
    return error_response(exc, request.url.path)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    if any(e["type"] == "json_invalid" for e in errors):
        return problem_response(
            status=400,
            title="Malformed JSON",
            detail="the request body is not valid JSON",
            type_uri=PROBLEM_BASE + "malformed-json",
            instance=request.url.path,
            errors=errors,
        )
    return problem_response(
        status=422,
        title="Invalid request",
        detail="; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors),
        type_uri=PROBLEM_BASE + "validation",
        instance=request.url.path,
        errors=errors,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem_response(
        status=exc.status_code,
        title=str(exc.detail) if exc.status_code < 500 else "Server error",
        detail=str(exc.detail),
        type_uri="about:blank",
        instance=request.url.path,
        headers=dict(exc.headers) if exc.headers else None,
    )


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """A database error that escaped the transaction helpers: 503 if a fault of the moment, else 500."""
    error = unavailable(request.app.state.node.engine, exc, write=request.method != "GET")
    if error is None:
        return await _unexpected(request, exc)
    return error_response(error, request.url.path)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        status=500,
        title="Internal error",
        detail="the node failed to handle this request; see its log",
        type_uri=PROBLEM_BASE + "internal",
        instance=request.url.path,
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(SupplyMeshError, _supplymesh_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for database_error in DATABASE_ERRORS:
        app.add_exception_handler(database_error, _database_error)
    app.add_exception_handler(Exception, _unexpected)
