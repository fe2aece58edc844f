"""The auditor's stored reports: the findings of one audit, and the history of audits."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from supplymesh.node.context import Node
from supplymesh.storage.engine import read_transaction
from supplymesh.web.deps import NodeDep
from supplymesh_auditor.explorer.fetch import holder_named
from supplymesh_auditor.explorer.session import Reader
from supplymesh_auditor.explorer.views import NotShown, render
from supplymesh_auditor.tables import audit_reports

router = APIRouter(prefix="/explorer", include_in_schema=False)
HISTORY = 200


def report(node: Node, report_id: int | None) -> dict[str, Any] | None:
    """A stored report by id (the newest if None), None if there is none."""
    query = select(audit_reports)
    query = (
        query.order_by(audit_reports.c.id.desc()).limit(1)
        if report_id is None
        else query.where(audit_reports.c.id == report_id)
    )
    with read_transaction(node.engine) as conn:
        row = conn.execute(query).one_or_none()
    return None if row is None else {**json.loads(row.report), "id": row.id}


def recent(node: Node, limit: int = HISTORY) -> list[dict[str, Any]]:
    """The newest ``limit`` reports, newest first, each with its finding count."""
    with read_transaction(node.engine) as conn:
        rows = conn.execute(select(audit_reports).order_by(audit_reports.c.id.desc()).limit(limit)).all()
    return [
        {
            "id": r.id,
            "ok": bool(r.ok),
            "mode": r.mode,
            "started": r.started,
            "finished": r.finished,
            "findings": len(json.loads(r.report).get("findings", [])),
        }
        for r in rows
    ]


@router.get("/findings")
async def findings_page(
    request: Request, node: NodeDep, _reader: Reader, audit: Annotated[str | None, Query()] = None
) -> Response:
    """The findings of one audit (the latest unless ``audit`` names one), each linked to its entry."""
    if audit is not None and not (audit.isascii() and audit.isdigit() and len(audit) <= 12):
        raise NotShown(404, f"{audit!r} is not an audit number.")
    shown = report(node, int(audit) if audit is not None else None)
    if shown is None and audit is not None:
        raise NotShown(404, f"There is no audit #{audit}.")
    findings = [
        {**f, "holder": holder_named(node, f.get("detail"))} for f in (shown or {}).get("findings", [])
    ]
    return render(request, "findings.html", {"report": shown, "findings": findings})


@router.get("/audits")
async def audits_page(request: Request, node: NodeDep, _reader: Reader) -> Response:
    """Every recent audit: when, which mode, ok or how many findings."""
    return render(request, "audits.html", {"audits": recent(node), "limit": HISTORY})
