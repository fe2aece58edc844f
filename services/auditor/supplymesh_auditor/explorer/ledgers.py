"""A ledger as one holder holds it: every entry, its signers, findings highlighted."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from supplymesh.web.deps import NodeDep
from supplymesh_auditor import reports
from supplymesh_auditor.explorer.fetch import Item, copy_of, decrypted, flagged, holders
from supplymesh_auditor.explorer.session import Reader
from supplymesh_auditor.explorer.views import render

router = APIRouter(prefix="/explorer", include_in_schema=False)
Holder = Annotated[str | None, Query()]
PREVIEW = 160


def preview(body: object, limit: int = PREVIEW) -> str:
    """A one-line glimpse of a body, cut between items (never mid-word); the entry page has it whole."""
    text = json.dumps(body, ensure_ascii=False, separators=(", ", ": "))
    if len(text) <= limit:
        return text
    cut = max(text.rfind(", ", 0, limit), text.rfind(" ", 0, limit))
    return text[: cut if cut > 0 else limit] + " …"


def _row(item: Item, opened: dict[int, dict[str, Any]]) -> dict[str, Any]:
    entry = item.get("entry") or {}
    seq = entry.get("seq")
    return {
        "seq": seq,
        "kind": entry.get("kind"),
        "author": entry.get("author"),
        "time": entry.get("time"),
        "hash": item.get("hash", ""),
        "signers": [s.get("signer") for s in item.get("signatures", [])],
        "late": [s.get("signer") for s in item.get("late_signatures", [])],
        "decrypted": seq in opened,
        "preview": preview(opened.get(seq, entry.get("body")) if isinstance(seq, int) else entry.get("body")),
    }


@router.get("/ledgers/{ledger}")
async def ledger_page(
    request: Request, node: NodeDep, _reader: Reader, ledger: str, holder: Holder = None
) -> Response:
    """Every entry of one holder's copy, newest first, each linked to its page."""
    holder, items = await copy_of(node, ledger, holder)
    opened = decrypted(node, ledger, items)
    rows = [_row(item, opened) for item in reversed(items)]
    context = {
        "ledger": ledger,
        "holder": holder,
        "holders": holders(node, ledger),
        "entries": rows,
        "flagged": flagged(node, reports.latest(node), ledger, holder),
    }
    return render(request, "ledger.html", context)
