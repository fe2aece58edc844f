"""Every creating ERP route survives a crash between its commit and its stored answer.

The process dies where the Idempotency-Key response would be stored after the handler
(``Idempotency._store`` fails); the node restarts on the same database and the ERP
client retries with the same key. It gets the original answer (stored in the handler's
own transaction, or re-derived by a rerunnable handler from the effect that stands),
never 409 ``idempotency-response-lost``, and the effect happened exactly once.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from supplymesh.storage.engine import read_transaction, write_transaction
from supplymesh.storage.tables import idempotency_records, ledger_entries
from supplymesh.web.idempotency import COMMITTED, Idempotency, request_fingerprint
from supplymesh_supplier.tables import dms_readings, dms_sensors
from tests.flows import order_for
from tests.harness import Harness
from tests.service.test_scenarios import DEMAND_B, setup_split
from tests.service.test_supplier_dms import reading, sensor

pytestmark = [pytest.mark.anyio, pytest.mark.db]


class _Crash(Exception):
    """The process dies here."""


async def crash_after_commit(
    harness: Harness, node: str, path: str, body: dict[str, Any], key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """POST with ``key`` on ``node``; the process dies before the response is stored; restart."""

    def crash(*_args: object) -> None:
        raise _Crash

    client = harness.erp(node)
    with monkeypatch.context() as patch:
        patch.setattr(Idempotency, "_store", crash)
        with pytest.raises(_Crash):
            await client.post(path, json=body, headers={"Idempotency-Key": key})
    await harness.restart(node)


async def retry(harness: Harness, node: str, path: str, body: dict[str, Any], key: str) -> httpx.Response:
    return await harness.erp(node).post(path, json=body, headers={"Idempotency-Key": key})


def count(harness: Harness, node: str, table: Any, *where: Any) -> int:
    with read_transaction(harness.node(node).engine) as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


async def test_sensor_registration_answer_survives_the_crash(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {"sensors": [sensor("s-1"), sensor("s-2")]}
    await crash_after_commit(harness, "supplier-a", "/v1/dms/sensors", body, "k-sensors", monkeypatch)
    again = await retry(harness, "supplier-a", "/v1/dms/sensors", body, "k-sensors")
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == {"registered": 2, "unchanged": 0}
    assert count(harness, "supplier-a", dms_sensors) == 2


async def test_readings_answer_survives_the_crash_and_nothing_is_stored_twice(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = harness.erp("supplier-a")
    assert (await client.post("/v1/dms/sensors", json={"sensors": [sensor("s-1")]})).status_code == 201
    readings = [reading("s-1", "0.3", unit="u-1"), reading("s-1", "0.9", unit="u-2"), reading("nope")]
    body = {"readings": readings}
    await crash_after_commit(harness, "supplier-a", "/v1/dms/readings", body, "k-readings", monkeypatch)
    again = await retry(harness, "supplier-a", "/v1/dms/readings", body, "k-readings")
    assert again.status_code == 200, again.text
    assert again.headers["idempotent-replayed"] == "true"
    answer = again.json()
    assert (answer["accepted"], answer["approved"], answer["issues"]) == (2, 1, 1)
    assert [r["sensor_id"] for r in answer["rejected"]] == ["nope"]
    assert count(harness, "supplier-a", dms_readings) == 2


async def test_deposit_reruns_after_the_crash_and_answers_from_the_deposit_that_stands(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    escrow = await order_for(harness)
    path = f"/v1/escrows/{escrow}/deposit"
    body = {"amount": 487500, "currency": "EUR", "payment_reference": "PAY-CRASH"}
    await crash_after_commit(harness, "oem-a", path, body, "k-deposit", monkeypatch)
    again = await retry(harness, "oem-a", path, body, "k-deposit")
    assert again.status_code == 200, again.text
    assert again.json()["state"] == "funded" and again.json()["id"] == escrow
    replayed = await retry(harness, "oem-a", path, body, "k-deposit")
    assert replayed.json() == again.json() and replayed.headers["idempotent-replayed"] == "true"
    # One deposit on the network ledger; another key is still refused (the escrow is funded).
    state = harness.app("pdu").state.replica.state
    deposits = count(harness, "pdu", ledger_entries, ledger_entries.c.kind == "escrow.deposited")
    assert deposits == 1 and state.escrows[escrow].state == "funded"
    other = await retry(harness, "oem-a", path, body, "k-deposit-2")
    assert other.status_code == 409


async def test_a_rerun_with_a_different_reference_does_not_pass_for_the_deposit_that_stands(
    harness: Harness,
) -> None:
    escrow = await order_for(harness, state="funded")  # funded with reference "PAY"
    path = f"/v1/escrows/{escrow}/deposit"
    body = {"amount": 487500, "currency": "EUR", "payment_reference": "ANOTHER"}
    with write_transaction(harness.node("oem-a").engine) as conn:  # a committed run that lost its answer
        conn.execute(
            idempotency_records.insert().values(
                client="erp",
                key="k-other-ref",
                method="POST",
                path=path,
                request_hash=request_fingerprint("POST", path, json.dumps(body).encode()),
                status=COMMITTED,
                response="a-previous-start:attempt",
                created="2026-01-01T00:00:00.000000Z",
            )
        )
    refused = await retry(harness, "oem-a", path, body, "k-other-ref")
    assert refused.status_code == 409, refused.text
    assert "does not await a deposit" in refused.json()["detail"]


async def test_offer_acceptance_reruns_after_the_crash_and_answers_with_its_escrow(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    demand = await setup_split(harness)
    assert (await harness.erp("oem-b").post("/v1/demands", json=DEMAND_B)).status_code == 202
    await harness.settle()
    escrow_b = demand["allocations"][1]["escrow_id"]
    paid = await harness.erp("oem-a").post(
        f"/v1/escrows/{escrow_b}/deposit",
        json={"amount": 500000, "currency": "EUR", "payment_reference": "P"},
    )
    assert paid.status_code == 200, paid.text
    failed = await harness.erp("supplier-b").post(
        f"/v1/orders/{escrow_b}/production-complete",
        json={"produced_quantity": 400, "defects": {"critical": 0, "major": 14, "minor": 0}},
    )
    assert failed.status_code == 200, failed.text
    await harness.settle()
    offer = (await harness.erp("oem-b").get("/v1/offers")).json()[0]["id"]
    path = f"/v1/offers/{offer}/accept"
    await crash_after_commit(harness, "oem-b", path, {}, "k-accept", monkeypatch)
    again = await retry(harness, "oem-b", path, {}, "k-accept")
    assert again.status_code == 200, again.text
    escrow = again.json()["escrow_id"]
    assert (await harness.erp("oem-b").get(f"/v1/escrows/{escrow}")).json()["amount"] == 400 * 1300
    assert count(harness, "pdu", ledger_entries, ledger_entries.c.kind == "offer.accepted") == 1
    assert (await retry(harness, "oem-b", path, {}, "k-accept-2")).status_code == 409


@pytest.mark.parametrize("author", ["oem-a", "supplier-a"])
async def test_channel_entry_answer_survives_the_crash(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, author: str
) -> None:
    harness.start_all()
    ledger = "channel:oem-a:supplier-a"
    path = f"/v1/channels/{ledger}/entries"
    kind = "terms" if author == "oem-a" else "message"
    body = {"kind": kind, "body": {"text": "crash test"}}
    mine = (ledger_entries.c.ledger == ledger, ledger_entries.c.kind == kind)
    await crash_after_commit(harness, author, path, body, "k-entry", monkeypatch)
    again = await retry(harness, author, path, body, "k-entry")
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["entry"]["kind"] == kind
    assert count(harness, author, ledger_entries, *mine) == 1
