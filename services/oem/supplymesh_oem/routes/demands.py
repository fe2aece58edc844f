"""ERP routes: demands."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from supplymesh.web.deps import ErpReader
from supplymesh.web.idempotency import IdempotencyDep
from supplymesh.web.pagination import (
    DEFAULT_LIMIT,
    IdCursor,
    Limit,
    int32_cursor,
    page_response,
    position_after,
)
from supplymesh_oem.deps import DemandsDep
from supplymesh_oem.models import DemandCreated, DemandIn, DemandOut

router = APIRouter(prefix="/v1/demands", tags=["demands"])


@router.post(
    "",
    status_code=202,
    response_model=DemandCreated,
    summary="Submit a demand",
    description="Accepted at once as `pending`; the order split follows from the network (quorum decision). "
    "Follow it at `Location` (`GET /v1/demands/{id}`) or on the event feed.",
)
async def create_demand(
    request: Request, body: DemandIn, demands: DemandsDep, idem: IdempotencyDep
) -> JSONResponse:
    async def run() -> DemandCreated:
        return await run_in_threadpool(demands.create, body)

    response = await idem.run(202, run)  # a replayed answer gets its Location from its body too
    demand_id = json.loads(bytes(response.body))["id"]
    response.headers["Location"] = str(request.url_for("get_demand", demand_id=demand_id))
    return response


@router.get("", response_model=list[DemandOut], summary="This buyer's demands, oldest first")
def list_demands(
    request: Request,
    demands: DemandsDep,
    _client: ErpReader,
    after: IdCursor = "",
    limit: Limit = DEFAULT_LIMIT,
) -> JSONResponse:
    position = int32_cursor(position_after(after, demands.position))
    items = demands.page(after=position, limit=limit + 1)
    return page_response(
        request, items, limit=limit, cursor=lambda d: d.id, render=lambda d: d.model_dump(mode="json")
    )


@router.get("/{demand_id}", summary="A demand and its split")
def get_demand(
    demand_id: Annotated[str, Path(max_length=64)], demands: DemandsDep, _client: ErpReader
) -> DemandOut:
    return demands.get(demand_id)
