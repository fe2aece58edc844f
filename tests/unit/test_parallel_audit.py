"""The audit verifies on several processes and finds exactly what it finds in one.

A big network ledger (the SPEC §5 split followed by thousands of signed demands) is
served by every holder, some copies tampered; the whole pipeline runs in-process and on
forked workers, and the reports must be equal, finding for finding. Each served item's
record check must also equal :func:`supplymesh.core.verify.check_record` on the item, the
path the audit took before it parsed once and verified each signature once.
"""

from __future__ import annotations

import copy as deep
import os
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supplymesh.audit import signatures
from supplymesh.audit.checks import Pull, run_checks
from supplymesh.audit.copies import verification
from supplymesh.audit.entry_checks import parse_shared, record_of, sealed_check
from supplymesh.audit.signatures import Job, verify_one, verify_signatures, worker_count
from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.actions import DEMAND_SUBMITTED
from supplymesh.core.contracts.ids import DemandHash
from supplymesh.core.contracts.records import DemandRecord, NetworkState
from supplymesh.core.entry import Entry
from supplymesh.core.verify import Finding, RecordCheck, check_record, summarise
from tests.unit.audit_world import Scenario, at, demand_terms, rules, seal, world

BULK = 3000
"""Demands after the split: with every holder's copy, several times the parallel threshold."""


@pytest.fixture(scope="module")
def big() -> Scenario:
    scenario = Scenario()
    for i in range(BULK):
        scenario.action(DEMAND_SUBMITTED, "oem-a", f"bulk-{i}", demand_terms(), at(10 + i / 1000))
    return scenario


@pytest.fixture
def forked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Force the forked path on these sizes: a low threshold and small tasks."""
    monkeypatch.setattr(signatures, "MIN_PARALLEL", 100)
    monkeypatch.setattr(signatures, "CHUNK", 250)


def served(scenario: Scenario) -> list[dict[str, Any]]:
    return deep.deepcopy(scenario.network.items())


def edited_body(items: list[dict[str, Any]], seq: int) -> list[dict[str, Any]]:
    """Entry ``seq``'s body edited, its signatures and hash left as they were."""
    items[seq - 1]["entry"]["body"]["action"]["id"] = "edited"
    return items


def bad_signature(items: list[dict[str, Any]], seq: int) -> list[dict[str, Any]]:
    """Entry ``seq`` carries the PDU's signature of another entry."""
    items[seq - 1]["signatures"] = items[seq]["signatures"]
    return items


def broken_link(scenario: Scenario, items: list[dict[str, Any]], seq: int) -> list[dict[str, Any]]:
    """Entry ``seq`` re-signed by the PDU with a ``prev`` that is not the hash before it."""
    fields = dict(items[seq - 1]["entry"])
    fields["prev"] = "f" * 64
    sealed = seal(Entry(**fields), ("pdu",))
    items[seq - 1] = {**sealed.as_json(), "late_signatures": []}
    return items


def tampered(scenario: Scenario) -> dict[tuple[str, str], list[Any]]:
    """Four holders, four kinds of tampering; the PDU serves the honest ledger."""
    middle = len(scenario.network.sealed) // 2
    malformed = served(scenario)
    malformed[7] = {"entry": {"seq": "eight"}, "signatures": "none"}
    return {
        ("oem-a", NETWORK_LEDGER): edited_body(served(scenario), middle),
        ("oem-b", NETWORK_LEDGER): bad_signature(served(scenario), middle + 101),
        ("supplier-a", NETWORK_LEDGER): broken_link(scenario, served(scenario), middle - 57),
        ("supplier-b", NETWORK_LEDGER): malformed,
    }


def report(scenario: Scenario, workers: int, serve: dict[tuple[str, str], list[Any]]) -> list[Any]:
    pull = scenario.pull(serve)
    pull.workers = workers
    findings, checkpoint = run_checks(pull)
    sizes = [(c.holder, c.ledger, verification(c, pull.config).valid_size) for c in pull.copies]
    return [[f.as_json() for f in findings], checkpoint, sizes]


@pytest.mark.usefixtures("forked")
def test_tampered_copies_of_a_big_ledger_give_the_same_report_on_two_processes_as_on_one(
    big: Scenario,
) -> None:
    one = report(big, 1, tampered(big))
    two = report(big, 2, tampered(big))
    assert one == two
    middle = len(big.network.sealed) // 2
    found = rules(findings_of(one))
    assert (NETWORK_LEDGER, middle, "bad_signature") in found
    assert (NETWORK_LEDGER, middle + 101, "bad_signature") in found
    assert (NETWORK_LEDGER, middle - 57, "hash_chain") in found
    assert (NETWORK_LEDGER, 8, "malformed") in found
    assert [size for holder, _, size in one[2] if holder == "pdu"] == [len(big.network.sealed)]


