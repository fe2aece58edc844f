"""Decision benchmarks over real HTTP between six node processes (SPEC §7 quorum 3 of 4).

* split latency: POST /v1/demands at oem-a until GET /v1/demands/{id} shows the split
  (outbox to the PDU, attestations from both suppliers over their channels, proposal,
  four partners re-executing and signing, commit, replication back to oem-a);
* full order lifecycle: demand → split → deposit → production complete → release;
* throughput: many demands submitted at once, decisions per second until all decided;
* CPU seconds per lifecycle across all six processes (from /proc);
* the floor of this stack in the same run: a bare parallel round of GET /health to the
  four partners from one httpx client.

Latencies are measured by polling every 5 ms, so they include up to ~5 ms of polling
granularity (and the polling's own CPU). Results go to ``benchmarks/results/decisions.json``.
Usage: ``python -m benchmarks.bench_decisions [--splits N] [--lifecycles N] [--burst N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks.bench_partner import client, free_base, percentile
from supplymesh.cli.launcher import LocalNetwork
from supplymesh.cli.netgen import prepare, write_runtime_file

RESULTS = Path(__file__).parent / "results" / "decisions.json"
POLL_SECONDS = 0.005
BIG = {
    "machines": 100000,
    "hours_per_day": "24",
    "baseline_efficiency": "1",
    "queued_machine_hours": "0",
    "products": ["P-100"],
}
DEMAND = {
    "product": "P-100",
    "quantity": 10,
    "lead_time_days": 5,
    "required_machine_hours": "4",
    "priority_suppliers": ["supplier-a", "supplier-b"],
    "aql": {"critical": "0", "major": "2.5", "minor": "4"},
    "unit_price": {"amount": 100, "currency": "EUR"},
}


def wait(probe: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(POLL_SECONDS)
    raise TimeoutError("no result in time")


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def ms(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": statistics.median(values) * 1000,
        "p99_ms": percentile(values, 0.99) * 1000,
    }


async def fanout_floor(urls: list[str], rounds: int) -> list[float]:
    times = []
    async with httpx.AsyncClient() as http:
        for _ in range(rounds):
            start = time.perf_counter()
            await asyncio.gather(*(http.get(u + "/health") for u in urls))
            times.append(time.perf_counter() - start)
    return times


def split_once(oem: httpx.Client) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    demand_id = oem.post("/v1/demands", json=DEMAND).json()["id"]

    def decided() -> dict[str, Any] | None:
        body: dict[str, Any] = oem.get(f"/v1/demands/{demand_id}").json()
        return None if body["status"] == "pending" else body

    body = wait(decided)
    return time.perf_counter() - start, body


def lifecycle(nodes: dict[str, httpx.Client]) -> float:
    start = time.perf_counter()
    _, demand = split_once(nodes["oem-a"])
    allocation = demand["allocations"][0]
    escrow, supplier = allocation["escrow_id"], nodes[allocation["supplier"]]
    nodes["oem-a"].post(
        f"/v1/escrows/{escrow}/deposit",
        json={"amount": allocation["escrow_amount"], "currency": "EUR", "payment_reference": "B"},
    )
    supplier.post(
        f"/v1/orders/{escrow}/production-complete",
        json={
            "produced_quantity": allocation["quantity"],
            "defects": {"critical": 0, "major": 0, "minor": 0},
        },
    )
    wait(lambda: nodes["oem-a"].get(f"/v1/escrows/{escrow}").json()["state"] == "released")
    return time.perf_counter() - start


def run(runtime: dict[str, Any], network: LocalNetwork, args: argparse.Namespace) -> dict[str, Any]:
    nodes = {n: client(info) for n, info in runtime.items()}
    for supplier in ("supplier-a", "supplier-b"):
        nodes[supplier].put("/v1/dms/profile", json=BIG).raise_for_status()
    partners = [runtime[n]["url"] for n in ("oem-a", "oem-b", "supplier-a", "supplier-b")]
    floor = asyncio.run(fanout_floor(partners, 200))
    split_once(nodes["oem-a"])  # warm-up
    splits = [split_once(nodes["oem-a"])[0] for _ in range(args.splits)]
    pids = [p.pid for p in network.processes.values()]
    cpu_before = cpu_seconds(pids)
    lifecycles = [lifecycle(nodes) for _ in range(args.lifecycles)]
    cpu_per_lifecycle = (cpu_seconds(pids) - cpu_before) / args.lifecycles
    oem = nodes["oem-a"]
    start = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda _: oem.post("/v1/demands", json=DEMAND).json()["id"], range(args.burst)))
    for demand_id in ids:
        wait(lambda d=demand_id: oem.get(f"/v1/demands/{d}").json()["status"] != "pending", timeout=300)
    burst_seconds = time.perf_counter() - start
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "floor_4_peer_fanout": ms(floor),
        "split_decision": ms(splits),
        "full_lifecycle": ms(lifecycles),
        "cpu_seconds_per_lifecycle_all_nodes": cpu_per_lifecycle,
        "burst": {
            "demands": args.burst,
            "seconds": burst_seconds,
            "decisions_per_s": args.burst / burst_seconds,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--splits", type=int, default=30)
    parser.add_argument("--lifecycles", type=int, default=15)
    parser.add_argument("--burst", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        config = prepare(state, None, free_base())
        network = LocalNetwork(state_dir=state, config=config)
        network.start()
        try:
            network.wait_healthy()
            runtime = json.loads(write_runtime_file(state, config).read_text())["nodes"]
            results = run(runtime, network, args)
        finally:
            network.stop()
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
