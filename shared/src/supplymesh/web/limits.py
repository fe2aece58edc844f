"""ASGI middleware checking request bodies before a route sees them: size (413), time (408), media type (415).

It checks ``Content-Length`` up front and counts streamed bytes for chunked bodies, so
an oversized body is refused without being buffered whole. The limit is the node
setting ``max_body_bytes`` (``SUPPLYMESH_MAX_BODY_BYTES``, 16 MiB by default), for ERP
and peer requests alike. A chunked body that passes the limit midway is answered 413
whoever was reading it: FastAPI turns any error raised while it reads a body into a
400, so the answer the application starts after the limit was passed is replaced.

A body must also arrive whole within ``body_timeout`` seconds of the request's start
(``SUPPLYMESH_BODY_TIMEOUT_SECONDS``, 60 s by default): a client that trickles its body
(slow loris) is answered 408 and its connection closed, instead of holding a request
open as long as it likes. Nothing of such a request is read by a route, so nothing of
it is stored. (The HTTP server, not this middleware, bounds how long headers may take.)

A POST, PUT or PATCH with a body to the ERP or peer API (``/v1/…``, ``/peer/v1/…``)
must say it is JSON (``Content-Type: application/json`` or ``…+json``); any other or no
media type is 415 with ``Accept-Post: application/json``. A request without a body
(accepting an offer) needs no ``Content-Type``.

Credentials are checked before this, from the headers alone
(:mod:`supplymesh.web.gate`): only an authenticated request gets its body read at all.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from supplymesh.errors import ClientError, PayloadTooLarge, SupplyMeshError
from supplymesh.web.gate import ERP_PREFIX, PEER_PREFIX
from supplymesh.web.problems import PROBLEM_MEDIA_TYPE, problem_json

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class UnsupportedMediaType(ClientError):
    """A body that is not JSON where only JSON is read."""

    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


def is_json(content_type: bytes | None) -> bool:
    """True for ``application/json`` and ``application/<anything>+json`` (parameters ignored)."""
    if content_type is None:
        return False
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


def _has_body(headers: dict[bytes, bytes]) -> bool:
    declared = headers.get(b"content-length")
    if declared is not None:
        return declared != b"0"
    return b"transfer-encoding" in headers


class RequestTimeout(ClientError):
    """A request body that did not arrive whole in time."""

    status = 408
    slug = "request-timeout"
    title = "Request timeout"


class BodyLimitMiddleware:
    """Refuse bodies over ``max_bytes`` (413), slower than ``body_timeout`` (408), not JSON (415)."""

    def __init__(self, app: ASGIApp, max_bytes: int, body_timeout: float = 60.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or answer 413 or 415."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _refuse(send, scope, self._too_large())
            return
        if self._needs_json(scope, headers) and not is_json(headers.get(b"content-type")):
            shown = headers.get(b"content-type", b"").decode("latin-1")[:100] or "none"
            error = UnsupportedMediaType(
                f"send the body as JSON with Content-Type: application/json (got {shown})"
            )
            await _refuse(send, scope, error)
            return
        await self._counted(scope, receive, send)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"request body over the limit of {self.max_bytes} bytes")

    @staticmethod
    def _needs_json(scope: Scope, headers: dict[bytes, bytes]) -> bool:
        path: str = scope.get("path", "")
        api = path.startswith(ERP_PREFIX) or path.startswith(PEER_PREFIX)
        return api and scope.get("method") in BODY_METHODS and _has_body(headers)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app reading the body through a :class:`_BodyReader`; a refusal replaces its answer."""
        reader = _BodyReader(receive, self.max_bytes, self.body_timeout)
        refused = False

        async def guarded_send(message: Message) -> None:
            nonlocal refused
            if reader.refusal is None:
                await send(message)
            elif message["type"] == "http.response.start" and not refused:
                refused = True
                await _refuse(send, scope, reader.refusal)

        try:
            await self.app(scope, reader.receive, guarded_send)
        except Exception:
            if reader.refusal is None:
                raise
        if reader.refusal is not None and not refused:
            await _refuse(send, scope, reader.refusal)


class _BodyReader:
    """The app's ``receive``, counting body bytes and refusing past the size or time limit."""

    def __init__(self, receive: Receive, max_bytes: int, timeout: float) -> None:
        self._receive = receive
        self._max_bytes = max_bytes
        self._timeout = timeout
        self._deadline = asyncio.get_running_loop().time() + timeout
        self._seen = 0
        self._complete = False
        self.refusal: ClientError | None = None
        """Why the body was refused (413 or 408), once it was."""

    async def receive(self) -> Message:
        """The next message; raises the refusal once the body is too large or too late."""
        if self._complete:  # the body is in; later receives wait for a disconnect, as long as it takes
            return await self._receive()
        remaining = max(0.0, self._deadline - asyncio.get_running_loop().time())
        try:
            message = await asyncio.wait_for(self._receive(), remaining)
        except TimeoutError:
            self.refusal = RequestTimeout(f"the request body did not arrive within {self._timeout:g} s")
            raise self.refusal from None
        if message["type"] == "http.request":
            self._seen += len(message.get("body", b""))
            self._complete = not message.get("more_body", False)
            if self._seen > self._max_bytes:
                self.refusal = PayloadTooLarge(f"request body over the limit of {self._max_bytes} bytes")
                raise self.refusal
        return message


async def _refuse(send: Send, scope: Scope, error: SupplyMeshError) -> None:
    body = problem_json(error, scope.get("path"))
    headers = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    if isinstance(error, UnsupportedMediaType):
        headers.append((b"accept-post", b"application/json"))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
