"""OpenAPI examples and facts of the supplier node's ERP routes, from the specification's worked examples.

Scenario 1 (§5): supplier-a has 4 machines, 16 h a day, baseline efficiency 0.8 and
100 machine-hours queued from outside the network: 51.2 machine-hours a day. It is
allocated 390 × P-100 (156 h) of oem-a's demand. Scenario 2 (§6): it reports the lot
complete with 0 critical, 5 major and 10 minor defects, which passes oem-a's AQL;
supplier-b's 400 units with 14 major defects do not.
"""

from __future__ import annotations

from fastapi import FastAPI

from supplymesh.core.contracts.ids import derive_id
from supplymesh.web.openapi_doc import Example, OperationDoc, Operations, document_service

ORDER = derive_id("escrow", "6f1c0d8e2b7a4c5d9e3f1a2b3c4d5e6f", "supplier-a")
PROFILE = {
    "machines": 4,
    "hours_per_day": "16",
    "baseline_efficiency": "0.8",
    "queued_machine_hours": "100",
    "products": ["P-100"],
}
SENSOR = {
    "id": "torque-07",
    "process": "fastening",
    "target": "12.5",
    "tolerance": "0.5",
    "defect_class": "major",
    "standard_seconds": "45",
}
READINGS = [
    {
        "sensor_id": "torque-07",
        "unit_id": f"P-100-{n:06d}",
        "order_id": ORDER,
        "value": value,
        "start": f"2026-03-02T08:0{n}:00Z",
        "end": f"2026-03-02T08:0{n}:50Z",
    }
    for n, value in ((1, "12.7"), (2, "13.2"))
]
ORDER_FUNDED = {
    "id": ORDER,
    "buyer": "oem-a",
    "product": "P-100",
    "quantity": 390,
    "machine_hours": "156",
    "escrow_id": ORDER,
    "state": "funded",
}
CAPACITY = {
    "efficiency": "0.8",
    "mhc_per_day": "51.2",
    "queued_machine_hours": "100",
    "open_network_hours": "156",
    "products": ["P-100"],
    "computed_at": "2026-03-02T09:00:00Z",
}


def _one(name: str, summary: str, value: object) -> dict[str, Example]:
    return {name: Example(summary=summary, value=value)}


OPERATIONS: Operations = {
    ("PUT", "/v1/dms/profile"): OperationDoc(
        request=_one("supplier-a", "4 machines × 16 h, efficiency 0.8, 100 h queued (§5)", PROFILE),
        responses={
            200: _one("supplier-a", "The profile as set", {**PROFILE, "updated": "2026-03-01T07:00:00Z"})
        },
    ),
    ("GET", "/v1/dms/profile"): OperationDoc(problems=frozenset({404})),
    ("POST", "/v1/dms/sensors"): OperationDoc(
        request=_one(
            "torque", "A torque sensor on the fastening process, major defects", {"sensors": [SENSOR]}
        ),
        responses={201: _one("registered", "One sensor registered", {"registered": 1, "unchanged": 0})},
    ),
    ("POST", "/v1/dms/readings"): OperationDoc(
        request=_one(
            "batch",
            "Two readings of supplier-a's order: 12.7 passes, 13.2 is out of 12.5 ± 0.5",
            {"readings": READINGS},
        ),
        responses={
            200: _one(
                "batch",
                "One approval, one major issue",
                {"accepted": 2, "approved": 1, "issues": 1, "rejected": []},
            )
        },
    ),
    ("GET", "/v1/capacity"): OperationDoc(
        responses={200: _one("supplier-a", "MHCp = 0.8 × 4 × 16 = 51.2 h a day; 156 h allocated", CAPACITY)},
        problems=frozenset({404}),
    ),
    ("GET", "/v1/orders"): OperationDoc(
        responses={200: _one("supplier-a", "oem-a's order, funded", [ORDER_FUNDED])}
    ),
    ("GET", "/v1/orders/{order_id}"): OperationDoc(
        responses={200: _one("supplier-a", "390 × P-100 for oem-a, funded", ORDER_FUNDED)}
    ),
    ("POST", "/v1/orders/{order_id}/production-complete"): OperationDoc(
        request={
            "scenario-2-release": Example(
                summary="supplier-a: 390 units, 0 critical, 5 major, 10 minor (passes AQL 0 / 2.5 / 4.0)",
                value={"produced_quantity": 390, "defects": {"critical": 0, "major": 5, "minor": 10}},
            ),
            "scenario-2-refund": Example(
                summary="supplier-b: 400 units, 14 major (1400 > 2.5 × 400: refunded, re-offered)",
                value={"produced_quantity": 400, "defects": {"critical": 0, "major": 14, "minor": 0}},
            ),
            "from-dms": Example(
                summary="Defects counted from the DMS readings of the order", value={"produced_quantity": 390}
            ),
        },
        problems=frozenset({409}),
        calls_peers=True,
    ),
    # The PDU asks for a buyer this supplier has no channel with: 404.
    ("POST", "/peer/v1/capacity/attestations"): OperationDoc(problems=frozenset({404})),
    ("GET", "/peer/v1/views/capacity"): OperationDoc(problems=frozenset({404})),
}

TAGS = {
    "dms": "The plant's data-management system (the paper's Algorithm 1): profile, sensors, batches "
    "of readings, and the capacity it attests (Algorithm 2). Writing needs the `write` scope.",
    "orders": "Orders allocated to this supplier by the network's splits; report production complete "
    "with the lot quality once the buyer's escrow is funded.",
}


def document_api(app: FastAPI) -> None:
    """Add the supplier's examples and facts to the node's OpenAPI document."""
    document_service(app, OPERATIONS, TAGS)
