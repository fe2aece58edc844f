"""ERP route of the auditor: traceability events as a GS1 EPCIS 2.0 document."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from supplymesh.audit.epcis import MEDIA_TYPE, export_document, render
from supplymesh.web.deps import ErpReader, NodeDep
from supplymesh_auditor import verified_export

router = APIRouter(prefix="/v1/epcis", tags=["epcis"])


@router.get(
    "",
    summary="Traceability events as a GS1 EPCIS 2.0 document (JSON-LD)",
    description="An `EPCISDocument` of the network ledger's traceability events: demands and "
    "allocations (TransactionEvent, `po`), production (TransformationEvent), lot inspection "
    "(ObjectEvent, `inspecting`, `conformant`/`non_conformant`), release, refund, re-offer and "
    "acceptance (TransactionEvent). Each `eventID` is the event's EPCIS Event Hash ID "
    "(CBV 2.0), each event names the signed ledger entry it comes from "
    "(`supplymesh:networkEntry`). Built from the copy of `holder` (default: the PDU) after "
    "verifying its hash chain and signatures; the same ledger gives the same bytes. "
    "`demand` (and `buyer`) keep only the events about that demand. See docs/epcis.md.",
    response_class=Response,
    responses={200: {"content": {MEDIA_TYPE: {"schema": {"type": "object"}}}}},
)
async def export(
    node: NodeDep,
    _client: ErpReader,
    demand: Annotated[str | None, Query(description="a buyer's demand id")] = None,
    buyer: Annotated[str | None, Query(description="the buyer of `demand` (member id)")] = None,
    holder: Annotated[str | None, Query(description="member whose copy to export")] = None,
) -> Response:
    entries = await verified_export.network_entries(node, holder)
    document = export_document(entries, demand=demand, buyer=buyer)
    return Response(render(document), media_type=MEDIA_TYPE)
