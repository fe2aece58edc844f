"""A lying PDU cannot steer (SPEC §11): the partners it wrongs refuse, by their own records.

Re-execution cannot tell whether a split's inputs are the ones the parties gave, or
whether the time the PDU wrote is true. These proposals are built with the PDU's own key,
consistent with their (dropped, swapped or backdated) inputs, and sent to the partners
as a compromised PDU could: the supplier whose attestation is dropped or swapped, the
buyer whose channel holds another entry, and every partner whose clock disagrees with
the entry's time refuse with the rule (409 problem+json), and nothing is appended.
Suppliers attest only for pending demands that list them, once per demand.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from supplymesh.cli.scenarios import DEMAND_A, PROFILE_A
from supplymesh.config import NETWORK_LEDGER, channel_ledger
from supplymesh.core.contracts.network import CANCEL, SPLIT, decide_cancel
from supplymesh.core.entry import Entry, format_time, sign_entry
from tests.conftest import DatabaseFactory
from tests.flows import order_for
from tests.harness import Harness
from tests.service.test_lying_pdu import (
    PARTNERS,
    Pending,
    ask,
    ask_all,
    base_of,
    decision,
    heads,
    honest_still_signed,
    key_of,
    now_text,
    pdu_state,
    proposal,
    put_profiles,
    refused,
    refused_everywhere,
    replica,
    signed,
    split_body,
)
from tests.service.test_scenarios import setup_split

pytestmark = [pytest.mark.anyio, pytest.mark.db]

Json = dict[str, Any]
ATTEST = "/peer/v1/capacity/attestations"
CHANNEL_A = channel_ledger("oem-a", "supplier-a")
DAY = 24 * 3600


@pytest.fixture(autouse=True)
def _channels_wired(harness: Harness) -> None:
    """Each partner's replica catches up its channels through the node's own channel service."""
    for partner in PARTNERS:
        assert replica(harness, partner).channels is harness.channels(partner)


# -- helpers ------------------------------------------------------------------------------------


async def attest(harness: Harness, supplier: str, buyer: str, demand: str) -> httpx.Response:
    return await harness.peer("pdu").request(
        supplier, "POST", ATTEST, json={"buyer": buyer, "demand": demand}
    )


def channel_size(harness: Harness, node: str, ledger: str = CHANNEL_A) -> int:
    head = harness.node(node).store.head(ledger)
    return 0 if head is None else head.size


def swapped(harness: Harness, genuine: Json, *, seq: int | None = None, mhc_per_day: str = "80") -> Json:
    """Another attestation by supplier-a for the same demand, single-signed with its key."""
    original = Entry.from_json(genuine["entry"])
    entry = Entry(
        ledger=original.ledger,
        seq=original.seq if seq is None else seq,
        prev=original.prev if seq is None else "e" * 64,
        time=original.time,
        kind=original.kind,
        author=original.author,
        body={**original.body, "mhc_per_day": mhc_per_day},
    )
    assert entry.hash != original.hash
    signature = sign_entry(entry, signer_id="supplier-a", signer=key_of(harness, "supplier-a"))
    return {"entry": entry.as_json(), "signatures": [signature.as_json()]}


async def answers_to(harness: Harness, body: Json) -> tuple[Entry, dict[str, httpx.Response]]:
    entry = decision(harness, body)
    return entry, await ask_all(harness, proposal(harness, entry))


def shift_partner_clocks(harness: Harness, seconds: float) -> None:
    for partner in PARTNERS:
        harness.node(partner).clock = lambda: datetime.now(UTC) + timedelta(seconds=seconds)


def split_with(harness: Harness, pending: Pending, attestations: list[Json], unavailable: Json) -> Json:
    inputs = {"demand": pending.demand_hash, "attestations": attestations, "unavailable": unavailable}
    return split_body(harness, pending, inputs)


async def pending_demand(harness: Harness) -> Pending:
    """Scenario 1's demand, sequenced and undecided, with both suppliers' attestations for it."""
    await put_profiles(harness)
    created = await harness.erp("oem-a").post("/v1/demands", json=DEMAND_A)
    assert created.status_code == 202, created.text
    await harness.drain()
    [demand] = pdu_state(harness).undecided_demands()
    attestations = {}
    for supplier in ("supplier-a", "supplier-b"):
        answer = await attest(harness, supplier, "oem-a", demand.hash)
        assert answer.status_code == 200, answer.text
        attestations[supplier] = {"entry": answer.json()["entry"], "signatures": answer.json()["signatures"]}
    pending = Pending(created.json()["id"], demand.hash, attestations, {}, {})
    pending.body = split_body(harness, pending, pending.inputs())
    return pending


# -- a supplier's attestation dropped ------------------------------------------------------------


async def test_split_calling_an_attested_supplier_unavailable_is_refused_by_that_supplier(
    harness: Harness,
) -> None:
    pending = await pending_demand(harness)
    body = split_with(
        harness, pending, [pending.attestations["supplier-b"]], {"supplier-a": "did not answer in time"}
    )
    assert [a["supplier"] for a in body["result"]["allocations"]] == ["supplier-b"]
    before = heads(harness)
    entry, answers = await answers_to(harness, body)
    refused(
        answers["supplier-a"],
        409,
        "proposal refused by supplier-a",
        "supplier-a is called unavailable although it attested for this demand",
    )
    # The buyer holds the attestation countersigned on its own channel: it refuses too,
    # so the two signatures left are short of the 3-of-4 quorum.
    refused(
        answers["oem-a"],
        409,
        "proposal refused by oem-a",
        "supplier-a attested for this demand on oem-a's channel",
    )
    for partner in ("oem-b", "supplier-b"):  # they cannot know; the audit can
        signed(harness, partner, answers[partner], entry)
    await harness.drain()
    assert heads(harness) == before


async def test_split_leaving_out_an_attested_supplier_is_refused_by_the_buyer_from_its_channel(
    harness: Harness,
) -> None:
    pending = await pending_demand(harness)
    body = split_with(harness, pending, [pending.attestations["supplier-b"]], {"supplier-a": "no answer"})
    answer = await ask(harness, "oem-a", proposal(harness, decision(harness, body)))
    refused(answer, 409, "proposal refused by oem-a", f"({CHANNEL_A} seq")
    await honest_still_signed(harness, pending)


async def test_a_supplier_that_attested_then_fell_silent_is_allocated_from_its_buyers_copy(
    harness: Harness,
) -> None:
    """supplier-a attests for the demand, then never answers the PDU again: the PDU takes
    the attestation from oem-a's channel copy, and the split commits exactly as SPEC §5."""
    await put_profiles(harness)
    harness.start_all()
    harness.lose_answers("supplier-a", ATTEST, count=100)
    created = await harness.erp("oem-a").post("/v1/demands", json=DEMAND_A)
    assert created.status_code == 202, created.text
    await harness.settle()
    split = (await harness.erp("oem-a").get(f"/v1/demands/{created.json()['id']}")).json()
    assert [(a["supplier"], a["quantity"]) for a in split["allocations"]] == [
        ("supplier-a", 390),
        ("supplier-b", 400),
    ], split


