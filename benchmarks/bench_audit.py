"""Audit benchmark: full against incremental audits on ledgers of some thousands of entries.

The network of the in-process test harness (every node an ASGI app, SQLite files, real
signatures, no sockets). oem-a submits ``--actions`` demands as signed party actions,
which the PDU sequences and every partner replicates (network ledger), and supplier-a
updates its profile ``--attestations`` times (endorsed capacity attestations on both of
its channels). Then: a full audit, an incremental audit with nothing new, ``--more``
further demands, an incremental audit, a full audit. Every figure is wall time of the
auditor's ``POST /v1/audits`` with the entries it fetched; results go to
``benchmarks/results/audit.json``.
With ``--network N``, instead: a full audit of a network whose ledger holds N entries, end
to end, every node a real process on SQLite (see :mod:`benchmarks.audit_network`); results
go to ``benchmarks/results/audit_network.json`` (``audit_network_workersN.json`` with
``--workers N``).

Usage: ``python -m benchmarks.bench_audit [--actions N] [--attestations N] [--more N]``
or ``python -m benchmarks.bench_audit --network 100000 [--workers N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.harness import Harness

from supplymesh.core.actions import DEMAND_SUBMITTED, Action, sign_action
from supplymesh.node.keys import KEY_FILE, load_key_file

RESULTS = Path(__file__).parent / "results" / "audit.json"
TERMS = {
    "product": "P-100",
    "quantity": 10,
    "lead_time_days": 5,
    "required_machine_hours": "4",
    "priority_suppliers": ["supplier-a", "supplier-b"],
    "aql": {"critical": "0", "major": "2.5", "minor": "4"},
    "unit_price": {"amount": 100, "currency": "EUR"},
}
PROFILE = {
    "machines": 4,
    "hours_per_day": "16",
    "baseline_efficiency": "0.8",
    "queued_machine_hours": "100",
    "products": ["P-100"],
}


async def submit_demands(harness: Harness, count: int) -> None:
    signer = load_key_file(harness.state_dir / "oem-a" / KEY_FILE)
    peer = harness.peer("oem-a")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for _ in range(count):
        action = Action(kind=DEMAND_SUBMITTED, party="oem-a", id=uuid.uuid4().hex, time=now, body=TERMS)
        response = await peer.request(
            "pdu",
            "POST",
            "/peer/v1/actions",
            json={"action": action.statement(), "signature": sign_action(action, signer)},
        )
        assert response.status_code == 200, response.text
    await harness.drain(rounds=200)


async def timed_audit(harness: Harness, mode: str) -> dict[str, Any]:
    client = harness.erp("auditor")
    started = time.perf_counter()
    response = await client.post("/v1/audits", json={"mode": mode}, timeout=600)
    seconds = time.perf_counter() - started
    report = response.json()
    assert response.status_code == 200 and report["ok"], report.get("findings", report)[:5]
    entries = sum(row["size"] for row in report["ledgers"])
    result = {
        "mode": mode,
        "seconds": round(seconds, 3),
        "fetched": report["fetched_entries"],
        "held": entries,
    }
    print(f"{mode:12} {seconds:8.3f} s  fetched {report['fetched_entries']:6} of {entries} entries held")
    return result


async def main(actions: int, attestations: int, more: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        harness = Harness(state, lambda name: f"sqlite:///{state / (name + '.db')}")
        try:
            harness.start_all()
            started = time.perf_counter()
            supplier = harness.erp("supplier-a")
            for i in range(attestations):
                profile = {**PROFILE, "queued_machine_hours": str(100 + i)}
                assert (await supplier.put("/v1/dms/profile", json=profile)).status_code == 200
            await submit_demands(harness, actions)
            print(f"setup: {time.perf_counter() - started:.1f} s")
            runs = [await timed_audit(harness, "full"), await timed_audit(harness, "incremental")]
            await submit_demands(harness, more)
            runs += [await timed_audit(harness, "incremental"), await timed_audit(harness, "full")]
        finally:
            await harness.close()
    return {
        "date": datetime.now(UTC).date().isoformat(),
        "python": platform.python_version(),
        "actions": actions,
        "attestations": attestations,
        "more": more,
        "runs": runs,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=2000)
    parser.add_argument("--attestations", type=int, default=200)
    parser.add_argument("--more", type=int, default=20)
    parser.add_argument("--network", type=int, default=0, help="network entries for the end-to-end audit")
    parser.add_argument("--workers", type=int, default=0, help="the auditor's SUPPLYMESH_AUDIT_WORKERS")
    args = parser.parse_args()
    if args.network:
        from benchmarks.audit_network import NETWORK_RESULTS, full_audit_of_network

        outcome = full_audit_of_network(args.network, args.workers, TERMS)
        out = (
            NETWORK_RESULTS.with_stem(f"{NETWORK_RESULTS.stem}_workers{args.workers}")
            if args.workers
            else NETWORK_RESULTS
        )
        out.write_text(json.dumps(outcome, indent=2) + "\n")
    else:
        result = asyncio.run(main(args.actions, args.attestations, args.more))
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
