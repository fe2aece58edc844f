"""Who may read the explorer: an auditor bearer token (scripts) or a signed-in session.

Signing in (``POST /explorer/login``) exchanges an auditor ERP token for a session: the
browser gets a cookie holding a random session id — never the token — marked
``HttpOnly``, ``SameSite=Strict``, ``Path=/explorer`` and ``Max-Age`` of the session's
life. Sessions live in the auditor process's memory, each with its expiry: a restart of
the auditor signs everyone out, and ``POST /explorer/logout`` ends one at once. A
session names the ERP client that opened it; if that client loses the ``audit`` scope
or is removed, the session no longer opens anything.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from supplymesh.node.context import Node
from supplymesh_auditor.explorer.views import SignInNeeded

COOKIE = "supplymesh_explorer"
COOKIE_PATH = "/explorer"
SESSION_SECONDS = 8 * 3600
MAX_SESSIONS = 10_000


@dataclass
class SessionStore:
    """Live sessions by id: the ERP client that opened each, and when it ends."""

    lifetime: int = SESSION_SECONDS
    clock: Callable[[], float] = time.monotonic
    sessions: dict[str, tuple[str, float]] = field(default_factory=dict)

    def open(self, client: str) -> str:
        """A new session for ``client``; its id (a fresh random value)."""
        self._purge()
        if len(self.sessions) >= MAX_SESSIONS:  # the oldest goes first
            self.sessions.pop(min(self.sessions, key=lambda sid: self.sessions[sid][1]))
        session_id = secrets.token_urlsafe(32)
        self.sessions[session_id] = (client, self.clock() + self.lifetime)
        return session_id

    def client(self, session_id: str) -> str | None:
        """The client of a live session, or None (unknown or expired)."""
        found = self.sessions.get(session_id)
        if found is None:
            return None
        if found[1] <= self.clock():
            del self.sessions[session_id]
            return None
        return found[0]

    def close(self, session_id: str) -> None:
        """End a session (nothing if it is not live)."""
        self.sessions.pop(session_id, None)

    def _purge(self) -> None:
        now = self.clock()
        for session_id in [s for s, (_c, ends) in self.sessions.items() if ends <= now]:
            del self.sessions[session_id]


def store_of(request: Request) -> SessionStore:
    """The auditor app's session store."""
    store: SessionStore = request.app.state.explorer_sessions
    return store


def is_auditor(node: Node, name: str) -> bool:
    """True if ERP client ``name`` of this node exists and has the audit scope."""
    return any(c.name == name and "audit" in c.scopes for c in node.erp.clients)


def auditor_token(node: Node, token: str) -> str | None:
    """The name of the auditor ERP client whose token this is, or None."""
    client = node.erp.authenticate(token) if token else None
    return client.name if client is not None and "audit" in client.scopes else None


def _reader(request: Request) -> str:
    """The ERP client reading: from the bearer header, else from the session cookie.

    Raises:
        SignInNeeded: neither is an auditor's.
    """
    node: Node = request.app.state.node
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        name = auditor_token(node, header[7:].strip())
    else:
        session = request.cookies.get(COOKIE, "")
        name = store_of(request).client(session) if session else None
        if name is not None and not is_auditor(node, name):
            name = None
    if name is None:
        raise SignInNeeded
    return name


Reader = Annotated[str, Depends(_reader)]
"""The auditor ERP client reading the page (its name); refuses everyone else."""