async def test_only_the_pdu_reads_an_attestation_from_a_buyers_copy(harness: Harness) -> None:
    pending = await pending_demand(harness)
    path = f"/peer/v1/channels/{CHANNEL_A}/attestations"
    params = {"demand": pending.demand_hash}
    found = await harness.peer("pdu").request("oem-a", "GET", path, params=params)
    assert found.status_code == 200, found.text
    assert found.json()["entry"]["body"]["demand"] == pending.demand_hash
    for other in ("oem-b", "supplier-b", "auditor"):
        refused_read = await harness.peer(other).request("oem-a", "GET", path, params=params)
        assert refused_read.status_code == 403, (other, refused_read.text)
    missing = await harness.peer("pdu").request("oem-a", "GET", path, params={"demand": "0" * 64})
    assert missing.status_code == 404


async def test_a_late_attestation_is_used_on_the_retry_and_the_split_commits(harness: Harness) -> None:
    """Neither supplier-a's answer nor the buyer's copy reaches the PDU in the first round:
    the first proposal calls supplier-a unavailable and is refused by it and its buyer;
    the PDU asks again, withdraws that proposal and commits the split with supplier-a's
    attestation."""
    await put_profiles(harness)
    harness.start_all()
    harness.lose_answers("supplier-a", ATTEST, count=100)  # the attestation is made, its answers lost
    harness.lose_answers("oem-a", f"/peer/v1/channels/{CHANNEL_A}/attestations")
    created = await harness.erp("oem-a").post("/v1/demands", json=DEMAND_A)
    assert created.status_code == 202, created.text
    await harness.settle()
    split = (await harness.erp("oem-a").get(f"/v1/demands/{created.json()['id']}")).json()
    assert split["status"] == "partially_allocated", split
    assert [(a["supplier"], a["quantity"]) for a in split["allocations"]] == [
        ("supplier-a", 390),
        ("supplier-b", 400),
    ]
    rows = harness.node("pdu").store.iter_entries(NETWORK_LEDGER)
    kinds = [Entry.from_canonical(r.entry).kind for r in rows]
    assert "proposal.withdrawn" in kinds and kinds.count(SPLIT) == 1


