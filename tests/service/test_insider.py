"""A member's own signature makes an action attributable, never valid (SPEC §11).

A careless ERP call and an insider member holding only its own key try the cases of
the network's rules; every one ends in a clear refusal (4xx problem+json, never 5xx) or,
when a faulty PDU sequences it anyway, in a fold that changes nothing and records why.
Honest demands keep being decided exactly as SPEC §5 says.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from supplymesh.cli.scenarios import DEMAND_A, PROFILE_A, PROFILE_B
from supplymesh.core.canonical import CanonicalizationError, canonical_hash
from supplymesh.core.contracts.network import SPLIT, attested, decide_split
from supplymesh.core.numbers import MAX_SAFE_INTEGER
from supplymesh.storage.engine import write_transaction
from supplymesh.storage.entry_records import load_pending_block
from supplymesh.storage.outbox import enqueue
from supplymesh.storage.tables import outbox
from supplymesh_oem.demands import SUBMIT_TASK
from supplymesh_oem.tables import demands as oem_demands
from supplymesh_pdu.attestations import gather_attestations
from supplymesh_pdu.rounds import WITHDRAW_AFTER_SECONDS
from supplymesh_pdu.sequencer import Sequencer
from tests.harness import Harness
from tests.insider import PARTNERS, FaultyPdu, Insider, heads, state_of
from tests.service.test_oem_api import NORMALISED, network_size

pytestmark = [pytest.mark.anyio, pytest.mark.db]

PROBLEM = "application/problem+json"
Json = dict[str, Any]


def terms(**changes: Any) -> Json:
    return {**NORMALISED, **changes}


def without(key: str) -> Json:
    return {k: v for k, v in NORMALISED.items() if k != key}


INSIDER_TERMS: dict[str, Json] = {
    "negative hours": terms(required_machine_hours="-400"),
    "zero hours": terms(required_machine_hours="0"),
    "negative quantity": terms(quantity=-5),
    "no quantity": without("quantity"),
    "a supplier listed twice": terms(priority_suppliers=["supplier-a", "supplier-a"]),
    "escrow past exact integers": terms(unit_price={"amount": MAX_SAFE_INTEGER, "currency": "EUR"}),
    "quantity as a string": terms(quantity="1000"),
    "unknown currency": terms(unit_price={"amount": 1250, "currency": "ZZZ"}),
    "unknown supplier": terms(priority_suppliers=["supplier-z"]),
    "body not an object": {"terms": [1, 2, 3]},
}


async def profiles(harness: Harness) -> None:
    for supplier, profile in (("supplier-a", PROFILE_A), ("supplier-b", PROFILE_B)):
        assert (await harness.erp(supplier).put("/v1/dms/profile", json=profile)).status_code == 200


async def spec_split(harness: Harness) -> Json:
    """Place the SPEC §5 demand through oem-a's ERP API and return it once decided."""
    created = await harness.erp("oem-a").post("/v1/demands", json=DEMAND_A)
    assert created.status_code == 202, created.text
    await harness.settle()
    demand: Json = (await harness.erp("oem-a").get(f"/v1/demands/{created.json()['id']}")).json()
    return demand


def assert_spec_split(demand: Json) -> None:
    assert demand["status"] == "partially_allocated", demand
    assert demand["unallocated_quantity"] == 210
    assert [(a["supplier"], a["quantity"], a["escrow_amount"]) for a in demand["allocations"]] == [
        ("supplier-a", 390, 487500),
        ("supplier-b", 400, 500000),
    ]


async def test_erp_demand_whose_escrow_leaves_exact_integers_is_refused_and_decisions_go_on(
    harness: Harness,
) -> None:
    await profiles(harness)
    poisoned = {**DEMAND_A, "unit_price": {"amount": MAX_SAFE_INTEGER, "currency": "EUR"}}
    response = await harness.erp("oem-a").post("/v1/demands", json=poisoned)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert "exact JSON integer" in response.text
    assert_spec_split(await spec_split(harness))


@pytest.mark.parametrize("case", list(INSIDER_TERMS))
async def test_insider_signed_terms_breaking_a_rule_are_refused_by_the_pdu(
    harness: Harness, case: str
) -> None:
    before = await network_size(harness)
    response = await Insider(harness, "oem-a").submit("demand.submitted", INSIDER_TERMS[case])
    assert response.status_code == 422, (case, response.text)
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["detail"], case
    assert await network_size(harness) == before


