"""A lying PDU gets no quorum (SPEC §7): every partner re-executes and refuses.

The tests build proposals with the PDU's own key, exactly as a compromised PDU could:
inflated splits, forged or stale attestations, stale bases, replays, unjustified
releases, forged quorum certificates. Every partner must refuse with the rule that
fails (409 problem+json naming it) and nothing may be appended anywhere. The honest
sequencer still reaches a quorum with one partner down, and fails a demand with the
reason when two are down.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from supplymesh.cli.scenarios import DEMAND_A, PROFILE_A, PROFILE_B
from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.contracts.network import (
    REFUND,
    RELEASE,
    SPLIT,
    NetworkState,
    attested,
    decide_split,
)
from supplymesh.core.crypto import Signer
from supplymesh.core.entry import Entry, Signature, format_time, next_entry, sign_entry
from supplymesh.network.replica import NetworkReplica
from supplymesh.node.keys import KEY_FILE, load_key_file
from supplymesh_pdu.attestations import gather_attestations
from supplymesh_pdu.sequencer import Sequencer
from tests.harness import Harness
from tests.service.test_scenarios import DEMAND_B, setup_split

pytestmark = [pytest.mark.anyio, pytest.mark.db]

PROBLEM = "application/problem+json"
PROPOSALS = "/peer/v1/network/proposals"
ENTRIES = "/peer/v1/network/entries"
PARTNERS = ("oem-a", "oem-b", "supplier-a", "supplier-b")
NODES = ("pdu", *PARTNERS)
SUPPLIERS = ["supplier-a", "supplier-b"]
OTHER_DEMAND = "ab" * 32

Json = dict[str, Any]


# -- helpers ------------------------------------------------------------------------------------


def key_of(harness: Harness, member: str) -> Signer:
    return load_key_file(harness.state_dir / member / KEY_FILE)


def replica(harness: Harness, node: str) -> NetworkReplica:
    held: NetworkReplica = harness.app(node).state.replica
    return held


def pdu_state(harness: Harness) -> NetworkState:
    return replica(harness, "pdu").state


def sequencer(harness: Harness) -> Sequencer:
    seq: Sequencer = harness.app("pdu").state.sequencer
    return seq


def heads(harness: Harness) -> dict[str, tuple[int, str, int]]:
    """Stored network-ledger head and folded replica size of every node."""
    result = {}
    for node in NODES:
        head = harness.node(node).store.head(NETWORK_LEDGER)
        assert head is not None, node
        result[node] = (head.size, head.head_hash, replica(harness, node).state.size)
    return result


def now_text(delta: float = 0.0) -> str:
    return format_time(datetime.now(UTC) + timedelta(seconds=delta))


def base_of(state: NetworkState) -> Json:
    return {"seq": state.size, "hash": state.head}


def decision(
    harness: Harness,
    body: Json,
    *,
    kind: str = SPLIT,
    seq: int | None = None,
    prev: str | None = None,
    time: str | None = None,
) -> Entry:
    """A decision entry authored by the PDU, by default at the PDU replica's head + 1."""
    state = pdu_state(harness)
    entry = next_entry(
        ledger=NETWORK_LEDGER,
        head=(state.size, state.head),
        time=time or now_text(),
        kind=kind,
        author="pdu",
        body=body,
    )
    if seq is None and prev is None:
        return entry
    return Entry(
        ledger=entry.ledger,
        seq=entry.seq if seq is None else seq,
        prev=entry.prev if prev is None else prev,
        time=entry.time,
        kind=entry.kind,
        author=entry.author,
        body=entry.body,
    )


def pdu_signature(harness: Harness, entry: Entry) -> Signature:
    return sign_entry(entry, signer_id="pdu", signer=harness.node("pdu").signer)


def wire(entry: Entry, signatures: list[Signature]) -> Json:
    return {"entry": entry.as_json(), "signatures": [s.as_json() for s in signatures]}


def proposal(harness: Harness, entry: Entry) -> Json:
    """What the PDU posts: the entry with its own signature."""
    return wire(entry, [pdu_signature(harness, entry)])


async def ask(harness: Harness, partner: str, item: Json, *, sender: str = "pdu") -> httpx.Response:
    return await harness.peer(sender).request(partner, "POST", PROPOSALS, json=item)