async def test_split_leaving_out_an_attested_priority_supplier_is_refused_by_that_supplier(
    harness: Harness,
) -> None:
    pending = await pending_demand(harness)
    body = split_with(harness, pending, [pending.attestations["supplier-b"]], {})
    answer = await ask(harness, "supplier-a", proposal(harness, decision(harness, body)))
    detail = refused(answer, 409, "proposal refused by supplier-a")
    assert (
        "the attestation supplier-a made for this demand is left out" in detail
        or "account for every priority supplier" in detail  # re-execution may refuse it first
    ), detail
    await honest_still_signed(harness, pending)


async def test_split_calling_an_unattested_supplier_unavailable_is_signed_by_it(harness: Harness) -> None:
    await pending_demand(harness)
    other = await harness.erp("oem-b").post("/v1/demands", json={**DEMAND_A, "quantity": 10})
    assert other.status_code == 202, other.text
    await harness.drain()
    [_, demand] = pdu_state(harness).undecided_demands()
    genuine_b = await attest(harness, "supplier-b", "oem-b", demand.hash)
    assert genuine_b.status_code == 200, genuine_b.text
    item = {"entry": genuine_b.json()["entry"], "signatures": genuine_b.json()["signatures"]}
    pending = Pending(demand.id, demand.hash, {"supplier-b": item}, {}, {})
    body = split_with(harness, pending, [item], {"supplier-a": "did not answer in time"})
    entry = decision(harness, body)
    signed(harness, "supplier-a", await ask(harness, "supplier-a", proposal(harness, entry)), entry)


# -- a swapped attestation -----------------------------------------------------------------------


async def test_split_with_a_swapped_attestation_at_the_same_seq_is_refused_by_supplier_and_buyer(
    harness: Harness,
) -> None:
    pending = await pending_demand(harness)
    genuine_a = pending.attestations["supplier-a"]
    seq = genuine_a["entry"]["seq"]
    other = swapped(harness, genuine_a)
    body = split_with(harness, pending, [other, pending.attestations["supplier-b"]], {})
    assert body["result"] != pending.body["result"]
    body_time = now_text()  # one proposal, offered twice: partners never sign two for one seq
    # oem-a countersigned seq ``seq`` but its copy may not hold it yet; then after the push
    for moment in ("countersigned, not yet pushed", "held in both copies"):
        if moment == "held in both copies":
            await harness.drain()
            assert channel_size(harness, "oem-a") == channel_size(harness, "supplier-a") >= seq
        before = heads(harness)
        entry = decision(harness, body, time=body_time)
        answers = await ask_all(harness, proposal(harness, entry))
        refused(
            answers["supplier-a"],
            409,
            "proposal refused by supplier-a",
            f"the attestation of supplier-a used is not the entry at {CHANNEL_A} seq {seq} of its copy",
            case=moment,
        )
        refused(
            answers["oem-a"],
            409,
            "proposal refused by oem-a",
            f"the attestation of supplier-a used is not the entry at {CHANNEL_A} seq {seq} of oem-a's copy",
            case=moment,
        )
        for partner in ("oem-b", "supplier-b"):
            signed(harness, partner, answers[partner], entry)
        await harness.drain()
        assert heads(harness) == before, moment
    honest = decision(harness, pending.body)  # those who refused signed nothing for this seq
    for partner in ("supplier-a", "oem-a"):
        signed(harness, partner, await ask(harness, partner, proposal(harness, honest)), honest)


