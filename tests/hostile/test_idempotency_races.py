"""Idempotency-Key races on the real creating routes: the same key sent in parallel.

``tests/service/test_idempotency.py`` proves the mechanism on a route of its own, with
the first request held at a gate. Here the node's own routes get bursts of parallel
requests as an impatient or buggy ERP client sends them: one effect, whatever the
interleaving; every answer is that effect's answer or a 409 "still running" (never a
5xx, never a second id). Raced with different keys, a deposit is still taken once and
a production report recorded once: the others are 409, as they are one after another.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from supplymesh.core.contracts.channel import QUALITY_KIND
from supplymesh.storage.engine import read_transaction
from supplymesh.storage.tables import ledger_entries
from tests.flows import demand, order_for
from tests.harness import Harness

pytestmark = [pytest.mark.anyio, pytest.mark.db]
BURST = 8
CHANNEL = "channel:oem-a:supplier-a"


async def _burst(
    client: httpx.AsyncClient, path: str, bodies: list[Any], keys: list[str]
) -> list[httpx.Response]:
    return await asyncio.gather(
        *(
            client.post(path, json=body, headers={"Idempotency-Key": key})
            for body, key in zip(bodies, keys, strict=True)
        )
    )


def _network_count(harness: Harness, kind: str) -> int:
    with read_transaction(harness.node("pdu").engine) as conn:
        query = select(func.count()).select_from(ledger_entries).where(ledger_entries.c.kind == kind)
        return int(conn.execute(query).scalar_one())


async def test_a_demand_posted_in_parallel_with_one_key_is_created_once(harness: Harness) -> None:
    harness.start_all()
    client = harness.erp("oem-a")
    answers = await _burst(client, "/v1/demands", [demand()] * BURST, ["k-demand"] * BURST)
    assert {a.status_code for a in answers} <= {202, 409}, [a.text for a in answers]
    created = {a.json()["id"] for a in answers if a.status_code == 202}
    assert len(created) == 1
    retry = await client.post("/v1/demands", json=demand(), headers={"Idempotency-Key": "k-demand"})
    assert retry.status_code == 202 and retry.json()["id"] in created
    assert retry.headers["idempotent-replayed"] == "true"
    assert [d["id"] for d in (await client.get("/v1/demands")).json()] == list(created)
    await harness.settle()
    assert _network_count(harness, "demand.submitted") == 1


async def test_different_bodies_raced_under_one_key_make_one_demand(harness: Harness) -> None:
    harness.start_all()
    client = harness.erp("oem-a")
    bodies = [demand(quantity=100 + i) for i in range(BURST)]
    answers = await _burst(client, "/v1/demands", bodies, ["k-mixed"] * BURST)
    assert {a.status_code for a in answers} <= {202, 409, 422}, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers if a.status_code == 202}) == 1
    assert len((await client.get("/v1/demands")).json()) == 1


def _channel_count(harness: Harness, node_id: str, kind: str) -> int:
    with read_transaction(harness.node(node_id).engine) as conn:
        query = (
            select(func.count())
            .select_from(ledger_entries)
            .where(ledger_entries.c.ledger == CHANNEL, ledger_entries.c.kind == kind)
        )
        return int(conn.execute(query).scalar_one())


@pytest.mark.parametrize("same_key", [True, False])
async def test_a_deposit_raced_in_parallel_pays_the_escrow_once(harness: Harness, same_key: bool) -> None:
    escrow = await order_for(harness, state="awaiting_funding")
    client = harness.erp("oem-a")
    if same_key:  # a retry storm: one request, sent eight times at once
        bodies = [{"amount": 487500, "currency": "EUR", "payment_reference": "PAY-RACE"}] * BURST
        keys = ["k-pay"] * BURST
    else:  # eight payments of one escrow, each with its own key and reference
        bodies = [
            {"amount": 487500, "currency": "EUR", "payment_reference": f"PAY-{i}"} for i in range(BURST)
        ]
        keys = [f"k-pay-{i}" for i in range(BURST)]
    answers = await _burst(client, f"/v1/escrows/{escrow}/deposit", bodies, keys)
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {200, 409}, [a.text for a in answers]
    if not same_key:  # one is taken; the others are told it is funded already
        assert statuses.count(200) == 1, [a.text for a in answers]
    await harness.settle()
    assert (await client.get(f"/v1/escrows/{escrow}")).json()["state"] == "funded"
    assert _network_count(harness, "escrow.deposited") == 1
    assert _channel_count(harness, "oem-a", "escrow.event") == 1  # one sealed payment reference


async def test_production_reports_raced_on_one_order_record_one_quality(harness: Harness) -> None:
    order = await order_for(harness, state="funded")
    client = harness.erp("supplier-a")
    bodies = [
        {"produced_quantity": 390, "defects": {"critical": 0, "major": major, "minor": 0}}
        for major in range(BURST)
    ]
    answers = await _burst(
        client, f"/v1/orders/{order}/production-complete", bodies, [f"k-{i}" for i in range(BURST)]
    )
    statuses = [a.status_code for a in answers]
    assert sorted(statuses) == [200] + [409] * (BURST - 1), [a.text for a in answers]
    reported = next(a.json()["quality"] for a in answers if a.status_code == 200)
    await harness.settle()
    assert _channel_count(harness, "supplier-a", QUALITY_KIND) == 1
    assert _network_count(harness, "production.completed") == 1
    assert (await client.get(f"/v1/orders/{order}")).json()["state"] != "funded"
    assert reported["defects"]["major"] in range(BURST)
