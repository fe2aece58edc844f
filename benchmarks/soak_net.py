"""The soak's network, its nodes' resources over time, and what their logs say.

* :func:`start` starts a network of real node processes on SQLite (OEMs, suppliers, the
  PDU and the auditor), with a short deposit window so that unfunded allocations are
  cancelled during the run, and sets every supplier's plant profile;
* :class:`Sampler` samples RSS, open files and threads of every node process (psutil)
  at a fixed interval, in a thread of its own;
* :func:`log_findings` counts the ERROR and CRITICAL lines and tracebacks of each node's
  log, keeping the first few.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]  # no stubs; used only here

from benchmarks.bench_partner import free_base
from supplymesh.cli.launcher import LocalNetwork
from supplymesh.cli.netgen import default_seats, prepare, write_runtime_file
from supplymesh.config import NetworkConfig, Role

PRODUCT = "P-100"
REGULAR_LEAD_DAYS = 5
WISH_LEAD_DAYS = 1
# 4 machines × 16 h × 0.8 = 51.2 machine-hours a day; an external queue of one day's capacity
# leaves 4 days (204.8 h) for demands with a lead time of 5 days and nothing within 1 day.
MACHINES, HOURS_PER_DAY, EFFICIENCY, QUEUED = 4, "16", "0.8", "51.2"
PROFILE = {
    "machines": MACHINES,
    "hours_per_day": HOURS_PER_DAY,
    "baseline_efficiency": EFFICIENCY,
    "queued_machine_hours": QUEUED,
    "products": [PRODUCT],
}


def capacity_hours(lead_days: int) -> Decimal:
    """Machine-hours a supplier with :data:`PROFILE` can take within ``lead_days`` (SPEC §5)."""
    per_day = MACHINES * Decimal(HOURS_PER_DAY) * Decimal(EFFICIENCY)
    return max(Decimal(0), per_day * lead_days - Decimal(QUEUED))


@dataclass
class SoakNetwork:
    """A running soak network: processes, config, ERP clients of every node."""

    local: LocalNetwork
    config: NetworkConfig
    state: Path
    clients: dict[str, httpx.Client]

    def ids(self, role: Role) -> list[str]:
        """Member ids of ``role``, in config order."""
        return [m.id for m in self.config.by_role(role)]

    def pids(self) -> dict[str, int]:
        """Process id of every node."""
        return {node: process.pid for node, process in self.local.processes.items()}

    def close(self) -> None:
        """Close the clients and stop every node."""
        for http in self.clients.values():
            http.close()
        self.local.stop()


def start(
    state: Path, *, oems: int, suppliers: int, deposit_window: int, env: dict[str, str], timeout: float
) -> SoakNetwork:
    """Start the network in ``state`` and set every supplier's plant profile."""
    state.mkdir(parents=True)
    seats = default_seats(suppliers=suppliers, oems=oems)
    config_file = state.parent / "soak-network.json"
    members = [{"id": s.id, "role": str(s.role)} for s in seats]
    config_file.write_text(json.dumps({"members": members, "deposit_window_seconds": deposit_window}))
    config = prepare(state, config_file, free_base(len(seats)))
    local = LocalNetwork(state_dir=state, config=config, env=env)
    local.start()
    try:
        local.wait_healthy(timeout=timeout)
        runtime = json.loads(write_runtime_file(state, config).read_text())["nodes"]
        clients = {node: _client(info) for node, info in runtime.items()}
        net = SoakNetwork(local, config, state, clients)
        for supplier in net.ids(Role.SUPPLIER):  # a node may answer 401 for a moment after /health
            _until(lambda s=supplier: clients[s].put("/v1/dms/profile", json=PROFILE).is_success, timeout)
    except BaseException:
        local.stop()
        raise
    return net


def _client(info: dict[str, Any]) -> httpx.Client:
    return httpx.Client(
        base_url=info["url"], timeout=60.0, headers={"Authorization": f"Bearer {info['erp_token']}"}
    )


def _until(probe: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise TimeoutError("the network did not get ready in time")
        time.sleep(0.2)


@dataclass
class Sampler:
    """RSS, open files and threads of every node process, every ``interval`` seconds."""

    pids: dict[str, int]
    interval: float
    started: float = field(default_factory=time.monotonic)
    samples: list[dict[str, Any]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Sample now and then every ``interval`` seconds until :meth:`stop`."""
        processes = {node: psutil.Process(pid) for node, pid in self.pids.items()}
        self._thread = threading.Thread(target=self._run, args=(processes,), daemon=True)
        self._thread.start()

    def _run(self, processes: dict[str, psutil.Process]) -> None:
        while True:
            self.sample(processes)
            if self._stop.wait(self.interval):
                return

    def sample(self, processes: dict[str, psutil.Process]) -> None:
        """One sample of every node (a node that is gone is recorded as such)."""
        row: dict[str, Any] = {"t": round(time.monotonic() - self.started, 2), "nodes": {}}
        for node, process in processes.items():
            try:
                children = process.children(recursive=True)
                with process.oneshot():
                    row["nodes"][node] = {
                        "rss_mib": round(process.memory_info().rss / 2**20, 2),
                        "children": len(children),
                        "children_rss_mib": round(sum(_rss(c) for c in children) / 2**20, 2),
                        "open_files": process.num_fds(),
                        "threads": process.num_threads(),
                        "cpu_s": round(sum(process.cpu_times()[:2]), 2),
                    }
            except psutil.Error as exc:
                row["nodes"][node] = {"gone": type(exc).__name__}
        self.samples.append(row)

    def stop(self) -> None:
        """Stop sampling (after one last sample)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def _rss(process: psutil.Process) -> int:
    try:
        rss: int = process.memory_info().rss
    except psutil.Error:
        return 0
    return rss


MARKS = (" ERROR ", " CRITICAL ", "Traceback (most recent call last)")


def log_findings(net: SoakNetwork, keep: int = 5) -> dict[str, Any]:
    """Per node: how many ERROR/CRITICAL lines and tracebacks, and WARNING lines, its log holds."""
    found: dict[str, Any] = {}
    for node in net.local.processes:
        path = net.state / node / "node.log"
        lines = path.read_text(errors="replace").splitlines() if path.exists() else []
        bad = [line for line in lines if any(mark in line for mark in MARKS)]
        warnings = [line for line in lines if " WARNING " in line]
        found[node] = {
            "lines": len(lines),
            "errors": len(bad),
            "first_errors": bad[:keep],
            "warnings": len(warnings),
            "first_warnings": warnings[:keep],
        }
    return found
