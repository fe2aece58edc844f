"""ERP route of the PDU: the decisions it committed, with base, inputs, result, certificate."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.contracts.network import DECISION_KINDS
from supplymesh.web.deps import ErpReader, NodeDep
from supplymesh.web.pagination import DEFAULT_LIMIT, Limit, cursor_query, page_response

router = APIRouter(prefix="/v1/decisions", tags=["decisions"])
Kind = Annotated[str | None, Query(description="e.g. decision.split, decision.release, decision.refund")]


@router.get("", summary="Committed decisions with their quorum certificates")
def list_decisions(
    request: Request,
    node: NodeDep,
    _client: ErpReader,
    kind: Kind = None,
    after: Annotated[int, cursor_query("Cursor: the `seq` of the last decision you have")] = 0,
    limit: Limit = DEFAULT_LIMIT,
) -> JSONResponse:
    wanted = {kind} if kind else DECISION_KINDS
    if kind and not kind.startswith("decision."):
        wanted = {f"decision.{kind}"}
    items: list[dict[str, Any]] = []
    for row in node.store.iter_entries(NETWORK_LEDGER):
        if row.seq <= after:
            continue
        entry = json.loads(row.entry)
        if entry["kind"] not in wanted:
            continue
        signatures = json.loads(row.signatures)
        items.append(
            {
                "id": row.hash,
                "seq": row.seq,
                "kind": entry["kind"],
                "time": entry["time"],
                "base": entry["body"]["base"],
                "inputs": entry["body"]["inputs"],
                "result": entry["body"]["result"],
                "proposer": entry["author"],
                "certificate": [s for s in signatures if s["signer"] != entry["author"]],
            }
        )
        if len(items) > limit:
            break
    return page_response(request, items, limit=limit, cursor=lambda d: d["seq"], render=lambda d: d)