@pytest.mark.parametrize(
    "case", ["negative hours", "a supplier listed twice", "negative quantity", "escrow past exact integers"]
)
async def test_a_bad_demand_a_faulty_pdu_sequences_gains_nothing_anywhere(
    harness: Harness, case: str
) -> None:
    await profiles(harness)
    seq = await FaultyPdu(harness).sequence(
        Insider(harness, "oem-a"), "demand.submitted", INSIDER_TERMS[case]
    )
    assert len(heads(harness)) == 1, "every partner accepted the entry and folded it"
    reasons = {node: state_of(harness, node).refused.get(seq) for node in ("pdu", *PARTNERS)}
    assert len(set(reasons.values())) == 1 and None not in reasons.values(), reasons
    for node in ("pdu", *PARTNERS):
        assert all(d.seq != seq for d in state_of(harness, node).demands.values()), node
    assert_spec_split(await spec_split(harness))
    assert len(heads(harness)) == 1


async def test_insider_deposit_into_someone_elses_escrow_is_refused(harness: Harness) -> None:
    await profiles(harness)
    demand = await spec_split(harness)
    escrow = demand["allocations"][0]["escrow_id"]
    deposit = {
        "escrow": escrow,
        "amount": 487500,
        "currency": "EUR",
        "payment_reference_commitment": "c" * 64,
    }
    response = await Insider(harness, "oem-b").submit("escrow.deposited", deposit)
    assert response.status_code == 404, response.text
    assert state_of(harness, "pdu").escrows[escrow].state == "awaiting_deposit"


async def test_insider_production_report_with_more_defects_than_units_is_refused(harness: Harness) -> None:
    await profiles(harness)
    demand = await spec_split(harness)
    escrow = demand["allocations"][0]["escrow_id"]
    report = {
        "escrow": escrow,
        "order": escrow,
        "produced_quantity": 390,
        "defects": {"critical": 0, "major": 391, "minor": 0},
        "source": "declared",
    }
    response = await Insider(harness, "supplier-a").submit("production.completed", report)
    assert response.status_code == 422, response.text
    assert "defective units" in response.json()["detail"]


async def test_a_retry_after_every_answer_was_lost_reoffers_the_same_proposal(harness: Harness) -> None:
    """Every partner signs the first proposal but the answers arrive too late for the PDU:
    the retry offers the very same entry, which every partner signs again, and it commits."""
    await profiles(harness)
    harness.start_all()
    for partner in PARTNERS:
        harness.lose_answers(partner, "/peer/v1/network/proposals")
    demand = await spec_split(harness)
    assert_spec_split(demand)
    sequencer = harness.app("pdu").state.sequencer
    assert any("no answer" in f for fails in sequencer.failures.values() for f in fails), "a round was lost"
    assert not harness.lost_answers or not any(harness.lost_answers.values())


def insider_corpus(count: int) -> list[tuple[str, str, Any]]:
    """Arbitrary action bodies an insider could sign: pure noise, and valid bodies with one field replaced."""
    found: list[tuple[str, str, Any]] = []
    noise = st.recursive(
        st.none() | st.booleans() | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=12,
    )
    mutated = st.builds(
        lambda key, value: {**NORMALISED, key: value}, st.sampled_from(sorted(NORMALISED)), noise
    )
    kinds = st.sampled_from(
        ["demand.submitted", "escrow.deposited", "production.completed", "offer.accepted"]
    )
    parties = st.sampled_from(["oem-a", "supplier-a"])

    @settings(max_examples=count, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(kinds, parties, st.one_of(noise, mutated))
    def collect(kind: str, party: str, body: Any) -> None:
        found.append((kind, party, body))

    collect()
    return found


async def test_arbitrary_insider_actions_never_get_a_5xx_and_honest_demands_are_still_decided(
    harness: Harness,
) -> None:
    await profiles(harness)
    insiders = {m: Insider(harness, m) for m in ("oem-a", "supplier-a")}
    statuses = []
    corpus = insider_corpus(60)
    for index, (kind, party, body) in enumerate(corpus):
        if index == len(corpus) // 2:  # honest traffic in the middle of the noise
            await harness.settle()
            assert_spec_split(await spec_split(harness))
        try:
            canonical_hash(body)
        except CanonicalizationError:
            continue  # not even signable: no node can be handed it
        response = await insiders[party].submit(kind, body)
        assert response.status_code < 500, (kind, body, response.text)
        statuses.append(response.status_code)
    assert set(statuses) <= {200, 403, 404, 409, 422}
    assert statuses.count(422) > len(statuses) // 2  # the corpus is mostly refused bodies
    await harness.settle()
    assert len(heads(harness)) == 1
    for node in ("pdu", *PARTNERS):
        state = state_of(harness, node)
        assert state.refused == {}, (node, state.refused)  # the PDU sequenced nothing inadmissible
        for escrow in state.escrows.values():
            assert escrow.quantity > 0 and 0 <= escrow.amount <= MAX_SAFE_INTEGER
    audit = await harness.erp("auditor").post("/v1/audits", json={})
    assert audit.status_code == 200, audit.text
    assert audit.json()["ok"] is True, audit.json()["findings"]


async def test_a_stored_demand_the_pdu_refuses_ends_failed_with_the_reason_and_is_not_retried(
    harness: Harness,
) -> None:
    """A demand accepted by an older node (before the network checked escrow products) that is
    still in the OEM's outbox: the PDU refuses it for good, so it ends ``failed``, not retried."""
    await profiles(harness)
    node = harness.node("oem-a")
    legacy = {**NORMALISED, "unit_price": {"amount": MAX_SAFE_INTEGER, "currency": "EUR"}}
    with write_transaction(node.engine) as conn:
        conn.execute(
            insert(oem_demands).values(
                id="legacy-1", seq=1, terms=json.dumps(legacy), status="pending", created=node.now_text()
            )
        )
        enqueue(
            conn, task=SUBMIT_TASK, key="legacy-1", payload={"demand": "legacy-1"}, now_text=node.now_text()
        )
    await harness.settle()
    shown = await harness.erp("oem-a").get("/v1/demands/legacy-1")
    assert shown.status_code == 200, shown.text
    assert shown.json()["status"] == "failed"
    assert "refused by the PDU (HTTP 422)" in shown.json()["detail"]
    assert "exact JSON integer" in shown.json()["detail"]
    with write_transaction(node.engine) as conn:
        waiting = conn.execute(select(outbox).where(outbox.c.key == "legacy-1", outbox.c.done == 0)).all()
    assert waiting == []
    assert_spec_split(await spec_split(harness))


async def test_a_proposal_left_uncertified_past_the_withdrawal_age_is_withdrawn_and_decided_afresh(
    harness: Harness,
) -> None:
    """Partners no longer sign a proposal dated far from their clocks: the PDU gives up its seq
    (``proposal.withdrawn``), so a later decision is not stuck behind it."""
    await profiles(harness)
    harness.start_all()
    created = await harness.erp("oem-a").post("/v1/demands", json=DEMAND_A)
    assert created.status_code == 202, created.text
    await harness.drain()
    sequencer: Sequencer = harness.app("pdu").state.sequencer
    [demand] = sequencer.replica.state.undecided_demands()
    found, unavailable = await gather_attestations(
        harness.node("pdu"), demand.buyer, demand.hash, demand.terms.priority_suppliers, timeout=5.0
    )
    capacities = {s: attested(item["entry"]["body"], s) for s, item in found.items()}
    inputs = {"demand": demand.hash, "attestations": list(found.values()), "unavailable": unavailable}
    for partner in PARTNERS:
        harness.lose_answers(partner, "/peer/v1/network/proposals")
    async with sequencer.replica.lock:
        result = decide_split(sequencer.replica.state, demand.hash, capacities, unavailable)
        assert not await sequencer._round(SPLIT, inputs, result)
    [(first, _)] = load_pending_block(harness.node("pdu").engine, "network")

    pdu = harness.node("pdu")
    later = datetime.now(UTC) + timedelta(seconds=WITHDRAW_AFTER_SECONDS + 30)
    pdu.clock = lambda: later  # within the partners' skew, but the kept proposal is now too old
    async with sequencer.replica.lock:
        result = decide_split(sequencer.replica.state, demand.hash, capacities, unavailable)
        assert await sequencer._round(SPLIT, inputs, result)
    await harness.drain()
    entries = (await harness.erp("pdu").get("/v1/ledgers/network/entries", params={"limit": 100})).json()
    kinds = [(e["entry"]["seq"], e["entry"]["kind"], e["entry"]["body"]) for e in entries]
    withdrawn = [(seq, body) for seq, kind, body in kinds if kind == "proposal.withdrawn"]
    assert [(seq, body["proposal"]) for seq, body in withdrawn] == [(first.seq, first.hash)]
    assert [seq for seq, kind, _ in kinds if kind == SPLIT] == [first.seq + 1]
    assert len(heads(harness)) == 1
    for node in ("pdu", *PARTNERS):
        assert state_of(harness, node).refused == {}, node
    shown = (await harness.erp("oem-a").get(f"/v1/demands/{created.json()['id']}")).json()
    assert_spec_split(shown)
    audit = await harness.erp("auditor").post("/v1/audits", json={})
    assert audit.status_code == 200 and audit.json()["ok"] is True, audit.json()["findings"]
