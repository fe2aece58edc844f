"""Decisions by network size, over real HTTP between real node processes on SQLite.

For each partner count (``--partners 4,8,16,32``: half OEMs, half suppliers, plus the
PDU and the auditor, every node its own process), black-box through the ERP API:

* network start: spawn → every node answers ``/health``;
* floors of the same run: a bare parallel signed round from the PDU's key to every
  partner, the same round unsigned, a raw durable SQLite commit (``decisions_net``);
* split latency: ``POST /v1/demands`` at oem-a until ``GET /v1/demands/{id}`` at oem-a is
  no longer pending (outbox to the PDU, attestations of every named supplier over its
  channel, proposal, the partners re-executing and signing, commit, replication back);
  each demand names up to 4 priority suppliers, rotating over the suppliers;
* burst: ``--burst`` demands posted at once from all the OEMs in turn, decisions/s until
  every one is decided as its OEM sees it, and the CPU seconds of the node processes
  over the burst (``/proc``) per decision, in all and per role (the OEMs' share includes
  answering the client's polling); with it the cores kept busy, the rate the machine's
  cores would allow at that cost (cores / CPU per decision) and the rate the PDU's one
  process would allow (1 / its CPU per decision);
* at 4 partners only: the full lifecycle (demand → split → deposit → production complete
  → release), and a cProfile of the PDU's main thread (its event loop) over a second,
  unmeasured burst (``--profile-burst``; ``profiling/sitecustomize.py``).

Latencies are seen by an ERP client polling every 5 ms. A size whose network does not
start records why and the sweep goes on. Results go to
``benchmarks/results/decisions-sweep.json``.
Usage: ``python -m benchmarks.bench_decisions [--partners 4,8,16,32] [--splits N] [--burst N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks.decisions_net import (
    Network,
    cpu_by_role,
    floors,
    ms,
    profile_env,
    profile_summary,
    start_network,
)
from supplymesh.cli.launcher import LaunchError

RESULTS = Path(__file__).parent / "results" / "decisions-sweep.json"
POLL_SECONDS = 0.005
PRIORITY_SUPPLIERS = 4
BIG = {
    "machines": 100000,
    "hours_per_day": "24",
    "baseline_efficiency": "1",
    "queued_machine_hours": "0",
    "products": ["P-100"],
}


def demand(suppliers: list[str], number: int) -> dict[str, Any]:
    """A demand naming up to 4 priority suppliers, the window rotating with ``number``."""
    count = min(PRIORITY_SUPPLIERS, len(suppliers))
    named = [suppliers[(number + k) % len(suppliers)] for k in range(count)]
    return {
        "product": "P-100",
        "quantity": 10,
        "lead_time_days": 5,
        "required_machine_hours": "4",
        "priority_suppliers": named,
        "aql": {"critical": "0", "major": "2.5", "minor": "4"},
        "unit_price": {"amount": 100, "currency": "EUR"},
    }


def wait(probe: Any, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(POLL_SECONDS)
    raise TimeoutError("no result in time")


def decided(oem: httpx.Client, demand_id: str, timeout: float = 120.0) -> dict[str, Any]:
    """The demand as its OEM sees it once it is no longer pending."""

    def probe() -> dict[str, Any] | None:
        body: dict[str, Any] = oem.get(f"/v1/demands/{demand_id}").json()
        return None if body["status"] == "pending" else body

    result: dict[str, Any] = wait(probe, timeout)
    return result


def split_once(net: Network, number: int) -> tuple[float, dict[str, Any]]:
    oem = net.nodes[net.oems[0]]
    start = time.perf_counter()
    answer = oem.post("/v1/demands", json=demand(net.suppliers, number))
    answer.raise_for_status()
    body = decided(oem, answer.json()["id"])
    return time.perf_counter() - start, body


def lifecycle(net: Network, number: int) -> float:
    start = time.perf_counter()
    _, body = split_once(net, number)
    allocation = body["allocations"][0]
    escrow, oem = allocation["escrow_id"], net.nodes[net.oems[0]]
    supplier = net.nodes[allocation["supplier"]]
    oem.post(
        f"/v1/escrows/{escrow}/deposit",
        json={"amount": allocation["escrow_amount"], "currency": "EUR", "payment_reference": "B"},
    ).raise_for_status()
    supplier.post(
        f"/v1/orders/{escrow}/production-complete",
        json={
            "produced_quantity": allocation["quantity"],
            "defects": {"critical": 0, "major": 0, "minor": 0},
        },
    ).raise_for_status()
    wait(lambda: oem.get(f"/v1/escrows/{escrow}").json()["state"] == "released")
    return time.perf_counter() - start


def burst(net: Network, count: int, first: int) -> dict[str, Any]:
    """``count`` demands posted at once from every OEM in turn; decisions/s and CPU per decision."""
    oems = net.oems

    def post(number: int) -> tuple[str, str]:
        oem = oems[number % len(oems)]
        answer = net.nodes[oem].post("/v1/demands", json=demand(net.suppliers, first + number))
        answer.raise_for_status()
        return oem, str(answer.json()["id"])

    cpu_before = cpu_by_role(net)
    start = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        posted = list(pool.map(post, range(count)))
    statuses: dict[str, int] = {}
    for oem, demand_id in posted:
        status = decided(net.nodes[oem], demand_id, timeout=600)["status"]
        statuses[status] = statuses.get(status, 0) + 1
    seconds = time.perf_counter() - start
    cpu = {role: used - cpu_before[role] for role, used in cpu_by_role(net).items()}
    return {
        "demands": count,
        "seconds": round(seconds, 3),
        "decisions_per_s": round(count / seconds, 2),
        "statuses": statuses,
        **cpu_figures(cpu, count, seconds),
    }


def cpu_figures(cpu: dict[str, float], count: int, seconds: float) -> dict[str, Any]:
    """CPU per decision (all nodes, per role) and the rate the machine's cores would allow."""
    total = sum(cpu.values())
    cores = os.cpu_count() or 1
    return {
        "cpu_seconds_all_nodes": round(total, 2),
        "cpu_seconds_per_decision": round(total / count, 4),
        "cpu_seconds_per_decision_by_role": {r: round(c / count, 4) for r, c in sorted(cpu.items())},
        "cores_busy": round(total / seconds, 2),
        "cpu_bound_decisions_per_s": round(cores * count / total, 2) if total else None,
        "pdu_bound_decisions_per_s": round(count / cpu["pdu"], 2) if cpu.get("pdu") else None,
    }