async def ask_all(harness: Harness, item: Json, *, sender: str = "pdu") -> dict[str, httpx.Response]:
    """Post ``item`` to every partner (but the sender itself)."""
    return {p: await ask(harness, p, item, sender=sender) for p in PARTNERS if p != sender}


def refused(response: httpx.Response, status: int, *reasons: str, case: str = "") -> str:
    assert response.status_code == status, (case, response.text)
    assert response.headers["content-type"].startswith(PROBLEM), (case, response.headers)
    detail: str = response.json()["detail"]
    for reason in reasons:
        assert reason in detail, (case, detail)
    return detail


async def refused_everywhere(
    harness: Harness, item: Json, status: int, reason: str, *, case: str = "", sender: str = "pdu"
) -> None:
    """Every partner refuses ``item`` for ``reason``, and no node appends anything."""
    before = heads(harness)
    for partner, response in (await ask_all(harness, item, sender=sender)).items():
        detail = refused(response, status, reason, case=case)
        if status == 409 and "not signed by the PDU" not in detail:
            assert f"refused by {partner}" in detail, (case, detail)
    await harness.drain()
    assert heads(harness) == before, case


def signed(harness: Harness, partner: str, response: httpx.Response, entry: Entry) -> Signature:
    """A 200 answer carrying ``partner``'s valid signature over the entry hash."""
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["signer"] == partner
    harness.config.member(partner).key.verify_text(reply["sig"], entry.digest)
    return Signature(partner, reply["sig"])


# -- a pending demand and the honest inputs of its split ------------------------------------------


@dataclass
class Pending:
    """Scenario 1 up to the pending demand, with what an honest PDU would propose."""

    demand_id: str
    demand_hash: str
    attestations: dict[str, Json]
    unavailable: dict[str, str]
    body: Json

    def inputs(self, attestations: list[Json] | None = None) -> Json:
        return {
            "demand": self.demand_hash,
            "attestations": list(self.attestations.values()) if attestations is None else attestations,
            "unavailable": dict(self.unavailable),
        }


async def put_profiles(harness: Harness) -> None:
    for supplier, profile in (("supplier-a", PROFILE_A), ("supplier-b", PROFILE_B)):
        assert (await harness.erp(supplier).put("/v1/dms/profile", json=profile)).status_code == 200


async def pending_demand(harness: Harness) -> Pending:
    await put_profiles(harness)
    created = await harness.erp("oem-a").post("/v1/demands", json=DEMAND_A)
    assert created.status_code == 202, created.text
    await harness.drain()
    state = pdu_state(harness)
    [demand] = state.undecided_demands()
    assert demand.buyer == "oem-a" and demand.id == created.json()["id"]
    for partner in PARTNERS:  # every replica holds the demand, still undecided
        assert replica(harness, partner).state.demands[demand.hash].status == "pending"
    attestations, unavailable = await gather_attestations(
        harness.node("pdu"), "oem-a", demand.hash, SUPPLIERS, timeout=5.0
    )
    assert set(attestations) == set(SUPPLIERS) and unavailable == {}
    pending = Pending(created.json()["id"], demand.hash, attestations, unavailable, {})
    pending.body = split_body(harness, pending, pending.inputs())
    return pending


def split_body(harness: Harness, pending: Pending, inputs: Json) -> Json:
    """The body a PDU computes from ``inputs`` (consistent with them, forged or not)."""
    state = pdu_state(harness)
    capacities = {
        a["entry"]["author"]: attested(a["entry"]["body"], a["entry"]["author"])
        for a in inputs["attestations"]
    }
    result = decide_split(state, pending.demand_hash, capacities, inputs["unavailable"])
    return {"decision": SPLIT, "base": base_of(state), "inputs": inputs, "result": result}


async def honest_still_signed(harness: Harness, pending: Pending) -> None:
    """A refused lie left no countersignature behind: the honest split is still signed."""
    entry = decision(harness, pending.body)
    answers = await ask_all(harness, proposal(harness, entry))
    for partner, response in answers.items():
        signed(harness, partner, response, entry)


# -- the honest proposal ----------------------------------------------------------------------------


