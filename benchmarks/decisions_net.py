"""The network and the floors of the decision benchmark, for any number of partners.

* :func:`start_network`: ``partners`` split evenly between OEMs and suppliers (4 → 2 OEMs
  and 2 suppliers, the default network), plus the PDU and the auditor, each a real
  process on SQLite; returns how long the start took (spawn → every node healthy).
* floors, measured in the same run as the figures: a bare parallel *signed* round from
  the PDU's key to every partner (``GET /peer/v1/ledgers/network/head``: the request
  signature is verified and the answer is a signed tree head, no durable write), the
  same round unsigned (``GET /health``), and a raw durable SQLite commit (one row,
  WAL, ``synchronous=FULL``) on the same disk as the nodes' databases;
* :func:`cpu_by_role`: user + system CPU of the node processes per role, from ``/proc``;
* :func:`profile_summary`: the top functions of a cProfile dump.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import pstats
import sqlite3
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.bench_partner import client, free_base, percentile
from supplymesh.cli.launcher import LocalNetwork
from supplymesh.cli.netgen import prepare, write_runtime_file
from supplymesh.config import NETWORK_LEDGER, NetworkConfig, Role
from supplymesh.node.keys import KEY_FILE, load_key_file
from supplymesh.node.peers import PeerClient

PROFILING_DIR = Path(__file__).parent / "profiling"


@dataclass
class Network:
    """A running benchmark network and the ERP clients of its nodes."""

    local: LocalNetwork
    config: NetworkConfig
    state: Path
    nodes: dict[str, httpx.Client]
    start_seconds: float

    @property
    def oems(self) -> list[str]:
        return [m.id for m in self.config.by_role(Role.OEM)]

    @property
    def suppliers(self) -> list[str]:
        return [m.id for m in self.config.by_role(Role.SUPPLIER)]

    def close(self) -> None:
        for http in self.nodes.values():
            http.close()
        self.local.stop()


def profile_env(node_id: str, out: Path) -> dict[str, str]:
    """Environment that lets ``node_id`` be profiled by SIGUSR1/SIGUSR2 (see ``profiling/``)."""
    path = os.pathsep.join(p for p in (str(PROFILING_DIR), os.environ.get("PYTHONPATH", "")) if p)
    return {
        "PYTHONPATH": path,
        "SUPPLYMESH_BENCH_PROFILE_NODE": node_id,
        "SUPPLYMESH_BENCH_PROFILE_OUT": str(out),
    }


def start_network(state: Path, partners: int, env: dict[str, str], timeout: float) -> Network:
    """Start ``partners`` partners (half OEMs, half suppliers), the PDU and the auditor."""
    oems = partners // 2
    config = prepare(state, None, free_base(partners + 2), suppliers=partners - oems, oems=oems)
    local = LocalNetwork(state_dir=state, config=config, env=env)
    started = time.perf_counter()
    local.start()
    try:
        local.wait_healthy(timeout=timeout)
    except BaseException:
        local.stop()
        raise
    seconds = time.perf_counter() - started
    runtime = json.loads(write_runtime_file(state, config).read_text())["nodes"]
    nodes = {n: client(info) for n, info in runtime.items()}
    return Network(local, config, state, nodes, seconds)


def ms(values: list[float]) -> dict[str, float]:
    """Count, p50, p90 and p99 of durations given in seconds, in milliseconds."""
    return {
        "n": len(values),
        "p50_ms": round(statistics.median(values) * 1000, 2),
        "p90_ms": round(percentile(values, 0.90) * 1000, 2),
        "p99_ms": round(percentile(values, 0.99) * 1000, 2),
    }


async def _signed_rounds(net: Network, rounds: int) -> list[float]:
    signer = load_key_file(net.state / "pdu" / KEY_FILE)
    peers = PeerClient(member_id="pdu", signer=signer, config=net.config, timeout=30)
    partners = [m.id for m in net.config.partners()]
    path = f"/peer/v1/ledgers/{NETWORK_LEDGER}/head"
    times = []
    try:
        for _ in range(rounds):
            start = time.perf_counter()
            answers = await asyncio.gather(*(peers.request(p, "GET", path) for p in partners))
            times.append(time.perf_counter() - start)
            if any(a.status_code != 200 for a in answers):
                raise RuntimeError(f"signed round refused: {[a.status_code for a in answers]}")
    finally:
        await peers.aclose()
    return times


async def _health_rounds(net: Network, rounds: int) -> list[float]:
    urls = [m.url + "/health" for m in net.config.partners()]
    times = []
    async with httpx.AsyncClient() as http:
        for _ in range(rounds):
            start = time.perf_counter()
            await asyncio.gather(*(http.get(u) for u in urls))
            times.append(time.perf_counter() - start)
    return times


def raw_commits(directory: Path, n: int) -> list[float]:
    """Latency of ``n`` one-row durable SQLite commits (WAL, ``synchronous=FULL``)."""
    conn = sqlite3.connect(directory / "raw-commits.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS r (id INTEGER PRIMARY KEY, body TEXT)")
    times = []
    for i in range(n):
        start = time.perf_counter()
        conn.execute("BEGIN")
        conn.execute("INSERT INTO r (body) VALUES (?)", (f"row {i}",))
        conn.execute("COMMIT")
        times.append(time.perf_counter() - start)
    conn.close()
    return times


def floors(net: Network, rounds: int) -> dict[str, Any]:
    """The floors of this network, measured now."""
    deadline = time.monotonic() + 30
    while True:  # until every partner holds the network ledger (404 before its first entry)
        try:
            asyncio.run(_signed_rounds(net, 5))  # also warms connections and key caches
            break
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    return {
        "signed_round_to_all_partners": ms(asyncio.run(_signed_rounds(net, rounds))),
        "health_round_to_all_partners": ms(asyncio.run(_health_rounds(net, rounds))),
        "raw_sqlite_durable_commit": ms(raw_commits(net.state, rounds)),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_by_role(net: Network) -> dict[str, float]:
    """CPU seconds so far of the node processes, summed per role."""
    totals: dict[str, float] = {}
    for node_id, process in net.local.processes.items():
        role = str(net.config.member(node_id).role)
        totals[role] = totals.get(role, 0.0) + cpu_seconds(process.pid)
    return totals


OTHER = "builtins and standard library, called from all of the above"
AREAS = (  # first match wins, on "file:function" of each profiled function
    ("failed imports (httpcore looks for sniffio on every lock)", ("importlib", "posix.stat")),
    ("SQLite and SQLAlchemy", ("sqlite3", "sqlalchemy")),
    ("signatures (libsodium, OpenSSL)", ("_sodium", "nacl", "cryptography", "ed25519")),
    ("HTTP client (httpx, httpcore, h11)", ("httpx", "httpcore", "h11")),
    ("HTTP server (uvicorn, starlette, FastAPI)", ("uvicorn", "starlette", "fastapi", "httptools")),
    ("anyio", ("anyio",)),
    ("validation (pydantic)", ("pydantic",)),
    ("SupplyMesh code", ("supplymesh",)),
)


def area_of(where: str) -> str:
    """The area of the stack a profiled function belongs to."""
    return next((name for name, marks in AREAS if any(m in where for m in marks)), OTHER)


def profile_summary(path: Path, top: int) -> dict[str, Any]:
    """Busy time of the main thread, by area of the stack, and the ``top`` functions.

    cProfile measures wall time: a blocking call (an fsync in ``commit``) counts in full.
    The event loop is uvloop's, so its waits in C are not seen: what is profiled is the
    main thread's busy time (sync routes run in a thread pool and are not included).
    """
    stats = pstats.Stats(str(path), stream=io.StringIO())
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = [
        {
            "function": f"{Path(file).name}:{line}({name})",
            "calls": calls,
            "own_s": round(own, 4),
            "cumulative_s": round(cum, 4),
        }
        for (file, line, name), (_prim, calls, own, cum, _callers) in table.items()
    ]
    areas: dict[str, float] = {}
    for (file, _line, name), (_prim, _calls, own, _cum, _callers) in table.items():
        area = area_of(f"{file}:{name}")
        areas[area] = areas.get(area, 0.0) + own
    return {
        "main_thread_s": round(sum(r["own_s"] for r in rows), 3),
        "own_time_by_area_s": {a: round(t, 3) for a, t in sorted(areas.items(), key=lambda i: -i[1])},
        "by_own_time": sorted(rows, key=lambda r: -r["own_s"])[:top],
        "by_cumulative_time": sorted(rows, key=lambda r: -r["cumulative_s"])[:top],
    }