async def single_signed_attestation(harness: Harness) -> Pending:
    """A pending demand whose supplier-a attestation was made while oem-a was down."""
    pending = await pending_demand(harness)
    await harness.drain()
    harness.down("oem-a")
    assert (
        await harness.erp("supplier-a").put("/v1/dms/profile", json={**PROFILE_A, "machines": 5})
    ).status_code == 200
    fresh = await attest(harness, "supplier-a", "oem-a", pending.demand_hash)
    assert fresh.status_code == 200, fresh.text
    item = {"entry": fresh.json()["entry"], "signatures": fresh.json()["signatures"]}
    assert [s["signer"] for s in item["signatures"]] == ["supplier-a"]
    harness.up("oem-a")  # the push waits in supplier-a's outbox: oem-a does not hold it
    seq = item["entry"]["seq"]
    assert channel_size(harness, "oem-a") < seq == channel_size(harness, "supplier-a")
    pending.attestations["supplier-a"] = item
    pending.body = split_body(harness, pending, pending.inputs())
    return pending


async def test_buyer_catches_up_its_channel_and_signs_a_single_signed_attestation(harness: Harness) -> None:
    pending = await single_signed_attestation(harness)
    entry = decision(harness, pending.body)
    signed(harness, "oem-a", await ask(harness, "oem-a", proposal(harness, entry)), entry)
    assert channel_size(harness, "oem-a") == pending.attestations["supplier-a"]["entry"]["seq"]


async def test_buyer_refuses_a_swapped_attestation_at_a_seq_it_catches_up(harness: Harness) -> None:
    pending = await single_signed_attestation(harness)
    genuine_a = pending.attestations["supplier-a"]
    seq = genuine_a["entry"]["seq"]
    cases = {
        "another entry at the seq the buyer lacked": (
            swapped(harness, genuine_a),
            f"is not the entry at {CHANNEL_A} seq {seq} of oem-a's copy",
        ),
        "an entry beyond the supplier's channel": (
            swapped(harness, genuine_a, seq=seq + 1),
            f"is not on {CHANNEL_A}: oem-a's copy, caught up, has no seq {seq + 1}",
        ),
    }
    for case, (item, reason) in cases.items():
        body = split_with(harness, pending, [item, pending.attestations["supplier-b"]], {})
        answer = await ask(harness, "oem-a", proposal(harness, decision(harness, body)))
        refused(answer, 409, "proposal refused by oem-a", reason, case=case)
        supplier = await ask(harness, "supplier-a", proposal(harness, decision(harness, body)))
        refused(
            supplier, 409, "proposal refused by supplier-a", "the attestation of supplier-a used", case=case
        )
    await honest_still_signed(harness, pending)


async def test_buyer_signs_an_attestation_it_cannot_check_while_the_supplier_is_unreachable(
    harness: Harness,
) -> None:
    """Documented choice: a missing countersignature is the audit's finding, not a stall."""
    pending = await single_signed_attestation(harness)
    other = swapped(harness, pending.attestations["supplier-a"])
    body = split_with(harness, pending, [other, pending.attestations["supplier-b"]], {})
    entry = decision(harness, body)
    harness.down("supplier-a")
    signed(harness, "oem-a", await ask(harness, "oem-a", proposal(harness, entry)), entry)
    assert channel_size(harness, "oem-a") < other["entry"]["seq"]


# -- times ----------------------------------------------------------------------------------------


async def test_backdated_and_future_dated_splits_are_refused_by_every_partner(harness: Harness) -> None:
    pending = await pending_demand(harness)
    cases = {
        "backdated by three days": (now_text(-3 * DAY), "more than 300 s behind"),
        "backdated by six minutes": (now_text(-360), "more than 300 s behind"),
        "dated an hour ahead": (now_text(3600), "more than 300 s ahead of"),
        "dated six minutes ahead": (now_text(360), "more than 300 s ahead of"),
    }
    for case, (time, reason) in cases.items():
        entry = decision(harness, pending.body, time=time)
        await refused_everywhere(harness, proposal(harness, entry), 409, reason, case=case)
    await honest_still_signed(harness, pending)