async def test_honest_split_proposal_is_signed_by_every_partner(harness: Harness) -> None:
    pending = await pending_demand(harness)
    result = pending.body["result"]
    assert [
        (a["supplier"], a["quantity"], a["machine_hours"], a["escrow_amount"]) for a in result["allocations"]
    ] == [("supplier-a", 390, "156", 487500), ("supplier-b", 400, "160", 500000)]
    assert (result["unallocated"], result["status"]) == (210, "partially_allocated")
    before = heads(harness)
    entry = decision(harness, pending.body)
    answers = await ask_all(harness, proposal(harness, entry))
    assert set(answers) == set(PARTNERS)
    for partner, response in answers.items():
        signed(harness, partner, response, entry)
    again = await ask(harness, "oem-a", proposal(harness, entry))  # asking twice is harmless
    assert again.json() == answers["oem-a"].json()
    await harness.drain()
    assert heads(harness) == before  # signing appends nothing


# -- inflated or altered results ---------------------------------------------------------------------


def _allocation(result: Json, supplier: str) -> Json:
    found: Json = next(a for a in result["allocations"] if a["supplier"] == supplier)
    return found


def _inflate_quantity(result: Json) -> None:
    _allocation(result, "supplier-a")["quantity"] = 391


def _inflate_consistently(result: Json) -> None:
    _allocation(result, "supplier-a").update(quantity=391, machine_hours="156.4", escrow_amount=391 * 1250)
    result.update(unallocated=209, allocated=791)


def _change_hours(result: Json) -> None:
    _allocation(result, "supplier-a")["machine_hours"] = "100"


def _inflate_escrow(result: Json) -> None:
    _allocation(result, "supplier-b")["escrow_amount"] = 600000


def _redirect_escrow(result: Json) -> None:
    _allocation(result, "supplier-b")["escrow_id"] = "0" * 32


def _change_unallocated(result: Json) -> None:
    result["unallocated"] = 200


def _claim_fully_allocated(result: Json) -> None:
    result["status"] = "allocated"


def _drop_supplier_b(result: Json) -> None:
    result["allocations"] = [_allocation(result, "supplier-a")]
    result.update(unallocated=610, allocated=390)


ALTERED_RESULTS: dict[str, Callable[[Json], None]] = {
    "supplier-a-391-units": _inflate_quantity,
    "supplier-a-391-units-with-matching-hours-escrow-and-unallocated": _inflate_consistently,
    "supplier-a-hours-changed": _change_hours,
    "supplier-b-escrow-amount-changed": _inflate_escrow,
    "supplier-b-escrow-id-redirected": _redirect_escrow,
    "unallocated-changed": _change_unallocated,
    "status-claims-fully-allocated": _claim_fully_allocated,
    "supplier-b-allocation-dropped": _drop_supplier_b,
}


@pytest.mark.parametrize("case", list(ALTERED_RESULTS))
async def test_split_with_inflated_or_altered_result_is_refused_by_every_partner(
    harness: Harness, case: str
) -> None:
    pending = await pending_demand(harness)
    body = copy.deepcopy(pending.body)
    ALTERED_RESULTS[case](body["result"])
    assert body["result"] != pending.body["result"]
    item = proposal(harness, decision(harness, body))
    await refused_everywhere(harness, item, 409, "re-execution gives a different result", case=case)
    await honest_still_signed(harness, pending)


# -- forged and stale inputs -------------------------------------------------------------------------


async def attestation_for(harness: Harness, supplier: str, *, buyer: str, demand: str) -> Json:
    """A genuine attestation, as the supplier makes it when the PDU asks."""
    response = await harness.peer("pdu").request(
        supplier, "POST", "/peer/v1/capacity/attestations", json={"buyer": buyer, "demand": demand}
    )
    assert response.status_code == 200, response.text
    item = response.json()
    return {"entry": item["entry"], "signatures": item["signatures"]}


def with_signature(item: Json, signer: str, sig: str | None) -> Json:
    """``item`` with ``signer``'s signature replaced (removed when ``sig`` is None)."""
    others = [s for s in item["signatures"] if s["signer"] != signer]
    return {**item, "signatures": others + ([] if sig is None else [{"signer": signer, "sig": sig}])}