def findings_of(result: list[Any]) -> list[Finding]:
    return [Finding(**f) for f in result[0]]


@pytest.mark.usefixtures("forked")
def test_an_honest_big_ledger_is_clean_on_two_processes(big: Scenario) -> None:
    assert report(big, 2, {}) == report(big, 1, {})
    assert report(big, 2, {})[0] == []


def test_verify_signatures_on_workers_fails_exactly_the_jobs_that_fail_in_process(big: Scenario) -> None:
    keys = world().config.keys()
    sealed = big.network.sealed
    jobs: list[Job] = [(s.signatures[0].signer, s.signatures[0].sig, s.entry.digest) for s in sealed]
    jobs[1000] = (jobs[1000][0], jobs[1001][1], jobs[1000][2])  # another entry's signature
    jobs[2000] = (jobs[2000][0], "not base64!", jobs[2000][2])
    one = verify_signatures(jobs, keys, workers=1)
    two = verify_signatures(jobs, keys, workers=2, chunk=300, threshold=10)
    assert one == two
    assert set(one) == {jobs[1000], jobs[2000]}
    assert one[jobs[1000]] == "signature does not verify"
    assert one[jobs[2000]].startswith("malformed signature")


def test_worker_count_zero_means_one_per_core() -> None:
    assert worker_count(0) == (os.cpu_count() or 1)
    assert worker_count(1) == 1
    assert worker_count(3) == 3


def test_items_served_alike_are_parsed_once_and_items_that_differ_are_not(big: Scenario) -> None:
    items = served(big)[:5]
    seq_true = deep.deepcopy(items)
    seq_true[0]["entry"]["seq"] = True  # equal to 1 in Python, not in JSON
    seq_true[1]["hash"] = "0" * 64  # parses alike, but its record check differs
    a, b, c = parse_shared([items, deep.deepcopy(items), seq_true])
    assert all(x is y for x, y in zip(a, b, strict=True))
    assert c[0] is None and a[0] is not None
    assert c[1] is not a[1] and c[1] == a[1]
    assert all(x is y for x, y in zip(a[2:], c[2:], strict=True))


def old_check(item: object, position: int) -> RecordCheck:
    """The record check the audit made before: parse the record back, verify every signature."""
    return check_record(NETWORK_LEDGER, record_of(item, position), world().config.keys()).without_entry()


def new_check(item: object, position: int) -> RecordCheck:
    keys = world().config.keys()
    (parsed,) = parse_shared([[item]])
    return sealed_check(NETWORK_LEDGER, item, position, parsed[0], keys, lambda job: verify_one(keys, job))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
