"""Signing in and out of the explorer with a form, never with the token in a URL."""

from __future__ import annotations

import re
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from supplymesh_auditor.explorer.session import (
    COOKIE,
    COOKIE_PATH,
    auditor_token,
    store_of,
)
from supplymesh_auditor.explorer.views import render

router = APIRouter(prefix="/explorer", include_in_schema=False)
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 4096
SAFE_NEXT = re.compile(r"^/explorer(/[A-Za-z0-9._:~%/-]*)?(\?[A-Za-z0-9._:~%=&+-]*)?$")


def _back_to(wanted: str) -> str:
    """Where to go after signing in: a page of the explorer, never another site."""
    safe = SAFE_NEXT.match(wanted) and ".." not in wanted and "//" not in wanted
    if safe and not wanted.startswith(("/explorer/login", "/explorer/logout")):
        return wanted
    return "/explorer"


def _form_page(request: Request, error: str | None, status: int, wanted: str) -> Response:
    return render(request, "login.html", {"error": error, "next": _back_to(wanted)}, status)


@router.get("/login")
def login_form(request: Request) -> Response:
    """The sign-in form (a token in the query is ignored: it would be in every log)."""
    note = None
    if "token" in request.query_params:
        note = "Sign-in links with a token are not accepted: paste the token into the form."
    return _form_page(request, note, 200, request.query_params.get("next", "/explorer"))


async def _form(request: Request) -> dict[str, str] | None:
    """The fields of a small URL-encoded form, or None if the request is not one."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM_TYPE:
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        fields = parse_qs(body.decode("utf-8"), max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return None
    return {name: values[0] for name, values in fields.items()}


@router.post("/login")
async def login(request: Request) -> Response:
    """Check an auditor ERP token from the form; open a session and set its cookie."""
    form = await _form(request)
    if form is None:
        return _form_page(request, "Send the sign-in form.", 400, "/explorer")
    wanted = form.get("next", "/explorer")
    name = auditor_token(request.app.state.node, form.get("token", "").strip())
    if name is None:
        return _form_page(request, "That is not an auditor token.", 401, wanted)
    store = store_of(request)
    response = RedirectResponse(_back_to(wanted), status_code=303)
    response.set_cookie(
        COOKIE,
        store.open(name),
        max_age=store.lifetime,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session of the cookie sent, and clear the cookie."""
    session = request.cookies.get(COOKIE)
    if session:
        store_of(request).close(session)
    response = RedirectResponse("/explorer/login", status_code=303)
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
    return response
