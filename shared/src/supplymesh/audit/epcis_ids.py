"""Identifiers of the EPCIS export: URNs of the ``supplymesh`` namespace (no GS1 keys are invented).

Parties ``urn:supplymesh:party:<member>``, products ``urn:supplymesh:product:<product>``,
lots ``urn:supplymesh:product:<product>:lot:<escrow>`` (the escrow whose order produced
it), demands ``urn:supplymesh:demand:<buyer>:<demand id>``, orders (one per escrow)
``urn:supplymesh:order:<escrow>``, offers ``urn:supplymesh:offer:<offer>``, and the signed
network ledger entry an event comes from ``urn:supplymesh:entry:network:<seq>:<hash>``.
Each part is percent-encoded.
"""

from __future__ import annotations

from urllib.parse import quote

from supplymesh.core.contracts.network import DemandRecord
from supplymesh.core.entry import Entry


def _part(text: str) -> str:
    return quote(str(text), safe="-._~")


def party(member: str) -> str:
    """URN of a network member."""
    return f"urn:supplymesh:party:{_part(member)}"


def product_class(product: str) -> str:
    """URN of a product (an EPCIS class)."""
    return f"urn:supplymesh:product:{_part(product)}"


def lot_class(product: str, escrow_id: str) -> str:
    """URN of the lot produced for the order of ``escrow_id``."""
    return f"{product_class(product)}:lot:{_part(escrow_id)}"


def demand_urn(demand: DemandRecord) -> str:
    """URN of a demand (its buyer's id), the buyer's purchase order to the network."""
    return f"urn:supplymesh:demand:{_part(demand.buyer)}:{_part(demand.id)}"


def order_urn(escrow_id: str) -> str:
    """URN of a supplier's order (one per escrow)."""
    return f"urn:supplymesh:order:{_part(escrow_id)}"


def offer_urn(offer_id: str) -> str:
    """URN of a re-offer."""
    return f"urn:supplymesh:offer:{_part(offer_id)}"


def entry_urn(entry: Entry) -> str:
    """URN of a network ledger entry: seq and hash."""
    return f"urn:supplymesh:entry:network:{entry.seq}:{entry.hash}"
