"""Blocks: every decision that is due proposed in one quorum round, each entry certified.

Two demands competing for the same hours in one block never overbook; a block with one
bad decision gets no quorum and the good ones are proposed again without it; a partner
that loses the round's answer, or restarts after it, catches up; a PDU that dies after
the quorum commits the very same block on restart; partners sign a whole block or none.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from supplymesh.cli.scenarios import DEMAND_B, PROFILE_A, PROFILE_B
from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.contracts.channel import CAPACITY_KIND
from supplymesh.core.contracts.network import SPLIT, NetworkState, decide_split
from supplymesh.core.crypto import Signer
from supplymesh.core.entry import Entry, SealedEntry, Signature
from supplymesh.node.keys import KEY_FILE, load_key_file
from supplymesh.storage import entry_records
from supplymesh.storage.engine import read_transaction, write_transaction
from supplymesh.storage.tables import outbox
from tests.harness import Harness

pytestmark = [pytest.mark.anyio, pytest.mark.db]

PARTNERS = ("oem-a", "oem-b", "supplier-a", "supplier-b")
NODES = ("pdu", *PARTNERS)
BLOCKS = "/peer/v1/network/blocks"
AVAILABLE = {"supplier-a": Decimal(156), "supplier-b": Decimal(160)}  # 5 days of each plant, less its queue


def key_of(harness: Harness, member: str) -> Signer:
    return load_key_file(harness.state_dir / member / KEY_FILE)


class Crash(Exception):
    pass


async def two_competing_demands(harness: Harness) -> list[str]:
    """DEMAND_B from each OEM: together they need 480 machine-hours of the 316 there are."""
    for supplier, profile in (("supplier-a", PROFILE_A), ("supplier-b", PROFILE_B)):
        assert (await harness.erp(supplier).put("/v1/dms/profile", json=profile)).status_code == 200
    ids = []
    for buyer in ("oem-a", "oem-b"):
        created = await harness.erp(buyer).post("/v1/demands", json=DEMAND_B)
        assert created.status_code == 202, created.text
        ids.append(created.json()["id"])
    await harness.drain()
    return ids


def splits(harness: Harness) -> list[Entry]:
    rows = harness.node("pdu").store.iter_entries(NETWORK_LEDGER)
    return [e for e in (Entry.from_canonical(r.entry) for r in rows) if e.kind == SPLIT]


def heads(harness: Harness) -> set[tuple[int, str]]:
    found = set()
    for node in NODES:
        head = harness.node(node).store.head(NETWORK_LEDGER)
        assert head is not None
        found.add((head.size, head.head_hash))
    return found


def hours(entry: Entry) -> dict[str, Decimal]:
    return {a["supplier"]: Decimal(a["machine_hours"]) for a in entry.body["result"]["allocations"]}


async def test_competing_demands_in_one_block_never_overbook(harness: Harness) -> None:
    await two_competing_demands(harness)
    await harness.app("pdu").state.sequencer.step()  # one pass: one block, one quorum round
    first, second = splits(harness)
    assert second.seq == first.seq + 1 and second.body["base"] == {"seq": first.seq, "hash": first.hash}
    assert len(harness.node("pdu").store.entries(NETWORK_LEDGER, after=first.seq - 1, limit=10)) == 2
    booked = {s: hours(first).get(s, Decimal(0)) + hours(second).get(s, Decimal(0)) for s in AVAILABLE}
    assert all(booked[s] <= AVAILABLE[s] for s in AVAILABLE), booked
    assert sum(booked.values()) == sum(AVAILABLE.values())  # the second took exactly what was left
    assert second.body["result"]["unallocated"] > 0
    with read_transaction(harness.node("pdu").engine) as conn:  # one push per partner for the block
        pushes = [
            json.loads(p) for p in conn.execute(select(outbox.c.payload).where(outbox.c.done == 0)).scalars()
        ]
    ranges = sorted((p["partner"], p["seq"], p["last"]) for p in pushes if p.get("last") == second.seq)
    assert ranges == [(p, first.seq, second.seq) for p in PARTNERS]
    await harness.drain()
    assert len(heads(harness)) == 1
    for supplier in AVAILABLE:
        capacity = (await harness.erp(supplier).get("/v1/capacity")).json()
        assert Decimal(capacity["open_network_hours"]) == booked[supplier]


async def test_a_block_with_one_bad_decision_gets_no_quorum_and_the_good_ones_are_proposed_again(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await two_competing_demands(harness)
    sequencer = harness.app("pdu").state.sequencer
    honest = decide_split
    [_, liar_target] = [d.hash for d in sequencer.replica.state.undecided_demands()]

    def lying(state: NetworkState, demand_hash: str, *args: Any) -> dict[str, Any]:
        result = honest(state, demand_hash, *args)
        if demand_hash == liar_target:
            result = copy.deepcopy(result)
            grown = result["allocations"][0]  # one unit more, consistent in hours and money
            grown["quantity"] += 1
            grown["machine_hours"] = str(Decimal(grown["machine_hours"]) + Decimal("0.4"))
            grown["escrow_amount"] += DEMAND_B["unit_price"]["amount"]  # type: ignore[index]
            result.update(allocated=result["allocated"] + 1, unallocated=result["unallocated"] - 1)
        return result

    monkeypatch.setattr("supplymesh_pdu.decision_loop.decide_split", lying)
    size = harness.node("pdu").store.head(NETWORK_LEDGER).size  # type: ignore[union-attr]
    await sequencer.step()
    [good] = splits(harness)
    assert good.seq == size + 1 and good.body["inputs"]["demand"] != liar_target
    # partners refused the liar's decision each time it was offered, alone after the first
    # block: after ``attempts`` rounds its demand ends failed with their reason, and no
    # split of it ever committed
    target = sequencer.replica.state.demands[liar_target]
    assert target.status == "failed" and "re-execution gives a different result" in str(target.detail)
    assert len(sequencer.failures[liar_target]) == sequencer.attempts
    assert entry_records.load_pending_block(harness.node("pdu").engine, NETWORK_LEDGER) == []
    await harness.drain()
    assert len(heads(harness)) == 1


async def test_a_partner_that_loses_the_block_round_catches_up(harness: Harness) -> None:
    await two_competing_demands(harness)
    harness.lose_answers("oem-b", BLOCKS)  # it signs, its answer never arrives
    await harness.app("pdu").state.sequencer.step()
    first, second = splits(harness)
    assert all("oem-b" not in {s["signer"] for s in sealed_signatures(harness, e)} for e in (first, second))
    await harness.restart("oem-b")
    await harness.drain()
    assert len(heads(harness)) == 1
    state = harness.app("oem-b").state.replica.state
    assert {state.demands[e.body["inputs"]["demand"]].decision for e in (first, second)} == {
        first.hash,
        second.hash,
    }


def sealed_signatures(harness: Harness, entry: Entry) -> list[dict[str, str]]:
    sealed = entry_records.sealed_at(harness.node("pdu").engine, NETWORK_LEDGER, entry.seq)
    assert sealed is not None
    return [s.as_json() for s in sealed.signatures]


async def test_a_pdu_that_dies_after_the_quorum_commits_the_same_block_on_restart(harness: Harness) -> None:
    await two_competing_demands(harness)
    sequencer = harness.app("pdu").state.sequencer

    def crash(_block: list[SealedEntry], **_kw: Any) -> None:
        raise Crash("power cut between the quorum and the commit")

    sequencer._commit = crash
    with pytest.raises(Crash):
        await sequencer.step()
    kept = entry_records.load_pending_block(harness.node("pdu").engine, NETWORK_LEDGER)
    assert [e.kind for e, _ in kept] == [SPLIT, SPLIT], "the block must be on disk before partners see it"
    await harness.restart("pdu")
    await harness.settle()
    assert [e.hash for e in splits(harness)] == [e.hash for e, _ in kept]  # the very entries signed
    assert entry_records.load_pending_block(harness.node("pdu").engine, NETWORK_LEDGER) == []
    assert len(heads(harness)) == 1


# -- the partner's side: a whole block or nothing --------------------------------------------------------


async def composed(harness: Harness) -> list[tuple[Entry, Signature]]:
    """The PDU's honest block of the two competing splits, composed but not offered."""
    await two_competing_demands(harness)
    sequencer = harness.app("pdu").state.sequencer
    due = sequencer.replica.state.undecided_demands()
    gathered = [await sequencer._gather_for(d.hash) for d in due]
    async with sequencer.replica.lock:
        block: list[tuple[Entry, Signature]] = sequencer._compose(
            [sequencer._split(d.hash, g) for d, g in zip(due, gathered, strict=True)]
        )
    assert [e.kind for e, _ in block] == [SPLIT, SPLIT]
    return block


