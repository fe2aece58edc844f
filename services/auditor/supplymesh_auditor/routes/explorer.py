"""The explorer: server-rendered pages over every ledger, decision, escrow and finding.

It shows every channel, so it takes the auditor's ERP credentials: a bearer token, or a
session cookie set by ``/explorer/login?token=…`` (the link the demo prints). Pages read
live from the holders through the auditor's read-only peer access. Channel pages show
private bodies decrypted with the auditor's channel keys (it is a reader of every
channel key), marked as such; the stored form is ciphertext.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Cookie, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from supplymesh.audit.payloads import open_channel
from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.contracts.network import DECISION_KINDS, NetworkState, apply
from supplymesh.core.entry import Entry, EntryFormatError, SealedEntry, parse_signatures
from supplymesh.core.vocabulary.currencies import format_minor
from supplymesh.errors import PeerError
from supplymesh.network.rules import policy_for
from supplymesh.node.context import Node
from supplymesh.web.deps import NodeDep
from supplymesh_auditor import reports
from supplymesh_auditor.deps import AuditorDep

log = logging.getLogger("supplymesh.explorer")
router = APIRouter(prefix="/explorer", tags=["explorer"], include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))
templates.env.filters["money"] = format_minor  # integer minor units, shown in major units
COOKIE = "supplymesh_explorer"
Session = Annotated[str | None, Cookie(alias=COOKIE)]


def _authorised(node: Node, request: Request, session: str | None) -> bool:
    header = request.headers.get("authorization", "")
    token = header[7:] if header.lower().startswith("bearer ") else session
    client = node.erp.authenticate(token) if token else None
    return client is not None and "audit" in client.scopes


def _login(request: Request, error: str | None = None, status: int = 401) -> HTMLResponse:
    return templates.TemplateResponse(request, "login.html", {"error": error}, status_code=status)


async def _holder_ledger(node: Node, holder: str, ledger: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = await node.peers.get_json(
            holder, f"/peer/v1/ledgers/{ledger}/entries", after=len(items), limit=1000
        )
        items += page
        if len(page) < 1000:
            return items


def _error(request: Request, status: int, message: str) -> HTMLResponse:
    """An explorer page that says what went wrong (never the browser's raw JSON view)."""
    return templates.TemplateResponse(request, "error.html", {"message": message}, status_code=status)


def _holders(node: Node, ledger: str) -> list[str] | None:
    """Who holds ``ledger`` (None if the network has no such ledger)."""
    if ledger == NETWORK_LEDGER:
        return [node.config.pdu.id, *(m.id for m in node.config.partners())]
    channel = node.config.channel(ledger)
    return None if channel is None else [channel.supplier, channel.oem]


class _NotShown(Exception):
    """A ledger page that cannot be shown: its HTTP status and what to tell the reader."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def _copy(node: Node, ledger: str, holder: str) -> list[dict[str, Any]]:
    """``holder``'s copy of ``ledger``.

    Raises:
        _NotShown: no such ledger, ``holder`` does not hold it, or it did not serve it.
    """
    holders = _holders(node, ledger)
    if holders is None:
        raise _NotShown(404, f"There is no ledger {ledger!r} in this network.")
    if holder not in holders:
        raise _NotShown(404, f"{holder!r} does not hold {ledger}; its holders are {', '.join(holders)}.")
    try:
        return await _holder_ledger(node, holder, ledger)
    except PeerError as exc:
        raise _NotShown(502, f"{holder} did not serve its copy of {ledger}: {exc}") from exc


def _default_holder(node: Node, ledger: str) -> str:
    if ledger == NETWORK_LEDGER:
        return node.config.pdu.id
    channel = node.config.channel(ledger)
    return channel.supplier if channel else node.config.pdu.id


@router.get("/login")
def login(request: Request, node: NodeDep, token: str = "") -> Response:
    """Exchange an auditor ERP token for a session cookie."""
    client = node.erp.authenticate(token) if token else None
    if client is None or "audit" not in client.scopes:
        return _login(request, "that is not an auditor token" if token else None)
    response = RedirectResponse("/explorer", status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
    return response


@router.get("", response_class=HTMLResponse)
async def overview(request: Request, node: NodeDep, session: Session = None) -> Response:
    """Latest findings and every ledger of every holder."""
    if not _authorised(node, request, session):
        return _login(request)
    rows = []
    for member in node.config.members:
        if member.id == node.id:
            continue
        try:
            for info in await node.peers.get_json(member.id, "/peer/v1/ledgers"):
                rows.append({**info, "holder": member.id})
        except Exception as exc:  # a holder that is down is not listed; the audit reports it
            log.info("explorer: %s not reachable: %s", member.id, exc)
    rows.sort(key=lambda r: (r["ledger"], r["holder"]))
    report = reports.latest(node)
    members = {m.id for m in node.config.members}
    findings = [
        {**f, "holder": _holder_named(f["detail"], members)} for f in (report or {}).get("findings", [])
    ]
    return templates.TemplateResponse(
        request, "overview.html", {"report": report, "findings": findings, "ledgers": rows}
    )


def _holder_named(detail: str, members: set[str]) -> str | None:
    """The holder a finding's detail starts with ("supplier-a: …"), so its link opens that copy."""
    name = detail.split(": ", 1)[0]
    return name if name in members and name != detail else None


@router.post("/audit")
async def audit_now(
    request: Request, node: NodeDep, auditor: AuditorDep, session: Session = None
) -> Response:
    """Run a full audit from the explorer."""
    if not _authorised(node, request, session):
        return _login(request)
    await auditor.run("full")
    return RedirectResponse("/explorer", status_code=303)


@router.get("/ledgers/{ledger}", response_class=HTMLResponse)
async def ledger_page(
    request: Request,
    node: NodeDep,
    ledger: str,
    holder: Annotated[str | None, Query()] = None,
    session: Session = None,
) -> Response:
    """Every entry of one holder's copy, with its signers; findings highlighted."""
    if not _authorised(node, request, session):
        return _login(request)
    holder = holder or _default_holder(node, ledger)
    try:
        items = await _copy(node, ledger, holder)
    except _NotShown as shown:
        return _error(request, shown.status, shown.message)
    report = reports.latest(node) or {"findings": []}
    flagged = {f["seq"] for f in report["findings"] if f["ledger"] == ledger and f["seq"]}
    plain = _decrypted(node, ledger, items)
    entries = [_entry_row(item, plain) for item in items]
    return templates.TemplateResponse(
        request,
        "ledger.html",
        {"ledger": ledger, "holder": holder, "entries": entries, "flagged": flagged},
    )


def _entry_row(item: dict[str, Any], plain: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """One row of a ledger page: the entry, its signers, its body (decrypted if it could be)."""
    entry = item["entry"]
    body = plain.get(entry["seq"], entry["body"])
    return {
        "seq": entry["seq"],
        "kind": entry["kind"],
        "author": entry["author"],
        "time": entry["time"],
        "hash": item["hash"],
        "signers": [s["signer"] for s in item["signatures"]],
        "late": [s["signer"] for s in item.get("late_signatures", [])],
        "body": json.dumps(body, separators=(",", ":"))[:400],
        "decrypted": entry["seq"] in plain,
    }


def _decrypted(node: Node, ledger: str, items: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Plaintext of the private entries of a channel copy, opened with the auditor's keys."""
    if node.config.channel(ledger) is None:
        return {}
    sealed: list[SealedEntry | None] = []
    for item in items:
        try:
            sealed.append(SealedEntry(Entry.from_json(item["entry"]), parse_signatures(item["signatures"])))
        except (EntryFormatError, KeyError, TypeError):
            sealed.append(None)
    opened = open_channel(
        ledger,
        sealed,
        recipient=node.recipient,
        reader=node.id,
        expected_readers=frozenset(node.config.channel_readers(ledger)),
    )
    return opened.bodies


@router.get("/decisions", response_class=HTMLResponse)
async def decisions_page(request: Request, node: NodeDep, session: Session = None) -> Response:
    """Every decision with its base, result and quorum signers."""
    if not _authorised(node, request, session):
        return _login(request)
    decisions = []
    for item in await _holder_ledger(node, node.config.pdu.id, NETWORK_LEDGER):
        entry = item["entry"]
        if entry["kind"] not in DECISION_KINDS:
            continue
        result = entry["body"].get("result", {})
        summary = {
            k: v
            for k, v in result.items()
            if k in ("status", "allocations", "escrow", "amount", "to", "reason")
        }
        decisions.append(
            {
                "seq": entry["seq"],
                "kind": entry["kind"],
                "base": entry["body"].get("base", {}),
                "summary": json.dumps(summary, separators=(",", ":"))[:500],
                "proposer": entry["author"],
                "signers": [s["signer"] for s in item["signatures"] if s["signer"] != entry["author"]],
                "threshold": policy_for(node.config, entry["kind"]).threshold,
            }
        )
    return templates.TemplateResponse(request, "decisions.html", {"decisions": decisions})


@router.get("/escrows", response_class=HTMLResponse)
async def escrows_page(request: Request, node: NodeDep, session: Session = None) -> Response:
    """Escrow states as the network ledger says."""
    if not _authorised(node, request, session):
        return _login(request)
    state = NetworkState()
    for item in await _holder_ledger(node, node.config.pdu.id, NETWORK_LEDGER):
        apply(state, Entry.from_json(item["entry"]))
    escrows = sorted(state.escrows.values(), key=lambda e: e.created_seq)
    return templates.TemplateResponse(request, "escrows.html", {"escrows": escrows})
