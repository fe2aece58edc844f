"""An ERP reconciles demands and escrows from the OEM node's API alone: the paper's two
scenarios (SPEC §5, §6) and the other ways a demand or an escrow ends, each with its reason,
its links, its history and the network entries behind them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from supplymesh.cli.scenarios import DEMAND_A, PROFILE_A, PROFILE_B
from supplymesh.core.entry import parse_time
from supplymesh.storage.engine import write_transaction
from supplymesh.storage.outbox import enqueue
from supplymesh.web.routes.events import EVENT_TYPES
from supplymesh_oem.demands import SUBMIT_TASK
from supplymesh_oem.tables import demands as oem_demands
from tests.conftest import DatabaseFactory
from tests.flows import order_for
from tests.harness import Harness
from tests.service.test_scenarios import run_scenario_2, setup_split

pytestmark = [pytest.mark.anyio, pytest.mark.db]
TERMINAL_ESCROW = {"released", "refunded", "cancelled"}


async def read(client: httpx.AsyncClient, url: str) -> Any:
    response = await client.get(url)
    assert response.status_code == 200, (url, response.text)
    return response.json()


async def entry_at(client: httpx.AsyncClient, step: dict[str, Any]) -> dict[str, Any]:
    """The network entry a history step names, read back at its ``entry_url``."""
    [item] = await read(client, step["entry_url"])
    entry: dict[str, Any] = {**item["entry"], "hash": item["hash"]}
    assert (entry["seq"], entry["hash"], entry["time"]) == (step["seq"], step["entry_hash"], step["time"])
    return entry


def events_of(history: list[dict[str, Any]]) -> list[str]:
    return [step["event"] for step in history]


def assert_in_order(history: list[dict[str, Any]]) -> None:
    seqs = [step["seq"] for step in history if step["seq"] is not None]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), history
    times = [parse_time(step["time"]) for step in history]
    assert times == sorted(times), history


async def reconcile(harness: Harness, oem: str) -> list[dict[str, Any]]:
    """Every demand of ``oem`` and every escrow reachable from them: terminal ones carry a reason."""
    client = harness.erp(oem)
    demands = await read(client, "/v1/demands")
    escrows = []
    for demand in demands:
        assert (demand["reason"] is None) == (demand["status"] == "pending"), demand
        assert_in_order(demand["history"])
        ids = [a["escrow_id"] for a in demand["allocations"]]
        ids += [o["escrow_id"] for o in demand["reoffers"] if o["escrow_id"]]
        for escrow_id in ids:
            escrow = await read(client, f"/v1/escrows/{escrow_id}")
            assert (escrow["reason"] is not None) == (escrow["state"] in TERMINAL_ESCROW), escrow
            assert escrow["links"]["demand_id"] == demand["id"], escrow
            assert (await read(client, escrow["links"]["demand_url"]))["id"] == demand["id"]
            assert_in_order(escrow["history"])
            escrows.append(escrow)
    return escrows


# --- scenario 1: the split by capacity ----------------------------------------------------------


async def test_scenario_1_split_explains_itself_and_its_escrows_await_their_deadline(
    harness: Harness,
) -> None:
    demand = await setup_split(harness)
    client = harness.erp("oem-a")
    assert demand["status"] == "partially_allocated"
    reason = demand["reason"]
    assert reason["code"] == "insufficient-capacity"
    assert reason["detail"] == (
        "790 of 1000 units allocated, 210 unallocated: the priority suppliers had no more free capacity "
        "within 5 days"
    )
    assert [(s["supplier"], s["code"], s["quantity"]) for s in reason["suppliers"]] == [
        ("supplier-a", "allocated", 390),
        ("supplier-b", "allocated", 400),
    ]
    assert (demand["allocated_quantity"], demand["reoffered_quantity"], demand["reoffers"]) == (790, 0, [])
    assert events_of(demand["history"]) == ["created", "submitted", "decided"]
    submitted, decided = demand["history"][1:]
    assert (await entry_at(client, submitted))["hash"] == demand["network_hash"]
    decision = await entry_at(client, decided)
    assert decision["hash"] == demand["decision_id"] and decision["kind"] == "decision.split"
    window = harness.config.deposit_window_seconds
    for allocation, escrow in zip(demand["allocations"], await reconcile(harness, "oem-a"), strict=True):
        assert escrow["id"] == allocation["escrow_id"] and escrow["state"] == "awaiting_deposit"
        assert events_of(escrow["history"]) == ["created"]
        assert escrow["history"][0]["entry_hash"] == demand["decision_id"]
        assert escrow["created_at"] == decision["time"]
        assert parse_time(escrow["deposit_deadline"]) == parse_time(decision["time"]) + timedelta(
            seconds=window
        )
        assert escrow["deposited_at"] is None
        links = escrow["links"]
        assert (links["demand_hash"], links["order_id"], links["offer_id"]) == (
            demand["network_hash"],
            escrow["id"],
            None,
        )
        order = await read(harness.erp(escrow["supplier"]), f"/v1/orders/{links['order_id']}")
        assert order["quantity"] == allocation["quantity"]


# --- scenario 2: release, refund and re-offer ---------------------------------------------------


async def scenario_2(harness: Harness) -> tuple[dict[str, Any], str, str]:
    """Scenario 2 up to oem-b's released re-offer: (oem-a's demand, oem-b's demand id, oem-b's escrow)."""
    done = await run_scenario_2(harness)
    return done.demand, done.other_id, done.reoffer_escrow


async def test_scenario_2_reconciles_releases_refunds_and_the_reoffer(harness: Harness) -> None:
    demand, _, _ = await scenario_2(harness)
    client = harness.erp("oem-a")
    released, refunded = await reconcile(harness, "oem-a")
    assert (released["state"], released["reason"]["code"]) == ("released", "quality-passed")
    assert released["reason"]["detail"].startswith("quality passed: 4,875.00 EUR released to supplier-a")
    assert (refunded["state"], refunded["reason"]["code"]) == ("refunded", "quality-below-aql")
    assert "5,000.00 EUR refunded to oem-a" in refunded["reason"]["detail"]
    assert "14 major" in refunded["reason"]["detail"]
    for escrow, last in ((released, "released"), (refunded, "refunded")):
        assert events_of(escrow["history"]) == ["created", "deposited", last]
        _, deposited, settled = escrow["history"]
        assert escrow["deposited_at"] == deposited["time"]
        assert parse_time(deposited["time"]) <= parse_time(escrow["deposit_deadline"])
        assert (await entry_at(client, deposited))["kind"] == "escrow.deposited"
        decision = await entry_at(client, settled)
        assert decision["kind"] == f"decision.{'release' if last == 'released' else 'refund'}"
        assert settled["reason"] == decision["body"]["result"]["reason"]
    assert (await read(client, f"/v1/demands/{demand['id']}"))["reoffers"] == []


async def test_scenario_2_oem_b_sees_the_reoffer_it_received_on_its_demand(harness: Harness) -> None:
    demand, other_id, new_escrow = await scenario_2(harness)
    client = harness.erp("oem-b")
    mine = await read(client, f"/v1/demands/{other_id}")
    assert (mine["status"], mine["reason"]["code"]) == ("unallocated", "no-capacity")
    assert "no supplier that makes P-100 had free capacity within 5 days" in mine["reason"]["detail"]
    assert {s["code"] for s in mine["reason"]["suppliers"]} == {"no-capacity"}
    assert mine["allocations"] == [] and mine["allocated_quantity"] == 0
    [reoffer] = mine["reoffers"]
    lot_escrow = demand["allocations"][1]["escrow_id"]
    assert {k: reoffer[k] for k in ("supplier", "quantity", "unit_price", "state", "lot_escrow_id")} == {
        "supplier": "supplier-b",
        "quantity": 400,
        "unit_price": {"amount": 1300, "currency": "EUR"},
        "state": "accepted",
        "lot_escrow_id": lot_escrow,
    }
    assert (reoffer["escrow_id"], reoffer["escrow_state"]) == (new_escrow, "released")
    assert (mine["reoffered_quantity"], mine["unallocated_quantity"]) == (400, 200)
    assert events_of(mine["history"]) == ["created", "submitted", "decided", "reoffer-accepted"]
    assert mine["history"][-1]["time"] == reoffer["accepted_at"]
    assert (await entry_at(client, mine["history"][-1]))["kind"] == "offer.accepted"

    [escrow] = await reconcile(harness, "oem-b")
    assert escrow["id"] == new_escrow and escrow["deposit_deadline"] is None
    assert (escrow["state"], escrow["reason"]["code"], escrow["quantity"]) == (
        "released",
        "offer-accepted",
        400,
    )
    assert events_of(escrow["history"]) == ["created", "deposited", "released"]
    assert escrow["created_at"] == reoffer["accepted_at"]
    links = escrow["links"]
    assert (links["offer_id"], links["lot_escrow_id"], links["demand_id"]) == (
        reoffer["offer_id"],
        lot_escrow,
        other_id,
    )
    offer = await read(client, links["offer_url"])
    assert (offer["state"], offer["escrow_id"], offer["demand_id"]) == ("accepted", new_escrow, other_id)
    assert (await harness.erp("oem-a").get(links["offer_url"])).status_code == 404


async def test_scenario_2_event_feeds_filter_by_type_and_use_only_documented_types(harness: Harness) -> None:
    await scenario_2(harness)
    wanted = ["offer.opened", "escrow.released"]
    response = await harness.erp("oem-b").get(
        "/v1/events", params={"type": wanted, "limit": 1000}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert sorted({e["type"] for e in response.json()}) == sorted(wanted)
    for node in ("oem-a", "oem-b", "supplier-a", "supplier-b", "pdu", "auditor"):
        feed = await read_all_events(harness.erp(node))
        assert {e["type"] for e in feed} <= set(EVENT_TYPES), node


async def read_all_events(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await client.get("/v1/events", params={"limit": 1000}, headers={"Accept": "application/json"})
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()
    return events


# --- the other ends of a demand and of an escrow -------------------------------------------------


async def put_profiles(harness: Harness) -> None:
    for supplier, profile in (("supplier-a", PROFILE_A), ("supplier-b", PROFILE_B)):
        assert (await harness.erp(supplier).put("/v1/dms/profile", json=profile)).status_code == 200


async def test_a_product_no_supplier_makes_is_unallocated_with_the_reason(harness: Harness) -> None:
    await put_profiles(harness)
    created = await harness.erp("oem-a").post("/v1/demands", json={**DEMAND_A, "product": "P-9"})
    await harness.settle()
    demand = await read(harness.erp("oem-a"), created.headers["location"])
    assert demand["status"] == "unallocated"
    assert demand["reason"]["code"] == "not-made"
    assert demand["reason"]["detail"].startswith("no supplier on the priority list makes P-9")
    assert [(s["supplier"], s["code"], s["detail"]) for s in demand["reason"]["suppliers"]] == [
        ("supplier-a", "not-made", "does not make P-9"),
        ("supplier-b", "not-made", "does not make P-9"),
    ]


async def test_a_supplier_that_does_not_answer_is_named_in_the_reason(harness: Harness) -> None:
    await put_profiles(harness)
    harness.app("pdu").state.sequencer.timeout = 0.5
    harness.down("supplier-b")
    created = await harness.erp("oem-a").post("/v1/demands", json={**DEMAND_A, "quantity": 1000})
    await harness.settle()
    demand = await read(harness.erp("oem-a"), created.headers["location"])
    assert (demand["status"], demand["reason"]["code"]) == ("partially_allocated", "insufficient-capacity")
    assert [(s["supplier"], s["code"], s["quantity"]) for s in demand["reason"]["suppliers"]] == [
        ("supplier-a", "allocated", 390),
        ("supplier-b", "unavailable", 0),
    ]
    unavailable = demand["reason"]["suppliers"][1]["detail"]
    assert demand["reason"]["detail"] == (
        f"390 of 1000 units allocated, 610 unallocated: supplier-b: {unavailable}"
    )


async def test_a_demand_without_quorum_fails_with_the_reason(harness: Harness) -> None:
    await put_profiles(harness)
    harness.app("pdu").state.sequencer.timeout = 0.5
    created = await harness.erp("oem-a").post("/v1/demands", json=DEMAND_A)
    await harness.drain()
    harness.down("oem-b")
    harness.down("supplier-b")
    await harness.settle()
    demand = await read(harness.erp("oem-a"), created.headers["location"])
    assert demand["status"] == "failed"
    assert demand["reason"]["code"] == "no-quorum" and demand["reason"]["detail"] == demand["detail"]
    assert events_of(demand["history"]) == ["created", "submitted", "failed"]
    failed = await entry_at(harness.erp("oem-a"), demand["history"][-1])
    assert failed["kind"] == "demand.failed" and failed["body"]["reason"] == demand["detail"]


async def test_a_demand_the_pdu_refuses_fails_with_the_reason(harness: Harness) -> None:
    node = harness.node("oem-a")
    legacy = {**DEMAND_A, "aql": {"critical": "0", "major": "2.5", "minor": "4"}}
    legacy["unit_price"] = {"amount": 2**53 - 1, "currency": "EUR"}  # quantity × price past exact integers
    with write_transaction(node.engine) as conn:
        conn.execute(
            insert(oem_demands).values(
                id="legacy-1", seq=1, terms=json.dumps(legacy), status="pending", created=node.now_text()
            )
        )
        enqueue(
            conn, task=SUBMIT_TASK, key="legacy-1", payload={"demand": "legacy-1"}, now_text=node.now_text()
        )
    await harness.settle()
    demand = await read(harness.erp("oem-a"), "/v1/demands/legacy-1")
    assert (demand["status"], demand["reason"]["code"]) == ("failed", "refused-by-pdu")
    assert demand["reason"]["detail"].startswith("refused by the PDU (HTTP 422)")
    assert events_of(demand["history"]) == ["created"]


@pytest.fixture
async def short_window(tmp_path: Path, database_url_factory: DatabaseFactory) -> AsyncIterator[Harness]:
    net = Harness(tmp_path / "state", database_url_factory, extra={"deposit_window_seconds": 1})
    yield net
    await net.close()


async def test_an_unfunded_escrow_is_cancelled_with_the_reason(short_window: Harness) -> None:
    harness = short_window
    order = await order_for(harness)
    await asyncio.sleep(1.2)  # past the one-second deposit window
    await harness.settle()
    escrow = await read(harness.erp("oem-a"), f"/v1/escrows/{order}")
    assert (escrow["state"], escrow["reason"]["code"]) == ("cancelled", "deposit-window-expired")
    assert events_of(escrow["history"]) == ["created", "cancelled"]
    cancelled = escrow["history"][-1]
    assert parse_time(cancelled["time"]) >= parse_time(escrow["deposit_deadline"])
    assert (await entry_at(harness.erp("oem-a"), cancelled))["kind"] == "decision.cancel"
    demand = await read(harness.erp("oem-a"), escrow["links"]["demand_url"])
    assert demand["allocations"][0]["escrow_id"] == order


# --- Location resolves ---------------------------------------------------------------------------


async def test_every_create_answers_with_a_location_that_resolves(harness: Harness) -> None:
    oem = harness.erp("oem-a")
    created = await oem.post("/v1/demands", json=DEMAND_A)
    assert created.status_code == 202
    assert (await read(oem, created.headers["location"]))["id"] == created.json()["id"]
    supplier = harness.erp("supplier-a")
    sensors = await supplier.post(
        "/v1/dms/sensors",
        json={
            "sensors": [
                {
                    "id": "S-1",
                    "process": "drilling",
                    "target": "10",
                    "tolerance": "0.5",
                    "defect_class": "major",
                    "standard_seconds": "30",
                }
            ]
        },
    )
    assert sensors.status_code == 201, sensors.text
    assert [s["id"] for s in await read(supplier, sensors.headers["location"])] == ["S-1"]
    ledger = "channel:oem-a:supplier-a"
    entry = await oem.post(f"/v1/channels/{ledger}/entries", json={"kind": "message", "body": {"text": "hi"}})
    assert entry.status_code == 201, entry.text
    shown = await read(oem, entry.headers["location"])
    sent = entry.json()["entry"]
    assert (shown["seq"], shown["time"], shown["author"], shown["body"]) == (
        sent["seq"],
        sent["time"],
        "oem-a",
        {"text": "hi"},
    )
    rotated = await oem.post(f"/v1/channels/{ledger}/keys")
    assert rotated.status_code == 201, rotated.text
    assert (await read(oem, rotated.headers["location"]))["kind"] == "channel.key"


async def test_a_queued_channel_entry_points_at_the_channel_entries(harness: Harness) -> None:
    oem = harness.erp("oem-a")
    harness.down("supplier-a")
    ledger = "channel:oem-a:supplier-a"
    queued = await oem.post(
        f"/v1/channels/{ledger}/entries", json={"kind": "message", "body": {"text": "later"}}
    )
    assert queued.status_code == 202, queued.text
    assert queued.headers["location"].endswith(f"/v1/channels/{ledger}/entries")
    assert isinstance(await read(oem, queued.headers["location"]), list)


async def test_a_channel_entry_that_does_not_exist_is_404(harness: Harness) -> None:
    oem = harness.erp("oem-a")
    missing = await oem.get("/v1/channels/channel:oem-a:supplier-a/entries/999")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    outsider = await harness.erp("oem-b").get("/v1/channels/channel:oem-a:supplier-a/entries/1")
    assert outsider.status_code in (403, 404)
    assert (await oem.get("/v1/channels/channel:oem-a:supplier-a/entries/0")).status_code == 422
