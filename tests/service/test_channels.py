"""The endorsed channel protocol between an OEM and a supplier, in one process."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from supplymesh.config import channel_ledger
from supplymesh.core.contracts.channel import CAPACITY_KIND, KEY_KIND
from supplymesh.core.entry import SealedEntry, next_entry, sign_entry
from supplymesh.core.verify import Record, verify_ledger
from supplymesh.errors import Conflict, Forbidden
from supplymesh.storage import entry_records
from tests.harness import Harness

pytestmark = [pytest.mark.anyio, pytest.mark.db]
LEDGER = channel_ledger("oem-a", "supplier-a")


def attestation(n: int = 0) -> dict[str, Any]:
    return {
        "efficiency": "0.8",
        "mhc_per_day": "51.2",
        "queued_machine_hours": str(100 + n),
        "products": ["P-100"],
        "computed_at": "2026-11-23T00:00:00.000000Z",
    }


async def copies(harness: Harness, ledger: str = LEDGER) -> tuple[list[Any], list[Any]]:
    supplier = (
        await harness.erp("supplier-a").get(f"/v1/ledgers/{ledger}/entries", params={"limit": 1000})
    ).json()
    oem = (await harness.erp("oem-a").get(f"/v1/ledgers/{ledger}/entries", params={"limit": 1000})).json()
    return supplier, oem


async def assert_identical(harness: Harness, ledger: str = LEDGER) -> list[Any]:
    await harness.drain()  # replication to the OEM runs through the outbox
    supplier, oem = await copies(harness, ledger)
    strip = [{k: v for k, v in e.items() if k != "late_signatures"} for e in supplier]
    assert strip == [{k: v for k, v in e.items() if k != "late_signatures"} for e in oem]
    heads = [(await harness.erp(n).get(f"/v1/ledgers/{ledger}/head")).json() for n in ("supplier-a", "oem-a")]
    assert heads[0]["root_hash"] == heads[1]["root_hash"] and heads[0]["size"] == heads[1]["size"]
    records = [
        Record(seq=e["entry"]["seq"], entry=_canonical(e), signatures=e["signatures"]) for e in supplier
    ]
    assert verify_ledger(ledger, records, harness.config.keys()).ok
    return supplier


def _canonical(served: dict[str, Any]) -> bytes:
    from supplymesh.core.entry import Entry

    return Entry.from_json(served["entry"]).canonical


def signers(entry: dict[str, Any]) -> set[str]:
    return {s["signer"] for s in entry["signatures"]}


async def test_supplier_entry_is_countersigned_and_replicated(harness: Harness) -> None:
    sealed = await harness.channels("supplier-a").append(LEDGER, CAPACITY_KIND, attestation())
    assert sealed is not None and sealed.signers() == {"supplier-a", "oem-a"}
    entries = await assert_identical(harness)
    assert [e["entry"]["seq"] for e in entries] == [1]


async def test_oem_entry_is_sequenced_by_the_supplier(harness: Harness) -> None:
    await harness.channels("supplier-a").append(LEDGER, CAPACITY_KIND, attestation())
    sealed = await harness.channels("oem-a").append(LEDGER, "terms", {"payment_days": 30})
    # The channel's first private entry is preceded by its key entry (wrapped keys only).
    assert sealed is not None and sealed.entry.seq == 3 and sealed.signers() == {"supplier-a", "oem-a"}
    entries = await assert_identical(harness)
    assert [(e["entry"]["kind"], e["entry"]["author"]) for e in entries] == [
        (CAPACITY_KIND, "supplier-a"),
        (KEY_KIND, "oem-a"),
        ("terms", "oem-a"),
    ]
    assert set(entries[2]["entry"]["body"]) == {"enc"}
    for member in ("supplier-a", "oem-a"):
        assert harness.channels(member).open_body(sealed.entry) == {"payment_days": 30}


async def test_interleaved_entries_from_both_sides_never_diverge(harness: Harness) -> None:
    supplier, oem = harness.channels("supplier-a"), harness.channels("oem-a")
    jobs = []
    for n in range(6):
        jobs.append(supplier.append(LEDGER, CAPACITY_KIND, attestation(n)))
        jobs.append(oem.append(LEDGER, "message", {"text": f"hello {n}"}))
    results = await asyncio.gather(*jobs)
    assert all(r is not None for r in results)
    entries = await assert_identical(harness)
    assert [e["entry"]["seq"] for e in entries] == list(range(1, 14))  # 12 and one key entry
    assert [e["entry"]["kind"] for e in entries].count(KEY_KIND) == 1
    assert all(signers(e) == {"supplier-a", "oem-a"} for e in entries)


async def test_oem_down_gets_single_signed_entries_then_late_countersignatures(harness: Harness) -> None:
    harness.node("oem-a")
    harness.down("oem-a")
    for n in range(3):
        sealed = await harness.channels("supplier-a").append(LEDGER, CAPACITY_KIND, attestation(n))
        assert sealed is not None and sealed.signers() == {"supplier-a"}
    assert harness.node("oem-a").store.head(LEDGER) is None
    harness.up("oem-a")
    await harness.drain()
    entries = await assert_identical(harness)
    assert len(entries) == 3
    assert all(
        e["late_signatures"] == [{"signer": "oem-a", "sig": e["late_signatures"][0]["sig"]}] for e in entries
    )
    oem_copy = (await harness.erp("oem-a").get(f"/v1/ledgers/{LEDGER}/entries")).json()
    assert all(e["late_signatures"][0]["signer"] == "oem-a" for e in oem_copy)
    key = harness.config.member("oem-a").key
    for entry in entries:
        key.verify_text(entry["late_signatures"][0]["sig"], bytes.fromhex(entry["hash"]))


async def test_supplier_down_queues_the_oem_proposal_until_it_returns(harness: Harness) -> None:
    harness.node("supplier-a")
    harness.down("supplier-a")
    assert await harness.channels("oem-a").append(LEDGER, "terms", {"incoterm": "FCA"}) is None
    harness.up("supplier-a")
    await harness.drain()
    entries = await assert_identical(harness)
    assert [(e["entry"]["kind"], e["entry"]["author"]) for e in entries] == [
        (KEY_KIND, "oem-a"),
        ("terms", "oem-a"),
    ]


async def test_restarted_oem_catches_up_from_the_supplier(harness: Harness) -> None:
    await harness.channels("supplier-a").append(LEDGER, CAPACITY_KIND, attestation(0))
    await harness.drain()
    harness.down("oem-a")
    await harness.channels("supplier-a").append(LEDGER, CAPACITY_KIND, attestation(1))
    await harness.restart("oem-a")  # comes back with its database; the queued push is not needed
    assert await harness.channels("oem-a").sync(LEDGER) == 1
    await harness.drain()
    entries = await assert_identical(harness)
    assert len(entries) == 2 and entries[1]["late_signatures"][0]["signer"] == "oem-a"


async def test_supplier_crash_after_countersignature_reoffers_the_same_entry(harness: Harness) -> None:
    supplier = harness.node("supplier-a")
    entry = next_entry(
        ledger=LEDGER,
        head=(0, "0" * 64),
        time=supplier.now_text(),
        kind=CAPACITY_KIND,
        author="supplier-a",
        body=attestation(),
    )
    own = sign_entry(entry, signer_id="supplier-a", signer=supplier.signer)
    entry_records.save_pending(supplier.engine, entry, own.sig)
    first = await harness.channels("oem-a").handle_countersign("supplier-a", SealedEntry(entry, (own,)))
    await harness.restart("supplier-a")  # crashed before appending; start-up finishes the pending entry
    entries = await assert_identical(harness)
    assert entries[0]["hash"] == entry.hash
    assert {"signer": "oem-a", "sig": first.sig} in entries[0]["signatures"]


async def test_member_never_countersigns_two_entries_for_one_seq(harness: Harness) -> None:
    supplier = harness.node("supplier-a")
    oem = harness.channels("oem-a")

    def signed(body: dict[str, Any]) -> SealedEntry:
        entry = next_entry(
            ledger=LEDGER,
            head=(0, "0" * 64),
            time=supplier.now_text(),
            kind=CAPACITY_KIND,
            author="supplier-a",
            body=body,
        )
        return SealedEntry(entry, (sign_entry(entry, signer_id="supplier-a", signer=supplier.signer),))

    await oem.handle_countersign("supplier-a", signed(attestation(0)))
    with pytest.raises(Conflict, match="different entry"):
        await oem.handle_countersign("supplier-a", signed(attestation(1)))


async def test_countersign_refuses_wrong_author_kind_and_sequence(harness: Harness) -> None:
    supplier = harness.node("supplier-a")
    oem = harness.channels("oem-a")

    def signed(kind: str, body: dict[str, Any], seq_head: tuple[int, str] = (0, "0" * 64)) -> SealedEntry:
        entry = next_entry(
            ledger=LEDGER, head=seq_head, time=supplier.now_text(), kind=kind, author="supplier-a", body=body
        )
        return SealedEntry(entry, (sign_entry(entry, signer_id="supplier-a", signer=supplier.signer),))

    with pytest.raises(Exception, match="may not author"):
        await oem.handle_countersign("supplier-a", signed("escrow.event", {"x": 1}))
    with pytest.raises(Conflict, match=r"not a canonical decimal|Field required|Input should be"):
        await oem.handle_countersign("supplier-a", signed(CAPACITY_KIND, {"efficiency": 0}))
    with pytest.raises(Forbidden):
        await oem.handle_countersign("supplier-b", signed(CAPACITY_KIND, attestation()))


async def test_peer_countersign_route_refuses_outsiders_and_forgeries(harness: Harness) -> None:
    supplier = harness.node("supplier-a")
    entry = next_entry(
        ledger=LEDGER,
        head=(0, "0" * 64),
        time=supplier.now_text(),
        kind=CAPACITY_KIND,
        author="supplier-a",
        body=attestation(),
    )
    good = sign_entry(entry, signer_id="supplier-a", signer=supplier.signer)
    body = {"entry": entry.as_json(), "signatures": [good.as_json()]}
    path = f"/peer/v1/channels/{LEDGER}/countersign"
    assert (await harness.peer("pdu").request("oem-a", "POST", path, json=body)).status_code == 403
    assert (await harness.peer("oem-b").request("oem-a", "POST", path, json=body)).status_code == 403
    forged = {
        "entry": entry.as_json(),
        "signatures": [{"signer": "supplier-a", "sig": good.sig[:-4] + "AAAA"}],
    }
    assert (await harness.peer("supplier-a").request("oem-a", "POST", path, json=forged)).status_code == 422
    wrong_ledger = f"/peer/v1/channels/{channel_ledger('oem-b', 'supplier-a')}/countersign"
    assert (
        await harness.peer("supplier-a").request("oem-a", "POST", wrong_ledger, json=body)
    ).status_code in (400, 403)
    ok = await harness.peer("supplier-a").request("oem-a", "POST", path, json=body)
    assert ok.status_code == 200 and ok.json()["signer"] == "oem-a"


async def test_oem_may_not_author_supplier_kinds(harness: Harness) -> None:
    with pytest.raises(Forbidden):
        await harness.channels("oem-a").append(LEDGER, CAPACITY_KIND, attestation())
    with pytest.raises(Forbidden):
        await harness.channels("oem-b").append(LEDGER, "terms", {"x": 1})


async def test_forked_history_from_supplier_is_refused_by_the_oem(harness: Harness) -> None:
    await harness.channels("supplier-a").append(LEDGER, CAPACITY_KIND, attestation(0))
    supplier = harness.node("supplier-a")
    rogue = next_entry(
        ledger=LEDGER,
        head=(0, "0" * 64),
        time=supplier.now_text(),
        kind=CAPACITY_KIND,
        author="supplier-a",
        body=attestation(9),
    )
    sealed = SealedEntry(rogue, (sign_entry(rogue, signer_id="supplier-a", signer=supplier.signer),))
    with pytest.raises(Conflict):
        await harness.channels("oem-a").accept(sealed)
    await assert_identical(harness)