async def refuse_split_with(
    harness: Harness, pending: Pending, attestations: list[Json], reason: str, *, case: str
) -> None:
    """The liar's result is consistent with its forged inputs; the inputs give it away."""
    body = split_body(harness, pending, pending.inputs(attestations))
    await refused_everywhere(harness, proposal(harness, decision(harness, body)), 409, reason, case=case)


async def test_split_with_forged_supplier_attestation_is_refused_by_every_partner(harness: Harness) -> None:
    pending = await pending_demand(harness)
    genuine_a, genuine_b = pending.attestations["supplier-a"], pending.attestations["supplier-b"]
    altered = copy.deepcopy(genuine_a)
    assert altered["entry"]["body"]["mhc_per_day"] == "51.2"
    altered["entry"]["body"]["mhc_per_day"] = "80"
    wrong_key = harness.node("pdu").signer.sign_text(Entry.from_json(genuine_a["entry"]).digest)
    forged = {
        "garbage supplier signature": with_signature(genuine_a, "supplier-a", "not-a-signature"),
        "supplier signature by another key": with_signature(genuine_a, "supplier-a", wrong_key),
        "supplier signature missing": with_signature(genuine_a, "supplier-a", None),
        "body altered after signing": altered,
    }
    for case, item in forged.items():
        await refuse_split_with(
            harness,
            pending,
            [item, genuine_b],
            "attestation signature of supplier-a does not verify",
            case=case,
        )
    await honest_still_signed(harness, pending)


async def earlier_attestation(harness: Harness, supplier: str, *, buyer: str) -> Json:
    """A genuine attestation ``supplier`` made for an earlier demand of ``buyer`` (decided since)."""
    await put_profiles(harness)
    earlier = {**DEMAND_A, "quantity": 10, "required_machine_hours": "4"}
    created = await harness.erp(buyer).post("/v1/demands", json=earlier)
    assert created.status_code == 202, created.text
    await harness.drain()
    [demand] = pdu_state(harness).undecided_demands()
    item = await attestation_for(harness, supplier, buyer=buyer, demand=demand.hash)
    await harness.settle()
    assert pdu_state(harness).undecided_demands() == []
    return item


async def test_split_with_attestation_made_for_another_demand_is_refused_as_stale(harness: Harness) -> None:
    stale = await earlier_attestation(harness, "supplier-a", buyer="oem-a")
    pending = await pending_demand(harness)
    assert stale["entry"]["body"]["demand"] != pending.demand_hash
    await refuse_split_with(
        harness,
        pending,
        [stale, pending.attestations["supplier-b"]],
        "attestation of supplier-a was not made for this demand (stale)",
        case="stale",
    )
    await honest_still_signed(harness, pending)


async def test_split_passing_off_another_attestation_as_supplier_a_is_refused(harness: Harness) -> None:
    other_buyer = await earlier_attestation(harness, "supplier-a", buyer="oem-b")
    pending = await pending_demand(harness)
    genuine_a, genuine_b = pending.attestations["supplier-a"], pending.attestations["supplier-b"]
    relabelled = copy.deepcopy(genuine_b)
    relabelled["entry"].update(author="supplier-a", ledger="channel:oem-a:supplier-a")
    relabelled["signatures"] = [
        {"signer": "supplier-a" if s["signer"] == "supplier-b" else s["signer"], "sig": s["sig"]}
        for s in genuine_b["signatures"]
    ]
    moved = copy.deepcopy(genuine_b)
    moved["entry"]["ledger"] = "channel:oem-a:supplier-a"
    cases = {
        "supplier-b's attestation relabelled as supplier-a's": (
            [relabelled, genuine_b],
            "attestation signature of supplier-a does not verify",
        ),
        "supplier-b's attestation on supplier-a's channel": (
            [genuine_a, moved],
            "is not the supplier's attestation for oem-a",
        ),
        "supplier-a's attestation for another buyer": (
            [other_buyer, genuine_b],
            "is not the supplier's attestation for oem-a",
        ),
    }
    for case, (attestations, reason) in cases.items():
        await refuse_split_with(harness, pending, attestations, reason, case=case)
    await honest_still_signed(harness, pending)


