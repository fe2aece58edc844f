"""The auditor's stored reports: the findings of one audit, and the history of audits."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from supplymesh.web.deps import NodeDep
from supplymesh_auditor import reports
from supplymesh_auditor.explorer.fetch import holder_named
from supplymesh_auditor.explorer.session import Reader
from supplymesh_auditor.explorer.views import NotShown, render

router = APIRouter(prefix="/explorer", include_in_schema=False)
HISTORY = 200


@router.get("/findings")
async def findings_page(
    request: Request, node: NodeDep, _reader: Reader, audit: Annotated[str | None, Query()] = None
) -> Response:
    """The findings of one audit (the latest unless ``audit`` names one), each linked to its entry."""
    if audit is not None and not (audit.isascii() and audit.isdigit() and len(audit) <= 12):
        raise NotShown(404, f"{audit!r} is not an audit number.")
    shown = reports.by_id(node, int(audit) if audit is not None else None)
    if shown is None and audit is not None:
        raise NotShown(404, f"There is no audit #{audit}.")
    findings = [
        {**f, "holder": holder_named(node, f.get("detail"))} for f in (shown or {}).get("findings", [])
    ]
    return render(request, "findings.html", {"report": shown, "findings": findings})


@router.get("/audits")
async def audits_page(request: Request, node: NodeDep, _reader: Reader) -> Response:
    """Every recent audit: when, which mode, ok or how many findings."""
    return render(request, "audits.html", {"audits": reports.recent(node, HISTORY), "limit": HISTORY})
