"""Load and soak: the full lifecycle from every OEM at once, for minutes or hours, then the books.

A network of real node processes on SQLite (2 OEMs, 2 suppliers, the PDU and the auditor
by default; a deposit window of 30 s so that cancellations happen during the run, and the
auditor's scheduled audits every minute, every fifth one full, so that audits run under
load and repeatedly; a leak per audit would show). Every
OEM runs ``--workers-per-oem`` lifecycles at a time, back to back, through the ERP API
(:mod:`benchmarks.soak_flows`: passing and failing lots, full counts and ISO 2859-1
samples, re-offers accepted by the other OEM, surplus lots, unfunded allocations left
to be cancelled). Meanwhile RSS, open files and threads of every node are sampled.

When the time is up, the workers finish the lifecycle they are in, the cancellations
still due are awaited, and the run is judged:

* **no error**: every call answered as expected, every wait ended in time, no node
  exited, and no node logged an ERROR, a CRITICAL or a traceback;
* **no overbooking** and **money conserved**, from the network ledger itself
  (:mod:`benchmarks.soak_ledger`), and every OEM's view of every escrow agrees with it
  and with what the driver paid;
* **audit clean**: a full audit on the auditor finds nothing;
* **flat**: RSS and open files of every node, by the rule of :mod:`benchmarks.soak_stats`
  (recorded; the exit status reflects only the four above).

Usage: ``python -m benchmarks.soak --minutes N --out benchmarks/results/soak-<name>.json``;
charts: ``python -m benchmarks.soak_charts benchmarks/results/soak-<name>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import soak_stats
from benchmarks.soak_checks import end_checks
from benchmarks.soak_flows import KINDS, Cancels, Lifecycles
from benchmarks.soak_net import Sampler, SoakNetwork, start
from benchmarks.soak_record import Recorder
from supplymesh.config import Role


@dataclass(frozen=True)
class Settings:
    """What a soak run does."""

    minutes: float = 2.0
    oems: int = 2
    suppliers: int = 2
    workers_per_oem: int = 2
    deposit_window: int = 30
    audit_interval: float = 60.0
    sample_seconds: float = 5.0
    wait_timeout: float = 180.0
    window_seconds: float = 0.0
    """Latency window; 0: a twentieth of the run, at least 15 s."""


def run(settings: Settings) -> dict[str, Any]:
    """Start a network, soak it, judge it, stop it; the result document."""
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        net = start(
            Path(tmp) / "state",
            oems=settings.oems,
            suppliers=settings.suppliers,
            deposit_window=settings.deposit_window,
            env={
                "SUPPLYMESH_AUDIT_INTERVAL_SECONDS": str(settings.audit_interval),
                "SUPPLYMESH_AUDIT_FULL_EVERY": "5",
            },
            timeout=300,
        )
        try:
            return drive(net, settings)
        finally:
            net.close()


def drive(net: SoakNetwork, settings: Settings) -> dict[str, Any]:
    """Run the workers for ``settings.minutes``, drain, and check."""
    began = datetime.now(UTC)
    load_before = os.getloadavg()
    runtime = json.loads((net.state / "network.json").read_text())["nodes"]
    rec = Recorder(runtime, wait_timeout=settings.wait_timeout)
    sampler = Sampler(net.pids(), settings.sample_seconds)
    sampler.start()
    cancels = Cancels(rec, settings.deposit_window)
    flows = Lifecycles(rec, net.ids(Role.OEM), net.ids(Role.SUPPLIER), cancels)
    try:
        flows.post_wishes()
        watcher = threading.Thread(target=cancels.run, daemon=True)
        watcher.start()
        _work(flows, rec, settings)
        cancels.close()
        watcher.join()
    finally:
        sampler.stop()
        driven = rec.now()
    checks = end_checks(net, rec)
    rec.close()
    window = settings.window_seconds or max(15.0, settings.minutes * 60 / 20)
    node_series = soak_stats.series(sampler.samples)
    result: dict[str, Any] = {
        "when": began.isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "settings": asdict(settings),
        "driven_s": round(driven, 1),
        "lifecycles": sum(op == "split" for _, op, _ in rec.ops),
        "outcomes": dict(sorted(rec.outcomes.items())),
        "errors": {"count": rec.error_count, "first": rec.errors},
        "latency": soak_stats.latency(rec.ops, window),
        "resources": node_series,
        "flatness": soak_stats.flatness(node_series, driven),
        **checks,
    }
    result["verdict"] = verdict(result)
    return result


def _work(flows: Lifecycles, rec: Recorder, settings: Settings) -> None:
    stop_at = rec.now() + settings.minutes * 60

    def worker(oem: str, index: int) -> None:
        turn = index
        while rec.now() < stop_at:
            flows.run(oem, turn, KINDS[(turn * 7 + index) % len(KINDS)])
            turn += 1

    threads = [
        threading.Thread(target=worker, args=(oem, n * len(flows.oems) + i), daemon=True)
        for i, oem in enumerate(flows.oems)
        for n in range(settings.workers_per_oem)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def verdict(result: dict[str, Any]) -> dict[str, bool]:
    """The run's invariants, and the flatness of every node."""
    judged = [f for f in result["flatness"].values() if f["judged"]]
    return {
        "no_errors": result["errors"]["count"] == 0
        and not result["exited_nodes"]
        and all(n["errors"] == 0 for n in result["logs"].values()),
        "no_overbooking": result["ledger"]["overbooked_splits"] == 0,
        "money_conserved": result["ledger"]["money_conserved"]
        and result["ledger"]["problem_count"] == 0
        and not result["view_differences"],
        "audit_clean": result["audit"]["ok"] and result["audit"]["findings"] == 0,
        "rss_flat": bool(judged) and all(f["rss_flat"] for f in judged),
        "open_files_flat": bool(judged) and all(f["open_files_flat"] for f in judged),
    }


CORRECTNESS = ("no_errors", "no_overbooking", "money_conserved", "audit_clean")


def main() -> None:
    """Command line: run, write the result, exit 1 if an invariant failed."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=Settings.minutes)
    parser.add_argument("--oems", type=int, default=Settings.oems)
    parser.add_argument("--suppliers", type=int, default=Settings.suppliers)
    parser.add_argument("--workers-per-oem", type=int, default=Settings.workers_per_oem)
    parser.add_argument("--deposit-window", type=int, default=Settings.deposit_window, help="seconds")
    parser.add_argument("--audit-interval", type=float, default=Settings.audit_interval, help="seconds")
    parser.add_argument("--sample-seconds", type=float, default=Settings.sample_seconds)
    parser.add_argument("--window-seconds", type=float, default=0.0, help="latency window; 0: auto")
    parser.add_argument("--out", type=Path, required=True)
    args = vars(parser.parse_args())
    out = args.pop("out")
    result = run(Settings(**args))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("lifecycles", "outcomes", "errors", "verdict")}, indent=1))
    raise SystemExit(0 if all(result["verdict"][k] for k in CORRECTNESS) else 1)


if __name__ == "__main__":
    main()
