"""The overview: the latest audit, and every ledger's agreement across its holders."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from supplymesh.web.deps import NodeDep
from supplymesh_auditor import reports
from supplymesh_auditor.deps import AuditorDep
from supplymesh_auditor.explorer.agreement import agreements
from supplymesh_auditor.explorer.session import Reader
from supplymesh_auditor.explorer.views import render

router = APIRouter(prefix="/explorer", include_in_schema=False)


@router.get("")
async def overview(request: Request, node: NodeDep, _reader: Reader) -> Response:
    """Latest audit and its finding count; each ledger's tree size, root and agreement."""
    report = reports.latest(node)
    return render(request, "overview.html", {"report": report, "ledgers": await agreements(node)})


@router.post("/audit")
async def audit_now(node: NodeDep, auditor: AuditorDep, _reader: Reader) -> Response:
    """Run a full audit from the explorer, then show its findings."""
    await auditor.run("full")
    return RedirectResponse("/explorer/findings", status_code=303)
