"""Dependencies of the supplier node's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from supplymesh_supplier.attest import Attestations
from supplymesh_supplier.dms import Dms
from supplymesh_supplier.orders import Orders


def _dms(request: Request) -> Dms:
    dms: Dms = request.app.state.dms
    return dms


def _attestations(request: Request) -> Attestations:
    attestations: Attestations = request.app.state.attestations
    return attestations


def _orders(request: Request) -> Orders:
    orders: Orders = request.app.state.orders
    return orders


DmsDep = Annotated[Dms, Depends(_dms)]
AttestationsDep = Annotated[Attestations, Depends(_attestations)]
OrdersDep = Annotated[Orders, Depends(_orders)]