def wire(block: list[tuple[Entry, Signature]]) -> dict[str, Any]:
    return {"entries": [{"entry": e.as_json(), "signatures": [own.as_json()]} for e, own in block]}


async def offer(harness: Harness, partner: str, body: Any, *, sender: str = "pdu") -> httpx.Response:
    return await harness.peer(sender).request(partner, "POST", BLOCKS, json=body)


async def test_every_partner_signs_an_honest_block_entry_by_entry(harness: Harness) -> None:
    block = await composed(harness)
    before = heads(harness)
    for partner in PARTNERS:
        answer = await offer(harness, partner, wire(block))
        assert answer.status_code == 200, answer.text
        sigs = answer.json()["sigs"]
        assert answer.json()["signer"] == partner and len(sigs) == 2
        for (entry, _), sig in zip(block, sigs, strict=True):
            key_of(harness, partner).public_key.verify_text(sig, entry.digest)
        assert (await offer(harness, partner, wire(block))).json() == answer.json()  # twice: the same
    assert heads(harness) == before  # signing appends nothing


async def test_a_block_is_refused_whole_naming_the_entry_that_breaks_a_rule(harness: Harness) -> None:
    block = await composed(harness)
    (first, own), (second, _) = block
    forged = Signature("pdu", key_of(harness, "oem-a").sign_text(second.digest))
    for partner in PARTNERS:
        answer = await offer(harness, partner, wire([(first, own), (second, forged)]))
        assert answer.status_code == 409, answer.text
        assert answer.json()["index"] == 1 and f"at entry {second.seq}" in answer.json()["detail"]
    for partner in PARTNERS:  # nothing was recorded: the honest block is still signed
        assert (await offer(harness, partner, wire(block))).status_code == 200


