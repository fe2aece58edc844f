"""Dependencies of the OEM node's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from supplymesh_oem.demands import Demands
from supplymesh_oem.escrows import Escrows


def _demands(request: Request) -> Demands:
    demands: Demands = request.app.state.demands
    return demands


def _escrows(request: Request) -> Escrows:
    escrows: Escrows = request.app.state.escrows
    return escrows


DemandsDep = Annotated[Demands, Depends(_demands)]
EscrowsDep = Annotated[Escrows, Depends(_escrows)]
