"""The auditor's audits verify on forked workers and report exactly what one process reports.

The network after the SPEC §5 split, with three insiders tampering with their copies (an
edited entry, another entry's signature, a deleted entry breaking the chain). The same
full and incremental audits run with one worker and with two (the threshold lowered so
that a network this small is forked), and the reports must agree finding for finding.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from supplymesh.audit import signatures
from supplymesh.core.entry import Entry
from supplymesh.node.settings import NodeSettings
from supplymesh_auditor import audits
from tests.conftest import DatabaseFactory
from tests.harness import Harness
from tests.service.test_audit import audit, drop_triggers, rules_at
from tests.service.test_scenarios import setup_split

pytestmark = [pytest.mark.anyio, pytest.mark.db]
SAME = ("ok", "mode", "findings", "fetched_entries", "demand_waits", "ledgers")


def tamper(harness: Harness) -> None:
    """oem-b edits network entry 2, supplier-a serves entry 3 with entry 2's signatures,
    supplier-b deletes entry 2."""
    for holder in ("oem-b", "supplier-a", "supplier-b"):
        drop_triggers(harness.node(holder).engine)
    with harness.node("oem-b").engine.begin() as conn:
        row = conn.execute(
            text("SELECT entry FROM ledger_entries WHERE ledger = 'network' AND seq = 2")
        ).one()
        value = json.loads(row.entry)
        value["time"] = "2020-01-01T00:00:00Z"
        conn.execute(
            text("UPDATE ledger_entries SET entry = :e WHERE ledger = 'network' AND seq = 2"),
            {"e": Entry.from_json(value).canonical.decode()},
        )
    with harness.node("supplier-a").engine.begin() as conn:
        second = conn.execute(
            text("SELECT signatures FROM ledger_entries WHERE ledger = 'network' AND seq = 2")
        ).scalar()
        conn.execute(
            text("UPDATE ledger_entries SET signatures = :s WHERE ledger = 'network' AND seq = 3"),
            {"s": second},
        )
    with harness.node("supplier-b").engine.begin() as conn:
        conn.execute(text("DELETE FROM ledger_entries WHERE ledger = 'network' AND seq = 2"))


def kept(report: dict[str, Any]) -> dict[str, Any]:
    return {key: report[key] for key in SAME}


async def audit_with(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, workers: int, mode: str = "full"
) -> dict[str, Any]:
    monkeypatch.setattr(audits, "worker_count", lambda _setting: workers)
    return await audit(harness, mode)


async def test_tampered_copies_give_the_same_full_report_on_two_workers_as_on_one(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await setup_split(harness)
    tamper(harness)
    monkeypatch.setattr(signatures, "MIN_PARALLEL", 1)
    monkeypatch.setattr(signatures, "CHUNK", 3)
    forks: list[int] = []
    start_pool = signatures.start_pool

    def counted(*args: Any) -> Any:
        forks.append(1)
        return start_pool(*args)

    monkeypatch.setattr(signatures, "start_pool", counted)
    await audit_with(harness, monkeypatch, 1)  # from here on, every audit has seen the same heads
    one = await audit_with(harness, monkeypatch, 1)
    assert forks == []
    two = await audit_with(harness, monkeypatch, 2)
    assert forks == [1]
    assert kept(one)["findings"] == kept(two)["findings"]
    assert kept(one) == kept(two)
    found = rules_at(two)
    assert ("network", 2, "bad_signature") in found
    assert ("network", 3, "bad_signature") in found
    assert ("network", 3, "sequence") in found and ("network", 3, "hash_chain") in found
    holders = {f["detail"].split(":")[0] for f in two["findings"] if f["rule"] == "bad_signature"}
    assert holders == {"oem-b", "supplier-a"}


async def test_incremental_audits_agree_on_two_workers_and_on_one(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await setup_split(harness)
    monkeypatch.setattr(signatures, "MIN_PARALLEL", 1)
    monkeypatch.setattr(signatures, "CHUNK", 3)
    tamper(harness)
    first = await audit_with(harness, monkeypatch, 2, "incremental")  # honest copies are kept
    one = await audit_with(harness, monkeypatch, 1, "incremental")
    two = await audit_with(harness, monkeypatch, 2, "incremental")
    assert kept(one) == kept(two) and not two["ok"]
    assert ("network", 2, "bad_signature") in rules_at(first) & rules_at(two)
    refetched = {
        (r["holder"], r["ledger"]) for r in two["ledgers"] if r["fetched"] and not r["verified_before"]
    }
    assert {("oem-b", "network"), ("supplier-a", "network"), ("supplier-b", "network")} <= refetched


async def test_the_worker_count_is_a_setting_of_the_auditor(
    tmp_path: Path, database_url_factory: DatabaseFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = Harness(tmp_path / "state", database_url_factory).settings("auditor")
    assert base.audit_workers == 0 and signatures.worker_count(base.audit_workers) >= 1
    monkeypatch.setenv("SUPPLYMESH_AUDIT_WORKERS", "3")
    assert Harness(tmp_path / "other", database_url_factory).settings("auditor").audit_workers == 3
    with pytest.raises(ValidationError):
        NodeSettings(**{**base.model_dump(), "audit_workers": -1})
