"""Partner-node benchmarks over real HTTP between real node processes.

* DMS ingestion: POST /v1/dms/readings in batches of 1,000 to one supplier node,
  readings/s end to end (client JSON encoding included), next to the raw floors of the
  same run: sqlite3 executemany of 1,000-row durable transactions, and a bare HTTP
  round trip to the same node.
* Channel append with countersignature: POST /v1/channels/{ledger}/entries, p50/p99
  latency, for supplier-authored entries (sign → OEM countersigns → append → push) and
  OEM-authored ones (OEM signs → supplier sequences and countersigns → both append).

Results go to ``benchmarks/results/partner.json``.
Usage: ``python -m benchmarks.bench_partner [--batches N] [--appends N]``.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from supplymesh.cli.launcher import LocalNetwork, port_in_use
from supplymesh.cli.netgen import prepare, write_runtime_file

RESULTS = Path(__file__).parent / "results" / "partner.json"
BATCH = 1000


def free_base(count: int = 6) -> int:
    for base in range(21000, 31000, 10):
        if not any(port_in_use("127.0.0.1", base + i) for i in range(count)):
            return base
    raise RuntimeError("no free ports")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def readings_batch(batch_no: int) -> dict[str, Any]:
    start = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=batch_no)
    return {
        "readings": [
            {
                "sensor_id": f"s-{i % 100}",
                "unit_id": f"u-{batch_no}-{i}",
                "order_id": f"o-{batch_no % 10}",
                "value": "10.05" if i % 7 else "10.9",
                "start": start.isoformat(),
                "end": (start + timedelta(seconds=70)).isoformat(),
            }
            for i in range(BATCH)
        ]
    }


def raw_sqlite_batches(directory: Path, batches: int) -> float:
    conn = sqlite3.connect(directory / "raw.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(
        "CREATE TABLE r (id INTEGER PRIMARY KEY, a TEXT, b TEXT, c TEXT, v TEXT, s TEXT, e TEXT, n INTEGER)"
    )
    rows = [
        (f"s-{i}", f"u-{i}", "o-1", "10.05", "2026-11-01T00:00:00+00:00", "2026-11-01T00:01:10+00:00", i)
        for i in range(BATCH)
    ]
    started = time.perf_counter()
    for _ in range(batches):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO r (a, b, c, v, s, e, n) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return batches * BATCH / seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--appends", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        config = prepare(state, None, free_base())
        network = LocalNetwork(state_dir=state, config=config)
        network.start()
        try:
            network.wait_healthy()
            runtime = json.loads(write_runtime_file(state, config).read_text())["nodes"]
            results = run(runtime, args, Path(tmp))
        finally:
            network.stop()
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


def client(node: dict[str, Any]) -> httpx.Client:
    return httpx.Client(
        base_url=node["url"], headers={"Authorization": f"Bearer {node['erp_token']}"}, timeout=60
    )


def run(runtime: dict[str, Any], args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    supplier, oem = client(runtime["supplier-a"]), client(runtime["oem-a"])
    supplier.put(
        "/v1/dms/profile",
        json={
            "machines": 4,
            "hours_per_day": "16",
            "baseline_efficiency": "0.8",
            "queued_machine_hours": "100",
            "products": ["P-100"],
        },
    ).raise_for_status()
    sensors = [
        {
            "id": f"s-{i}",
            "process": "mill",
            "target": "10",
            "tolerance": "0.5",
            "defect_class": "major",
            "standard_seconds": "60",
        }
        for i in range(100)
    ]
    supplier.post("/v1/dms/sensors", json={"sensors": sensors}).raise_for_status()
    bodies = [json.dumps(readings_batch(n)).encode() for n in range(args.batches)]
    headers = {"Content-Type": "application/json"}
    started = time.perf_counter()
    for body in bodies:
        supplier.post("/v1/dms/readings", content=body, headers=headers).raise_for_status()
    ingest_rate = args.batches * BATCH / (time.perf_counter() - started)

    bare = []
    for _ in range(200):
        t = time.perf_counter()
        supplier.get("/health").raise_for_status()
        bare.append(time.perf_counter() - t)

    ledger = "channel:oem-a:supplier-a"
    latencies: dict[str, list[float]] = {"supplier": [], "oem": []}
    for author, http in (("supplier", supplier), ("oem", oem)):
        for n in range(args.appends):
            t = time.perf_counter()
            http.post(
                f"/v1/channels/{ledger}/entries", json={"kind": "message", "body": {"n": n}}
            ).raise_for_status()
            latencies[author].append(time.perf_counter() - t)

    def ms(values: list[float]) -> dict[str, float]:
        return {"p50_ms": statistics.median(values) * 1000, "p99_ms": percentile(values, 0.99) * 1000}

    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "ingestion": {"batch": BATCH, "batches": args.batches, "readings_per_s": ingest_rate},
        "raw": {
            "sqlite_executemany_rows_per_s": raw_sqlite_batches(tmp, args.batches),
            "http_round_trip": ms(bare),
        },
        "channel_append": {
            "supplier_authored": ms(latencies["supplier"]),
            "oem_authored": ms(latencies["oem"]),
        },
    }


if __name__ == "__main__":
    main()