FIELDS = st.sampled_from(["ledger", "seq", "prev", "time", "kind", "author", "body", "hash", "signatures"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(index=st.integers(0, 30), field=FIELDS, value=JSON, position=st.integers(1, 40))
def test_each_record_check_equals_check_record_on_any_one_value_changed(
    big: Scenario, index: int, field: str, value: Any, position: int
) -> None:
    item = deep.deepcopy(big.network.items()[index])
    if field in ("hash", "signatures"):
        item[field] = value
    else:
        item["entry"][field] = value
    assert new_check(item, position) == old_check(item, position)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(item=JSON, position=st.integers(1, 40))
def test_each_record_check_equals_check_record_on_arbitrary_json(
    big: Scenario, item: Any, position: int
) -> None:
    assert new_check(item, position) == old_check(item, position)


def test_the_verified_copy_equals_the_report_of_check_record_over_every_item(big: Scenario) -> None:
    items = tampered(big)[("supplier-a", NETWORK_LEDGER)]
    pull: Pull = big.pull({("supplier-a", NETWORK_LEDGER): items})
    (copy,) = [c for c in pull.copies if c.holder == "supplier-a" and c.ledger == NETWORK_LEDGER]
    old = summarise(NETWORK_LEDGER, [old_check(item, p) for p, item in enumerate(items, 1)])
    assert verification(copy, pull.config).records == old.findings
    assert old.findings


class BrokenPool:
    """A pool whose every worker dies."""

    def submit(self, *_args: object) -> Future[list[tuple[int, str]]]:
        future: Future[list[tuple[int, str]]] = Future()
        future.set_exception(BrokenProcessPool("a worker died"))
        return future

    def shutdown(self, **_kwargs: object) -> None:
        return None


def signed_jobs(scenario: Scenario) -> list[Job]:
    jobs: list[Job] = [
        (s.signatures[0].signer, s.signatures[0].sig, s.entry.digest) for s in scenario.network.sealed
    ]
    jobs[100] = (jobs[100][0], jobs[101][1], jobs[100][2])
    return jobs


def test_a_part_whose_worker_died_is_verified_in_process(
    big: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(signatures, "start_pool", lambda *_args: BrokenPool())
    jobs = signed_jobs(big)
    assert verify_signatures(jobs, world().config.keys(), workers=2, chunk=300, threshold=10) == {
        jobs[100]: "signature does not verify"
    }


class BreakingPool(BrokenPool):
    """A pool that takes one part, dies on it, and refuses the next."""

    def __init__(self) -> None:
        self.taken = 0

    def submit(self, *args: object) -> Future[list[tuple[int, str]]]:
        self.taken += 1
        if self.taken > 1:
            raise BrokenProcessPool("the pool is broken")
        return super().submit(*args)


def test_parts_a_broken_pool_refuses_are_verified_in_process(
    big: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = BreakingPool()
    monkeypatch.setattr(signatures, "start_pool", lambda *_args: pool)
    jobs = signed_jobs(big)
    found = verify_signatures(jobs, world().config.keys(), workers=2, chunk=300, threshold=10)
    assert found == {jobs[100]: "signature does not verify"}
    assert pool.taken == 2


def test_workers_that_cannot_start_leave_the_verification_in_process(
    big: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: object) -> None:
        raise OSError("no processes")

    monkeypatch.setattr(signatures, "start_pool", refuse)
    jobs = signed_jobs(big)
    assert verify_signatures(jobs, world().config.keys(), workers=2, chunk=300, threshold=10) == {
        jobs[100]: "signature does not verify"
    }


def test_a_demand_is_found_by_its_buyers_id_however_the_state_grew(big: Scenario) -> None:
    """The index behind ``demand_by_id`` answers as a scan of every demand would."""
    demands = list(big.state.demands.values())

    def scan(state: NetworkState, buyer: str, demand_id: str) -> DemandRecord | None:
        return next((d for d in state.demands.values() if d.buyer == buyer and d.id == demand_id), None)

    state = NetworkState(demands={d.hash: d for d in demands[:10]})
    asks = [
        ("oem-a", "bulk-3"),
        ("oem-a", "bulk-500"),
        ("oem-b", "bulk-3"),
        ("oem-a", "d-1"),
        ("oem-a", "none"),
    ]
    for step, demand in enumerate(demands[10:], start=10):
        if step % 400 == 0:
            assert all(state.demand_by_id(b, i) is scan(state, b, i) for b, i in asks)
        state.demands[demand.hash] = demand
    twin = replace(demands[7], hash=DemandHash("f" * 64), seq=10**6)  # a second demand with the same id
    state.demands[twin.hash] = twin
    assert all(state.demand_by_id(b, i) is scan(state, b, i) for b, i in asks)
    assert state.demand_by_id(twin.buyer, twin.id) is demands[7]
    assert state.demand_by_id("oem-a", "none") is None


def test_copies_served_alike_share_leaf_hashes_and_roots_and_a_tampered_one_does_not(big: Scenario) -> None:
    serve = {("oem-a", NETWORK_LEDGER): edited_body(served(big), 40)}
    pull = big.pull(serve)
    run_checks(pull)
    network = {c.holder: c for c in pull.copies if c.ledger == NETWORK_LEDGER}
    alone = big.pull(serve)
    unshared = {c.holder: c for c in alone.copies if c.ledger == NETWORK_LEDGER}
    assert network["oem-b"].leaf_hashes() is network["pdu"].leaf_hashes()
    assert network["oem-a"].leaf_hashes() is not network["pdu"].leaf_hashes()
    for holder, copy in network.items():
        assert copy.leaf_hashes() == unshared[holder].leaf_hashes()
        assert copy.root(copy.size) == unshared[holder].root(copy.size)
        assert copy.root(50) == unshared[holder].root(50)
    assert network["oem-a"].root(50) != network["pdu"].root(50)
