"""ERP routes of the supplier's orders."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from supplymesh.node import crashpoints
from supplymesh.web.deps import ErpReader, ErpWriter
from supplymesh.web.pagination import DEFAULT_LIMIT, Limit, page_response
from supplymesh_supplier.deps import OrdersDep
from supplymesh_supplier.models import OrderOut, ProductionCompleteIn

router = APIRouter(prefix="/v1/orders", tags=["orders"])
OrderId = Annotated[str, Path(max_length=64)]


@router.get("", response_model=list[OrderOut], summary="Orders allocated to this supplier")
async def list_orders(
    request: Request,
    orders: OrdersDep,
    _client: ErpReader,
    after: Annotated[str, Query(max_length=64)] = "",
    limit: Limit = DEFAULT_LIMIT,
) -> JSONResponse:
    items = await orders.page(after=after, limit=limit + 1)
    return page_response(request, items, limit=limit, cursor=lambda o: o.id, render=lambda o: o.model_dump())


@router.get("/{order_id}", summary="One order")
async def get_order(order_id: OrderId, orders: OrdersDep, _client: ErpReader) -> OrderOut:
    return await orders.get(order_id)


@router.post("/{order_id}/production-complete", summary="Report production complete with the lot quality")
async def production_complete(
    order_id: OrderId,
    body: ProductionCompleteIn,
    orders: OrdersDep,
    _client: ErpWriter,
) -> dict[str, Any]:
    done = await orders.production_complete(order_id, body)
    crashpoints.reached("erp.applied", "production-complete")
    return done