def profiled_burst(net: Network, count: int, out: Path, top: int) -> dict[str, Any]:
    """A burst with the PDU's main thread under cProfile; the top functions."""
    pdu = net.local.processes["pdu"].pid
    os.kill(pdu, signal.SIGUSR1)
    figures = burst(net, count, first=10_000)
    os.kill(pdu, signal.SIGUSR2)
    wait(lambda: out.exists() and out.stat().st_size > 0, timeout=30)
    time.sleep(0.5)  # the dump is written in one go; let it finish
    return {"burst": figures, **profile_summary(out, top)}


def measure(net: Network, args: argparse.Namespace, profile_out: Path | None) -> dict[str, Any]:
    for supplier in net.suppliers:  # a node may refuse (401) for a moment after /health answers
        http = net.nodes[supplier]
        wait(lambda h=http: h.put("/v1/dms/profile", json=BIG).is_success, timeout=30)
    figures: dict[str, Any] = {"floors": floors(net, args.floor_rounds)}
    split_once(net, 0)  # warm-up
    figures["split_decision"] = ms([split_once(net, n)[0] for n in range(1, args.splits + 1)])
    figures["burst"] = burst(net, args.burst, first=1000)
    if len(net.config.partners()) == 4:
        lifecycles = [lifecycle(net, 2000 + n) for n in range(args.lifecycles)]
        figures["full_lifecycle"] = ms(lifecycles)
    if profile_out is not None:
        figures["pdu_profile"] = profiled_burst(net, args.profile_burst, profile_out, args.top)
    return figures


def one_size(partners: int, args: argparse.Namespace) -> dict[str, Any]:
    """Start a network of ``partners`` partners, measure it, stop it."""
    record: dict[str, Any] = {"partners": partners, "processes": partners + 2}
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        out = args.profile_file or Path(tmp) / "pdu.prof"
        env = profile_env("pdu", out) if partners == 4 and args.profile_burst else {}
        try:
            net = start_network(state, partners, env, timeout=args.start_timeout)
        except (LaunchError, OSError) as exc:
            record["error"] = f"network did not start: {exc}"
            return record
        record["network_start_s"] = round(net.start_seconds, 2)
        print(f"{partners} partners: started in {net.start_seconds:.1f} s", flush=True)
        try:
            record.update(measure(net, args, out if env else None))
        except (TimeoutError, httpx.HTTPError, RuntimeError) as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            net.close()
    return record


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--partners", default="4,8,16,32", help="comma-separated partner counts")
    parser.add_argument("--splits", type=int, default=10, help="sequential splits per size")
    parser.add_argument("--burst", type=int, default=40, help="demands per burst")
    parser.add_argument("--lifecycles", type=int, default=10, help="full lifecycles (4 partners)")
    parser.add_argument("--floor-rounds", type=int, default=100)
    parser.add_argument("--profile-burst", type=int, default=20, help="0: no PDU profile")
    parser.add_argument("--profile-file", type=Path, help="keep the PDU's cProfile dump here")
    parser.add_argument("--top", type=int, default=25, help="functions kept from the profile")
    parser.add_argument("--start-timeout", type=float, default=300.0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "settings": {k: str(v) for k, v in vars(args).items()},
        "sizes": [],
    }
    for partners in (int(p) for p in args.partners.split(",")):
        results["sizes"].append(one_size(partners, args))
        args.out.parent.mkdir(exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
