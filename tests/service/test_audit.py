"""The auditor after the paper's scenarios: a clean report, then each kind of tampering
found at the exact entry with the rule it breaks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine, text

from supplymesh.cli.scenarios import PROFILE_A
from supplymesh.core.crypto import Signer
from supplymesh.core.entry import Entry, SealedEntry, sign_entry
from supplymesh.node.keys import KEY_FILE, load_key_file
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


def rewrite_last_channel_entry(engine: Engine, keys: dict[str, Signer]) -> None:
    """An insider with every member's key re-signs a changed last entry of the channel.

    Rewriting the last entry keeps the hash chain valid; only tree heads seen before
    can tell.
    """
    drop_triggers(engine)
    with engine.begin() as conn:
        size = conn.execute(
            text("SELECT count(*) FROM ledger_entries WHERE ledger = :l"), {"l": CHANNEL}
        ).scalar()
        row = conn.execute(
            text("SELECT entry FROM ledger_entries WHERE ledger = :l AND seq = :q"),
            {"l": CHANNEL, "q": size},
        ).one()
        value = json.loads(row.entry)
        value["body"]["queued_machine_hours"] = "1"
        entry = Entry.from_json(value)
        sealed = SealedEntry(entry, tuple(sign_entry(entry, signer_id=m, signer=k) for m, k in keys.items()))
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


async def test_entry_re_signed_by_its_author_after_an_edit_is_found(harness: Harness) -> None:
    """An insider at supplier-a edits its own attestation and signs it again with its
    own key: the author's signature is valid, the OEM's countersignature is not."""
    await setup_split(harness)
    engine = harness.node("supplier-a").engine
    signer = load_key_file(harness.state_dir / "supplier-a" / KEY_FILE)
    drop_triggers(engine)
    with engine.begin() as conn:
        row = conn.execute(
            text("SELECT entry, signatures FROM ledger_entries WHERE ledger = :l AND seq = 1"), {"l": CHANNEL}
        ).one()
        value = json.loads(row.entry)
        assert value["author"] == "supplier-a"
        value["body"]["queued_machine_hours"] = "1"
        entry = Entry.from_json(value)
        signatures = [
            sign_entry(entry, signer_id="supplier-a", signer=signer).as_json()
            if sig["signer"] == "supplier-a"
            else sig
            for sig in json.loads(row.signatures)
        ]
        conn.execute(
            text(
                "UPDATE ledger_entries SET entry = :e, hash = :h, signatures = :s "
                "WHERE ledger = :l AND seq = 1"
            ),
            {"e": entry.canonical.decode(), "h": entry.hash, "s": json.dumps(signatures), "l": CHANNEL},
        )
    report = await audit(harness)
    at_seq_1 = {(f["rule"], f["detail"].split(":")[0]) for f in report["findings"] if f["seq"] == 1}
    assert ("bad_signature", "supplier-a") in at_seq_1  # the copy held by supplier-a
    assert any(rule == "replicas_diverge" for rule, _ in at_seq_1)
    bad = [f["detail"] for f in report["findings"] if f["rule"] == "bad_signature"]
    assert bad == ["supplier-a: signature of oem-a: signature does not verify"]  # the author's is valid
    assert (CHANNEL, 2, "hash_chain") in rules_at(report)


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
        rewrite_last_channel_entry(engine, keys)
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


# -- incremental audits ----------------------------------------------------------------


def sizes(report: dict[str, Any]) -> dict[tuple[str, str], int]:
    return {(row["holder"], row["ledger"]): row["size"] for row in report["ledgers"]}


async def fund_and_complete(harness: Harness, demand: dict[str, Any]) -> None:
    """New activity on the network ledger and a channel: a deposit, a lot, a release."""
    escrow = demand["allocations"][0]["escrow_id"]
    paid = await harness.erp("oem-a").post(
        f"/v1/escrows/{escrow}/deposit",
        json={"amount": 487500, "currency": "EUR", "payment_reference": "PAY-1"},
    )
    assert paid.status_code == 200, paid.text
    done = await harness.erp("supplier-a").post(
        f"/v1/orders/{escrow}/production-complete",
        json={"produced_quantity": 390, "defects": {"critical": 0, "major": 5, "minor": 10}},
    )
    assert done.status_code == 200, done.text
    await harness.settle()
    assert (await harness.erp("oem-a").get(f"/v1/escrows/{escrow}")).json()["state"] == "released"


async def test_incremental_audit_fetches_only_new_entries_and_finds_what_a_full_audit_finds(
    harness: Harness,
) -> None:
    demand = await setup_split(harness)
    first = await audit(harness, "incremental")  # nothing verified yet: everything is fetched
    assert first["ok"], first["findings"]
    assert first["fetched_entries"] == sum(sizes(first).values()) > 0
    quiet = await audit(harness, "incremental")
    assert quiet["ok"] and quiet["fetched_entries"] == 0
    assert all(row["verified_before"] == row["size"] for row in quiet["ledgers"])

    await fund_and_complete(harness, demand)
    incremental = await audit(harness, "incremental")
    before, after = sizes(first), sizes(incremental)
    grown = {key: size - before.get(key, 0) for key, size in after.items()}
    assert grown[("pdu", "network")] >= 3 and grown[("supplier-a", CHANNEL)] >= 1
    assert incremental["fetched_entries"] == sum(grown.values())
    for row in incremental["ledgers"]:
        key = (row["holder"], row["ledger"])
        assert (row["verified_before"], row["fetched"]) == (before.get(key, 0), grown[key])
    full = await audit(harness, "full")
    assert full["fetched_entries"] == sum(after.values())
    assert incremental["ok"] and full["ok"], (incremental["findings"], full["findings"])
    assert sizes(full) == after


async def test_incremental_audit_names_a_tampered_new_entry_as_a_full_audit_does(harness: Harness) -> None:
    demand = await setup_split(harness)
    assert (await audit(harness, "incremental"))["ok"]
    await fund_and_complete(harness, demand)
    engine = harness.node("oem-b").engine  # an insider edits the newest entry of its replica
    drop_triggers(engine)
    with engine.begin() as conn:
        size = conn.execute(text("SELECT max(seq) FROM ledger_entries WHERE ledger = 'network'")).scalar()
        row = conn.execute(
            text("SELECT entry FROM ledger_entries WHERE ledger = 'network' AND seq = :q"), {"q": size}
        ).one()
        value = json.loads(row.entry)
        value["time"] = "2020-01-01T00:00:00Z"
        conn.execute(
            text("UPDATE ledger_entries SET entry = :e WHERE ledger = 'network' AND seq = :q"),
            {"e": Entry.from_json(value).canonical.decode(), "q": size},
        )
    first = await audit(harness, "incremental")
    assert ("network", size, "bad_signature") in rules_at(first)
    assert ("network", size, "replicas_diverge") in rules_at(first)
    full = await audit(harness, "full")
    again = await audit(harness, "incremental")  # the tampered copy is fetched again, not built on
    assert rules_at(first) <= rules_at(full) == rules_at(again)
    refetched = next(r for r in again["ledgers"] if (r["holder"], r["ledger"]) == ("oem-b", "network"))
    assert refetched["fetched"] > 0


async def test_incremental_audit_reports_a_history_rewrite_by_the_consistency_proof(harness: Harness) -> None:
    await setup_split(harness)
    assert (await audit(harness, "incremental"))["ok"]
    # As in the full-audit test above: both members re-sign seq 1 of their channel with
    # new content and recompute every stored leaf hash, then restart their nodes.
    keys = {m: load_key_file(harness.state_dir / m / KEY_FILE) for m in ("supplier-a", "oem-a")}
    for holder in ("supplier-a", "oem-a"):
        engine = harness.node(holder).engine
        rewrite_last_channel_entry(engine, keys)
        await harness.restart(holder)
    # The ledger then grows, so the holders' new heads come with real consistency proofs.
    profile = {**PROFILE_A, "queued_machine_hours": "90"}
    assert (await harness.erp("supplier-a").put("/v1/dms/profile", json=profile)).status_code == 200
    await harness.settle()
    report = await audit(harness, "incremental")
    found = rules_at(report)
    assert (CHANNEL, None, "history_rewritten") in found
    assert not any(rule == "bad_signature" for ledger, _, rule in found if ledger == CHANNEL)
    holders = {f["detail"].split(":")[0] for f in report["findings"] if f["rule"] == "history_rewritten"}
    assert holders == {"supplier-a", "oem-a"}
    assert rules_at(await audit(harness, "full")) == found


async def test_incremental_audit_rechecks_only_entries_missing_a_countersignature(harness: Harness) -> None:
    supplier = harness.erp("supplier-a")
    assert (await supplier.put("/v1/dms/profile", json=PROFILE_A)).status_code == 200
    await harness.drain()
    assert (await audit(harness, "incremental"))["ok"]
    harness.down("oem-a")  # the supplier appends its next attestation single-signed
    profile = {**PROFILE_A, "queued_machine_hours": "90"}
    assert (await supplier.put("/v1/dms/profile", json=profile)).status_code == 200
    missing = await audit(harness, "incremental")
    assert (CHANNEL, 2, "missing_countersignature") in rules_at(missing)
    harness.up("oem-a")
    await harness.drain()  # the OEM countersigns late
    report = await audit(harness, "incremental")
    assert report["ok"], report["findings"]
    row = next(r for r in report["ledgers"] if (r["holder"], r["ledger"]) == ("supplier-a", CHANNEL))
    assert (row["verified_before"], row["fetched"]) == (2, 1)  # seq 2 again, for its late signature
    quiet = await audit(harness, "incremental")
    assert quiet["ok"] and quiet["fetched_entries"] == 0


async def test_a_tampered_auditor_copy_is_not_built_on(harness: Harness) -> None:
    await setup_split(harness)
    first = await audit(harness, "incremental")
    assert first["ok"]
    engine = harness.node("auditor").engine  # an insider edits the auditor's own copy
    with engine.begin() as conn:
        changed = conn.execute(
            text(
                "UPDATE audit_entries SET leaf = replace(leaf, :old, :new) "
                "WHERE holder = 'supplier-a' AND ledger = :l AND seq = 1"
            ),
            {"old": '"queued_machine_hours":"100"', "new": '"queued_machine_hours":"1"', "l": CHANNEL},
        ).rowcount
        assert changed == 1
    report = await audit(harness, "incremental")
    assert rules_at(report) == {(CHANNEL, None, "auditor_state")}
    row = next(r for r in report["ledgers"] if (r["holder"], r["ledger"]) == ("supplier-a", CHANNEL))
    assert (row["verified_before"], row["fetched"]) == (0, row["size"])  # fetched again in full
    assert (await audit(harness, "incremental"))["ok"]  # and stored afresh

    with engine.begin() as conn:  # the semantic checkpoint carries the auditor's signature
        conn.execute(text("UPDATE audit_checkpoints SET findings = '[]', size = size - 1"))
        conn.execute(text("UPDATE audit_entries SET leaf = leaf || ' ' WHERE holder = 'pdu' AND seq = 1"))
    full = await audit(harness, "full")  # a full audit trusts none of it, and says so
    assert rules_at(full) == {("network", None, "auditor_state")}
    assert len(full["findings"]) == 2
    assert (await audit(harness, "incremental"))["ok"]


async def test_scheduled_audits_are_incremental_with_a_periodic_full_one(harness: Harness) -> None:
    import asyncio

    from supplymesh_auditor import reports, schedule

    await setup_split(harness)
    node = harness.node("auditor")
    auditor = harness.app("auditor").state.auditor
    stop = asyncio.Event()
    task = asyncio.create_task(schedule.run_forever(auditor, 0.01, full_every=3, stop=stop))
    try:
        for _ in range(500):
            if len(reports.history(node, after=0, limit=10)) >= 3:
                break
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await task  # the audit in progress finishes before the harness closes the database
    modes = [r["mode"] for r in reports.history(node, after=0, limit=3)]
    assert modes == ["incremental", "incremental", "full"]
