"""Deterministic ids every peer derives alike from the network ledger."""

from __future__ import annotations

import hashlib


def derive_id(*parts: str) -> str:
    """A deterministic id (32 hex characters) from its parts."""
    return hashlib.sha256(":".join(parts).encode()).hexdigest()[:32]


def escrow_id(demand_hash: str, supplier: str) -> str:
    """Id of the escrow of ``supplier``'s allocation for a demand."""
    return derive_id("escrow", demand_hash, supplier)


def offer_id(lot_escrow: str, buyer: str) -> str:
    """Id of the offer of a refunded lot to ``buyer``."""
    return derive_id("offer", lot_escrow, buyer)


def acceptance_escrow_id(offer: str) -> str:
    """Id of the escrow opened by accepting ``offer``."""
    return derive_id("accept", offer)
