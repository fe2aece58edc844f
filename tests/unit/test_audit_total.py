"""Every check is total: no content a holder can serve makes the pipeline raise.

Hypothesis serves arbitrary JSON as a copy's items, and arbitrary JSON bodies inside
entries that verify (re-signed by an insider holding every key, so they reach the
semantic checks). The pipeline always returns a list of findings, none of them
``audit.check_failed`` (the guard is for bugs, not for hostile content), and no honest
holder is named. The guard itself is tested on a check that raises.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supplymesh.audit.checks import CHECK_FAILED, MALFORMED, PIPELINE, Pull, run_checks, run_pipeline
from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.actions import PRODUCTION_COMPLETED
from supplymesh.core.contracts.network import SPLIT
from supplymesh.core.entry import Entry
from supplymesh.core.verify import Finding
from tests.unit.audit_world import CHANNEL_A, PARTNERS, Scenario, at, rules, seal

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**53, max_value=2**200),
    st.text(max_size=12),
    st.sampled_from(["NaN", "-Infinity", "1e999999", "-400", "0", "abc", "", "!!", "pdu", "supplier-a"]),
    st.floats(allow_nan=False, allow_infinity=False),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
keys = st.sampled_from(
    ["demand", "attestations", "unavailable", "allocations", "supplier", "machine_hours", "escrow_id",
     "quantity", "escrow_amount", "entry", "body", "author", "seq", "result", "inputs", "escrow"]
)  # fmt: skip
exact = st.one_of(  # what a signed entry can hold: RFC 8785 allows no floats, no unsafe integers
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
    st.text(max_size=12),
    st.sampled_from(
        ["NaN", "-Infinity", "1e999999", "-400", "0", "abc", "", "!!", "pdu", "supplier-a", "0" * 64]
    ),
)
shaped = st.recursive(
    exact,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=24,
)


def honest_holders_unnamed(findings: list[Finding], insider: str) -> bool:
    named = {f.detail.split(": ", 1)[0] for f in findings if ": " in f.detail}
    return named <= {insider, "pdu"} or named <= {insider}


def assert_total(pull: Pull) -> list[Finding]:
    findings = run_pipeline(pull)
    assert isinstance(findings, list) and all(isinstance(f, Finding) for f in findings)
    assert not [f for f in findings if f.rule == CHECK_FAILED], findings
    return findings


SCENARIO = Scenario()


@SETTINGS
@given(items=st.lists(json_values, max_size=5), keep=st.integers(min_value=0, max_value=3))
def test_arbitrary_json_served_as_a_network_copy_never_makes_the_pipeline_raise(
    items: list[Any], keep: int
) -> None:
    served = {("supplier-a", NETWORK_LEDGER): [*SCENARIO.network.items()[:keep], *items]}
    findings = assert_total(SCENARIO.pull(served))
    assert {f.detail.split(": ", 1)[0] for f in findings if ": " in f.detail} <= {"supplier-a"}


@SETTINGS
@given(items=st.lists(json_values, max_size=5), recheck=st.lists(json_values, max_size=3))
def test_arbitrary_json_served_as_a_channel_copy_never_makes_the_pipeline_raise(
    items: list[Any], recheck: list[Any]
) -> None:
    pull = SCENARIO.pull({("oem-a", CHANNEL_A): [*SCENARIO.channels[CHANNEL_A].items(), *items]})
    copy = next(c for c in pull.copies if (c.holder, c.ledger) == ("oem-a", CHANNEL_A))
    copy.recheck, copy.known_missing = recheck, {1}
    assert_total(pull)


def _resigned_split(body: dict[str, Any]) -> Pull:
    """The split at seq 3 replaced by one with ``body``, signed by the PDU and every partner."""
    entry = Entry(NETWORK_LEDGER, 3, SCENARIO.network.sealed[1].entry.hash, at(3), SPLIT, "pdu", body)
    items = [*SCENARIO.network.items()[:2], seal(entry, ["pdu", *PARTNERS]).as_json()]
    return SCENARIO.pull({(h, NETWORK_LEDGER): items for h in ("pdu", *PARTNERS)})


@SETTINGS
@given(inputs=shaped, result=shaped)
def test_a_certified_split_with_arbitrary_inputs_and_result_never_makes_the_pipeline_raise(
    inputs: Any, result: Any
) -> None:
    body = {"decision": SPLIT, "base": {"seq": 2, "hash": SCENARIO.network.sealed[1].entry.hash}}
    assert_total(_resigned_split({**body, "inputs": inputs, "result": result}))


@SETTINGS
@given(body=st.dictionaries(keys, shaped, max_size=6))
def test_a_certified_decision_with_an_arbitrary_body_never_makes_the_pipeline_raise(
    body: dict[str, Any],
) -> None:
    assert_total(_resigned_split(body))


@SETTINGS
@given(
    body=st.dictionaries(
        st.sampled_from(["escrow", "produced_quantity", "defects", "source", "order"]), shaped
    )
)
def test_a_party_action_with_an_arbitrary_body_never_makes_the_pipeline_raise(body: dict[str, Any]) -> None:
    scenario = Scenario()
    scenario.action(PRODUCTION_COMPLETED, "supplier-a", "p-1", body, at(5))
    assert_total(scenario.pull())


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``value`` (dict keys and list indexes)."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A copy of ``value`` with the value at ``path`` replaced by ``new``."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replaced(value[head], rest, new)}
    return [_replaced(item, rest, new) if i == head else item for i, item in enumerate(value)]


SPLIT_PATHS = _paths(dict(SCENARIO.split.body))[1:]  # not the body itself: it is an object


@SETTINGS
@given(path=st.sampled_from(SPLIT_PATHS), new=shaped)
def test_a_certified_split_with_any_one_value_changed_never_makes_the_pipeline_raise(
    path: tuple[Any, ...], new: Any
) -> None:
    assert_total(_resigned_split(_replaced(dict(SCENARIO.split.body), path, new)))


def test_a_bad_decimal_in_an_allocation_is_entry_malformed_not_an_exception() -> None:
    """decimal.InvalidOperation used to escape the overbooking check."""
    body = dict(SCENARIO.split.body)
    result = dict(body["result"])
    result["allocations"] = [{**result["allocations"][0], "machine_hours": "not a number"}]
    findings = assert_total(_resigned_split({**body, "result": result}))
    assert (NETWORK_LEDGER, 3, MALFORMED) in rules(findings)
    assert "no_overbooking: cannot interpret this entry (InvalidOperation)" in [
        f.detail for f in findings if f.rule == MALFORMED
    ]


def test_run_checks_reports_a_check_that_raises_as_audit_check_failed() -> None:
    ran: list[str] = []

    def broken(pull: Pull) -> list[Finding]:
        raise RuntimeError("a bug")

    def after(pull: Pull) -> list[Finding]:
        ran.append("after")
        return []

    findings, checkpoint = run_checks(SCENARIO.pull(), (*PIPELINE, broken, after))
    assert [(f.rule, f.detail) for f in findings] == [
        (CHECK_FAILED, "broken raised RuntimeError; its verdict is missing")
    ]
    assert ran == ["after"]  # the checks after it still ran
    assert checkpoint is None  # nothing is built on an audit with a missing verdict
    clean, kept = run_checks(SCENARIO.pull())
    assert clean == [] and kept is not None and kept.size == 3
