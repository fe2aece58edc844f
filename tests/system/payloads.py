"""The supplier profile and the OEM demand the system tests start from (scenario 1's figures)."""

from __future__ import annotations

from typing import Any

PROFILE: dict[str, Any] = {
    "machines": 4,
    "hours_per_day": "16",
    "baseline_efficiency": "0.8",
    "queued_machine_hours": "100",
    "products": ["P-100"],
}
DEMAND: dict[str, Any] = {
    "product": "P-100",
    "quantity": 100,
    "lead_time_days": 5,
    "required_machine_hours": "40",
    "priority_suppliers": ["supplier-a", "supplier-b"],
    "aql": {"critical": "0", "major": "2.5", "minor": "4"},
    "unit_price": {"amount": 1000, "currency": "EUR"},
}
