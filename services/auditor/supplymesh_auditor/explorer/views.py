"""Rendering for the explorer: the templates, their filters, and the HTML error pages.

Every answer of the explorer is an HTML page: an object that does not exist is a 404
page, a holder that does not answer a 502 page (:class:`NotShown`), a reader without a
session the sign-in form (:class:`SignInNeeded`), an unknown address under
``/explorer`` a 404 page. None of them is the framework's JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from supplymesh.core.entry import parse_time
from supplymesh.core.vocabulary.currencies import format_minor

PACKAGE = Path(__file__).resolve().parent.parent
templates = Jinja2Templates(directory=str(PACKAGE / "templates"))
STATIC = PACKAGE / "static"


def when(text: object) -> str:
    """A ledger time for people: ``2026-12-07T14:03:12.123456Z`` → ``7 Dec 2026, 14:03:12 UTC``."""
    if not isinstance(text, str) or not text:
        return "—"
    try:
        moment = parse_time(text)
    except ValueError:
        return text
    return f"{moment.day} {moment:%b %Y, %H:%M:%S} UTC"


def pretty(value: object) -> str:
    """JSON indented for reading (keys in the order they were served)."""
    return json.dumps(value, indent=2, ensure_ascii=False)


def money(amount: object, currency: object) -> str:
    """Integer minor units in major units of their currency (``487500, EUR`` → ``4,875.00 EUR``)."""
    if isinstance(amount, bool) or not isinstance(amount, int) or not isinstance(currency, str):
        return f"{amount} {currency}"
    return format_minor(amount, currency)


templates.env.filters["money"] = money
templates.env.filters["when"] = when
templates.env.filters["pretty"] = pretty


class NotShown(Exception):
    """A page that cannot be shown: its HTTP status and what to tell the reader."""

    def __init__(self, status: int, message: str, title: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.title = title or ("Not found" if status == 404 else "Not shown")


class SignInNeeded(Exception):
    """The reader has neither an auditor bearer token nor a live explorer session."""


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    """Template ``name`` with ``context`` (and the search box's last query)."""
    return templates.TemplateResponse(
        request, name, {"query": request.query_params.get("q", ""), **context}, status_code=status
    )


def sign_in_page(request: Request, error: str | None = None, status: int = 401) -> HTMLResponse:
    """The sign-in form; after signing in the reader comes back to the page asked for."""
    wanted = request.url.path if request.method == "GET" else "/explorer"
    if request.url.query and request.method == "GET":
        wanted += "?" + request.url.query
    return render(request, "login.html", {"error": error, "next": wanted}, status)


async def not_shown_handler(request: Request, exc: Exception) -> HTMLResponse:
    """An HTML error page for :class:`NotShown`."""
    assert isinstance(exc, NotShown)
    return render(request, "error.html", {"title": exc.title, "message": exc.message}, exc.status)


async def sign_in_handler(request: Request, _exc: Exception) -> HTMLResponse:
    """The sign-in form, 401, for :class:`SignInNeeded`."""
    return sign_in_page(request)


# -- addresses of the explorer's pages ----------------------------------------------------


def entry_url(ledger: str, seq: int, holder: str | None = None) -> str:
    """The page of entry ``seq`` of ``ledger`` (as held by ``holder``, if named)."""
    return f"/explorer/ledgers/{ledger}/entries/{seq}" + (f"?holder={holder}" if holder else "")


def decision_url(seq: int) -> str:
    """The page of the decision at ``seq`` of the network ledger."""
    return f"/explorer/decisions/{seq}"


def demand_url(demand: str) -> str:
    """The page of a demand (by its network hash)."""
    return f"/explorer/demands/{demand}"


def escrow_url(escrow: str) -> str:
    """The page of an escrow (the supplier's order)."""
    return f"/explorer/escrows/{escrow}"


templates.env.globals.update(
    entry_url=entry_url, decision_url=decision_url, demand_url=demand_url, escrow_url=escrow_url
)
