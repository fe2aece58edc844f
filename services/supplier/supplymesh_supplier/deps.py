"""Dependencies of the supplier node's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from supplymesh_supplier.attest import Attestations
from supplymesh_supplier.dms import Dms


def _dms(request: Request) -> Dms:
    dms: Dms = request.app.state.dms
    return dms


def _attestations(request: Request) -> Attestations:
    attestations: Attestations = request.app.state.attestations
    return attestations


DmsDep = Annotated[Dms, Depends(_dms)]
AttestationsDep = Annotated[Attestations, Depends(_attestations)]
