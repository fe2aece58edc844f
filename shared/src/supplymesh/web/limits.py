"""ASGI middleware refusing request bodies over the node's size limit with 413.

It checks ``Content-Length`` up front and counts streamed bytes for chunked bodies, so
an oversized body is refused without being buffered whole. The limit is the node
setting ``max_body_bytes`` (``SUPPLYMESH_MAX_BODY_BYTES``, 16 MiB by default), for ERP
and peer requests alike. Credentials are checked before this, from the headers alone
(:mod:`supplymesh.web.gate`): only an authenticated request gets its body read at all.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from supplymesh.errors import PayloadTooLarge


class BodyLimitMiddleware:
    """Refuse bodies over ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or answer 413."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        error = PayloadTooLarge(f"request body over the limit of {self.max_bytes} bytes")
        body = json.dumps(
            {"type": error.type_uri, "title": error.title, "status": error.status, "detail": error.detail}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass
