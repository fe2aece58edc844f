"""The audit judges each ledger on the longest prefix that verifies, and names the holder
that serves more: a forged or malformed longer copy is a finding against its holder,
never a crash and never a finding against the honest holders."""

from __future__ import annotations

from typing import Any

import pytest

from supplymesh.audit.checks import run_pipeline
from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.contracts.network import SPLIT
from supplymesh.core.entry import Entry
from tests.unit.audit_world import CHANNEL_A, HOLDERS, Ledger, Scenario, at, holders_named, seal


def named(findings: list[Any]) -> set[str]:
    """Every holder named at the start of a finding's detail."""
    return {f.detail.split(": ", 1)[0] for f in findings if ": " in f.detail}


def test_audit_of_the_honest_split_is_clean() -> None:
    scenario = Scenario()
    pull = scenario.pull()
    assert run_pipeline(pull) == []
    reference = pull.reference(NETWORK_LEDGER)
    assert reference is not None and (reference.holder, reference.size) == ("pdu", 3)


def _forged_decision(scenario: Scenario) -> dict[str, Any]:
    """A well-formed split at seq 4, signed by supplier-a alone (it holds no other key)."""
    entry = scenario.network.next(SPLIT, "pdu", dict(scenario.split.body), at(4))
    return {**seal(entry, ["supplier-a"]).as_json(), "late_signatures": []}


MALFORMED_EXTRA: dict[str, Any] = {
    "not an object": [1, 2, 3],
    "entry not an object": {"entry": "x", "hash": "h", "signatures": []},
    "seq as text": {"entry": {"seq": "4", "ledger": "network"}, "signatures": []},
    "huge seq": {"entry": {"seq": 2**80}, "signatures": []},
    "body not an object": {
        "entry": {
            "ledger": "network",
            "seq": 4,
            "prev": "0" * 64,
            "time": "2026-05-04T08:00:04Z",
            "kind": "decision.split",
            "author": "pdu",
            "body": [],
        },
        "signatures": [{"signer": "pdu", "sig": "!!not base64!!"}],
    },
    "float in body": {"entry": {"body": {"amount": 1.5}}, "signatures": "none"},
    "null": None,
}


@pytest.mark.parametrize("extra", MALFORMED_EXTRA.values(), ids=MALFORMED_EXTRA.keys())
def test_audit_reports_forged_longer_copy_against_its_holder(extra: Any) -> None:
    scenario = Scenario()
    served = {("supplier-a", NETWORK_LEDGER): [*scenario.network.items(), extra]}
    pull = scenario.pull(served)
    findings = run_pipeline(pull)
    assert findings, "the extra entry is reported"
    assert named(findings) == {"supplier-a"}
    assert all(f.seq == 4 for f in findings if f.ledger == NETWORK_LEDGER)
    assert not any(f.rule == "replicas_diverge" for f in findings)
    reference = pull.reference(NETWORK_LEDGER)
    assert reference is not None and (reference.holder, reference.size) == ("pdu", 3)


def test_forged_decision_beyond_the_honest_copies_is_not_judged_as_the_ledger() -> None:
    scenario = Scenario()
    served = {("supplier-a", NETWORK_LEDGER): [*scenario.network.items(), _forged_decision(scenario)]}
    findings = run_pipeline(scenario.pull(served))
    at_4 = {(f.rule, f.detail.split(":")[0]) for f in findings if f.seq == 4}
    assert ("missing_signature", "supplier-a") in at_4  # the PDU never signed it
    assert ("quorum_certificate", "supplier-a") in at_4
    assert named(findings) == {"supplier-a"}
    # Judged as the ledger, it would not re-execute (the demand is already split).
    assert not any(f.rule == "reexecution" for f in findings)


def test_holder_whose_copy_rewrites_an_entry_and_grows_is_the_one_diverging() -> None:
    scenario = Scenario()
    items = scenario.network.items()
    forged = {**items[1], "entry": {**items[1]["entry"], "time": at(1.5)}}  # same signatures
    served = {("oem-b", NETWORK_LEDGER): [items[0], forged, items[2], _forged_decision(scenario)]}
    findings = run_pipeline(scenario.pull(served))
    assert holders_named(findings, "replicas_diverge") == {"oem-b"}
    assert (NETWORK_LEDGER, 2, "replicas_diverge") in {(f.ledger, f.seq, f.rule) for f in findings}
    assert named(findings) == {"oem-b"}


def test_honest_holders_are_not_diverging_from_a_shorter_verified_reference() -> None:
    """Before: the longest copy was the reference, so every honest holder 'diverged'."""
    scenario = Scenario()
    items = scenario.network.items()
    forged_split = {**items[2], "entry": {**items[2]["entry"], "time": at(9)}}
    served = {("supplier-b", NETWORK_LEDGER): [items[0], items[1], forged_split, items[2]]}
    findings = run_pipeline(scenario.pull(served))
    assert named(findings) == {"supplier-b"}
    assert holders_named(findings, "replicas_diverge") == {"supplier-b"}


def test_reference_ties_go_to_the_sequencer() -> None:
    """Two copies verify to the same length but differ: the sequencer's is the reference."""
    scenario = Scenario()
    fork = Scenario(split_time=at(3.5))  # the same split, dated otherwise: also fully certified
    served = {(h, NETWORK_LEDGER): fork.network.items() for h in HOLDERS if h != "pdu"}
    pull = scenario.pull(served)
    reference = pull.reference(NETWORK_LEDGER)
    assert reference is not None and reference.holder == "pdu"
    diverging = holders_named(run_pipeline(pull), "replicas_diverge")
    assert diverging == set(HOLDERS) - {"pdu"}


def test_channel_reference_ties_go_to_the_supplier_then_the_holder_id() -> None:
    scenario = Scenario()
    other = Ledger(CHANNEL_A)
    entry = Entry(CHANNEL_A, 1, "0" * 64, at(2), "capacity.attestation", "supplier-a", {"x": 1})
    other.sealed.append(seal(entry, ["supplier-a", "oem-a"]))
    pull = scenario.pull({("oem-a", CHANNEL_A): other.items()})
    reference = pull.reference(CHANNEL_A)
    assert reference is not None and reference.holder == "supplier-a"


def test_copy_missing_a_countersignature_is_judged_without_that_entry() -> None:
    scenario = Scenario()
    items = scenario.channels[CHANNEL_A].items()
    single = {**items[0], "signatures": [s for s in items[0]["signatures"] if s["signer"] == "supplier-a"]}
    pull = scenario.pull({("supplier-a", CHANNEL_A): [single], ("oem-a", CHANNEL_A): []})
    findings = run_pipeline(pull)
    assert (CHANNEL_A, 1, "missing_countersignature") in {(f.ledger, f.seq, f.rule) for f in findings}
    reference = pull.reference(CHANNEL_A)
    assert reference is not None and reference.size == 0
    assert not pull.of(CHANNEL_A)[0].problems  # kept for a late countersignature


def test_network_entry_authored_by_anyone_but_the_pdu_is_found_against_its_holder() -> None:
    scenario = Scenario()
    entry = scenario.network.next("demand.failed", "oem-b", {"demand": scenario.demand.hash}, at(4))
    extra = {**seal(entry, ["oem-b"]).as_json(), "late_signatures": []}
    findings = run_pipeline(scenario.pull({("oem-b", NETWORK_LEDGER): [*scenario.network.items(), extra]}))
    assert {(f.seq, f.rule, f.detail.split(":")[0]) for f in findings} == {(4, "network_author", "oem-b")}
