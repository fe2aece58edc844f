"""OpenAPI examples and facts of the PDU node's ERP route, from the specification's worked examples.

Scenario 1 (§5): the split of oem-a's demand for 1000 × P-100, committed with the
signatures of a quorum of partners: 390 units to supplier-a, 400 to supplier-b, 210
unallocated.
"""

from __future__ import annotations

from fastapi import FastAPI

from supplymesh.core.contracts.ids import derive_id
from supplymesh.web.openapi_doc import Example, OperationDoc, Operations, document_service

DEMAND_HASH = derive_id("example", "demand.submitted", "oem-a")
ESCROW_A = derive_id("escrow", DEMAND_HASH, "supplier-a")
ESCROW_B = derive_id("escrow", DEMAND_HASH, "supplier-b")
SIGNATURE = "3q2-7w" * 14 + "AAAA"


def _signed(signer: str) -> dict[str, str]:
    return {"signer": signer, "sig": SIGNATURE}


def _attestation(supplier: str) -> dict[str, str]:
    return {"…": f"{supplier}'s signed capacity attestation for the demand (abridged)"}


SPLIT = {
    "id": derive_id("example", "decision", "scenario-1"),
    "seq": 5,
    "kind": "decision.split",
    "time": "2026-03-01T08:00:04Z",
    "base": {"seq": 4, "hash": derive_id("example", "network", "4") * 2},
    "inputs": {
        "demand": DEMAND_HASH,
        "attestations": [_attestation("supplier-a"), _attestation("supplier-b")],
        "unavailable": {},
    },
    "result": {
        "demand": DEMAND_HASH,
        "allocations": [
            {
                "supplier": "supplier-a",
                "quantity": 390,
                "machine_hours": "156",
                "escrow_amount": 487500,
                "escrow_id": ESCROW_A,
            },
            {
                "supplier": "supplier-b",
                "quantity": 400,
                "machine_hours": "160",
                "escrow_amount": 500000,
                "escrow_id": ESCROW_B,
            },
        ],
        "unallocated": 210,
        "allocated": 790,
        "skipped": [],
        "status": "partially_allocated",
    },
    "proposer": "pdu",
    "certificate": [_signed(member) for member in ("oem-a", "oem-b", "supplier-a", "supplier-b")],
}

OPERATIONS: Operations = {
    ("GET", "/v1/decisions"): OperationDoc(
        responses={
            200: {
                "scenario-1": Example(
                    summary="The split of oem-a's demand (abridged inputs), signed by a quorum", value=[SPLIT]
                )
            }
        }
    ),
}

TAGS = {
    "decisions": "Decisions the PDU committed on the network ledger (splits, releases, refunds, "
    "re-offers, cancellations), each with its base, inputs, result and quorum certificate.",
}


def document_api(app: FastAPI) -> None:
    """Add the PDU's examples and facts to the node's OpenAPI document."""
    document_service(app, OPERATIONS, TAGS)
