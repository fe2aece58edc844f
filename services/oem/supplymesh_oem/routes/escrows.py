"""ERP routes: escrows and offers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from supplymesh.web.deps import ErpReader
from supplymesh.web.idempotency import IdempotencyDep
from supplymesh.web.pagination import DEFAULT_LIMIT, Limit, page_response
from supplymesh_oem.deps import EscrowsDep
from supplymesh_oem.models import DepositIn, EscrowOut, OfferAccepted, OfferOut

router = APIRouter(prefix="/v1", tags=["escrow"])
Id = Annotated[str, Path(max_length=64)]


@router.get(
    "/escrows/{escrow_id}",
    summary="An escrow",
    description="Its state, deposit deadline and deposit time, links to its demand, order and offer, its "
    "history (each step with the network entry that made it) and, once released, refunded or cancelled, why.",
)
async def get_escrow(escrow_id: Id, escrows: EscrowsDep, _client: ErpReader) -> EscrowOut:
    return await escrows.get(escrow_id)


@router.post(
    "/escrows/{escrow_id}/deposit",
    response_model=EscrowOut,
    summary="Deposit the full escrow amount",
    description="Signed by this buyer and sequenced on the network ledger; "
    "the escrow is `funded` in the answer.",
)
async def deposit(escrow_id: Id, body: DepositIn, escrows: EscrowsDep, idem: IdempotencyDep) -> JSONResponse:
    async def run() -> EscrowOut:
        return await escrows.deposit(escrow_id, body, rerun=idem.rerun)

    return await idem.run(200, run, rerunnable=True)


@router.get("/offers", response_model=list[OfferOut], summary="Lots re-offered to this buyer")
async def list_offers(
    request: Request,
    escrows: EscrowsDep,
    _client: ErpReader,
    after: Annotated[str, Query(max_length=64)] = "",
    limit: Limit = DEFAULT_LIMIT,
) -> JSONResponse:
    items = await escrows.offers(after=after, limit=limit + 1)
    return page_response(
        request, items, limit=limit, cursor=lambda o: o.id, render=lambda o: o.model_dump(mode="json")
    )


@router.get("/offers/{offer_id}", summary="A lot re-offered to this buyer")
async def get_offer(offer_id: Id, escrows: EscrowsDep, _client: ErpReader) -> OfferOut:
    return await escrows.offer(offer_id)


@router.post(
    "/offers/{offer_id}/accept",
    response_model=OfferAccepted,
    summary="Accept a re-offered lot",
    description="The first acceptance wins; the new escrow "
    "(this buyer's unit price × lot quantity) is readable at once.",
)
async def accept_offer(offer_id: Id, escrows: EscrowsDep, idem: IdempotencyDep) -> JSONResponse:
    async def run() -> OfferAccepted:
        return OfferAccepted(escrow_id=await escrows.accept(offer_id, rerun=idem.rerun))

    return await idem.run(200, run, rerunnable=True)
