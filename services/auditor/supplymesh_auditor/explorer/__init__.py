"""The explorer: server-rendered pages over every ledger, entry, decision, demand and escrow.

It shows every channel, so it takes the auditor's ERP credentials: a bearer token
(scripts) or a session opened by signing in with the form at ``/explorer/login``
(:mod:`.session`). Pages read live from the holders through the auditor's read-only peer
access (:mod:`.fetch`); demands and escrows are the core's fold of the network ledger
(:mod:`.history`); findings and audits are the auditor's stored reports. Every answer
is an HTML page, errors included (:mod:`.views`); the style sheet and the copy button's
script are static files served at ``/explorer/static``.

Modules: ``session`` and ``signin`` (who may read), ``overview`` and ``agreement`` (the
replicas), ``ledgers`` and ``entries``, ``decisions``, ``objects`` with ``history`` and
``events`` (demands, escrows, timelines), ``search``, ``findings``, ``views``.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from supplymesh_auditor.explorer import (
    decisions,
    entries,
    findings,
    ledgers,
    objects,
    overview,
    search,
    signin,
)
from supplymesh_auditor.explorer.session import Reader, SessionStore
from supplymesh_auditor.explorer.views import (
    STATIC,
    NotShown,
    SignInNeeded,
    not_shown_handler,
    sign_in_handler,
)

_unknown = APIRouter(prefix="/explorer", include_in_schema=False)


@_unknown.get("/{rest:path}")
def unknown_page(_request: Request, _reader: Reader, rest: str) -> Response:
    """Any other address under ``/explorer`` is a 404 page."""
    raise NotShown(404, f"The explorer has no page /explorer/{rest}.")


def install(app: FastAPI) -> None:
    """Mount the explorer on the auditor's app: its pages, static files, sessions and error pages."""
    app.state.explorer_sessions = SessionStore()
    app.add_exception_handler(NotShown, not_shown_handler)
    app.add_exception_handler(SignInNeeded, sign_in_handler)
    app.mount("/explorer/static", StaticFiles(directory=STATIC), name="explorer-static")
    for module in (signin, overview, ledgers, entries, decisions, objects, search, findings):
        app.include_router(module.router)
    app.include_router(_unknown)
