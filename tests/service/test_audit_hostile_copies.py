"""The audit survives its sources: a holder that serves a longer, forged or malformed copy,
or answers reads with the wrong shapes, gets a finding naming it; the honest holders are
judged against what verifies; ``POST /v1/audits`` and scheduled audits always report.
And SPEC §8: declared lot quality is checked against the DMS where readings exist."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from supplymesh.config import channel_ledger
from supplymesh.core.entry import Entry, SealedEntry, sign_entry
from supplymesh.node.keys import KEY_FILE, load_key_file
from supplymesh_auditor import audits, schedule
from supplymesh_auditor import reports as auditor_reports
from tests.harness import Harness
from tests.service.test_audit import audit, rules_at
from tests.service.test_scenarios import setup_split

pytestmark = [pytest.mark.anyio, pytest.mark.db]
CHANNEL = channel_ledger("oem-a", "supplier-a")


def holders_named(report: dict[str, Any]) -> set[str]:
    return {f["detail"].split(": ", 1)[0] for f in report["findings"] if ": " in f["detail"]}


def network_head(engine: Engine) -> tuple[int, str]:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT seq, hash FROM ledger_entries WHERE ledger = 'network' ORDER BY seq DESC LIMIT 1")
        ).one()
    return int(row.seq), str(row.hash)


def insert_network_row(
    engine: Engine, seq: int, entry: str, signatures: str, entry_hash: str = "0" * 64
) -> None:
    """An insider adds a row to its own node's copy of the network ledger."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO ledger_entries (ledger, seq, hash, prev, kind, author, time, entry, signatures, "
                "leaf_hash) VALUES ('network', :seq, :hash, :prev, 'decision.split', 'pdu', "
                "'2026-01-01T00:00:00Z', :entry, :signatures, :leaf)"
            ),
            {"seq": seq, "hash": entry_hash, "prev": "0" * 64, "entry": entry, "signatures": signatures,
             "leaf": "0" * 64},
        )  # fmt: skip


MALFORMED_ROWS = {
    "an entry that is a list": ("[1, 2, 3]", "[]"),
    "seq as text": ('{"ledger": "network", "seq": "x", "body": []}', "[]"),
    "signatures as an object": ('{"ledger": "network"}', '{"signer": 1}'),
    "huge numbers": ('{"seq": 123456789012345678901234567890, "body": {"amount": -1e300}}', "null"),
}


@pytest.mark.parametrize("row", MALFORMED_ROWS.values(), ids=MALFORMED_ROWS.keys())
async def test_audit_reports_a_longer_copy_with_a_malformed_entry_against_its_holder(
    harness: Harness, row: tuple[str, str]
) -> None:
    await setup_split(harness)
    engine = harness.node("supplier-a").engine
    size, _ = network_head(engine)
    insert_network_row(engine, size + 1, *row)
    report = await audit(harness)  # 200 with a report (this used to answer 500)
    assert not report["ok"]
    assert holders_named(report) == {"supplier-a"}
    assert {f["seq"] for f in report["findings"] if f["ledger"] == "network"} == {size + 1}
    assert not any(f["rule"] == "replicas_diverge" for f in report["findings"])
    assert [w["outcome"] for w in report["demand_waits"]] == ["split"]


async def test_forged_longer_copy_does_not_become_the_reference(harness: Harness) -> None:
    """supplier-a appends a well-formed second split of its own making and signs it."""
    await setup_split(harness)
    engine = harness.node("supplier-a").engine
    size, head = network_head(engine)
    with engine.connect() as conn:
        query = text("SELECT entry FROM ledger_entries WHERE ledger = 'network' AND seq = :q")
        last = json.loads(conn.execute(query, {"q": size}).scalar_one())
    value = {**last, "seq": size + 1, "prev": head, "time": "2030-01-01T00:00:00Z"}
    entry = Entry.from_json(value)
    signer = load_key_file(harness.state_dir / "supplier-a" / KEY_FILE)
    sealed = SealedEntry(entry, (sign_entry(entry, signer_id="supplier-a", signer=signer),))
    insert_network_row(
        engine, size + 1, entry.canonical.decode(), json.dumps(sealed.signatures_json()), entry.hash
    )
    report = await audit(harness)
    found = rules_at(report)
    assert ("network", size + 1, "missing_signature") in found  # the PDU never signed it
    assert ("network", size + 1, "quorum_certificate") in found
    assert holders_named(report) == {"supplier-a"}
    assert not any(rule in ("reexecution", "replicas_diverge") for _, _, rule in found)


class Garbling(httpx.AsyncBaseTransport):
    """A holder whose HTTP answers to some reads are not what the peer API serves."""

    def __init__(self, inner: httpx.AsyncBaseTransport, answers: dict[str, Any]) -> None:
        self.inner = inner
        self.answers = answers

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path in self.answers:
            answer = self.answers[path]
            if isinstance(answer, bytes):
                return httpx.Response(200, content=answer, headers={"content-type": "application/json"})
            return httpx.Response(200, json=answer)
        return await self.inner.handle_async_request(request)


def garble(harness: Harness, holder: str, answers: dict[str, Any]) -> None:
    harness.app(holder)
    url = harness.config.member(holder).url
    harness.mounts[url] = Garbling(harness.mounts[url], answers)


GARBLED = {
    "a ledger list that is an object": {"/peer/v1/ledgers": {"ledger": "network"}},
    "a ledger name that is not a name": {"/peer/v1/ledgers": [{"ledger": "../../etc"}]},
    "entries that are an object": {"/peer/v1/ledgers/network/entries": {"items": []}},
    "a head that is a list": {"/peer/v1/ledgers/network/head": [1]},
    "not JSON at all": {"/peer/v1/ledgers/network/entries": b"{not json"},
    "entries nested past any limit": {"/peer/v1/ledgers/network/entries": b"[" * 100_000 + b"]" * 100_000},
}


