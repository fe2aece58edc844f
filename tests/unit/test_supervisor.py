"""Restarts of a local network's nodes: back-off, reports, a stable node starting afresh."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from supplymesh.cli.launcher import LocalNetwork
from supplymesh.cli.supervisor import MAX_DELAY, STABLE_AFTER, Supervisor, backoff


class FakeNetwork:
    """Nodes that exit when told to; ``restart`` records the call."""

    def __init__(self) -> None:
        self.state_dir = Path("state")
        self.dead: dict[str, int] = {}
        self.restarted: list[str] = []

    def exited(self) -> dict[str, int]:
        return dict(self.dead)

    def restart(self, node_id: str) -> None:
        self.restarted.append(node_id)
        self.dead.pop(node_id)

    def port_of(self, node_id: str) -> int:
        return {"pdu": 20004, "oem-a": 20000}[node_id]


def supervised() -> tuple[FakeNetwork, Supervisor, list[str]]:
    network = FakeNetwork()
    reports: list[str] = []
    return network, Supervisor(cast(LocalNetwork, cast(Any, network)), report=reports.append), reports


def test_backoff_doubles_from_one_second_up_to_its_cap() -> None:
    assert [backoff(n) for n in range(1, 8)] == [1.0, 2.0, 4.0, 8.0, 16.0, MAX_DELAY, MAX_DELAY]
    assert backoff(500) == MAX_DELAY


def test_a_dead_node_is_restarted_after_its_delay_and_reported() -> None:
    network, supervisor, reports = supervised()
    network.dead["pdu"] = -9
    supervisor.check(100.0)
    supervisor.check(100.5)
    assert network.restarted == []  # not before its second
    assert reports == [
        "pdu exited with status -9; restarting it in 1 s (exit 1 in a row; log: state/pdu/node.log)"
    ]
    supervisor.check(101.0)
    assert network.restarted == ["pdu"]
    assert reports[-1] == "pdu restarted on port 20004"


def test_a_node_that_keeps_dying_waits_longer_each_time_and_others_are_untouched() -> None:
    network, supervisor, reports = supervised()
    now = 0.0
    for expected in (1.0, 2.0, 4.0, 8.0):
        network.dead["pdu"] = 1
        supervisor.check(now)
        assert supervisor.due["pdu"] == now + expected
        now += expected
        supervisor.check(now)
    assert network.restarted == ["pdu"] * 4
    assert not any("oem-a" in line for line in reports)


def test_a_node_that_ran_long_enough_starts_again_from_one_second() -> None:
    network, supervisor, _ = supervised()
    network.dead["pdu"] = 1
    supervisor.check(0.0)
    supervisor.check(1.0)
    network.dead["pdu"] = 1
    supervisor.check(2.0)
    assert supervisor.due["pdu"] == 4.0  # second exit in a row: 2 s
    supervisor.check(4.0)
    network.dead["pdu"] = 1
    supervisor.check(4.0 + STABLE_AFTER)
    assert supervisor.due["pdu"] == 5.0 + STABLE_AFTER