async def test_split_with_inconsistent_inputs_is_refused_by_every_partner(harness: Harness) -> None:
    pending = await pending_demand(harness)
    again = await attestation_for(harness, "supplier-a", buyer="oem-a", demand=pending.demand_hash)
    twice = copy.deepcopy(pending.body)
    twice["inputs"]["attestations"].append(again)
    skipped = copy.deepcopy(pending.body)
    skipped["inputs"]["unavailable"] = {"supplier-b": "did not answer in time"}
    unknown = copy.deepcopy(pending.body)
    unknown["inputs"]["demand"] = unknown["result"]["demand"] = OTHER_DEMAND
    cases = {
        "two attestations of supplier-a": (twice, "two attestations of supplier-a"),
        "attested supplier also listed unavailable": (skipped, "a supplier is both attested and unavailable"),
        "demand not on the ledger": (unknown, "no undecided demand with that hash at the base"),
    }
    for case, (body, reason) in cases.items():
        await refused_everywhere(harness, proposal(harness, decision(harness, body)), 409, reason, case=case)
    await honest_still_signed(harness, pending)


# -- stale bases and replays -------------------------------------------------------------------------


async def test_split_at_a_stale_base_is_refused_by_every_partner(harness: Harness) -> None:
    pending = await pending_demand(harness)
    state = pdu_state(harness)
    [last] = harness.node("pdu").store.entries(NETWORK_LEDGER, after=state.size - 1, limit=1)
    behind = {"seq": state.size - 1, "hash": Entry.from_canonical(last.entry).prev}
    cases: dict[str, tuple[Json, int | None, str | None, str]] = {
        "base one behind the head": (behind, None, None, "stale base"),
        "base hash not the head": ({"seq": state.size, "hash": "f" * 64}, None, None, "stale base"),
        "base ahead of the head": (
            {"seq": state.size + 1, "hash": "f" * 64},
            state.size + 2,
            "f" * 64,
            "stale base",
        ),
        "entry at head + 2": (base_of(state), state.size + 2, None, "a decision commits only at base + 1"),
        "prev not the head": (base_of(state), None, "e" * 64, "a decision commits only at base + 1"),
    }
    for case, (base, seq, prev, reason) in cases.items():
        body = {**copy.deepcopy(pending.body), "base": base}
        entry = decision(harness, body, seq=seq, prev=prev)
        await refused_everywhere(harness, proposal(harness, entry), 409, reason, case=case)
    await honest_still_signed(harness, pending)


async def test_replayed_committed_split_is_refused_by_every_partner(harness: Harness) -> None:
    pending = await pending_demand(harness)
    await harness.settle()
    state = pdu_state(harness)
    assert state.demands[pending.demand_hash].status == "partially_allocated"
    [row] = harness.node("pdu").store.entries(NETWORK_LEDGER, after=state.size - 1, limit=1)
    committed = Entry.from_canonical(row.entry)
    assert committed.kind == SPLIT and committed.hash == state.demands[pending.demand_hash].decision
    assert len({h[:2] for h in heads(harness).values()}) == 1  # every replica holds the decision
    await refused_everywhere(harness, proposal(harness, committed), 409, "stale base", case="replayed as is")
    rebased = decision(harness, {**dict(committed.body), "base": base_of(state)})
    await refused_everywhere(
        harness,
        proposal(harness, rebased),
        409,
        "no undecided demand with that hash at the base",
        case="replayed at the current base",
    )
    assert len(state.escrows) == 2


# -- unjustified quality decisions ---------------------------------------------------------------------


