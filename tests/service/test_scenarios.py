"""The paper's two scenarios (SPEC §5 and §6 worked examples), through the ERP APIs of
six in-process nodes, with real signatures, quorum certificates and replication."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from supplymesh.cli.scenarios import DEMAND_A, PROFILE_A, PROFILE_B
from supplymesh.core.contracts.network import NetworkState
from tests.harness import Harness

pytestmark = [pytest.mark.anyio, pytest.mark.db]

DEMAND_B = {
    **DEMAND_A,
    "quantity": 600,
    "aql": {"critical": "0", "major": "4.0", "minor": "6.5"},
    "unit_price": {"amount": 1300, "currency": "EUR"},
}


async def event_types(harness: Harness, node: str) -> set[str]:
    events = await harness.erp(node).get(
        "/v1/events", params={"limit": 1000}, headers={"Accept": "application/json"}
    )
    return {e["type"] for e in events.json()}


async def setup_split(harness: Harness) -> dict[str, Any]:
    for supplier, profile in (("supplier-a", PROFILE_A), ("supplier-b", PROFILE_B)):
        assert (await harness.erp(supplier).put("/v1/dms/profile", json=profile)).status_code == 200
    created = await harness.erp("oem-a").post("/v1/demands", json=DEMAND_A)
    assert created.status_code == 202, created.text
    await harness.settle()
    demand: dict[str, Any] = (await harness.erp("oem-a").get(f"/v1/demands/{created.json()['id']}")).json()
    return demand


@dataclass(frozen=True)
class Scenario2:
    """What scenario 2 (SPEC §6) leaves behind, by id."""

    demand: dict[str, Any]  # oem-a's demand as its ERP showed it after the split
    other_id: str  # oem-b's demand of 600, left unallocated
    released: str  # supplier-a's escrow: quality passed, released
    refunded: str  # supplier-b's escrow: quality failed, refunded, lot re-offered
    offer: str  # the re-offer of supplier-b's lot that oem-b accepted
    reoffer_escrow: str  # oem-b's escrow opened by that acceptance, deposited and released


async def run_scenario_2(harness: Harness) -> Scenario2:
    """Scenario 2 through the ERP APIs: split, deposits, a release, a refund, an accepted re-offer."""
    demand = await setup_split(harness)
    other = await harness.erp("oem-b").post("/v1/demands", json=DEMAND_B)
    await harness.settle()
    released, refunded = (a["escrow_id"] for a in demand["allocations"])
    for escrow_id, amount in ((released, 487500), (refunded, 500000)):
        paid = await harness.erp("oem-a").post(
            f"/v1/escrows/{escrow_id}/deposit",
            json={"amount": amount, "currency": "EUR", "payment_reference": f"PAY-{amount}"},
        )
        assert paid.status_code == 200, paid.text
    lots = (("supplier-a", released, 390, 5), ("supplier-b", refunded, 400, 14))
    for supplier, escrow_id, produced, major in lots:
        done = await harness.erp(supplier).post(
            f"/v1/orders/{escrow_id}/production-complete",
            json={"produced_quantity": produced, "defects": {"critical": 0, "major": major, "minor": 10}},
        )
        assert done.status_code == 200, done.text
    await harness.settle()
    [offer] = (await harness.erp("oem-b").get("/v1/offers")).json()
    accepted = await harness.erp("oem-b").post(f"/v1/offers/{offer['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    new_escrow: str = accepted.json()["escrow_id"]
    paid = await harness.erp("oem-b").post(
        f"/v1/escrows/{new_escrow}/deposit",
        json={"amount": 520000, "currency": "EUR", "payment_reference": "B-1"},
    )
    assert paid.status_code == 200, paid.text
    await harness.settle()
    return Scenario2(demand, other.json()["id"], released, refunded, offer["id"], new_escrow)


async def test_scenario_1_split_by_capacity(harness: Harness) -> None:
    demand = await setup_split(harness)
    assert demand["status"] == "partially_allocated"
    assert demand["unallocated_quantity"] == 210
    assert [
        (a["supplier"], a["quantity"], a["machine_hours"], a["escrow_amount"]) for a in demand["allocations"]
    ] == [
        ("supplier-a", 390, "156", 487500),
        ("supplier-b", 400, "160", 500000),
    ]
    decisions = (await harness.erp("pdu").get("/v1/decisions", params={"kind": "decision.split"})).json()
    assert len(decisions) == 1 and decisions[0]["id"] == demand["decision_id"]
    assert len({s["signer"] for s in decisions[0]["certificate"]}) >= 3
    orders = (await harness.erp("supplier-a").get("/v1/orders")).json()
    assert [(o["quantity"], o["state"], o["escrow_id"]) for o in orders] == [
        (390, "awaiting_funding", demand["allocations"][0]["escrow_id"])
    ]
    capacity = (await harness.erp("supplier-a").get("/v1/capacity")).json()
    assert capacity["open_network_hours"] == "156"
    escrow = (await harness.erp("oem-a").get(f"/v1/escrows/{demand['allocations'][1]['escrow_id']}")).json()
    assert {k: escrow[k] for k in ("id", "state", "amount", "currency", "buyer", "supplier")} == {
        "id": demand["allocations"][1]["escrow_id"],
        "state": "awaiting_deposit",
        "amount": 500000,
        "currency": "EUR",
        "buyer": "oem-a",
        "supplier": "supplier-b",
    }
    heads = {
        n: (await harness.erp(n).get("/v1/ledgers/network/head")).json()["root_hash"]
        for n in ("pdu", "oem-a", "oem-b", "supplier-a", "supplier-b")
    }
    assert len(set(heads.values())) == 1, heads


async def test_scenario_2_release_refund_and_reoffer(harness: Harness) -> None:
    demand = await setup_split(harness)
    other = await harness.erp("oem-b").post("/v1/demands", json=DEMAND_B)
    await harness.settle()
    assert (await harness.erp("oem-b").get(f"/v1/demands/{other.json()['id']}")).json()[
        "status"
    ] == "unallocated"
    escrow_a, escrow_b = (a["escrow_id"] for a in demand["allocations"])
    oem = harness.erp("oem-a")
    for escrow_id, amount in ((escrow_a, 487500), (escrow_b, 500000)):
        paid = await oem.post(
            f"/v1/escrows/{escrow_id}/deposit",
            json={"amount": amount, "currency": "EUR", "payment_reference": f"PAY-{amount}"},
        )
        assert paid.status_code == 200 and paid.json()["state"] == "funded", paid.text
    done = await harness.erp("supplier-a").post(
        f"/v1/orders/{escrow_a}/production-complete",
        json={"produced_quantity": 390, "defects": {"critical": 0, "major": 5, "minor": 10}},
    )
    assert done.status_code == 200, done.text
    failed = await harness.erp("supplier-b").post(
        f"/v1/orders/{escrow_b}/production-complete",
        json={"produced_quantity": 400, "defects": {"critical": 0, "major": 14, "minor": 0}},
    )
    assert failed.status_code == 200, failed.text
    await harness.settle()
    assert (await oem.get(f"/v1/escrows/{escrow_a}")).json()["state"] == "released"
    assert (await oem.get(f"/v1/escrows/{escrow_b}")).json()["state"] == "refunded"
    offers = (await harness.erp("oem-b").get("/v1/offers")).json()
    assert [
        (o["quantity"], o["defects"]["major"], o["state"], o["unit_price"]["amount"]) for o in offers
    ] == [(400, 14, "open", 1300)]
    assert (await oem.get("/v1/offers")).json() == []
    accepted = await harness.erp("oem-b").post(f"/v1/offers/{offers[0]['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    new_escrow = accepted.json()["escrow_id"]
    assert (await harness.erp("oem-b").get(f"/v1/escrows/{new_escrow}")).json()["amount"] == 400 * 1300
    paid = await harness.erp("oem-b").post(
        f"/v1/escrows/{new_escrow}/deposit",
        json={"amount": 520000, "currency": "EUR", "payment_reference": "B-1"},
    )
    assert paid.status_code == 200, paid.text
    await harness.settle()
    assert (await harness.erp("oem-b").get(f"/v1/escrows/{new_escrow}")).json()["state"] == "released"
    remaining = (await harness.erp("oem-b").get(f"/v1/demands/{other.json()['id']}")).json()
    assert remaining["unallocated_quantity"] == 200
    state: NetworkState = harness.app("pdu").state.replica.state
    assert [e.state for e in state.escrows.values()].count("released") == 2
    assert await event_types(harness, "oem-a") >= {
        "demand.decided",
        "escrow.funded",
        "escrow.released",
        "escrow.refunded",
    }
    assert await event_types(harness, "oem-b") >= {
        "demand.decided",
        "offer.opened",
        "offer.accepted",
        "escrow.opened",
        "escrow.funded",
        "escrow.released",
    }
    assert await event_types(harness, "supplier-a") >= {"order.allocated", "escrow.funded", "escrow.released"}
    supplier_b = await event_types(harness, "supplier-b")
    assert {"order.allocated", "escrow.refunded", "escrow.opened", "escrow.released"} <= supplier_b
    assert "offer.opened" not in await event_types(harness, "oem-a")
    await harness.settle()
    report = (await harness.erp("auditor").post("/v1/audits", json={"mode": "full"})).json()
    assert report["ok"], report["findings"]
    kinds = [d["kind"] for d in (await harness.erp("pdu").get("/v1/decisions")).json()]
    assert kinds.count("decision.release") == 2 and kinds.count("decision.refund") == 1
