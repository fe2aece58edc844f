"""A network of real node processes that kills one node at each step of an order's life.

:class:`Mesh` starts the processes and talks to their ERP APIs; :class:`Kills` holds the
cells of one column of the kill -9 matrix and does each kill — at a crash point armed
when the node was last started (``SUPPLYMESH_FAULT_KILL_AT``), or from outside at the
moment the step is reached — and restarts the killed node, armed for its next cell.
Every wait polls :meth:`Kills.reap`, so a node that killed itself at its crash point is
restarted whatever the test was waiting for.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from supplymesh.cli.launcher import LocalNetwork
from supplymesh.cli.netgen import prepare, write_runtime_file
from supplymesh.node.crashpoints import ENV_VAR
from tests.system.conftest import free_base_port

HOLDERS = ("pdu", "oem-a", "oem-b", "supplier-a", "supplier-b")
"""Every holder of a network replica."""
ERP_NODES = ("pdu", "oem-a", "oem-b", "supplier-a", "supplier-b", "auditor")
CHANNELS = tuple(f"channel:{o}:{s}" for o in ("oem-a", "oem-b") for s in ("supplier-a", "supplier-b"))
NETWORK_ENV = {
    "SUPPLYMESH_AUDIT_INTERVAL_SECONDS": "0",  # audits only when a test asks for one
    "SUPPLYMESH_AUDIT_WORKERS": "1",  # verify in the auditor's process: no pool to fork on 2 cores
}


@dataclass(frozen=True)
class Cell:
    """One cell of the matrix: ``node`` killed at ``step``.

    ``point``: the crash point armed before the step (``point:kind`` narrows it), or ""
    for a kill from outside when the test reaches the step. ``freeze``: the PDU is
    stopped (SIGSTOP) from just before the kill until the node is back, so that no
    decision is taken without it.
    """

    step: str
    node: str
    point: str = ""
    freeze: bool = False


class Mesh:
    """The node processes of one network, their ERP clients and a poll hook for every wait."""

    def __init__(self, network: LocalNetwork, nodes: dict[str, Any]) -> None:
        self.network = network
        self.clients = {
            n: httpx.Client(
                base_url=i["url"], timeout=120, headers={"Authorization": f"Bearer {i['erp_token']}"}
            )
            for n, i in nodes.items()
        }
        self.on_poll: Callable[[], None] = lambda: None

    def exited(self, node: str) -> bool:
        """True if ``node``'s process has ended."""
        return self.network.processes[node].poll() is not None

    def kill(self, node: str) -> None:
        """SIGKILL ``node`` (a stopped one too) and reap it."""
        process = self.network.processes[node]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    def start(self, node: str, point: str = "") -> None:
        """Start ``node`` again on its port, with ``point`` armed (none if empty); wait until it answers."""
        if point:
            self.network.env[ENV_VAR] = point
        try:
            self.network.restart(node)
        finally:
            self.network.env.pop(ENV_VAR, None)
        wait_until(lambda: self._healthy(node, point), f"{node} to come back", poll=lambda: None, timeout=90)

    def _healthy(self, node: str, point: str) -> bool:
        if self.exited(node):  # it may reach its crash point while starting: reaped by the next poll
            assert point, f"{node} exited at start: {self.network.log_tail(node, 20)}"
            return True
        return self.clients[node].get("/health").status_code == 200

    def signal_pdu(self, signum: signal.Signals) -> None:
        """Stop (SIGSTOP) or continue (SIGCONT) the PDU."""
        os.kill(self.network.processes["pdu"].pid, signum)

    def get(self, node: str, path: str, **params: Any) -> Any:
        """GET ``path`` at ``node``'s ERP API, as JSON; retried while the node is down."""
        while True:
            self.on_poll()
            try:
                response = self.clients[node].get(path, params=params, headers={"Accept": "application/json"})
            except httpx.TransportError:
                time.sleep(0.2)
                continue
            return response.json()

    def send(self, node: str, path: str, body: Any = None, *, key: str = "") -> httpx.Response:
        """POST to ``node`` as an ERP does: again (with the same Idempotency-Key) while it is down or 503."""
        headers = {"Idempotency-Key": key} if key else {}
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            self.on_poll()
            try:
                response = self.clients[node].post(path, json=body, headers=headers)
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code != 503:
                return response
            time.sleep(0.5)
        raise AssertionError(f"{node} did not answer POST {path}")

    def close(self) -> None:
        """Close the clients."""
        for client in self.clients.values():
            client.close()