async def test_split_dated_before_its_base_is_refused_by_every_partner(harness: Harness) -> None:
    pending = await pending_demand(harness)
    state = pdu_state(harness)
    [head] = harness.node("pdu").store.entries(NETWORK_LEDGER, after=state.size - 1, limit=1)
    base_time = datetime.fromisoformat(Entry.from_canonical(head.entry).time.replace("Z", "+00:00"))
    earlier = format_time(base_time - timedelta(seconds=1))
    entry = decision(harness, pending.body, time=earlier)
    await refused_everywhere(
        harness, proposal(harness, entry), 409, "is earlier than its base's", case="1 s before"
    )
    await honest_still_signed(harness, pending)


async def test_proposal_signed_before_keeps_its_signature_once_older_than_the_skew(harness: Harness) -> None:
    pending = await pending_demand(harness)
    entry = decision(harness, pending.body)
    first = signed(harness, "oem-a", await ask(harness, "oem-a", proposal(harness, entry)), entry)
    shift_partner_clocks(harness, 400)  # the PDU re-offers it after a long timeout
    again = signed(harness, "oem-a", await ask(harness, "oem-a", proposal(harness, entry)), entry)
    assert again == first
    for partner in ("oem-b", "supplier-a", "supplier-b"):  # they never signed it: its time is checked
        refused(
            await ask(harness, partner, proposal(harness, entry)), 409, "more than 300 s behind", case=partner
        )


def cancel_of(harness: Harness, escrow_id: str, time: str) -> Json:
    state = pdu_state(harness)
    body = {"decision": CANCEL, "base": base_of(state), "inputs": {"escrow": escrow_id}}
    body["result"] = decide_cancel(state, escrow_id)
    return proposal(harness, decision(harness, body, kind=CANCEL, time=time))


async def test_cancel_dated_far_from_the_partner_clock_is_refused_by_every_partner(harness: Harness) -> None:
    escrow_id = await order_for(harness)
    window = harness.config.deposit_window_seconds
    # overdue by its own time, but a day ahead of every partner's clock
    await refused_everywhere(
        harness, cancel_of(harness, escrow_id, now_text(window + DAY)), 409, "more than 300 s ahead of"
    )
    # overdue by its own time and by the partners' clocks, but a day behind them
    shift_partner_clocks(harness, window + 2 * DAY)
    await refused_everywhere(
        harness, cancel_of(harness, escrow_id, now_text(window + DAY)), 409, "more than 300 s behind"
    )
    assert replica(harness, "oem-a").state.escrows[escrow_id].state == "awaiting_deposit"


@pytest.fixture
async def window_of_100_s(tmp_path: Path, database_url_factory: DatabaseFactory) -> AsyncIterator[Harness]:
    net = Harness(tmp_path / "state", database_url_factory, extra={"deposit_window_seconds": 100})
    yield net
    await net.close()


async def test_cancel_not_due_by_the_partner_clock_is_refused_by_every_partner(
    window_of_100_s: Harness,
) -> None:
    harness = window_of_100_s
    escrow_id = await order_for(harness)
    # within the skew of every clock and overdue by its own time: not by the partners' clocks
    item = cancel_of(harness, escrow_id, now_text(200))
    await refused_everywhere(harness, item, 409, "the deposit window has not elapsed by this partner's clock")
    shift_partner_clocks(harness, 150)
    for partner, answer in (await ask_all(harness, item)).items():
        assert answer.status_code == 200, (partner, answer.text)


# -- bounded attestations -------------------------------------------------------------------------


