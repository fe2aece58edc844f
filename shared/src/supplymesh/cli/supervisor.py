"""Keep a local network running: a node process that dies is restarted, with back-off.

A node that exits is restarted on its own port after 1 s, then 2 s, 4 s … up to
:data:`MAX_DELAY` seconds for each further exit; a node that ran :data:`STABLE_AFTER`
seconds before exiting starts again from 1 s. Every exit and restart is reported, and
the other nodes keep running.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from supplymesh.cli.launcher import LocalNetwork

FIRST_DELAY = 1.0
MAX_DELAY = 30.0
STABLE_AFTER = 60.0


def backoff(failures: int) -> float:
    """Seconds to wait before restarting a node that exited ``failures`` times in a row (≥ 1)."""
    return min(MAX_DELAY, FIRST_DELAY * float(2 ** min(failures - 1, 16)))


@dataclass
class Supervisor:
    """Restarts the nodes of ``network`` that exit; call :meth:`check` now and then."""

    network: LocalNetwork
    report: Callable[[str], None]
    failures: dict[str, int] = field(default_factory=dict)
    due: dict[str, float] = field(default_factory=dict)
    started: dict[str, float] = field(default_factory=dict)

    def check(self, now: float) -> None:
        """Schedule a restart for each node that exited; restart those that are due."""
        for node_id, status in sorted(self.network.exited().items()):
            if node_id not in self.due:
                self._schedule(node_id, status, now)
        for node_id, when in sorted(self.due.items()):
            if now >= when:
                del self.due[node_id]
                self.network.restart(node_id)
                self.started[node_id] = now
                self.report(f"{node_id} restarted on port {self.network.port_of(node_id)}")

    def _schedule(self, node_id: str, status: int, now: float) -> None:
        ran = now - self.started.get(node_id, float("-inf"))  # first exit: from 1 s
        failures = 1 if ran >= STABLE_AFTER else self.failures.get(node_id, 0) + 1
        self.failures[node_id] = failures
        delay = backoff(failures)
        self.due[node_id] = now + delay
        self.report(
            f"{node_id} exited with status {status}; restarting it in {delay:.0f} s "
            f"(exit {failures} in a row; log: {self.network.state_dir / node_id / 'node.log'})"
        )
