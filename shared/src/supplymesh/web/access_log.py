"""The access log: one line per request, ``METHOD path status duration client``.

ERP calls (``/v1/…``) and pages (explorer, docs) are logged at INFO on the logger
``supplymesh.access``; peer requests (``/peer/v1/…``) and health checks, which nodes and
launchers make all the time, at DEBUG. The client is the ERP client's name or the
signing member's id as the auth gate established them, never a credential; the query
string is left out (it is the caller's, and may carry anything).

A request whose client went away before its body could be read (a caller that gave up
waiting, e.g. on a node that was paused) is not an error of this node: it is logged as
status 499 on the same line, without a traceback.
"""

from __future__ import annotations

import logging
import time

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from supplymesh.web.gate import ERP_SCOPE_KEY, PEER_SCOPE_KEY

log = logging.getLogger("supplymesh.access")
CLIENT_CLOSED = 499
"""Status logged for a request whose client disconnected first (as nginx does)."""
_QUIET_PREFIXES = ("/peer/", "/health")


def client_of(scope: Scope) -> str:
    """Who made the request, as the auth gate established it: ERP client name or member id."""
    erp = scope.get(ERP_SCOPE_KEY)
    if erp is not None:
        return f"erp:{erp.name}"
    peer = scope.get(PEER_SCOPE_KEY)
    if peer is not None:
        return f"peer:{peer.sender}"
    return "-"


class AccessLogMiddleware:
    """Log every HTTP request once it is answered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, note its status, log one line."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def noting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, noting_send)
        except ClientDisconnect:
            status = CLIENT_CLOSED  # nobody is left to answer
        finally:
            path: str = scope["path"]
            level = logging.DEBUG if path.startswith(_QUIET_PREFIXES) else logging.INFO
            if log.isEnabledFor(level):
                millis = (time.perf_counter() - started) * 1000
                log.log(level, "%s %s %d %.1fms %s", scope["method"], path, status, millis, client_of(scope))
