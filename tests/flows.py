"""Real flows through the ERP APIs that tests build on: orders and escrows in a given state."""

from __future__ import annotations

from typing import Any

from tests.harness import Harness

# A roomy plant for supplier-a: 40 machines × 16 h × 0.8 = 512 machine-hours a day.
ROOMY_PROFILE = {
    "machines": 40,
    "hours_per_day": "16",
    "baseline_efficiency": "0.8",
    "queued_machine_hours": "100",
    "products": ["P-100"],
}


def demand(**change: Any) -> dict[str, Any]:
    """390 units of P-100 needing 156 machine-hours, from supplier-a, at 1250 EUR cents."""
    body = {
        "product": "P-100",
        "quantity": 390,
        "lead_time_days": 5,
        "required_machine_hours": "156",
        "priority_suppliers": ["supplier-a"],
        "aql": {"critical": "0", "major": "2.5", "minor": "4.0"},
        "unit_price": {"amount": 1250, "currency": "EUR"},
    }
    body.update(change)
    return body


async def order_for(harness: Harness, *, state: str = "awaiting_funding", buyer: str = "oem-a") -> str:
    """An order of supplier-a (its escrow id) from a real split, in ``state``.

    States: awaiting_funding, funded, released, refunded.
    """
    supplier = harness.erp("supplier-a")
    if (await supplier.get("/v1/dms/profile")).status_code == 404:
        assert (await supplier.put("/v1/dms/profile", json=ROOMY_PROFILE)).status_code == 200
    created = await harness.erp(buyer).post("/v1/demands", json=demand())
    assert created.status_code == 202, created.text
    await harness.settle()
    split = (await harness.erp(buyer).get(f"/v1/demands/{created.json()['id']}")).json()
    assert split["status"] == "allocated", split
    escrow_id: str = split["allocations"][0]["escrow_id"]
    if state == "awaiting_funding":
        return escrow_id
    paid = await harness.erp(buyer).post(
        f"/v1/escrows/{escrow_id}/deposit",
        json={"amount": 487500, "currency": "EUR", "payment_reference": "PAY"},
    )
    assert paid.status_code == 200, paid.text
    if state == "funded":
        return escrow_id
    if state not in ("released", "refunded"):
        raise ValueError(f"no flow to state {state}")
    major = 5 if state == "released" else 50
    done = await supplier.post(
        f"/v1/orders/{escrow_id}/production-complete",
        json={"produced_quantity": 390, "defects": {"critical": 0, "major": major, "minor": 0}},
    )
    assert done.status_code == 200, done.text
    await harness.settle()
    return escrow_id
