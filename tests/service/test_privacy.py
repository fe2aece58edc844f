"""Privacy proof: after both paper scenarios, no channel-private value is found outside its channel.

The scenarios run with distinctive private values (plant profile figures other than
the attested capacity, channel-specific terms, a message with process times and a
specification, payment references, DMS sensor specifications, readings and process
times). Then the raw bytes and every row of the PDU's database and every table of every
network-ledger replica are scanned for each of them, a channel database is read with no
keys, and the auditor's report must be clean. Also here: rotation, refusals of a
countersigner, and what the auditor reports when a private payload is stored in clear.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, select, text

from supplymesh.cli.scenarios import DEMAND_A
from supplymesh.config import channel_ledger
from supplymesh.core.commitment import opens
from supplymesh.core.contracts.channel import KEY_KIND, PRIVATE_KINDS
from supplymesh.core.entry import SealedEntry, next_entry, sign_entry
from supplymesh.errors import Conflict
from supplymesh.node.keys import KEY_FILE, load_key_file
from supplymesh.storage import entry_records
from supplymesh.storage.engine import is_sqlite
from supplymesh.storage.tables import ledger_entries, outbox, pending_entries
from tests.harness import Harness
from tests.service.test_audit import audit, drop_triggers, rules_at
from tests.service.test_scenarios import DEMAND_B

pytestmark = [pytest.mark.anyio, pytest.mark.db]

CHANNEL_AA = channel_ledger("oem-a", "supplier-a")
CHANNEL_AB = channel_ledger("oem-a", "supplier-b")

# Same attested capacity as the paper's plants (MHCp 51.2 and 36), from private figures
# that appear nowhere else: 0.8 × 20 × 3.2 = 51.2 and 0.9 × 32 × 1.25 = 36.
PRIVATE_PROFILE_A = {
    "machines": 20,
    "hours_per_day": "3.2",
    "baseline_efficiency": "0.8",
    "queued_machine_hours": "100",
    "products": ["P-100"],
}
PRIVATE_PROFILE_B = {
    "machines": 32,
    "hours_per_day": "1.25",
    "baseline_efficiency": "0.9",
    "queued_machine_hours": "20",
    "products": ["P-100"],
}
TERMS = {
    "contract": "FRAME-AGREEMENT-7Q3XK",
    "rebate_percent": "3.71",
    "payment_days": 4711,
    "incoterm": "DAP Gdansk dock 17",
}
MESSAGE = {
    "process": "anodising line ZX-9",
    "process_time_seconds": "418.25",
    "spec": {"target": "12.345", "tolerance": "0.0625", "note": "Ra below 0.8 after sealing bath"},
}
PAYMENT_REFERENCES = {487500: "SEPA-PRIV-A-31415", 500000: "SEPA-PRIV-B-27182", 520000: "SEPA-PRIV-C-16180"}
SENSOR = {
    "id": "s-priv-bore",
    "process": "honing-cell-7",
    "target": "73.125",
    "tolerance": "0.0417",
    "defect_class": "major",
    "standard_seconds": "613",
}
READING_VALUES = ("73.1366", "73.0991")
READING_START = datetime(2026, 3, 14, 15, 9, 26, 535897, tzinfo=UTC)

# Every channel-private value used, as it would appear in JSON (strings quoted).
PRIVATE_STRINGS = [
    *(v for v in TERMS.values() if isinstance(v, str)),
    "anodising line ZX-9",
    "418.25",
    "12.345",
    "0.0625",
    "Ra below 0.8 after sealing bath",
    *PAYMENT_REFERENCES.values(),
    "3.2",
    "1.25",
    "s-priv-bore",
    "honing-cell-7",
    "73.125",
    "0.0417",
    "613",
    *READING_VALUES,
    "ORD-PRIV-9",
]
PRIVATE_NUMBERS = [4711]
PRIVATE_KEYS = ["hours_per_day", "machines", "payment_days", "rebate_percent", "process_time_seconds"]


def reading_times() -> list[str]:
    return [
        (READING_START + timedelta(seconds=s)).isoformat().replace("+00:00", "Z")
        for s in (0, 640, 1280, 1920)
    ]


def needles() -> list[tuple[str, re.Pattern[bytes]]]:
    """Byte patterns of each private value, in the forms it could be stored in."""
    found = []
    for value in PRIVATE_STRINGS:
        # Words are searched bare (any context); decimals quoted as JSON strings, since
        # bare digits also occur by chance in timestamps.
        word = re.search(r"[A-Za-z]", value) is not None and len(value) >= 6
        found.append((value, re.compile(re.escape((value if word else json.dumps(value)).encode()))))
    for number in PRIVATE_NUMBERS:
        found.append((str(number), re.compile(rb"[:\[,]\s*" + str(number).encode() + rb"\s*[,}\]]")))
    for key in PRIVATE_KEYS:
        found.append((key, re.compile(re.escape(json.dumps(key).encode()))))
    for moment in reading_times():
        found.append((moment, re.compile(re.escape(moment[:19].encode()))))  # any spelling of the instant
    return found


def scan(data: bytes) -> list[str]:
    return [name for name, pattern in needles() if pattern.search(data)]


def rows_text(engine: Engine, *, skip: frozenset[str] = frozenset()) -> dict[str, bytes]:
    """Every row of every table, as bytes, by table."""
    meta = MetaData()
    meta.reflect(engine)
    result = {}
    with engine.connect() as conn:
        for name, table in meta.tables.items():
            if name in skip:
                continue
            chunks = []
            for row in conn.execute(select(table)):
                for value in row:
                    chunks.append(value if isinstance(value, bytes) else str(value).encode())
            result[name] = b"\x1f".join(chunks)
    return result


def raw_files(engine: Engine) -> bytes:
    """The SQLite database file and its WAL, as bytes (deleted pages included)."""
    path = Path(str(engine.url.database))
    with engine.connect() as conn:
        conn.execute(text("PRAGMA wal_checkpoint(PASSIVE)"))
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


async def run_both_scenarios(harness: Harness) -> dict[str, Any]:
    """Scenario 1 (split) and 2 (release, refund, re-offer), with private channel traffic."""
    for supplier, profile in (("supplier-a", PRIVATE_PROFILE_A), ("supplier-b", PRIVATE_PROFILE_B)):
        assert (await harness.erp(supplier).put("/v1/dms/profile", json=profile)).status_code == 200
    terms = await harness.erp("oem-a").post(
        f"/v1/channels/{CHANNEL_AA}/entries", json={"kind": "terms", "body": TERMS}
    )
    assert terms.status_code == 201, terms.text
    sealed = await harness.channels("supplier-b").append(CHANNEL_AB, "message", MESSAGE)
    assert sealed is not None
    created = await harness.erp("oem-a").post("/v1/demands", json=DEMAND_A)
    assert created.status_code == 202, created.text
    await harness.settle()
    demand: dict[str, Any] = (await harness.erp("oem-a").get(f"/v1/demands/{created.json()['id']}")).json()
    assert [(a["supplier"], a["quantity"], a["machine_hours"]) for a in demand["allocations"]] == [
        ("supplier-a", 390, "156"),
        ("supplier-b", 400, "160"),
    ]
    other = await harness.erp("oem-b").post("/v1/demands", json=DEMAND_B)
    await harness.settle()
    assert (await harness.erp("oem-b").get(f"/v1/demands/{other.json()['id']}")).json()[
        "status"
    ] == "unallocated"
    escrow_a, escrow_b = (a["escrow_id"] for a in demand["allocations"])
    for escrow_id, amount in ((escrow_a, 487500), (escrow_b, 500000)):
        paid = await harness.erp("oem-a").post(
            f"/v1/escrows/{escrow_id}/deposit",
            json={"amount": amount, "currency": "EUR", "payment_reference": PAYMENT_REFERENCES[amount]},
        )
        assert paid.status_code == 200 and paid.json()["state"] == "funded", paid.text
    for supplier, escrow_id, quality in (
        (
            "supplier-a",
            escrow_a,
            {"produced_quantity": 390, "defects": {"critical": 0, "major": 5, "minor": 10}},
        ),
        (
            "supplier-b",
            escrow_b,
            {"produced_quantity": 400, "defects": {"critical": 0, "major": 14, "minor": 0}},
        ),
    ):
        done = await harness.erp(supplier).post(f"/v1/orders/{escrow_id}/production-complete", json=quality)
        assert done.status_code == 200, done.text
    await harness.settle()
    offers = (await harness.erp("oem-b").get("/v1/offers")).json()
    assert [(o["quantity"], o["state"]) for o in offers] == [(400, "open")]
    accepted = await harness.erp("oem-b").post(f"/v1/offers/{offers[0]['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    new_escrow = accepted.json()["escrow_id"]
    paid = await harness.erp("oem-b").post(
        f"/v1/escrows/{new_escrow}/deposit",
        json={"amount": 520000, "currency": "EUR", "payment_reference": PAYMENT_REFERENCES[520000]},
    )
    assert paid.status_code == 200, paid.text
    await harness.settle()
    states = {
        e: (await harness.erp(b).get(f"/v1/escrows/{e}")).json()["state"]
        for e, b in ((escrow_a, "oem-a"), (escrow_b, "oem-a"), (new_escrow, "oem-b"))
    }
    assert list(states.values()) == ["released", "refunded", "released"]
    # DMS data of supplier-a: a sensor specification, readings and their process times.
    client = harness.erp("supplier-a")
    assert (await client.post("/v1/dms/sensors", json={"sensors": [SENSOR]})).status_code == 201
    times = reading_times()
    readings = [
        {
            "sensor_id": SENSOR["id"],
            "unit_id": f"u-{i}",
            "order_id": "ORD-PRIV-9",
            "value": value,
            "start": times[2 * i],
            "end": times[2 * i + 1],
        }
        for i, value in enumerate(READING_VALUES)
    ]
    assert (await client.post("/v1/dms/readings", json={"readings": readings})).status_code == 200
    await harness.settle()
    return demand


async def test_no_private_value_outside_its_channel_after_both_scenarios(harness: Harness) -> None:
    harness.start_all()  # every node up before the first signed request (no lazy start)
    await run_both_scenarios(harness)
    report = await audit(harness)
    assert report["ok"], report["findings"]

    # The PDU holds nothing private: raw database bytes and every row of every table.
    pdu = harness.node("pdu").engine
    for table, data in rows_text(pdu).items():
        assert scan(data) == [], f"pdu table {table}"
    if is_sqlite(pdu):
        assert scan(raw_files(pdu)) == []

    # Every network-ledger replica: every table of each partner's database, except a
    # supplier's own DMS tables (its plant data, which never leaves it). The channel
    # ledgers in the same databases are scanned too: they are stored encrypted.
    for node_id in ("oem-a", "oem-b", "supplier-a", "supplier-b"):
        engine = harness.node(node_id).engine
        skip = (
            frozenset({"dms_profile", "dms_sensors", "dms_readings"})
            if node_id.startswith("supplier")
            else frozenset()
        )
        for table, data in rows_text(engine, skip=skip).items():
            assert scan(data) == [], f"{node_id} table {table}"
        if is_sqlite(engine) and node_id.startswith("oem"):
            assert scan(raw_files(engine)) == [], node_id
    # ... and the auditor's database (its reports name rules and seqs, never values).
    for table, data in rows_text(harness.node("auditor").engine).items():
        assert scan(data) == [], f"auditor table {table}"

    # The scan would see them: in the JSON the ERP sent, and the supplier's own DMS
    # (never scanned above) holds its sensor and reading data in clear.
    sent = json.dumps([PRIVATE_PROFILE_A, PRIVATE_PROFILE_B, TERMS, MESSAGE, SENSOR]).encode()
    assert set(scan(sent)) >= {"3.2", "1.25", "FRAME-AGREEMENT-7Q3XK", "418.25", "73.125", "4711"}
    dms = rows_text(harness.node("supplier-a").engine)
    assert {"s-priv-bore", "honing-cell-7", "ORD-PRIV-9"} <= set(
        scan(dms["dms_sensors"] + dms["dms_readings"])
    )


async def test_stolen_channel_database_reveals_no_payload(harness: Harness) -> None:
    harness.start_all()  # every node up before the first signed request (no lazy start)
    await run_both_scenarios(harness)
    for node_id in ("supplier-a", "oem-a", "supplier-b"):
        engine = harness.node(node_id).engine
        with engine.connect() as conn:
            rows = conn.execute(
                select(ledger_entries.c.ledger, ledger_entries.c.kind, ledger_entries.c.entry).where(
                    ledger_entries.c.ledger.like("channel:%")
                )
            ).all()
            leftovers = b"".join(
                str(r).encode() for t in (pending_entries, outbox) for r in conn.execute(select(t)).all()
            )
        assert rows
        assert scan(b"\x1f".join(r.entry.encode() for r in rows)) == [], node_id
        assert scan(leftovers) == [], node_id
        for row in rows:
            body = json.loads(row.entry)["body"]
            if row.kind in PRIVATE_KINDS:
                assert set(body) == {"enc"}, (node_id, row.kind)
    # A member reads its channel in clear; the payment reference opens the commitment.
    plain = (
        await harness.erp("oem-a").get(f"/v1/channels/{CHANNEL_AA}/entries", params={"limit": 1000})
    ).json()
    bodies = {e["kind"]: e["body"] for e in plain if e["sealed"]}
    assert bodies["terms"] == TERMS
    deposit = bodies["escrow.event"]
    assert deposit["payment_reference"] == PAYMENT_REFERENCES[487500]
    network = (await harness.erp("oem-b").get("/v1/ledgers/network/entries", params={"limit": 1000})).json()
    committed = [
        e["entry"]["body"]["action"]["body"]["payment_reference_commitment"]
        for e in network
        if e["entry"]["kind"] == "escrow.deposited"
        and e["entry"]["body"]["action"]["body"]["escrow"] == deposit["escrow"]
    ]
    assert opens(committed[0], value=deposit["payment_reference"], salt_text=deposit["salt"])
    assert not opens(committed[0], value="SEPA-PRIV-A-31416", salt_text=deposit["salt"])


async def test_key_rotation_keeps_old_entries_readable(harness: Harness) -> None:
    harness.start_all()  # every node up before the first signed request (no lazy start)
    first = await harness.channels("oem-a").append(CHANNEL_AA, "terms", {"v": "before rotation"})
    rotated = await harness.erp("supplier-a").post(f"/v1/channels/{CHANNEL_AA}/keys")
    assert rotated.status_code == 201, rotated.text
    second = await harness.channels("supplier-a").append(CHANNEL_AA, "message", {"v": "after rotation"})
    assert first is not None and second is not None
    assert first.entry.body["enc"]["key_id"] != second.entry.body["enc"]["key_id"]
    assert second.entry.body["enc"]["key_id"] == rotated.json()["key_id"]
    await harness.drain()
    for member in ("oem-a", "supplier-a"):
        plain = (await harness.erp(member).get(f"/v1/channels/{CHANNEL_AA}/entries")).json()
        assert [(e["kind"], e["body"]) for e in plain if e["sealed"]] == [
            ("terms", {"v": "before rotation"}),
            ("message", {"v": "after rotation"}),
        ]
        assert [e["kind"] for e in plain].count(KEY_KIND) == 2
    # The auditor unwraps both keys: its checks pass and its explorer shows both bodies.
    report = await audit(harness)
    assert report["ok"], report["findings"]
    page = await harness.erp("auditor").get(f"/explorer/ledgers/{CHANNEL_AA}")
    assert "before rotation" in page.text and "after rotation" in page.text
    # Copies stay byte-identical (same Merkle root at both members).
    heads = [
        (await harness.erp(n).get(f"/v1/ledgers/{CHANNEL_AA}/head")).json() for n in ("oem-a", "supplier-a")
    ]
    assert heads[0]["root_hash"] == heads[1]["root_hash"]


async def test_queued_proposal_is_sealed_at_rest(harness: Harness) -> None:
    harness.start_all()  # every node up before the first signed request (no lazy start)
    harness.node("supplier-a")
    harness.down("supplier-a")
    assert await harness.channels("oem-a").append(CHANNEL_AA, "terms", TERMS) is None
    with harness.node("oem-a").engine.connect() as conn:
        queued = b"".join(str(r).encode() for r in conn.execute(select(outbox)).all())
    assert scan(queued) == []
    harness.up("supplier-a")
    await harness.drain()
    plain = (await harness.erp("supplier-a").get(f"/v1/channels/{CHANNEL_AA}/entries")).json()
    assert [e["body"] for e in plain if e["kind"] == "terms"] == [TERMS]


def _proposal(harness: Harness, kind: str, body: dict[str, Any]) -> SealedEntry:
    service = harness.channels("oem-a")
    head = service.head(CHANNEL_AA)
    entry = next_entry(
        ledger=CHANNEL_AA,
        head=(head.size, head.head_hash),
        time=harness.node("oem-a").now_text(),
        kind=kind,
        author="oem-a",
        body=body,
    )
    signer = load_key_file(harness.state_dir / "oem-a" / KEY_FILE)
    return SealedEntry(entry, (sign_entry(entry, signer_id="oem-a", signer=signer),))


async def test_countersigner_refuses_plaintext_and_foreign_keys(harness: Harness) -> None:
    harness.start_all()  # every node up before the first signed request (no lazy start)
    await harness.channels("oem-a").append(CHANNEL_AA, "terms", {"v": 1})  # creates the channel key
    await harness.drain()
    supplier = harness.channels("supplier-a")
    with pytest.raises(Conflict, match=r"sealed body"):
        await supplier.handle_proposal("oem-a", _proposal(harness, "terms", {"v": 2}))
    # A key entry that leaves out the auditor is refused.
    body = harness.channels("oem-a").keyring.new_key_body(CHANNEL_AA)
    del body["readers"]["auditor"]
    with pytest.raises(Conflict, match="wrapped for exactly"):
        await supplier.handle_proposal("oem-a", _proposal(harness, KEY_KIND, body))
    # A body sealed for another position does not open (the seal names ledger, seq, kind, author).
    first = entry_records.sealed_at(harness.node("oem-a").engine, CHANNEL_AA, 2)
    assert first is not None and first.entry.kind == "terms"
    with pytest.raises(Conflict, match="does not decrypt"):
        await supplier.handle_proposal("oem-a", _proposal(harness, "terms", dict(first.entry.body)))


async def test_auditor_reports_a_private_payload_stored_in_clear(harness: Harness) -> None:
    harness.start_all()  # every node up before the first signed request (no lazy start)
    await harness.channels("oem-a").append(CHANNEL_AA, "terms", {"v": 1})
    await harness.drain()
    for holder in ("supplier-a", "oem-a"):  # both copies, so whichever the audit reads is in clear
        engine = harness.node(holder).engine
        drop_triggers(engine)
        with engine.begin() as conn:
            row = conn.execute(
                select(ledger_entries.c.entry).where(
                    ledger_entries.c.ledger == CHANNEL_AA, ledger_entries.c.seq == 2
                )
            ).one()
            value = json.loads(row.entry)
            value["body"] = {"v": 1}
            conn.execute(
                ledger_entries.update()
                .where(ledger_entries.c.ledger == CHANNEL_AA, ledger_entries.c.seq == 2)
                .values(entry=json.dumps(value, separators=(",", ":"), sort_keys=True))
            )
    report = await audit(harness)
    assert {(CHANNEL_AA, 2, "bad_signature"), (CHANNEL_AA, 2, "unencrypted_payload")} <= rules_at(report)
