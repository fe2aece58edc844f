"""One search box on every page: an entry hash, a demand hash, an escrow or offer id, a seq.

A number opens that entry of the network ledger; hex text (at least 6 characters, a
whole id or its beginning) is looked up among the demands, escrows, offers and network
entries, then among the channels' entries. One match opens its page, several are
listed, none is a "nothing found" page (404).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.contracts.network import DECISION_KINDS
from supplymesh.errors import PeerError
from supplymesh.node.context import Node
from supplymesh.web.deps import NodeDep
from supplymesh_auditor.explorer.fetch import Item, copy_of, ledgers, network_copy, seq_of
from supplymesh_auditor.explorer.history import fold
from supplymesh_auditor.explorer.session import Reader
from supplymesh_auditor.explorer.views import (
    NotShown,
    decision_url,
    demand_url,
    entry_url,
    escrow_url,
    render,
)

router = APIRouter(prefix="/explorer", include_in_schema=False)
HEX = re.compile(r"^[0-9a-f]{6,64}$")
Match = tuple[str, str, str]
"""(what it is, its id, its page)."""


def _entries(ledger: str, holder: str | None, items: list[Item]) -> list[Match]:
    found = []
    for item in items:
        raw = item.get("entry")
        entry: dict[str, Any] = raw if isinstance(raw, dict) else {}
        seq = seq_of(item)
        page = (
            decision_url(seq)
            if ledger == NETWORK_LEDGER and entry.get("kind") in DECISION_KINDS
            else entry_url(ledger, seq, holder)
        )
        found.append((f"{ledger} entry {seq} ({entry.get('kind')})", str(item.get("hash")), page))
    return found


def _network_matches(items: list[Item]) -> list[Match]:
    state = fold(items).state
    return [
        *((f"demand {d.id} of {d.buyer}", h, demand_url(h)) for h, d in state.demands.items()),
        *((f"escrow {e.supplier} → {e.buyer}", i, escrow_url(i)) for i, e in state.escrows.items()),
        *((f"offer to {o.buyer}", i, f"{escrow_url(o.lot)}#offer-{i}") for i, o in state.offers.items()),
        *_entries(NETWORK_LEDGER, None, items),
    ]


async def _channel_matches(node: Node) -> list[Match]:
    found: list[Match] = []
    for ledger in ledgers(node)[1:]:
        try:
            holder, items = await copy_of(node, ledger)
        except (NotShown, PeerError):
            continue
        found += _entries(ledger, holder, items)
    return found


def _select(candidates: list[Match], text: str) -> list[Match]:
    exact = [c for c in candidates if c[1] == text]
    if exact:
        return exact[:1]
    chosen: dict[str, Match] = {}  # one page per id: a demand's, before its entry's
    for match in candidates:
        if match[1].startswith(text):
            chosen.setdefault(match[1], match)
    return list(chosen.values())


async def _matches(node: Node, text: str) -> list[Match]:
    items = await network_copy(node)
    if text.isascii() and text.isdigit():
        return [
            m for m in _entries(NETWORK_LEDGER, None, items) if m[0].startswith(f"network entry {int(text)} ")
        ]
    if not HEX.match(text):
        return []
    return _select(_network_matches(items), text) or _select(await _channel_matches(node), text)


@router.get("/search")
async def search(
    request: Request, node: NodeDep, _reader: Reader, q: Annotated[str, Query()] = ""
) -> Response:
    """Open the page of what ``q`` names, list several, or say nothing was found."""
    text = q.strip().lower()[:200]
    found = await _matches(node, text) if text else []
    if len(found) == 1:
        return RedirectResponse(found[0][2], status_code=303)
    status = 200 if found or not text else 404
    return render(request, "search.html", {"text": q.strip(), "found": found}, status)