def wait_until(probe: Callable[[], Any], what: str, *, poll: Callable[[], None], timeout: float = 120) -> Any:
    """``probe()``'s first true value, polling ``poll`` between tries; fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        poll()
        try:
            last = probe()
        except httpx.TransportError:
            last = None
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


@contextmanager
def running_network(state: Path) -> Iterator[Mesh]:
    """A fresh network of real node processes in ``state``."""
    config = prepare(state, None, free_base_port())
    network = LocalNetwork(state_dir=state, config=config, env=dict(NETWORK_ENV))
    network.start()
    try:
        network.wait_healthy(timeout=300)
        mesh = Mesh(network, json.loads(write_runtime_file(state, config).read_text())["nodes"])
        try:
            yield mesh
        finally:
            mesh.close()
    finally:
        for node in ("pdu",):  # a stopped process would ignore the launcher's SIGTERM
            if network.processes[node].poll() is None:
                os.kill(network.processes[node].pid, signal.SIGCONT)
        network.stop()


@dataclass
class Kills:
    """The cells of one column, in the order the lifecycle reaches them, and what each did."""

    mesh: Mesh
    cells: list[Cell]
    armed: dict[str, Cell] = field(default_factory=dict)
    """The cell each node's running process is armed for."""
    killed: list[str] = field(default_factory=list)
    """The steps whose node was killed, in order."""
    frozen: bool = False

    def __post_init__(self) -> None:
        self.mesh.on_poll = self.reap

    def cell(self, step: str) -> Cell:
        """The cell of ``step``."""
        return next(c for c in self.cells if c.step == step)

    def arm(self, cell: Cell) -> None:
        """Start ``cell``'s node armed for it, if it is not already (a kill that is no cell)."""
        if cell.point and cell.step not in self.killed and self.armed.get(cell.node) != cell:
            self.mesh.kill(cell.node)
            self.mesh.start(cell.node, cell.point)
            self.armed[cell.node] = cell

    def before(self, step: str) -> None:
        """Just before ``step`` is triggered: arm its node, and stop the PDU if the cell says so."""
        cell = self.cell(step)
        self.arm(cell)
        if cell.freeze:
            self.mesh.signal_pdu(signal.SIGSTOP)
            self.frozen = True

    def outside(self, step: str) -> None:
        """The moment ``step`` is reached: kill its node from outside if that is its cell."""
        cell = self.cell(step)
        if cell.point:
            return
        self.mesh.kill(cell.node)
        self._revive(cell)

    def reap(self) -> None:
        """Restart a node that killed itself at its crash point, armed for its next cell."""
        for node, cell in list(self.armed.items()):
            if self.mesh.exited(node):
                self._revive(cell)

    def _revive(self, cell: Cell) -> None:
        print(f"{time.monotonic():.1f} {cell.node} killed at {cell.step} ({cell.point or 'outside'})")
        self.killed.append(cell.step)
        self.armed.pop(cell.node, None)
        later = self.cells[self.cells.index(cell) + 1 :]
        upcoming = later[0] if later and later[0].node == cell.node and later[0].point else None
        if upcoming is not None:
            self.armed[cell.node] = upcoming
        self.mesh.start(cell.node, upcoming.point if upcoming is not None else "")
        print(f"{time.monotonic():.1f} {cell.node} restarted")
        if self.frozen:
            self.mesh.signal_pdu(signal.SIGCONT)
            self.frozen = False

    def done(self, step: str) -> None:
        """After ``step``: its node was killed (waiting for a crash point still ahead)."""
        cell = self.cell(step)
        wait_until(lambda: step in self.killed, f"{cell.node} to reach {cell.point or step}", poll=self.reap)