@pytest.mark.parametrize("case", ["reordered", "empty", "not-a-list", "gap"])
async def test_a_malformed_block_is_unprocessable(harness: Harness, case: str) -> None:
    block = await composed(harness)
    bodies: dict[str, Any] = {
        "reordered": wire(block[::-1]),
        "empty": {"entries": []},
        "not-a-list": {"entries": wire(block)["entries"][0]},
        "gap": wire(block[:1] + block[:1]),
    }
    answer = await offer(harness, "oem-a", bodies[case])
    assert answer.status_code == 422, (case, answer.text)


async def test_only_the_pdu_proposes_blocks(harness: Harness) -> None:
    block = await composed(harness)
    answer = await offer(harness, "oem-b", wire(block), sender="oem-a")
    assert answer.status_code == 403, answer.text


async def test_a_partner_never_signs_two_blocks_for_the_same_seqs(harness: Harness) -> None:
    block = await composed(harness)
    assert (await offer(harness, "oem-a", wire(block))).status_code == 200
    sequencer = harness.app("pdu").state.sequencer
    (first, _), (second, _) = block
    async with sequencer.replica.lock:  # the same decision again, dated later: another hash
        later = sequencer._entry(second.kind, dict(second.body))
    assert later.seq == first.seq and later.hash != first.hash
    answer = await offer(harness, "oem-a", wire([(later, sequencer._own(later))]))
    assert answer.status_code == 409, answer.text
    assert f"already signed another decision for seq {first.seq}" in answer.json()["detail"]
    assert answer.json()["index"] == 0


