"""The soak in short: every OEM's lifecycles at once over real processes; the books must balance.

``benchmarks.soak`` runs for 90 seconds against a network of real node processes (SQLite):
passing and failing lots, sample inspections, re-offers accepted by the other OEM, surplus
lots and unfunded allocations cancelled by quorum, all mixed and concurrent. Nothing about
speed is asserted; the run must end with no error, no overbooking, money conserved and a
clean audit, and no node may grow grossly (a generous bound after the warm-up; the tight
flatness rule of ``benchmarks.soak_stats`` is only recorded here, the long runs judge it).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from benchmarks.soak import Settings, run

pytestmark = [pytest.mark.system, pytest.mark.timeout(900)]
GROSS_RSS_GROWTH = Decimal("1.5")
GROSS_FILES_SLACK = 32


@pytest.fixture(scope="module")
def soak() -> dict[str, Any]:
    return run(Settings(minutes=1.5))


def test_soak_runs_every_path_without_an_error(soak: dict[str, Any]) -> None:
    assert soak["errors"] == {"count": 0, "first": []}
    assert soak["exited_nodes"] == {}
    assert {n: f["first_errors"] for n, f in soak["logs"].items() if f["errors"]} == {}
    outcomes = soak["outcomes"]
    for path in ("released", "refunded", "reoffer-released", "cancelled"):
        assert outcomes.get(path, 0) >= 1, outcomes


def test_soak_never_overbooks_a_supplier(soak: dict[str, Any]) -> None:
    ledger = soak["ledger"]
    assert ledger["kinds"]["decision.split"] >= soak["lifecycles"]
    assert ledger["overbooked_splits"] == 0, ledger["problems"]
    capacity = Decimal(ledger["capacity_hours_5_days"])
    peaks = {s: Decimal(h) for s, h in ledger["peak_open_hours"].items()}
    assert peaks and all(Decimal(0) < peak <= capacity for peak in peaks.values()), peaks


def test_soak_conserves_money_on_the_ledger_and_in_every_view(soak: dict[str, Any]) -> None:
    ledger = soak["ledger"]
    assert ledger["problem_count"] == 0, ledger["problems"]
    money = ledger["money"]
    assert money["deposited"] > 0
    assert money["deposited"] == money["released"] + money["refunded"] + money["held"]
    assert money["held"] == 0  # every lifecycle was driven to its end
    assert soak["driver_deposited"] == money["deposited"]
    assert soak["view_differences"] == []
    assert soak["escrows_checked"] == sum(ledger["escrows_by_state"].values())


def test_soak_ends_with_a_clean_full_audit(soak: dict[str, Any]) -> None:
    assert soak["audit"]["ok"] is True
    assert soak["audit"]["findings"] == 0, soak["audit"]["first_findings"]
    assert soak["converged_size"] == soak["ledger"]["entries"]


def test_soak_no_node_grows_grossly(soak: dict[str, Any]) -> None:
    judged = soak["flatness"]
    assert set(judged) == {"pdu", "auditor", "oem-a", "oem-b", "supplier-a", "supplier-b"}
    for node, figures in judged.items():
        assert figures["judged"], (node, figures)
        first = Decimal(str(figures["rss_mib_second_quarter_median"]))
        assert Decimal(str(figures["rss_mib_last_quarter_median"])) <= first * GROSS_RSS_GROWTH, (
            node,
            figures,
        )
        files_after = figures["open_files_max_after_half"]
        assert files_after <= figures["open_files_max_before_half"] + GROSS_FILES_SLACK, (node, figures)
