"""ERP routes: demands."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from supplymesh.web.deps import ErpReader
from supplymesh.web.idempotency import IdempotencyDep
from supplymesh.web.pagination import DEFAULT_LIMIT, Limit, cursor_query, int32_cursor, page_response
from supplymesh_oem.deps import DemandsDep
from supplymesh_oem.models import DemandCreated, DemandIn, DemandOut

router = APIRouter(prefix="/v1/demands", tags=["demands"])


@router.post(
    "",
    status_code=202,
    response_model=DemandCreated,
    summary="Submit a demand",
    description="Accepted at once as `pending`; the order split follows from the network (quorum decision). "
    "Follow it with `GET /v1/demands/{id}` or the event feed.",
)
async def create_demand(body: DemandIn, demands: DemandsDep, idem: IdempotencyDep) -> JSONResponse:
    async def run() -> DemandCreated:
        return await run_in_threadpool(demands.create, body)

    return await idem.run(202, run)


@router.get("", response_model=list[DemandOut], summary="This buyer's demands, oldest first")
def list_demands(
    request: Request,
    demands: DemandsDep,
    _client: ErpReader,
    after: Annotated[int, cursor_query("Cursor from the `next` link (a position, not a demand id)")] = 0,
    limit: Limit = DEFAULT_LIMIT,
) -> JSONResponse:
    items = demands.page(after=int32_cursor(after), limit=limit + 1)
    return page_response(
        request,
        items,
        limit=limit,
        cursor=lambda item: item[0],
        render=lambda item: item[1].model_dump(mode="json"),
    )


@router.get("/{demand_id}", summary="A demand and its split")
def get_demand(
    demand_id: Annotated[str, Path(max_length=64)], demands: DemandsDep, _client: ErpReader
) -> DemandOut:
    return demands.get(demand_id)
