"""Production complete with a sample inspection (ISO 2859-1, normal inspection, level II).

The lot of 390 at AQL {critical 0, major 2.5, minor 4.0} falls in 281–500 (code H): the
supplier must inspect 50 units; major Ac 3 / Re 4, minor Ac 5 / Re 6, critical Ac 0 / Re 1.
"""

from __future__ import annotations

from typing import Any

import pytest

from supplymesh.core.actions import PRODUCTION_COMPLETED, Action, sign_action
from supplymesh.core.contracts.network import REFUND, RELEASE
from tests.flows import demand, order_for
from tests.harness import Harness
from tests.service.test_lying_pdu import refuse_quality

pytestmark = [pytest.mark.anyio, pytest.mark.db]

LOT = 390
SAMPLE = 50  # lot 281–500, level II → H → n 50


async def report(harness: Harness, escrow_id: str, **body: Any) -> Any:
    return await harness.erp("supplier-a").post(f"/v1/orders/{escrow_id}/production-complete", json=body)


async def clean_audit(harness: Harness) -> None:
    response = await harness.erp("auditor").post("/v1/audits", json={"mode": "full"})
    assert response.status_code == 200, response.text
    assert response.json()["ok"], response.json()["findings"]


async def decisions(harness: Harness, kind: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (
        await harness.erp("pdu").get("/v1/decisions", params={"kind": kind})
    ).json()
    return found


async def test_a_sample_within_the_acceptance_numbers_releases_the_lot(harness: Harness) -> None:
    escrow_id = await order_for(harness, state="funded")

    done = await report(
        harness,
        escrow_id,
        produced_quantity=LOT,
        sample_size=SAMPLE,
        defects={"critical": 0, "major": 3, "minor": 5},  # at Ac: 3 × 100 > 2.5 × 390 on a full count
    )

    assert done.status_code == 200, done.text
    assert done.json()["quality"]["sample_size"] == SAMPLE
    await harness.settle()
    assert (await harness.erp("oem-a").get(f"/v1/escrows/{escrow_id}")).json()["state"] == "released"
    [release] = await decisions(harness, "decision.release")
    assert release["result"]["sample_size"] == SAMPLE
    assert release["result"]["reason"] == "quality passed"
    await clean_audit(harness)


async def test_a_sample_at_the_rejection_number_refunds_and_reoffers_to_a_matching_plan(
    harness: Harness,
) -> None:
    # oem-b: open demand for P-100, AQL major 4.0 / minor 6.5 → at lot 390 also n 50 (Ac 5, 7).
    other = await harness.erp("oem-b").post(
        "/v1/demands",
        json=demand(priority_suppliers=["supplier-b"], aql={"critical": "0", "major": "4.0", "minor": "6.5"}),
    )
    assert other.status_code == 202, other.text
    escrow_id = await order_for(harness, state="funded")

    done = await report(
        harness,
        escrow_id,
        produced_quantity=LOT,
        sample_size=SAMPLE,
        defects={"critical": 0, "major": 4, "minor": 0},  # major at Re 4
    )

    assert done.status_code == 200, done.text
    await harness.settle()
    assert (await harness.erp("oem-a").get(f"/v1/escrows/{escrow_id}")).json()["state"] == "refunded"
    [refund] = await decisions(harness, "decision.refund")
    assert refund["result"]["sample_size"] == SAMPLE
    assert refund["result"]["reason"] == "quality below the buyer's AQL"
    offers = (await harness.erp("oem-b").get("/v1/offers")).json()
    assert [(o["quantity"], o["defects"]["major"], o["state"]) for o in offers] == [(LOT, 4, "open")]
    await clean_audit(harness)


@pytest.mark.parametrize("sample_size", [32, 80, LOT])
async def test_a_sample_size_other_than_the_plan_is_422(harness: Harness, sample_size: int) -> None:
    escrow_id = await order_for(harness, state="funded")

    refused = await report(
        harness,
        escrow_id,
        produced_quantity=LOT,
        sample_size=sample_size,
        defects={"critical": 0, "major": 0, "minor": 0},
    )

    assert refused.status_code == 422, refused.text
    assert "needs a sample of 50" in refused.text
    assert (await harness.erp("supplier-a").get(f"/v1/orders/{escrow_id}")).json()["state"] == "funded"


async def test_without_sample_size_the_full_count_rule_still_decides(harness: Harness) -> None:
    escrow_id = await order_for(harness, state="funded")

    # 10 major counted on the whole lot: 1000 > 2.5 × 390 = 975 refunds.
    done = await report(
        harness, escrow_id, produced_quantity=LOT, defects={"critical": 0, "major": 10, "minor": 0}
    )

    assert done.status_code == 200, done.text
    assert "sample_size" not in done.json()["quality"]
    await harness.settle()
    assert (await harness.erp("oem-a").get(f"/v1/escrows/{escrow_id}")).json()["state"] == "refunded"
    [refund] = await decisions(harness, "decision.refund")
    assert "sample_size" not in refund["result"]


async def test_the_pdu_refuses_a_signed_report_with_another_sample_size(harness: Harness) -> None:
    escrow_id = await order_for(harness, state="funded")
    node = harness.node("supplier-a")
    action = Action(
        kind=PRODUCTION_COMPLETED,
        party="supplier-a",
        id=f"production-{escrow_id}",
        time=node.now_text(),
        body={
            "escrow": escrow_id,
            "order": escrow_id,
            "produced_quantity": LOT,
            "defects": {"critical": 0, "major": 0, "minor": 0},
            "source": "declared",
            "sample_size": 32,
        },
    )

    response = await node.peers.request(
        "pdu",
        "POST",
        "/peer/v1/actions",
        json={"action": action.statement(), "signature": sign_action(action, node.signer)},
    )

    assert response.status_code == 422, response.text
    assert "needs a sample of 50" in response.text


async def test_partners_refuse_decisions_that_misjudge_a_sampled_lot(harness: Harness) -> None:
    escrow_id = await order_for(harness, state="funded")
    done = await report(
        harness,
        escrow_id,
        produced_quantity=LOT,
        sample_size=SAMPLE,
        defects={"critical": 0, "major": 4, "minor": 0},
    )
    assert done.status_code == 200, done.text
    await harness.drain()  # every replica holds the lot; no decision yet
    release = {"escrow": escrow_id, "amount": 487500, "to": "supplier-a", "reason": "quality passed"}
    refund = {
        "escrow": escrow_id,
        "amount": 487500,
        "to": "oem-a",
        "reason": "quality below the buyer's AQL",
        "offers": [],
    }
    cases = {
        "release at Re": (RELEASE, {**release, "sample_size": SAMPLE}, "the rule gives decision.refund"),
        "refund naming another sample": (
            REFUND,
            {**refund, "sample_size": 80},
            "re-execution gives a different result",
        ),
        "refund without the sample": (REFUND, refund, "re-execution gives a different result"),
    }
    for case, (kind, result, reason) in cases.items():
        await refuse_quality(harness, kind, result, reason, case=case)
    await harness.settle()
    assert (await harness.erp("oem-a").get(f"/v1/escrows/{escrow_id}")).json()["state"] == "refunded"
    await clean_audit(harness)
