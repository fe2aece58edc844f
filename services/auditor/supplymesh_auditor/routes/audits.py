"""ERP routes of the auditor: run an audit, read reports."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from supplymesh.errors import NotFound
from supplymesh.web.deps import ErpAuditor, ErpReader, NodeDep
from supplymesh.web.pagination import DEFAULT_LIMIT, Limit, cursor_query, int32_cursor, page_response
from supplymesh_auditor import reports
from supplymesh_auditor.deps import AuditorDep

router = APIRouter(prefix="/v1/audits", tags=["audits"])


class AuditRequest(BaseModel):
    """What kind of audit to run."""

    model_config = ConfigDict(extra="forbid")
    mode: Literal["full", "incremental"] = "full"


@router.post(
    "",
    summary="Run an audit now",
    description="Pulls every ledger from every holder and runs the verification pipeline. "
    "`ok` is true exactly when `findings` is empty; each finding names ledger, seq, rule and detail. "
    "`full` (the default) fetches and verifies every entry; `incremental` proves each holder's "
    "current tree head consistent with the copy verified before and fetches and verifies only "
    "the entries after it (a copy without a verified predecessor is fetched in full). "
    "`fetched_entries` counts the entries fetched; `ledgers` gives per copy its `size`, "
    "`verified_before` and `fetched`. Every audit answers with a report: a holder that cannot be "
    "reached, answers with malformed data, or serves a copy that does not verify is a finding naming "
    "it, and the ledger is judged on the longest prefix of any copy that verifies. `demand_waits` "
    "counts only times that passed the time checks (`time_checked`).",
)
async def run(auditor: AuditorDep, _client: ErpAuditor, body: AuditRequest | None = None) -> dict[str, Any]:
    return await auditor.run((body or AuditRequest()).mode)


@router.get("/latest", summary="The newest report")
def latest(node: NodeDep, _client: ErpReader) -> dict[str, Any]:
    report = reports.latest(node)
    if report is None:
        raise NotFound("no audit has run yet: POST /v1/audits")
    return report


@router.get("", summary="Report history (summaries)")
def history(
    request: Request,
    node: NodeDep,
    _client: ErpReader,
    after: Annotated[int, cursor_query("Cursor: the `id` of the last report you have")] = 0,
    limit: Limit = DEFAULT_LIMIT,
) -> JSONResponse:
    items = reports.history(node, after=int32_cursor(after), limit=limit + 1)
    return page_response(request, items, limit=limit, cursor=lambda r: r["id"], render=lambda r: r)
