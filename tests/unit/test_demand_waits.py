"""demand_waits: pairs each submitted demand with the entry that decided it."""

from __future__ import annotations

from typing import Any

from supplymesh.audit.waits import demand_waits
from supplymesh.core.entry import GENESIS_PREV, Entry, SealedEntry


def _ledger(*specs: tuple[str, str, dict[str, Any]]) -> list[SealedEntry]:
    sealed: list[SealedEntry] = []
    prev = GENESIS_PREV
    for seq, (kind, time, body) in enumerate(specs, start=1):
        entry = Entry(ledger="network", seq=seq, prev=prev, time=time, kind=kind, author="pdu", body=body)
        sealed.append(SealedEntry(entry, ()))
        prev = entry.hash
    return sealed


def _demand(party: str, action_id: str) -> dict[str, Any]:
    return {"action": {"party": party, "id": action_id, "body": {}}}


def test_failed_and_split_demands_and_a_decision_for_an_unknown_demand() -> None:
    first = _ledger(("demand.submitted", "2026-01-01T00:00:00Z", _demand("oem-a", "d1")))
    d1 = first[0].entry.hash
    ledger = _ledger(
        ("demand.submitted", "2026-01-01T00:00:00Z", _demand("oem-a", "d1")),
        ("demand.submitted", "2026-01-01T00:00:05Z", _demand("oem-b", "d2")),
        ("decision.split", "2026-01-01T00:01:00Z", {"result": {"demand": "f" * 64}}),
        ("demand.failed", "2026-01-01T00:02:30Z", {"demand": d1, "reason": "no quorum"}),
        ("demand.failed", "2026-01-01T00:09:00Z", {"demand": d1, "reason": "again"}),
    )
    waits = demand_waits(ledger)
    assert [(w.demand_id, w.outcome, w.seconds, w.decided_seq) for w in waits] == [
        ("d1", "failed", 150, 4),  # the first decision counts
        ("d2", None, None, None),
    ]
    assert waits[0].as_json()["seconds"] == 150


def test_a_wait_is_not_computed_from_a_time_that_failed_the_time_checks() -> None:
    ledger = _ledger(
        ("demand.submitted", "2026-01-01T00:00:00Z", _demand("oem-a", "d1")),
        ("demand.submitted", "2026-01-01T00:00:05Z", _demand("oem-b", "d2")),
    )
    d1, d2 = (s.entry.hash for s in ledger)
    ledger = _ledger(
        ("demand.submitted", "2026-01-01T00:00:00Z", _demand("oem-a", "d1")),
        ("demand.submitted", "2026-01-01T00:00:05Z", _demand("oem-b", "d2")),
        ("decision.split", "2026-01-01T00:01:00Z", {"result": {"demand": d1}}),
        ("decision.split", "2026-01-01T00:02:05Z", {"result": {"demand": d2}}),
    )
    checked, unchecked = demand_waits(ledger, untrusted={4})
    assert (checked.seconds, checked.time_checked) == (60, True)
    assert (unchecked.decided_seq, unchecked.seconds, unchecked.time_checked) == (4, None, False)
    assert unchecked.as_json()["time_checked"] is False
    assert [w.seconds for w in demand_waits(ledger)] == [60, 120]  # without failed times, both count