async def failing_lot(harness: Harness, *, report_a: bool) -> tuple[str, str]:
    """Scenario 2 up to supplier-b's failing lot reported (and supplier-a's passing one if asked)."""
    demand = await setup_split(harness)
    other = await harness.erp("oem-b").post("/v1/demands", json=DEMAND_B)
    assert other.status_code == 202, other.text
    await harness.settle()
    escrow_a, escrow_b = (a["escrow_id"] for a in demand["allocations"])
    for escrow_id, amount in ((escrow_a, 487500), (escrow_b, 500000)):
        paid = await harness.erp("oem-a").post(
            f"/v1/escrows/{escrow_id}/deposit",
            json={"amount": amount, "currency": "EUR", "payment_reference": f"PAY-{amount}"},
        )
        assert paid.status_code == 200, paid.text
    reports = [("supplier-b", escrow_b, 400, {"critical": 0, "major": 14, "minor": 0})]
    if report_a:
        reports.append(("supplier-a", escrow_a, 390, {"critical": 0, "major": 5, "minor": 10}))
    for supplier, escrow_id, produced, defects in reports:
        done = await harness.erp(supplier).post(
            f"/v1/orders/{escrow_id}/production-complete",
            json={"produced_quantity": produced, "defects": defects},
        )
        assert done.status_code == 200, done.text
    await harness.drain()  # the lots reach every replica; the PDU has not decided yet
    for node in NODES:
        escrows = replica(harness, node).state.escrows
        assert escrows[escrow_b].state == "funded" and escrows[escrow_b].lot is not None, node
        assert (escrows[escrow_a].lot is not None) is report_a, node
    return escrow_a, escrow_b


async def refuse_quality(harness: Harness, kind: str, result: Json, reason: str, *, case: str) -> None:
    body = {
        "decision": kind,
        "base": base_of(pdu_state(harness)),
        "inputs": {"escrow": result["escrow"]},
        "result": result,
    }
    entry = decision(harness, body, kind=kind)
    await refused_everywhere(harness, proposal(harness, entry), 409, reason, case=case)


async def honest_quality_decisions(harness: Harness, escrow_a: str, escrow_b: str, *, report_a: bool) -> None:
    """After the lies, the honest PDU decides by the rule and gets its quorum."""
    for node in PARTNERS:
        assert replica(harness, node).state.escrows[escrow_b].state == "funded", node
    await harness.settle()
    state = pdu_state(harness)
    assert state.escrows[escrow_b].state == "refunded"
    assert state.escrows[escrow_a].state == ("released" if report_a else "funded")
    assert [(o.buyer, o.quantity, o.state) for o in state.offers.values()] == [("oem-b", 400, "open")]


async def test_release_despite_failing_quality_is_refused_by_every_partner(harness: Harness) -> None:
    escrow_a, escrow_b = await failing_lot(harness, report_a=False)
    release_b = {"escrow": escrow_b, "amount": 500000, "to": "supplier-b", "reason": "quality passed"}
    refund_b = {
        "escrow": escrow_b,
        "amount": 500000,
        "to": "oem-a",
        "reason": "quality below the buyer's AQL",
        "offers": [],
    }
    release_a = {"escrow": escrow_a, "amount": 487500, "to": "supplier-a", "reason": "quality passed"}
    cases = {
        "release of supplier-b's failing lot": (
            RELEASE,
            release_b,
            "the rule gives decision.refund, not decision.release",
        ),
        "release of an escrow not yet reported": (
            RELEASE,
            release_a,
            "no funded escrow with a reported lot at the base",
        ),
        "release of an unknown escrow": (
            RELEASE,
            {**release_b, "escrow": "0" * 32},
            "no funded escrow with a reported lot at the base",
        ),
        "refund without the re-offer to oem-b": (REFUND, refund_b, "re-execution gives a different result"),
    }
    for case, (kind, result, reason) in cases.items():
        await refuse_quality(harness, kind, result, reason, case=case)
    await honest_quality_decisions(harness, escrow_a, escrow_b, report_a=False)


async def test_refund_or_inflated_release_of_a_passing_lot_is_refused_by_every_partner(
    harness: Harness,
) -> None:
    escrow_a, escrow_b = await failing_lot(harness, report_a=True)
    release_a = {"escrow": escrow_a, "amount": 487500, "to": "supplier-a", "reason": "quality passed"}
    refund_a = {
        "escrow": escrow_a,
        "amount": 487500,
        "to": "oem-a",
        "reason": "quality below the buyer's AQL",
        "offers": [],
    }
    cases = {
        "refund of supplier-a's passing lot": (
            REFUND,
            refund_a,
            "the rule gives decision.release, not decision.refund",
        ),
        "release with an inflated amount": (
            RELEASE,
            {**release_a, "amount": 600000},
            "re-execution gives a different result",
        ),
        "release paid to another supplier": (
            RELEASE,
            {**release_a, "to": "supplier-b"},
            "re-execution gives a different result",
        ),
    }
    for case, (kind, result, reason) in cases.items():
        await refuse_quality(harness, kind, result, reason, case=case)
    await honest_quality_decisions(harness, escrow_a, escrow_b, report_a=True)


