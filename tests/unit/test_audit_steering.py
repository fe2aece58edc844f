"""The audit re-checks what a PDU could steer: the attestations a split uses, suppliers it
calls unavailable, and the times it gives entries; and it reports entries the fold refused."""

from __future__ import annotations

from typing import Any

import pytest

from supplymesh.audit import semantics
from supplymesh.audit.checks import (
    DROPPED,
    INADMISSIBLE,
    NOT_MONOTONIC,
    NOT_ON_CHANNEL,
    OUT_OF_SKEW,
    run_pipeline,
    untrusted_times,
)
from supplymesh.audit.waits import demand_waits
from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.actions import DEMAND_SUBMITTED
from supplymesh.core.contracts.network import NetworkState, apply
from supplymesh.core.entry import Entry
from tests.unit.audit_world import CHANNEL_A, CHANNEL_B, Ledger, Scenario, at, demand_terms, rules, seal

DROP_B = {"supplier-b": "did not answer in time"}


def test_split_calling_an_attested_supplier_unavailable_is_found() -> None:
    scenario = Scenario(unavailable=DROP_B)
    findings = run_pipeline(scenario.pull())
    assert rules(findings) == {(NETWORK_LEDGER, scenario.split.seq, DROPPED)}
    (found,) = findings
    assert found.detail.startswith("supplier-b was listed unavailable (did not answer in time)")
    assert f"{CHANNEL_B} seq 1" in found.detail


def test_supplier_unavailable_without_an_attestation_for_that_demand_is_not_dropped() -> None:
    scenario = Scenario(unavailable=DROP_B)
    scenario.channels[CHANNEL_B] = Ledger(CHANNEL_B)
    scenario.attest(CHANNEL_B, at(2), demand="f" * 64)  # fresh figures, but for another demand
    assert run_pipeline(scenario.pull()) == []


def test_attestation_dated_after_the_split_does_not_make_the_supplier_dropped() -> None:
    scenario = Scenario(unavailable=DROP_B)
    scenario.channels[CHANNEL_B] = Ledger(CHANNEL_B)
    scenario.attest(CHANNEL_B, at(60))  # it answered, but after the PDU had decided
    assert run_pipeline(scenario.pull()) == []


def test_split_attestation_that_is_not_the_channel_entry_is_found() -> None:
    """The supplier handed the PDU one entry and put another at that seq on the channel."""
    scenario = Scenario()
    scenario.channels[CHANNEL_A] = Ledger(CHANNEL_A)
    body = {"efficiency": "1", "mhc_per_day": "8", "queued_machine_hours": "100", "products": ["P-100"]}
    entry = scenario.channels[CHANNEL_A].append(
        "capacity.attestation",
        "supplier-a",
        {**body, "computed_at": at(2), "demand": scenario.demand.hash},
        at(2),
        ("supplier-a", "oem-a"),
    )
    assert entry.hash != scenario.attestations[0].entry.hash
    findings = run_pipeline(scenario.pull())
    assert rules(findings) == {(NETWORK_LEDGER, scenario.split.seq, NOT_ON_CHANNEL)}
    assert findings[0].detail.endswith("is not the entry held there by oem-a, supplier-a")


def test_split_attestation_held_by_no_member_copy_is_found() -> None:
    scenario = Scenario()
    served: dict[tuple[str, str], list[Any]] = {("oem-a", CHANNEL_A): [], ("supplier-a", CHANNEL_A): []}
    findings = run_pipeline(scenario.pull(served))
    assert (NETWORK_LEDGER, scenario.split.seq, NOT_ON_CHANNEL) in rules(findings)
    assert "no copy held by the channel's members holds that seq" in " ".join(f.detail for f in findings)