async def test_an_action_that_takes_a_pending_blocks_seq_withdraws_the_rest_and_partners_sign_on(
    harness: Harness,
) -> None:
    # Every partner signs a block of two but no answer arrives: the block stays pending.
    await two_competing_demands(harness)
    sequencer = harness.app("pdu").state.sequencer
    for partner in PARTNERS:
        harness.lose_answers(partner, BLOCKS, count=10)
    makers = await sequencer._due_makers()
    async with sequencer.replica.lock:  # one round, left pending
        assert (await sequencer._offer(sequencer._compose([m for _, m in makers]))).committed == []
    kept = [e for e, _ in entry_records.load_pending_block(harness.node("pdu").engine, NETWORK_LEDGER)]
    assert [e.kind for e in kept] == [SPLIT, SPLIT]
    harness.lost_answers.clear()
    # A party action arrives: it takes the first seq; a withdrawal takes the second, which
    # partners had signed, so none of them holds a signature for a seq a later decision needs.
    created = await harness.erp("oem-a").post("/v1/demands", json={**DEMAND_B, "quantity": 10})
    assert created.status_code == 202, created.text
    await harness.drain()
    rows = harness.node("pdu").store.entries(NETWORK_LEDGER, after=kept[0].seq - 1, limit=2)
    taken = [Entry.from_canonical(r.entry) for r in rows]
    assert taken[0].kind == "demand.submitted" and taken[0].seq == kept[0].seq
    assert taken[1].kind == "proposal.withdrawn" and taken[1].body["proposal"] == kept[1].hash
    await harness.settle()
    decided = {s.body["inputs"]["demand"] for s in splits(harness)}
    assert decided == set(sequencer.replica.state.demands)  # all three, none failed
    assert all(d.status != "pending" for d in sequencer.replica.state.demands.values())
    assert all(len(sealed_signatures(harness, s)) == 5 for s in splits(harness))  # every partner signed
    await harness.drain()
    assert len(heads(harness)) == 1


async def test_a_block_carries_the_entries_a_partner_lacks_so_it_signs_without_pulling(
    harness: Harness,
) -> None:
    await two_competing_demands(harness)
    newest = await a_demand_the_partners_lack(harness)
    sequencer = harness.app("pdu").state.sequencer
    for partner in PARTNERS:
        assert sequencer.held[partner] == newest - 1  # known from the pushes it took
    harness.down("pdu")  # and no partner can pull from the PDU
    makers = await sequencer._due_makers()
    async with sequencer.replica.lock:
        outcome = await sequencer._offer(sequencer._compose([m for _, m in makers]))
    assert len(outcome.committed) == 3, sequencer.failures
    assert all(len(sealed_signatures(harness, s)) == 5 for s in splits(harness))
    for partner in PARTNERS:
        assert harness.app(partner).state.replica.state.size == newest  # took what was carried


# -- attestations amortised: one per supplier and buyer per round ------------------------------------


async def demands_of_one_buyer(harness: Harness, count: int) -> list[str]:
    for supplier, profile in (("supplier-a", PROFILE_A), ("supplier-b", PROFILE_B)):
        assert (await harness.erp(supplier).put("/v1/dms/profile", json=profile)).status_code == 200
    for _ in range(count):
        created = await harness.erp("oem-a").post("/v1/demands", json={**DEMAND_B, "quantity": 100})
        assert created.status_code == 202, created.text
    await harness.drain()
    return [d.hash for d in harness.app("pdu").state.sequencer.replica.state.undecided_demands()]


def attestations_on(harness: Harness, ledger: str) -> list[Entry]:
    rows = harness.node("oem-a").store.iter_entries(ledger)
    return [e for e in (Entry.from_canonical(r.entry) for r in rows) if e.kind == CAPACITY_KIND]


async def test_one_attestation_per_supplier_answers_every_demand_of_the_round(harness: Harness) -> None:
    hashes = await demands_of_one_buyer(harness, 3)
    channels = ("channel:oem-a:supplier-a", "channel:oem-a:supplier-b")
    before = {ledger: len(attestations_on(harness, ledger)) for ledger in channels}
    await harness.app("pdu").state.sequencer.step()
    await harness.drain()
    decided = splits(harness)
    assert sorted(s.body["inputs"]["demand"] for s in decided) == sorted(hashes)
    for ledger in channels:
        made = attestations_on(harness, ledger)
        assert len(made) == before[ledger] + 1  # one for the round, not one per demand
        assert sorted(made[-1].body["demands"]) == sorted(hashes)
        used = {
            Entry.from_json(a["entry"]).hash
            for s in decided
            for a in s.body["inputs"]["attestations"]
            if a["entry"]["ledger"] == ledger
        }
        assert used == {made[-1].hash}
    assert len(heads(harness)) == 1