# -- who may propose, and the PDU's signature ----------------------------------------------------------


async def test_proposal_sent_by_a_partner_is_forbidden(harness: Harness) -> None:
    pending = await pending_demand(harness)
    item = proposal(harness, decision(harness, pending.body))  # even with the PDU's valid signature
    for sender in ("oem-b", "supplier-a", "auditor"):
        await refused_everywhere(
            harness, item, 403, "only the PDU proposes decisions", case=sender, sender=sender
        )
    await honest_still_signed(harness, pending)


async def test_proposal_without_a_valid_pdu_signature_is_refused_by_every_partner(harness: Harness) -> None:
    pending = await pending_demand(harness)
    entry = decision(harness, pending.body)
    other = decision(harness, pending.body, time=now_text(1))
    state = pdu_state(harness)
    by_partner = next_entry(
        ledger=NETWORK_LEDGER,
        head=(state.size, state.head),
        time=now_text(),
        kind=SPLIT,
        author="oem-b",
        body=pending.body,
    )
    cases = {
        "garbage PDU signature": (wire(entry, [Signature("pdu", "not-a-signature")]), "proposal refused by"),
        "PDU signature by another key": (
            wire(entry, [Signature("pdu", key_of(harness, "oem-b").sign_text(entry.digest))]),
            "proposal refused by",
        ),
        "PDU signature over another entry": (
            wire(entry, [Signature("pdu", pdu_signature(harness, other).sig)]),
            "proposal refused by",
        ),
        "PDU signature missing": (
            wire(entry, [sign_entry(entry, signer_id="oem-b", signer=key_of(harness, "oem-b"))]),
            "not signed by the PDU",
        ),
        "entry authored by a partner": (proposal(harness, by_partner), "only the PDU proposes decisions"),
    }
    for case, (item, reason) in cases.items():
        await refused_everywhere(harness, item, 409, reason, case=case)
    await honest_still_signed(harness, pending)


async def test_partner_never_signs_two_different_decisions_for_one_seq(harness: Harness) -> None:
    pending = await pending_demand(harness)
    first = decision(harness, pending.body)
    signed(harness, "oem-a", await ask(harness, "oem-a", proposal(harness, first)), first)
    second = decision(harness, pending.body, time=now_text(1))  # same body, another time
    assert second.seq == first.seq and second.hash != first.hash
    before = heads(harness)
    refused(
        await ask(harness, "oem-a", proposal(harness, second)),
        409,
        "proposal refused by oem-a",
        f"already signed another decision for seq {first.seq}",
    )
    # it still signs the first one; the others, which signed nothing yet, sign the second
    signed(harness, "oem-a", await ask(harness, "oem-a", proposal(harness, first)), first)
    for partner in ("oem-b", "supplier-a", "supplier-b"):
        signed(harness, partner, await ask(harness, partner, proposal(harness, second)), second)
    await harness.drain()
    assert heads(harness) == before


# -- certificates on replicated entries ------------------------------------------------------------------


def signatures_by(harness: Harness, entry: Entry, *members: str) -> list[Signature]:
    return [sign_entry(entry, signer_id=m, signer=key_of(harness, m)) for m in members]


