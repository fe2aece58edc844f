"""SPEC §8: declared lot quality is checked against what the DMS derived for the order,
which the supplier records on the channel as a sealed ``order.state`` entry."""

from __future__ import annotations

from typing import Any

import pytest

from supplymesh.audit.checks import DISAGREES, run_pipeline
from supplymesh.audit.dms_quality import DMS_RECORD_KIND, dms_record
from tests.unit.audit_world import CHANNEL_A, Scenario, at, rules

ORDER = "147c3532fbbe1201e9ed25a02518e5e2"
DMS = {"critical": 0, "major": 5, "minor": 10}


def with_lot(lot: dict[str, Any], *, units: int | None = 750, defects: dict[str, int] = DMS) -> Scenario:
    """The split, then on channel A: a key, the DMS record (unless ``units`` is None), the lot."""
    scenario = Scenario()
    key = scenario.key_entry(CHANNEL_A, at(10))
    if units is not None:
        scenario.private(CHANNEL_A, DMS_RECORD_KIND, dms_record(ORDER, units, defects), key, at(11))
    body = {"order": ORDER, "produced_quantity": 750, "defects": dict(DMS), "source": "declared", **lot}
    scenario.channels[CHANNEL_A].append("lot.quality", "supplier-a", body, at(12), ("supplier-a", "oem-a"))
    return scenario


def lot_seq(scenario: Scenario) -> int:
    return len(scenario.channels[CHANNEL_A].sealed)


def test_declared_quality_that_agrees_with_the_dms_is_clean() -> None:
    assert run_pipeline(with_lot({}).pull()) == []


@pytest.mark.parametrize(
    ("lot", "says"),
    [
        ({"defects": {"critical": 0, "major": 2, "minor": 10}}, "fewer major defects"),
        ({"defects": {"critical": 0, "major": 5, "minor": 0}}, "fewer minor defects"),
        ({"produced_quantity": 800}, "produced quantity other than the units"),
        ({"produced_quantity": 700}, "produced quantity other than the units"),
    ],
)
def test_declared_quality_that_disagrees_with_the_dms_is_found(lot: dict[str, Any], says: str) -> None:
    scenario = with_lot(lot)
    findings = run_pipeline(scenario.pull())
    assert rules(findings) == {(CHANNEL_A, lot_seq(scenario), DISAGREES)}
    assert says in findings[0].detail
    assert "5" not in findings[0].detail.split(":", 1)[1]  # classes named, counts not


def test_declaring_more_defects_than_the_dms_found_is_not_a_finding() -> None:
    assert run_pipeline(with_lot({"defects": {"critical": 1, "major": 9, "minor": 10}}).pull()) == []


def test_a_sampled_lot_is_compared_by_its_sample_size() -> None:
    assert run_pipeline(with_lot({"sample_size": 80}, units=80).pull()) == []
    scenario = with_lot({"sample_size": 80}, units=50)
    findings = run_pipeline(scenario.pull())
    assert rules(findings) == {(CHANNEL_A, lot_seq(scenario), DISAGREES)}
    assert "sample size other than the units" in findings[0].detail


def test_lot_without_dms_readings_or_derived_by_the_dms_is_not_compared() -> None:
    assert (
        run_pipeline(with_lot({"defects": {"critical": 0, "major": 0, "minor": 0}}, units=None).pull()) == []
    )
    dms_sourced = with_lot({"source": "dms", "defects": {"critical": 0, "major": 0, "minor": 0}})
    assert run_pipeline(dms_sourced.pull()) == []


def test_a_dms_record_for_another_order_is_not_compared() -> None:
    scenario = Scenario()
    key = scenario.key_entry(CHANNEL_A, at(10))
    scenario.private(CHANNEL_A, DMS_RECORD_KIND, dms_record("a" * 32, 750, DMS), key, at(11))
    body = {"order": ORDER, "produced_quantity": 750, "defects": {"critical": 0, "major": 0, "minor": 0}}
    scenario.channels[CHANNEL_A].append(
        "lot.quality", "supplier-a", {**body, "source": "declared"}, at(12), ("supplier-a", "oem-a")
    )
    assert run_pipeline(scenario.pull()) == []
