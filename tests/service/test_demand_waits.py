"""The auditor reports how long each demand waited for its decision (SPEC §2 known limit)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from supplymesh.cli.scenarios import DEMAND_B
from tests.harness import Harness
from tests.service.test_scenarios import setup_split

pytestmark = [pytest.mark.anyio, pytest.mark.db]


def _seconds(a: str, b: str) -> int:
    parse = datetime.fromisoformat
    return int((parse(b.replace("Z", "+00:00")) - parse(a.replace("Z", "+00:00"))).total_seconds())


async def _audit(harness: Harness) -> dict[str, Any]:
    response = await harness.erp("auditor").post("/v1/audits", json={"mode": "full"})
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


async def test_each_demand_shows_its_submission_decision_and_wait(harness: Harness) -> None:
    demand = await setup_split(harness)
    # a second demand reaches the network ledger but the PDU has not decided it yet
    created = await harness.erp("oem-b").post("/v1/demands", json=DEMAND_B)
    assert created.status_code == 202
    await harness.drain()

    report = await _audit(harness)
    assert report["ok"], report["findings"]
    waits = report["demand_waits"]
    assert [(w["buyer"], w["outcome"]) for w in waits] == [("oem-a", "split"), ("oem-b", None)]
    decided, pending = waits
    assert decided["demand_id"] == demand["id"]
    assert decided["decided_seq"] > decided["submitted_seq"]
    assert decided["seconds"] == _seconds(decided["submitted"], decided["decided"]) >= 0
    assert decided["time_checked"] and pending["time_checked"]  # honest times pass the time checks
    assert pending["demand_id"] == created.json()["id"]
    assert pending["decided"] is None and pending["seconds"] is None

    network = (await harness.erp("pdu").get("/v1/ledgers/network/entries", params={"limit": 100})).json()
    by_seq = {item["entry"]["seq"]: item for item in network}
    assert by_seq[decided["submitted_seq"]]["entry"]["kind"] == "demand.submitted"
    assert by_seq[decided["decided_seq"]]["hash"] == demand["decision_id"]
    assert by_seq[decided["decided_seq"]]["entry"]["time"] == decided["decided"]