async def ask_attestations(harness: Harness, body: Any) -> httpx.Response:
    return await harness.peer("pdu").request(
        "supplier-a", "POST", "/peer/v1/capacity/attestations", json=body
    )


async def test_a_supplier_attests_the_demands_it_may_and_says_why_not_for_the_others(
    harness: Harness,
) -> None:
    hashes = await demands_of_one_buyer(harness, 2)
    unknown = "ab" * 32
    answer = await ask_attestations(harness, {"buyer": "oem-a", "demands": [*hashes, unknown]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert sorted(body["entry"]["body"]["demands"]) == sorted(hashes)
    assert (
        list(body["refused"]) == [unknown]
        and "not on supplier-a's network replica" in body["refused"][unknown]
    )
    again = await ask_attestations(harness, {"buyer": "oem-a", "demands": list(reversed(hashes))})
    assert again.json()["entry"] == body["entry"]  # asked again: the same attestation, none added
    none = await ask_attestations(harness, {"buyer": "oem-b", "demands": hashes})  # not oem-b's demands
    assert none.status_code == 409 and set(none.json()["refused"]) == set(hashes)


@pytest.mark.parametrize(
    "body",
    [
        {"buyer": "oem-a"},
        {"buyer": "oem-a", "demand": "ab" * 32, "demands": ["ab" * 32]},
        {"buyer": "oem-a", "demands": []},
        {"buyer": "oem-a", "demands": ["ab" * 32] * 257},
        {"buyer": "oem-a", "demands": ["not-a-hash"]},
    ],
)
async def test_a_malformed_attestation_request_is_refused(harness: Harness, body: Any) -> None:
    answer = await ask_attestations(harness, body)
    assert answer.status_code in (400, 422), answer.text


async def test_carried_entries_that_do_not_verify_are_ignored_and_the_partner_pulls(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await two_competing_demands(harness)
    newest = await a_demand_the_partners_lack(harness)
    sequencer = harness.app("pdu").state.sequencer
    genuine = sequencer._lacking

    def forged(members: list[str], first: int) -> dict[str, list[dict[str, Any]]]:
        carried = genuine(members, first)
        assert all(carried.values())
        return {
            p: [{**i, "signatures": [{**s, "sig": "A" * 86} for s in i["signatures"]]} for i in items]
            for p, items in carried.items()
        }

    monkeypatch.setattr(sequencer, "_lacking", forged)
    makers = await sequencer._due_makers()
    async with sequencer.replica.lock:
        outcome = await sequencer._offer(sequencer._compose([m for _, m in makers]))
    assert len(outcome.committed) == 3, sequencer.failures  # each partner pulled the genuine entry
    stored = entry_records.sealed_at(harness.node("oem-b").engine, NETWORK_LEDGER, newest)
    assert stored is not None and all(s.sig != "A" * 86 for s in stored.signatures)
    await harness.drain()
    assert len(heads(harness)) == 1


async def a_demand_the_partners_lack(harness: Harness) -> int:
    """A demand the PDU sequenced and pushed to no partner; its seq."""
    created = await harness.erp("oem-a").post("/v1/demands", json={**DEMAND_B, "quantity": 10})
    assert created.status_code == 202, created.text
    sender = harness.node("oem-a").outbox
    assert sender is not None
    with write_transaction(sender.engine) as conn:
        conn.execute(update(outbox).where(outbox.c.done == 0).values(next_attempt=0))
    assert await sender.run_once() >= 1  # the demand reaches the PDU, which pushes it to no one
    pdu = harness.node("pdu")
    with write_transaction(pdu.engine) as conn:
        conn.execute(update(outbox).where(outbox.c.done == 0).values(done=1))
    newest = pdu.store.head(NETWORK_LEDGER)
    assert newest is not None
    for partner in PARTNERS:
        assert harness.app(partner).state.replica.state.size == newest.size - 1
    return newest.size