@pytest.mark.parametrize("answers", GARBLED.values(), ids=GARBLED.keys())
async def test_holder_answering_reads_with_the_wrong_shapes_still_gets_a_report(
    harness: Harness, answers: dict[str, Any]
) -> None:
    await setup_split(harness)
    garble(harness, "oem-b", answers)
    report = await audit(harness)
    assert not report["ok"]
    assert holders_named(report) == {"oem-b"}
    other = {(r["holder"], r["ledger"]) for r in report["ledgers"]}
    assert ("pdu", "network") in other and ("supplier-a", CHANNEL) in other


async def test_scheduled_audits_report_a_hostile_holder_instead_of_failing(harness: Harness) -> None:
    await setup_split(harness)
    garble(harness, "supplier-b", {"/peer/v1/ledgers/network/entries": b"[" * 100_000})
    node = harness.node("auditor")
    stop = asyncio.Event()
    auditor = harness.app("auditor").state.auditor
    task = asyncio.create_task(schedule.run_forever(auditor, 0.01, full_every=2, stop=stop))
    try:
        for _ in range(500):
            if len(auditor_reports.history(node, after=0, limit=10)) >= 2:
                break
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await task
    reports = auditor_reports.history(node, after=0, limit=2)
    assert [r["mode"] for r in reports] == ["incremental", "full"]
    latest = auditor_reports.latest(node)
    assert latest is not None and holders_named(latest) == {"supplier-b"}


async def test_audit_that_cannot_complete_still_answers_with_a_report(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await setup_split(harness)

    def broken(*_args: Any) -> Any:
        raise RuntimeError("the auditor's own database is gone")

    monkeypatch.setattr(audits, "load_stored", broken)
    response = await harness.erp("auditor").post("/v1/audits", json={"mode": "full"})
    assert response.status_code == 200, response.text
    report = response.json()
    assert [f["rule"] for f in report["findings"]] == ["audit.failed"]
    assert report["ok"] is False and report["id"] is not None


# -- SPEC §8: declared lot quality against the DMS -------------------------------------------


SENSORS = [
    {
        "id": f"s-{cls}",
        "process": "drill",
        "target": "0.3",
        "tolerance": "0.1",
        "defect_class": cls,
        "standard_seconds": "60",
    }
    for cls in ("major", "minor")
]


async def record_production(harness: Harness, order: str, declared: dict[str, int]) -> None:
    """390 units measured for ``order`` (5 with a major defect, 10 with a minor one), then reported."""
    client = harness.erp("supplier-a")
    assert (await client.post("/v1/dms/sensors", json={"sensors": SENSORS})).status_code == 201
    end = datetime.now(UTC) - timedelta(hours=1)
    readings = []
    for unit in range(390):
        sensor, value = (
            ("s-major", "0.9") if unit < 5 else ("s-minor", "0.9") if unit < 15 else ("s-major", "0.3")
        )
        readings.append(
            {
                "sensor_id": sensor,
                "unit_id": f"u-{unit}",
                "order_id": order,
                "value": value,
                "start": (end - timedelta(seconds=60)).isoformat(),
                "end": end.isoformat(),
            }
        )
    assert (await client.post("/v1/dms/readings", json={"readings": readings})).status_code == 200
    paid = await harness.erp("oem-a").post(
        f"/v1/escrows/{order}/deposit",
        json={"amount": 487500, "currency": "EUR", "payment_reference": "PAY-1"},
    )
    assert paid.status_code == 200, paid.text
    done = await client.post(
        f"/v1/orders/{order}/production-complete", json={"produced_quantity": 390, "defects": declared}
    )
    assert done.status_code == 200, done.text
    await harness.settle()


async def test_declared_quality_that_agrees_with_the_dms_is_clean(harness: Harness) -> None:
    demand = await setup_split(harness)
    order = demand["allocations"][0]["escrow_id"]
    await record_production(harness, order, {"critical": 0, "major": 5, "minor": 10})
    report = await audit(harness)
    assert report["ok"], report["findings"]
    # The DMS counts are on the channel only, sealed; the network ledger carries the lot as declared.
    network = (await harness.erp("pdu").get("/v1/ledgers/network/entries", params={"limit": 100})).json()
    assert not any("dms_units" in json.dumps(item) for item in network)
    stored = (
        await harness.erp("supplier-a").get(f"/v1/ledgers/{CHANNEL}/entries", params={"limit": 100})
    ).json()
    dms = [item for item in stored if item["entry"]["kind"] == "order.state"]
    assert len(dms) == 1 and set(dms[0]["entry"]["body"]) == {"enc"}


async def test_declared_quality_with_fewer_defects_than_the_dms_found_is_reported(harness: Harness) -> None:
    demand = await setup_split(harness)
    order = demand["allocations"][0]["escrow_id"]
    await record_production(harness, order, {"critical": 0, "major": 2, "minor": 10})
    report = await audit(harness)
    found = [f for f in report["findings"] if f["rule"] == "quality.declared_disagrees_with_dms"]
    assert [(f["ledger"], f["detail"]) for f in found] == [
        (CHANNEL, f"order {order}: declares fewer major defects than the DMS found")
    ]
    assert rules_at(report) == {(CHANNEL, found[0]["seq"], "quality.declared_disagrees_with_dms")}
