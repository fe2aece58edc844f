"""The auditor after the paper's scenarios: a clean report, then each kind of tampering
found at the exact entry with the rule it breaks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine, text

from supplymesh.core.entry import Entry, SealedEntry, sign_entry
from supplymesh.keys import KEY_FILE, load_key_file
from supplymesh.storage.engine import is_sqlite
from tests.harness import Harness
from tests.service.test_scenarios import setup_split

pytestmark = [pytest.mark.anyio, pytest.mark.db]
CHANNEL = "channel:oem-a:supplier-a"


async def audit(harness: Harness, mode: str = "full") -> dict[str, Any]:
    response = await harness.erp("auditor").post("/v1/audits", json={"mode": mode})
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    assert report["ok"] == (report["findings"] == [])
    return report


def rules_at(report: dict[str, Any]) -> set[tuple[str, int | None, str]]:
    return {(f["ledger"], f["seq"], f["rule"]) for f in report["findings"]}


def drop_triggers(engine: Engine) -> None:
    with engine.begin() as conn:
        if is_sqlite(engine):
            conn.execute(text("DROP TRIGGER IF EXISTS ledger_entries_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS ledger_entries_no_delete"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS ledger_entries_no_change ON ledger_entries"))


async def test_audit_after_the_split_is_clean_and_covers_every_holder(harness: Harness) -> None:
    await setup_split(harness)
    report = await audit(harness)
    assert report["ok"], report["findings"]
    holders = {(item["holder"], item["ledger"]) for item in report["ledgers"]}
    assert (
        ("pdu", "network") in holders and ("supplier-a", CHANNEL) in holders and ("oem-a", CHANNEL) in holders
    )
    latest = (await harness.erp("auditor").get("/v1/audits/latest")).json()
    assert latest["id"] == report["id"] and latest["ok"]


async def test_edited_channel_entry_is_found_at_that_entry(harness: Harness) -> None:
    await setup_split(harness)
    engine = harness.node("supplier-a").engine
    drop_triggers(engine)
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE ledger_entries SET entry = replace(entry, :old, :new) WHERE ledger = :l AND seq = 1"
            ),
            {"old": '"queued_machine_hours":"100"', "new": '"queued_machine_hours":"1"', "l": CHANNEL},
        )
    report = await audit(harness)
    assert not report["ok"]
    found = rules_at(report)
    assert (CHANNEL, 1, "bad_signature") in found
    assert (CHANNEL, 1, "replicas_diverge") in found


async def test_deleted_network_entry_is_found(harness: Harness) -> None:
    await setup_split(harness)
    engine = harness.node("oem-b").engine
    drop_triggers(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM ledger_entries WHERE ledger = 'network' AND seq = 2"))
    report = await audit(harness)
    found = rules_at(report)
    assert ("network", 3, "sequence") in found and ("network", 3, "hash_chain") in found


async def test_history_rewritten_on_every_replica_is_caught_by_the_heads_seen_before(
    harness: Harness,
) -> None:
    await setup_split(harness)
    assert (await audit(harness))["ok"]
    # The supplier and the OEM collude: seq 1 of their channel is re-signed with new
    # content by both, on both copies. Chains and signatures stay valid.
    keys = {m: load_key_file(harness.state_dir / m / KEY_FILE) for m in ("supplier-a", "oem-a")}
    for holder in ("supplier-a", "oem-a"):
        engine = harness.node(holder).engine
        drop_triggers(engine)
        with engine.begin() as conn:
            size = conn.execute(
                text("SELECT count(*) FROM ledger_entries WHERE ledger = :l"), {"l": CHANNEL}
            ).scalar()
            row = conn.execute(  # the last entry: rewriting it keeps the chain valid
                text("SELECT entry FROM ledger_entries WHERE ledger = :l AND seq = :q"),
                {"l": CHANNEL, "q": size},
            ).one()
            value = json.loads(row.entry)
            value["body"]["queued_machine_hours"] = "1"
            entry = Entry.from_json(value)
            sealed = SealedEntry(
                entry, tuple(sign_entry(entry, signer_id=m, signer=k) for m, k in keys.items())
            )
            conn.execute(
                text(
                    "UPDATE ledger_entries SET entry = :e, hash = :h, signatures = :s, leaf_hash = :lh "
                    "WHERE ledger = :l AND seq = :q"
                ),
                {
                    "e": entry.canonical.decode(),
                    "h": entry.hash,
                    "s": json.dumps(sealed.signatures_json()),
                    "lh": sealed.leaf_hash.hex(),
                    "l": CHANNEL,
                    "q": size,
                },
            )
    report = await audit(harness)
    found = rules_at(report)
    assert (CHANNEL, None, "history_rewritten") in found
    assert not any(rule == "bad_signature" for ledger, _, rule in found if ledger == CHANNEL)


async def test_forged_quorum_certificate_is_found(harness: Harness) -> None:
    demand = await setup_split(harness)
    engine = harness.node("oem-b").engine
    drop_triggers(engine)
    with engine.begin() as conn:
        row = conn.execute(
            text("SELECT seq, signatures FROM ledger_entries WHERE ledger = 'network' AND hash = :h"),
            {"h": demand["decision_id"]},
        ).one()
        only_pdu = [s for s in json.loads(row.signatures) if s["signer"] == "pdu"]
        conn.execute(
            text("UPDATE ledger_entries SET signatures = :s WHERE ledger = 'network' AND seq = :q"),
            {"s": json.dumps(only_pdu), "q": row.seq},
        )
    report = await audit(harness)
    found = rules_at(report)
    assert any(rule in ("quorum_certificate", "replicas_diverge") for _, _, rule in found)


async def test_auditor_credentials_write_nothing(harness: Harness) -> None:
    token = harness.token("auditor")
    body = {
        "product": "P-100",
        "quantity": 1,
        "lead_time_days": 1,
        "required_machine_hours": "1",
        "priority_suppliers": ["supplier-a"],
        "aql": {"critical": "0", "major": "0", "minor": "0"},
        "unit_price": {"amount": 1, "currency": "EUR"},
    }
    assert (await harness.erp("oem-a", token=token).post("/v1/demands", json=body)).status_code == 401
    own = harness.erp("auditor")
    assert (await own.post("/v1/demands", json=body)).status_code in (404, 405)
    assert (await audit(harness))["ok"]


async def test_no_report_before_the_first_audit_is_404(harness: Harness) -> None:
    response = await harness.erp("auditor").get("/v1/audits/latest")
    assert response.status_code == 404
    assert (await harness.erp("auditor").post("/v1/audits", json={"mode": "sometimes"})).status_code == 422
