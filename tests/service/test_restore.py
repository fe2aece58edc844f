"""A node rebuilt on an empty database from nothing but its keys (marked restored).

It learns back what it signed from its peers before it signs anything again, and names
what it recovered and what it lost. On SQLite and on PostgreSQL (a fresh schema stands
for the emptied database).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from supplymesh.cli.app import app as cli_app
from supplymesh.cli.scenarios import DEMAND_A, PROFILE_A, PROFILE_B
from supplymesh.core.entry import SealedEntry, next_entry, sign_entry
from supplymesh.node.keys import KEY_FILE, load_key_file
from supplymesh.node.recovery import MARKER_FILE, REPORT_FILE, seqs
from tests.conftest import PG_URL
from tests.harness import Harness

pytestmark = [pytest.mark.anyio, pytest.mark.db]
LEDGER = "channel:oem-a:supplier-a"


def copy(harness: Harness, node_id: str, ledger: str) -> list[tuple[Any, Any]]:
    return [(e.entry, e.signatures) for e in harness.node(node_id).store.iter_entries(ledger)]


def rebuild_from_keys(harness: Harness, node_id: str) -> None:
    """What ``supplymesh restore NODE --empty`` leaves: the keys, an empty database, the marker."""
    harness._urls[node_id] = harness._database_url(f"{node_id}-rebuilt")
    (harness.state_dir / node_id / MARKER_FILE).write_text("{}")


async def test_supplier_rebuilt_from_its_keys_signs_nothing_on_a_channel_until_its_oem_answered(
    harness: Harness,
) -> None:
    for supplier, profile in (("supplier-a", PROFILE_A), ("supplier-b", PROFILE_B)):
        assert (await harness.erp(supplier).put("/v1/dms/profile", json=profile)).status_code == 200
    await harness.settle()
    signed = copy(harness, "oem-a", LEDGER)
    assert signed and signed == copy(harness, "supplier-a", LEDGER)

    rebuild_from_keys(harness, "supplier-a")
    harness.down("oem-a")
    await harness.restart("supplier-a")
    assert copy(harness, "supplier-a", "channel:oem-b:supplier-a") == copy(
        harness, "oem-b", "channel:oem-b:supplier-a"
    )
    changed = {**PROFILE_A, "queued_machine_hours": "120"}
    refused = await harness.erp("supplier-a").put("/v1/dms/profile", json=changed)
    assert refused.status_code == 503 and "until oem-a says what it holds" in refused.text
    assert copy(harness, "supplier-a", LEDGER) == []  # not one entry signed at a seq it used before

    harness.up("oem-a")
    assert (await harness.erp("supplier-a").put("/v1/dms/profile", json=changed)).status_code == 200
    await harness.settle()
    final = copy(harness, "supplier-a", LEDGER)
    assert final == copy(harness, "oem-a", LEDGER)
    assert final[: len(signed)] == signed and len(final) == len(signed) + 1
    report = harness.node("supplier-a").recovery.as_json()
    assert report["complete"] and not (harness.state_dir / "supplier-a" / MARKER_FILE).exists()
    assert any(
        i.startswith(f"{LEDGER}: {seqs(1, len(signed))}, sealed by supplier-a") for i in report["recovered"]
    )
    assert any(i.startswith("dms: no plant profile here") for i in report["lost"])  # lost, and named
    assert (harness.state_dir / "supplier-a" / REPORT_FILE).exists()
    audit = (await harness.erp("auditor").post("/v1/audits", json={"mode": "full"})).json()
    assert audit["ok"], audit["findings"]


async def test_pdu_rebuilt_from_its_keys_waits_for_a_partner_and_signs_no_second_genesis(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    for supplier, profile in (("supplier-a", PROFILE_A), ("supplier-b", PROFILE_B)):
        assert (await harness.erp(supplier).put("/v1/dms/profile", json=profile)).status_code == 200
    assert (await harness.erp("oem-a").post("/v1/demands", json=DEMAND_A)).status_code == 202
    await harness.settle()
    signed = copy(harness, "pdu", "network")
    assert len(signed) > 2

    rebuild_from_keys(harness, "pdu")
    partners = [m.id for m in harness.config.partners()]
    for partner in partners:
        harness.down(partner)
    caplog.set_level(logging.WARNING, logger="supplymesh.recovery")
    starting = asyncio.create_task(harness.restart("pdu"))

    async def waiting() -> None:
        while "waiting for a partner" not in caplog.text:
            assert not starting.done()
            await asyncio.sleep(0.05)

    await asyncio.wait_for(waiting(), timeout=60)
    assert harness.node("pdu").store.head("network") is None  # no genesis of its own meanwhile
    for partner in partners:
        harness.up(partner)
    await asyncio.wait_for(starting, timeout=120)

    assert copy(harness, "pdu", "network") == signed
    report = harness.node("pdu").recovery.as_json()
    assert report["complete"] and report["lost"] == []
    assert report["recovered"] == [
        f"network: seq 1..{len(signed)}, sealed by pdu, missing from this database; "
        "recovered from the partners' replicas"
    ]
    assert (await harness.erp("oem-b").post("/v1/demands", json=DEMAND_A)).status_code == 202
    await harness.settle()
    final = copy(harness, "pdu", "network")
    assert final[: len(signed)] == signed and len(final) > len(signed)
    assert {harness.node(n).store.head("network") for n in partners} == {
        harness.node("pdu").store.head("network")
    }


def take_backup(harness: Harness, node_id: str, target: Path) -> None:
    """``supplymesh backup``: of the SQLite node.db, or with --database-url of PostgreSQL (pg_dump)."""
    run_cli(
        "backup",
        node_id,
        "--state-dir",
        str(harness.state_dir),
        "--to",
        str(target),
        *pg_option(harness, node_id),
    )


def put_back(harness: Harness, node_id: str, source: Path) -> None:
    """``supplymesh restore --from`` of a stopped node (pg_restore on PostgreSQL), which marks it."""
    state = str(harness.state_dir)
    run_cli("restore", node_id, "--state-dir", state, "--from", str(source), *pg_option(harness, node_id))


def pg_option(harness: Harness, node_id: str) -> list[str]:
    url = harness._urls[node_id]
    return [] if url.startswith("sqlite") else ["--database-url", url]


def run_cli(*args: str) -> None:
    result = CliRunner().invoke(cli_app, list(args))
    assert result.exit_code == 0, result.output


async def stop_restore_start(harness: Harness, node_id: str, backup: Path) -> None:
    """Stop the node, put the backup back, start it (its start-up hooks run)."""
    old = harness.apps.pop(node_id)
    await old.state.node.aclose()
    put_back(harness, node_id, backup)
    for hook in harness.app(node_id).state.node.on_start:
        await hook()


async def test_supplier_restored_from_a_backup_by_the_documented_commands_recovers_and_names_its_loss(
    harness: Harness, tmp_path: Path
) -> None:
    if not PG_URL:  # the node's database in its directory, where `supplymesh backup` reads it
        harness._urls["supplier-a"] = f"sqlite:///{harness.state_dir / 'supplier-a' / 'node.db'}"
    for supplier, profile in (("supplier-a", PROFILE_A), ("supplier-b", PROFILE_B)):
        assert (await harness.erp(supplier).put("/v1/dms/profile", json=profile)).status_code == 200
    await harness.settle()
    backup = tmp_path / "supplier-a.backup"
    take_backup(harness, "supplier-a", backup)
    later = {**PROFILE_A, "queued_machine_hours": "120"}  # acknowledged after the backup
    assert (await harness.erp("supplier-a").put("/v1/dms/profile", json=later)).status_code == 200
    assert (await harness.erp("oem-a").post("/v1/demands", json=DEMAND_A)).status_code == 202
    await harness.settle()
    signed = copy(harness, "oem-a", LEDGER)

    await stop_restore_start(harness, "supplier-a", backup)
    assert copy(harness, "supplier-a", LEDGER) == signed  # learnt back before anything else
    report = harness.node("supplier-a").recovery.as_json()
    assert report["complete"] and report["since"]
    assert any(i.startswith(LEDGER) and "recovered from oem-a" in i for i in report["recovered"])
    assert any(i.startswith("dms: the current capacity figures differ") for i in report["lost"])
    assert (await harness.erp("supplier-a").put("/v1/dms/profile", json=later)).status_code == 200
    await harness.settle()
    final = copy(harness, "supplier-a", LEDGER)
    assert final == copy(harness, "oem-a", LEDGER) and final[: len(signed)] == signed
    audit = (await harness.erp("auditor").post("/v1/audits", json={"mode": "full"})).json()
    assert audit["ok"], audit["findings"]


class LyingCopy(httpx.AsyncBaseTransport):
    """oem-a serving, as its copy of the channel, one entry of its own that the supplier never sealed."""

    def __init__(self, inner: httpx.AsyncBaseTransport, forged: dict[str, Any]) -> None:
        self.inner = inner
        self.forged = forged

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == f"/peer/v1/ledgers/{LEDGER}/entries":
            after = int(request.url.params.get("after", "0"))
            return httpx.Response(200, json=[self.forged] if after == 0 else [])
        return await self.inner.handle_async_request(request)


async def test_restored_supplier_appends_nothing_its_oem_serves_that_it_did_not_seal(
    harness: Harness,
) -> None:
    assert (await harness.erp("supplier-a").put("/v1/dms/profile", json=PROFILE_A)).status_code == 200
    await harness.settle()
    signed = copy(harness, "oem-a", LEDGER)
    entry = next_entry(
        ledger=LEDGER,
        head=(0, "0" * 64),
        time="2026-01-01T00:00:00Z",
        kind="terms",
        author="oem-a",
        body={"note": "never sealed by supplier-a"},
    )
    key = load_key_file(harness.state_dir / "oem-a" / KEY_FILE)
    forged = SealedEntry(entry, (sign_entry(entry, signer_id="oem-a", signer=key),)).as_json()
    url = harness.config.member("oem-a").url
    genuine = harness.mounts[url]
    harness.mounts[url] = LyingCopy(genuine, forged)

    rebuild_from_keys(harness, "supplier-a")
    await harness.restart("supplier-a")
    assert copy(harness, "supplier-a", LEDGER) == []
    report = harness.node("supplier-a").recovery.as_json()
    assert f"{LEDGER}: oem-a holds seq 1 without supplier-a's signature" in " ".join(report["lost"])
    refused = await harness.erp("supplier-a").put("/v1/dms/profile", json=PROFILE_A)
    assert refused.status_code == 409 and "not sealed here" in refused.text
    assert copy(harness, "supplier-a", LEDGER) == []  # nothing appended on top of the lie

    harness.mounts[url] = genuine  # the genuine copy: learnt back, then sequencing goes on
    changed = {**PROFILE_A, "queued_machine_hours": "120"}
    assert (await harness.erp("supplier-a").put("/v1/dms/profile", json=changed)).status_code == 200
    await harness.settle()
    final = copy(harness, "supplier-a", LEDGER)
    assert final[: len(signed)] == signed and final == copy(harness, "oem-a", LEDGER)


async def test_restored_supplier_puts_back_an_attestation_that_only_a_split_still_carries(
    harness: Harness,
) -> None:
    for supplier, profile in (("supplier-a", PROFILE_A), ("supplier-b", PROFILE_B)):
        assert (await harness.erp(supplier).put("/v1/dms/profile", json=profile)).status_code == 200
    await harness.settle()
    harness.down("oem-a")  # its attestation for this demand is sealed single-signed, never pushed
    assert (await harness.erp("oem-a").post("/v1/demands", json=DEMAND_A)).status_code == 202
    await harness.settle()
    held = copy(harness, "supplier-a", LEDGER)
    assert len(held) == len(copy(harness, "oem-a", LEDGER)) + 1
    splits = [
        e.entry for e in harness.node("pdu").store.iter_entries("network") if b'"decision.split"' in e.entry
    ]
    assert splits and bytes(held[-1][0]) in bytes(splits[-1])  # the split carries it (JCS nests verbatim)

    rebuild_from_keys(harness, "supplier-a")  # lost with the database: on no peer's copy of the channel
    await harness.restart("supplier-a")
    harness.up("oem-a")
    changed = {**PROFILE_A, "queued_machine_hours": "120"}
    assert (await harness.erp("supplier-a").put("/v1/dms/profile", json=changed)).status_code == 200
    await harness.settle()
    final = copy(harness, "supplier-a", LEDGER)
    assert final[: len(held)] == held and len(final) == len(held) + 1  # put back at its seq, then the new one
    assert final == copy(harness, "oem-a", LEDGER)
    report = harness.node("supplier-a").recovery.as_json()
    assert any(
        "carried by a split on the network ledger, was on no copy; put back" in i for i in report["recovered"]
    )
    audit = (await harness.erp("auditor").post("/v1/audits", json={"mode": "full"})).json()
    assert audit["ok"], audit["findings"]
