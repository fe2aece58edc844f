"""Escrows not funded within the deposit window are cancelled by quorum and free their hours."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import DatabaseFactory
from tests.flows import order_for
from tests.harness import Harness

pytestmark = [pytest.mark.anyio, pytest.mark.db]


@pytest.fixture
async def short_window(tmp_path: Path, database_url_factory: DatabaseFactory) -> AsyncIterator[Harness]:
    net = Harness(tmp_path / "state", database_url_factory, extra={"deposit_window_seconds": 1})
    yield net
    await net.close()


async def test_unfunded_allocation_is_cancelled_after_the_window(short_window: Harness) -> None:
    harness = short_window
    order = await order_for(harness)
    supplier = harness.erp("supplier-a")
    assert (await supplier.get("/v1/capacity")).json()["open_network_hours"] == "156"
    await harness.settle()
    assert (await harness.erp("oem-a").get(f"/v1/escrows/{order}")).json()["state"] == "awaiting_deposit"
    await asyncio.sleep(1.2)
    await harness.settle()
    assert (await harness.erp("oem-a").get(f"/v1/escrows/{order}")).json()["state"] == "cancelled"
    assert (await supplier.get(f"/v1/orders/{order}")).json()["state"] == "cancelled"
    assert (await supplier.get("/v1/capacity")).json()["open_network_hours"] == "0"
    decisions = (await harness.erp("pdu").get("/v1/decisions", params={"kind": "decision.cancel"})).json()
    assert len(decisions) == 1 and len(decisions[0]["certificate"]) >= 3
    late = await harness.erp("oem-a").post(
        f"/v1/escrows/{order}/deposit",
        json={"amount": 487500, "currency": "EUR", "payment_reference": "late"},
    )
    assert late.status_code == 409


async def test_funded_allocation_is_never_cancelled(short_window: Harness) -> None:
    harness = short_window
    order = await order_for(harness, state="funded")
    await asyncio.sleep(1.2)
    await harness.settle()
    assert (await harness.erp("oem-a").get(f"/v1/escrows/{order}")).json()["state"] == "funded"
    assert (await harness.erp("pdu").get("/v1/decisions", params={"kind": "decision.cancel"})).json() == []


async def test_partners_refuse_a_cancellation_before_the_window(harness: Harness) -> None:
    order = await order_for(harness)
    await harness.app("pdu").state.sequencer.decide_cancel(order)  # not overdue: nothing is proposed
    await harness.settle()
    assert (await harness.erp("oem-a").get(f"/v1/escrows/{order}")).json()["state"] == "awaiting_deposit"