async def test_decision_pushed_with_a_forged_certificate_is_refused_by_every_partner(
    harness: Harness,
) -> None:
    pending = await pending_demand(harness)
    entry = decision(harness, pending.body)
    other = decision(harness, pending.body, time=now_text(1))
    own = pdu_signature(harness, entry)
    cases = {
        "only the PDU's signature": [own],
        "signatures by non-members": [
            own,
            *signatures_by(harness, entry, "auditor"),
            Signature("mallory", key_of(harness, "oem-b").sign_text(entry.digest)),
        ],
        "two of four partners": [own, *signatures_by(harness, entry, "oem-a", "supplier-a")],
        "two valid, two forged": [
            own,
            *signatures_by(harness, entry, "oem-a", "supplier-a"),
            Signature("oem-b", "not-a-signature"),
            Signature("supplier-b", key_of(harness, "supplier-a").sign_text(entry.digest)),
        ],
        "four partners over another entry": [own, *signatures_by(harness, other, *PARTNERS)],
    }
    pdu = harness.peer("pdu")
    before = heads(harness)
    for case, signatures in cases.items():
        for partner in PARTNERS:
            response = await pdu.request(partner, "POST", ENTRIES, json=wire(entry, signatures))
            refused(response, 422, "quorum certificate insufficient", case=f"{case} at {partner}")
        assert heads(harness) == before, case
    for partner in PARTNERS:
        assert replica(harness, partner).state.demands[pending.demand_hash].status == "pending"


async def test_decision_pushed_with_three_partner_signatures_is_accepted(harness: Harness) -> None:
    pending = await pending_demand(harness)
    entry = decision(harness, pending.body)
    certificate = wire(
        entry,
        [pdu_signature(harness, entry), *signatures_by(harness, entry, "oem-a", "supplier-a", "supplier-b")],
    )
    before = heads(harness)
    # only the PDU replicates, whatever the certificate
    pushed = await harness.peer("oem-a").request("oem-b", "POST", ENTRIES, json=certificate)
    refused(pushed, 403, "only the PDU replicates the network ledger")
    assert heads(harness) == before
    response = await harness.peer("pdu").request("oem-b", "POST", ENTRIES, json=certificate)
    assert response.status_code == 204, response.text
    after = heads(harness)
    assert after.pop("oem-b") == (before.pop("oem-b")[0] + 1, entry.hash, entry.seq)
    assert after == before
    assert replica(harness, "oem-b").state.demands[pending.demand_hash].status == "partially_allocated"


# -- the honest sequencer and partners that are down --------------------------------------------------------


async def test_honest_split_reaches_quorum_with_one_partner_down(harness: Harness) -> None:
    pending = await pending_demand(harness)
    sequencer(harness).timeout = 0.5
    harness.down("oem-b")
    await harness.settle()
    state = pdu_state(harness)
    demand = state.demands[pending.demand_hash]
    assert demand.status == "partially_allocated" and demand.unallocated == 210
    [row] = harness.node("pdu").store.entries(NETWORK_LEDGER, after=state.size - 1, limit=1)
    assert row.hash == demand.decision
    assert {s["signer"] for s in json.loads(row.signatures)} == {"pdu", "oem-a", "supplier-a", "supplier-b"}
    split = (await harness.erp("oem-a").get(f"/v1/demands/{pending.demand_id}")).json()
    assert (split["status"], split["unallocated_quantity"]) == ("partially_allocated", 210)
    assert replica(harness, "oem-b").state.size == state.size - 1  # missed it while down
    harness.up("oem-b")
    await harness.drain()
    await replica(harness, "oem-b").sync()
    assert replica(harness, "oem-b").state.head == state.head


async def test_split_without_quorum_fails_the_demand_when_two_partners_are_down(harness: Harness) -> None:
    pending = await pending_demand(harness)
    seq = sequencer(harness)
    seq.timeout = 0.5
    harness.down("oem-b")
    harness.down("supplier-b")
    await harness.settle()
    state = pdu_state(harness)
    demand = state.demands[pending.demand_hash]
    assert demand.status == "failed", demand
    assert demand.decision is None and demand.allocations == []
    detail = str(demand.detail)
    assert "no quorum" in detail and "signed by 2/3" in detail, detail
    assert "oem-b" in detail and "supplier-b" in detail, detail
    assert len(seq.failures[pending.demand_hash]) == seq.attempts
    kinds = [Entry.from_canonical(r.entry).kind for r in harness.node("pdu").store.entries(NETWORK_LEDGER)]
    assert SPLIT not in kinds and kinds[-1] == "demand.failed"
    assert state.escrows == {}
    shown = (await harness.erp("oem-a").get(f"/v1/demands/{pending.demand_id}")).json()
    assert shown["status"] == "failed" and "no quorum" in str(shown["detail"]), shown
    assert shown["allocations"] == []
