"""OpenAPI examples and facts of the OEM node's ERP routes, from the specification's worked examples.

Scenario 1 (§5): oem-a asks for 1000 × P-100 (lead time 5 days, 400 machine-hours,
12.50 EUR a unit); supplier-a takes 390 units (156 h), supplier-b 400 (160 h), 210 stay
unallocated; escrows of 487500 and 500000 EUR cents. Scenario 2 (§6): supplier-b's lot
fails oem-a's AQL (14 major in 400), is refunded and re-offered to oem-b, whose demand
of 600 at 13.00 EUR has the looser major AQL 4.0; oem-b accepts and pays 400 × 1300.
"""

from __future__ import annotations

from fastapi import FastAPI

from supplymesh.core.contracts.ids import derive_id
from supplymesh.web.openapi_doc import Example, OperationDoc, Operations, document_service

DEMAND_A = "6f1c0d8e2b7a4c5d9e3f1a2b3c4d5e6f"
DEMAND_B = "0a9b8c7d6e5f40312a1b2c3d4e5f6a7b"
DECISION = derive_id("example", "decision", "scenario-1")
ESCROW_A = derive_id("escrow", DEMAND_A, "supplier-a")
ESCROW_B = derive_id("escrow", DEMAND_A, "supplier-b")
OFFER = derive_id("offer", ESCROW_B, "oem-b")
ESCROW_OFFER = derive_id("accept", OFFER)

TERMS_A = {
    "product": "P-100",
    "quantity": 1000,
    "lead_time_days": 5,
    "required_machine_hours": "400",
    "priority_suppliers": ["supplier-a", "supplier-b"],
    "aql": {"critical": "0", "major": "2.5", "minor": "4.0"},
    "unit_price": {"amount": 1250, "currency": "EUR"},
}
TERMS_B = {
    **TERMS_A,
    "quantity": 600,
    "required_machine_hours": "240",
    "aql": {"critical": "0", "major": "4.0", "minor": "6.5"},
    "unit_price": {"amount": 1300, "currency": "EUR"},
}
SPLIT_A = {
    "id": DEMAND_A,
    "status": "partially_allocated",
    "allocations": [
        {
            "supplier": "supplier-a",
            "quantity": 390,
            "machine_hours": "156",
            "escrow_id": ESCROW_A,
            "escrow_amount": 487500,
        },
        {
            "supplier": "supplier-b",
            "quantity": 400,
            "machine_hours": "160",
            "escrow_id": ESCROW_B,
            "escrow_amount": 500000,
        },
    ],
    "unallocated_quantity": 210,
    "decision_id": DECISION,
    "detail": None,
    "terms": TERMS_A,
    "network_seq": 2,
}
ESCROW_FUNDED = {
    "id": ESCROW_A,
    "state": "funded",
    "amount": 487500,
    "currency": "EUR",
    "buyer": "oem-a",
    "supplier": "supplier-a",
}
OFFER_OPEN = {
    "id": OFFER,
    "product": "P-100",
    "quantity": 400,
    "defects": {"critical": 0, "major": 14, "minor": 0},
    "unit_price": {"amount": 1300, "currency": "EUR"},
    "state": "open",
}


def _one(name: str, summary: str, value: object) -> dict[str, Example]:
    return {name: Example(summary=summary, value=value)}


OPERATIONS: Operations = {
    ("POST", "/v1/demands"): OperationDoc(
        request={
            "scenario-1": Example(summary="oem-a: 1000 × P-100, AQL major 2.5 (§5)", value=TERMS_A),
            "scenario-2": Example(summary="oem-b: 600 × P-100, looser AQL major 4.0 (§6)", value=TERMS_B),
        },
        responses={
            202: _one("pending", "Accepted; the split follows", {"id": DEMAND_A, "status": "pending"})
        },
    ),
    ("GET", "/v1/demands"): OperationDoc(responses={200: _one("scenario-1", "oem-a's demands", [SPLIT_A])}),
    ("GET", "/v1/demands/{demand_id}"): OperationDoc(
        responses={200: _one("scenario-1", "390 to supplier-a, 400 to supplier-b, 210 unallocated", SPLIT_A)}
    ),
    ("GET", "/v1/escrows/{escrow_id}"): OperationDoc(
        responses={200: _one("funded", "supplier-a's escrow, deposited", ESCROW_FUNDED)}, calls_peers=True
    ),
    ("POST", "/v1/escrows/{escrow_id}/deposit"): OperationDoc(
        request=_one(
            "scenario-1",
            "The full amount of supplier-a's escrow, 390 × 12.50 EUR",
            {"amount": 487500, "currency": "EUR", "payment_reference": "SEPA-2026-000487"},
        ),
        responses={200: _one("funded", "The escrow is funded", ESCROW_FUNDED)},
        problems=frozenset({409}),
        calls_peers=True,
    ),
    ("GET", "/v1/offers"): OperationDoc(
        responses={200: _one("scenario-2", "supplier-b's refunded lot, offered to oem-b", [OFFER_OPEN])},
        calls_peers=True,
    ),
    ("POST", "/v1/offers/{offer_id}/accept"): OperationDoc(
        responses={
            200: _one("scenario-2", "oem-b's new escrow of 400 × 13.00 EUR", {"escrow_id": ESCROW_OFFER})
        },
        calls_peers=True,
    ),
}

TAGS = {
    "demands": "The buyer's demands (the paper's Algorithm 3): submit one, then follow its split into "
    "allocations, each with an escrow. Submitting needs the `write` scope, reading `read`.",
    "escrow": "Escrows of the buyer's allocations (Algorithm 4): deposit the full amount before "
    "production, follow release or refund; lots refunded elsewhere and re-offered to this buyer.",
}


def document_api(app: FastAPI) -> None:
    """Add the OEM's examples and facts to the node's OpenAPI document."""
    document_service(app, OPERATIONS, TAGS)