async def test_repeated_attestation_requests_for_one_demand_add_one_channel_entry(harness: Harness) -> None:
    pending = await pending_demand(harness)  # the PDU asked once already
    first = pending.attestations["supplier-a"]
    size = channel_size(harness, "supplier-a")
    for _ in range(3):
        again = await attest(harness, "supplier-a", "oem-a", pending.demand_hash)
        assert again.status_code == 200, again.text
        assert again.json()["hash"] == Entry.from_json(first["entry"]).hash
    assert channel_size(harness, "supplier-a") == size
    # a profile change is a new word: one new attestation for the demand, then that one again
    profile = {**PROFILE_A, "queued_machine_hours": "120"}
    assert (await harness.erp("supplier-a").put("/v1/dms/profile", json=profile)).status_code == 200
    size = channel_size(harness, "supplier-a")
    answers = [await attest(harness, "supplier-a", "oem-a", pending.demand_hash) for _ in range(3)]
    assert {a.json()["hash"] for a in answers} == {answers[0].json()["hash"]}
    assert answers[0].json()["entry"]["body"]["queued_machine_hours"] == "120"
    assert answers[0].json()["entry"]["body"]["demand"] == pending.demand_hash
    assert channel_size(harness, "supplier-a") == size + 1


async def test_attestation_for_a_demand_the_supplier_may_not_attest_is_refused(harness: Harness) -> None:
    pending = await pending_demand(harness)
    only_b = await harness.erp("oem-a").post(
        "/v1/demands", json={**DEMAND_A, "priority_suppliers": ["supplier-b"]}
    )
    assert only_b.status_code == 202, only_b.text
    await harness.drain()
    listing_b = next(d for d in pdu_state(harness).undecided_demands() if d.id == only_b.json()["id"])
    size = {
        b: channel_size(harness, "supplier-a", channel_ledger(b, "supplier-a")) for b in ("oem-a", "oem-b")
    }
    cases = {
        "unknown demand": ("oem-a", "ab" * 32, 404, "is not on supplier-a's network replica"),
        "another buyer's demand": ("oem-b", pending.demand_hash, 409, "is a demand of oem-a, not of oem-b"),
        "demand not listing the supplier": (
            "oem-a",
            listing_b.hash,
            409,
            "does not list supplier-a among its priority suppliers",
        ),
    }
    for case, (buyer, demand, status, reason) in cases.items():
        answer = await attest(harness, "supplier-a", buyer, demand)
        refused(answer, status, reason, case=case)
    await harness.settle()  # both demands decided
    answer = await attest(harness, "supplier-a", "oem-a", pending.demand_hash)
    refused(answer, 409, "is already partially_allocated", case="decided demand")
    after = {
        b: channel_size(harness, "supplier-a", channel_ledger(b, "supplier-a")) for b in ("oem-a", "oem-b")
    }
    assert after == size


async def test_supplier_syncs_its_replica_to_attest_for_a_demand_just_sequenced(harness: Harness) -> None:
    pending = await pending_demand(harness)
    harness.down("supplier-a")
    other = await harness.erp("oem-a").post("/v1/demands", json={**DEMAND_A, "quantity": 10})
    assert other.status_code == 202, other.text
    await harness.drain()  # sequenced; the push to supplier-a failed and waits
    harness.up("supplier-a")
    demand = next(d for d in pdu_state(harness).undecided_demands() if d.id == other.json()["id"])
    assert demand.hash not in replica(harness, "supplier-a").state.demands
    answer = await attest(harness, "supplier-a", "oem-a", demand.hash)
    assert answer.status_code == 200, answer.text
    assert answer.json()["entry"]["body"]["demand"] == demand.hash != pending.demand_hash


# -- the honest path ------------------------------------------------------------------------------


async def test_honest_split_is_committed_with_every_partner_signature(harness: Harness) -> None:
    demand = await setup_split(harness)
    assert (demand["status"], demand["unallocated_quantity"]) == ("partially_allocated", 210)
    state = pdu_state(harness)
    [row] = harness.node("pdu").store.entries(NETWORK_LEDGER, after=state.size - 1, limit=1)
    committed = Entry.from_canonical(row.entry)
    assert committed.kind == SPLIT
    assert {s["signer"] for s in json.loads(row.signatures)} == {"pdu", *PARTNERS}
    attested = copy.deepcopy(committed.body["inputs"]["attestations"])
    assert {a["entry"]["author"] for a in attested} == {"supplier-a", "supplier-b"}