def test_attestation_only_one_member_holds_otherwise_names_that_member() -> None:
    scenario = Scenario()
    other = Ledger(CHANNEL_A)
    entry = Entry(CHANNEL_A, 1, "0" * 64, at(2), "capacity.attestation", "supplier-a", {"x": 1})
    other.sealed.append(seal(entry, ["supplier-a", "oem-a"]))
    findings = run_pipeline(scenario.pull({("oem-a", CHANNEL_A): other.items()}))
    attested = [f for f in findings if f.rule == NOT_ON_CHANNEL]
    assert [f.detail.rsplit(" by ", 1)[1] for f in attested] == ["oem-a"]


def test_split_dated_within_the_skew_before_its_attestations_passes() -> None:
    scenario = Scenario(attest_time=at(500), split_time=at(300))  # 200 s before: clocks differ
    assert run_pipeline(scenario.pull()) == []


def test_split_backdated_beyond_the_skew_is_out_of_skew() -> None:
    scenario = Scenario(attest_time=at(500), split_time=at(100))  # 400 s before its inputs
    findings = run_pipeline(scenario.pull())
    assert rules(findings) == {(NETWORK_LEDGER, scenario.split.seq, OUT_OF_SKEW)}
    assert len(findings) == 2  # one per attestation used


def test_entry_dated_before_the_entry_before_it_is_not_monotonic() -> None:
    scenario = Scenario(split_time=at(0.5))  # before the demand (at 1), within the attestations' skew
    found = {rule for _, seq, rule in rules(run_pipeline(scenario.pull())) if seq == scenario.split.seq}
    assert NOT_MONOTONIC in found and OUT_OF_SKEW not in found  # (a checking fold also refuses it)
    assert NOT_MONOTONIC not in {rule for _, _, rule in rules(run_pipeline(Scenario().pull()))}


def test_action_sequenced_long_before_its_party_stated_it_is_out_of_skew() -> None:
    scenario = Scenario()
    entry = scenario.action(DEMAND_SUBMITTED, "oem-b", "d-2", demand_terms(), at(4), stated=at(4000))
    assert rules(run_pipeline(scenario.pull())) == {(NETWORK_LEDGER, entry.seq, OUT_OF_SKEW)}


def test_demand_waits_leave_out_times_that_failed_the_time_checks() -> None:
    scenario = Scenario(attest_time=at(500), split_time=at(100))
    findings = run_pipeline(scenario.pull())
    untrusted = untrusted_times(findings)
    assert untrusted == {scenario.split.seq}
    (wait,) = demand_waits(scenario.pull().network(), untrusted)
    assert (wait.outcome, wait.seconds, wait.time_checked) == ("split", None, False)
    (trusted,) = demand_waits(Scenario().pull().network())
    assert (trusted.seconds, trusted.time_checked) == (2, True)


def test_entry_the_fold_refuses_is_reported_against_the_pdu() -> None:
    """A demand the PDU should not have sequenced (a quantity of −5) changes nothing and is named."""
    scenario = Scenario()
    entry = scenario.action(DEMAND_SUBMITTED, "oem-b", "d-2", {**demand_terms(), "quantity": -5}, at(4))
    findings = run_pipeline(scenario.pull())
    inadmissible = [f for f in findings if f.rule == INADMISSIBLE]
    assert [(f.seq, f.detail.split(":")[0]) for f in inadmissible] == [(entry.seq, "pdu")]


def test_entry_the_fold_cannot_apply_is_reported_against_the_pdu(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fold that raises (as before it was made total) is a finding, not a crash."""
    scenario = Scenario()

    def fragile(state: NetworkState, entry: Entry) -> None:
        if entry.seq == scenario.demand.seq:
            raise KeyError("quantity")
        apply(state, entry)

    monkeypatch.setattr(semantics, "apply", fragile)
    findings = run_pipeline(scenario.pull())
    assert (NETWORK_LEDGER, scenario.demand.seq, INADMISSIBLE) in rules(findings)
    assert not any(f.rule == "audit.check_failed" for f in findings)
    refused = {f.seq: f.detail for f in findings if f.rule == INADMISSIBLE}
    expected = "pdu: sequenced an entry the fold refused: the fold cannot apply it (KeyError)"
    assert refused[scenario.demand.seq] == expected
