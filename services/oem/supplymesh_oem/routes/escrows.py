"""ERP routes: escrows and offers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from supplymesh.errors import Conflict
from supplymesh.web.deps import ErpReader, ErpWriter, NodeDep
from supplymesh.web.pagination import DEFAULT_LIMIT, Limit, page_response
from supplymesh_oem import escrows
from supplymesh_oem.models import DepositIn, EscrowOut, OfferAccepted, OfferOut

router = APIRouter(prefix="/v1", tags=["escrow"])
Id = Annotated[str, Path(max_length=64)]


@router.get("/escrows/{escrow_id}", summary="An escrow")
def get_escrow(escrow_id: Id, node: NodeDep, _client: ErpReader) -> EscrowOut:
    return escrows.get_escrow(node, escrow_id)


@router.post("/escrows/{escrow_id}/deposit", summary="Deposit the full escrow amount")
def deposit(escrow_id: Id, body: DepositIn, node: NodeDep, _client: ErpWriter) -> EscrowOut:
    escrows.check_deposit(node, escrow_id, body)
    raise Conflict("deposits are taken once escrow decisions are enabled on this network")


@router.get("/offers", response_model=list[OfferOut], summary="Lots re-offered to this buyer")
def list_offers(
    request: Request,
    node: NodeDep,
    _client: ErpReader,
    after: Annotated[str, Query(max_length=64)] = "",
    limit: Limit = DEFAULT_LIMIT,
) -> JSONResponse:
    items = escrows.list_offers(node, after=after, limit=limit + 1)
    return page_response(
        request, items, limit=limit, cursor=lambda o: o.id, render=lambda o: o.model_dump(mode="json")
    )


@router.post("/offers/{offer_id}/accept", summary="Accept a re-offered lot")
def accept_offer(offer_id: Id, node: NodeDep, _client: ErpWriter) -> OfferAccepted:
    escrows.check_accept(node, offer_id)
    raise Conflict("offers are accepted once escrow decisions are enabled on this network")
