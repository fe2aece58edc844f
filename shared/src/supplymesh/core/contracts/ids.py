"""Deterministic ids every peer derives alike from the network ledger, each its own type.

The ids are all hex text, so they are easily confused: :data:`DemandHash`,
:data:`EscrowId` and :data:`OfferId` are distinct types (``typing.NewType``), and mypy
refuses an escrow id where an offer id or a demand hash belongs.
"""

from __future__ import annotations

import hashlib
from typing import NewType

DemandHash = NewType("DemandHash", str)
"""Hash of a ``demand.submitted`` entry of the network ledger: a demand's network identity."""
EscrowId = NewType("EscrowId", str)
"""Id of an escrow (the supplier's order)."""
OfferId = NewType("OfferId", str)
"""Id of a re-offer of a refunded lot to one buyer."""


def derive_id(*parts: str) -> str:
    """A deterministic id (32 hex characters) from its parts."""
    return hashlib.sha256(":".join(parts).encode()).hexdigest()[:32]


def escrow_id(demand_hash: DemandHash, supplier: str) -> EscrowId:
    """Id of the escrow of ``supplier``'s allocation for a demand."""
    return EscrowId(derive_id("escrow", demand_hash, supplier))


def offer_id(lot_escrow: EscrowId, buyer: str) -> OfferId:
    """Id of the offer of a refunded lot to ``buyer``."""
    return OfferId(derive_id("offer", lot_escrow, buyer))


def acceptance_escrow_id(offer: OfferId) -> EscrowId:
    """Id of the escrow opened by accepting ``offer``."""
    return EscrowId(derive_id("accept", offer))
