"""The OEM's escrows and offers: reads, deposit checks, offer acceptance checks.

Escrows are opened by order-split and offer-acceptance decisions; until one exists the
routes answer 404. A deposit must be the full amount in the escrow's currency, made
while the escrow awaits it.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from supplymesh.errors import Conflict, NotFound, Unprocessable
from supplymesh.storage.engine import read_transaction
from supplymesh.web.node import Node
from supplymesh_oem.models import DepositIn, EscrowOut, Money, OfferOut
from supplymesh_oem.tables import escrows, offers


def get_escrow(node: Node, escrow_id: str) -> EscrowOut:
    """One escrow.

    Raises:
        NotFound: if there is no such escrow.
    """
    with read_transaction(node.engine) as conn:
        row = conn.execute(select(escrows).where(escrows.c.id == escrow_id)).one_or_none()
    if row is None:
        raise NotFound(f"no escrow {escrow_id!r}")
    return EscrowOut(
        id=row.id,
        state=row.state,
        amount=row.amount,
        currency=row.currency,
        buyer=node.id,
        supplier=row.supplier,
    )


def check_deposit(node: Node, escrow_id: str, deposit: DepositIn) -> EscrowOut:
    """Validate a deposit against its escrow.

    Raises:
        NotFound: unknown escrow.
        Conflict: the escrow does not await a deposit.
        Unprocessable: wrong amount or currency.
    """
    escrow = get_escrow(node, escrow_id)
    if escrow.state != "awaiting_deposit":
        raise Conflict(f"escrow {escrow_id} is {escrow.state}; it does not await a deposit")
    if deposit.currency != escrow.currency or deposit.amount != escrow.amount:
        raise Unprocessable(
            f"deposit the full amount: {escrow.amount} {escrow.currency} "
            f"(got {deposit.amount} {deposit.currency})"
        )
    return escrow


def list_offers(node: Node, *, after: str, limit: int) -> list[OfferOut]:
    """Offers made to this buyer, by id."""
    with read_transaction(node.engine) as conn:
        rows = conn.execute(
            select(offers).where(offers.c.id > after).order_by(offers.c.id).limit(limit)
        ).all()
    return [_offer(r) for r in rows]


def get_offer(node: Node, offer_id: str) -> OfferOut:
    """One offer.

    Raises:
        NotFound: if there is no such offer.
    """
    with read_transaction(node.engine) as conn:
        row = conn.execute(select(offers).where(offers.c.id == offer_id)).one_or_none()
    if row is None:
        raise NotFound(f"no offer {offer_id!r}")
    return _offer(row)


def check_accept(node: Node, offer_id: str) -> OfferOut:
    """An offer that may be accepted now.

    Raises:
        NotFound: unknown offer.
        Conflict: the offer is no longer open.
    """
    offer = get_offer(node, offer_id)
    if offer.state != "open":
        raise Conflict(f"offer {offer_id} is {offer.state}")
    return offer


def _offer(row: Any) -> OfferOut:
    return OfferOut(
        id=row.id,
        product=row.product,
        quantity=row.quantity,
        defects=json.loads(row.defects),
        unit_price=Money.model_validate_json(row.unit_price),
        state=row.state,
    )
