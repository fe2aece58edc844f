"""A full audit of a network with a big network ledger, end to end, every node a real process.

The network (2 OEMs, 2 suppliers, the PDU, the auditor; SQLite) starts once so the PDU
writes its genesis and every partner replicates it. Then it stops, and the stored copies
are grown quickly: ``entries - 1`` further network entries, alternately a demand that
oem-a signed (sequenced by the PDU, exactly as ``POST /peer/v1/actions`` would append
it) and the PDU's ``demand.failed`` for it (so the restarted PDU has no decision to
take), each signed by the PDU, are written to every holder's ``ledger_entries`` as its
append would (same columns, one transaction per holder). The network restarts (each
node replays its ledger) and the auditor runs one full audit, timed from the request to
the report: pull from every holder, verify every copy, run every check, store, report.
The report must be clean. The auditor's log gives the phases (pull, verify, checks,
store), ``/proc`` the CPU seconds each node process (with its worker processes) spent
during the audit; the raw libsodium verify rate of one core is measured in the same run.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.bindings import crypto_sign_open

from benchmarks.bench_partner import client, free_base
from supplymesh.cli.launcher import LocalNetwork
from supplymesh.cli.netgen import prepare, write_runtime_file
from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.actions import DEMAND_SUBMITTED, Action, sign_action
from supplymesh.core.crypto import Signer
from supplymesh.core.entry import SealedEntry, format_time, next_entry, parse_time, sign_entry
from supplymesh.node.keys import KEY_FILE, load_key_file
from supplymesh.storage.ledger_store import entry_row

NETWORK_RESULTS = Path(__file__).parent / "results" / "audit_network.json"
COLUMNS = ("ledger", "seq", "hash", "prev", "kind", "author", "time", "entry", "signatures", "leaf_hash")
INSERT = f"INSERT INTO ledger_entries ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
PHASES = re.compile(r"full audit: (\d+) entries served, (\d+) workers, (.*)$")


def raw_verify_per_s(n: int = 20000) -> float:
    """libsodium Ed25519 verifications per second on one core (the verifier the audit uses)."""
    signer = Signer(Ed25519PrivateKey.generate())
    message = os.urandom(32)
    signed = signer.sign(message) + message
    key = signer.public_key.raw
    start = time.perf_counter()
    for _ in range(n):
        crypto_sign_open(signed, key)
    return n / (time.perf_counter() - start)


TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # fields from the 3rd (state) on


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and of its live children with what they reaped (worker pools)."""
    fields = _stat(pid)
    total = int(fields[11]) + int(fields[12])
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            child = _stat(int(entry.name))
        except (OSError, ValueError):
            continue
        if int(child[1]) == pid:
            total += sum(int(v) for v in child[11:15])
    return total / TICK


def cpu_by_node(local: LocalNetwork) -> dict[str, float]:
    """CPU seconds so far of every node process (with its worker processes)."""
    return {node: cpu_seconds(process.pid) for node, process in local.processes.items()}


def grown_rows(
    state: Path, head: tuple[int, str, str], count: int, terms: dict[str, Any]
) -> list[tuple[Any, ...]]:
    """``count`` network entries after ``head`` (size, hash, time): demand, failure, demand, …"""
    pdu, oem = load_key_file(state / "pdu" / KEY_FILE), load_key_file(state / "oem-a" / KEY_FILE)
    size, prev, last = head
    moment = parse_time(last) + timedelta(seconds=1)
    rows, demand = [], ""
    for i in range(count):
        now = format_time(moment + timedelta(microseconds=i))
        if i % 2 == 0:
            action = Action(kind=DEMAND_SUBMITTED, party="oem-a", id=f"bulk-{i}", time=now, body=terms)
            kind, body = (
                DEMAND_SUBMITTED,
                {"action": action.statement(), "signature": sign_action(action, oem)},
            )
        else:
            kind, body = "demand.failed", {"demand": demand, "reason": "benchmark: no supplier answered"}
        entry = next_entry(
            ledger=NETWORK_LEDGER, head=(size, prev), time=now, kind=kind, author="pdu", body=body
        )
        if i % 2 == 0:
            demand = entry.hash
        rows.append(entry_row(SealedEntry(entry, (sign_entry(entry, signer_id="pdu", signer=pdu),))))
        size, prev = entry.seq, entry.hash
    return rows


def _network_head(db: Path) -> tuple[int, str, str] | None:
    with sqlite3.connect(db) as conn:
        row: tuple[int, str, str] | None = conn.execute(
            "SELECT seq, hash, time FROM ledger_entries WHERE ledger = ? ORDER BY seq DESC LIMIT 1",
            (NETWORK_LEDGER,),
        ).fetchone()
    return row


def grow(state: Path, holders: list[str], entries: int, terms: dict[str, Any]) -> float:
    """Write the network entries up to ``entries`` into every holder's database; seconds taken."""
    started = time.perf_counter()
    head = _network_head(state / "pdu" / "node.db")
    assert head is not None and head[0] == 1, head
    rows = grown_rows(state, head, entries - head[0], terms)
    for holder in holders:
        with sqlite3.connect(state / holder / "node.db") as conn:
            assert _network_head(state / holder / "node.db") == head, holder
            conn.executemany(INSERT, rows)
    return time.perf_counter() - started


def _start(local: LocalNetwork) -> None:
    local.start()
    try:
        local.wait_healthy(timeout=600)
    except BaseException:
        local.stop()
        raise


def _wait_for_genesis(state: Path, holders: list[str]) -> None:
    deadline = time.monotonic() + 60
    while any(_network_head(state / h / "node.db") is None for h in holders):
        assert time.monotonic() < deadline, "genesis not replicated"
        time.sleep(0.2)


def _phases(state: Path) -> dict[str, Any]:
    """The auditor's own account of its last full audit (from its log)."""
    lines = (state / "auditor" / "node.log").read_text(errors="replace").splitlines()
    found = [m for line in lines if (m := PHASES.search(line))]
    if not found:
        return {}
    served, workers, laps = found[-1].groups()
    phases = {name: float(sec) for name, sec in re.findall(r"(\w+) ([\d.]+) s", laps)}
    return {"served": int(served), "workers": int(workers), "seconds": phases}


def full_audit_of_network(entries: int, workers: int, terms: dict[str, Any]) -> dict[str, Any]:
    """Build, restart, audit once in full; the figures."""
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        config = prepare(state, None, free_base(6))
        holders = [m.id for m in config.members if m.id != "auditor"]
        env = {"SUPPLYMESH_AUDIT_INTERVAL_SECONDS": "0", "SUPPLYMESH_AUDIT_WORKERS": str(workers)}
        local = LocalNetwork(state_dir=state, config=config, env=env)
        _start(local)
        try:
            _wait_for_genesis(state, holders)
        finally:
            local.stop()
        grow_seconds = grow(state, holders, entries, terms)
        print(f"grew {len(holders)} copies to {entries} entries in {grow_seconds:.1f} s")
        local = LocalNetwork(state_dir=state, config=config, env=env)
        started = time.perf_counter()
        _start(local)
        restart_seconds = time.perf_counter() - started
        try:
            auditor = client(json.loads(write_runtime_file(state, config).read_text())["nodes"]["auditor"])
            raw = raw_verify_per_s()
            cpu_before = cpu_by_node(local)
            started = time.perf_counter()
            answer = auditor.post("/v1/audits", json={"mode": "full"}, timeout=httpx.Timeout(3600))
            seconds = time.perf_counter() - started
            cpu = {n: round(c - cpu_before[n], 2) for n, c in cpu_by_node(local).items()}
            raw_after = raw_verify_per_s()
            report = answer.json()
            auditor.close()
        finally:
            local.stop()
        assert answer.status_code == 200 and report["ok"], report.get("findings", report)[:5]
        phases = _phases(state)
    result = _figures(entries, holders, report, seconds, phases, (raw, raw_after), restart_seconds)
    result["cpu_seconds_during_the_audit"] = cpu
    print(json.dumps(cpu))
    return result


def _figures(
    entries: int,
    holders: list[str],
    report: dict[str, Any],
    seconds: float,
    phases: dict[str, Any],
    raw: tuple[float, float],
    restart_seconds: float,
) -> dict[str, Any]:
    fetched = report["fetched_entries"]
    verify = phases.get("seconds", {}).get("verify")
    result = {
        "date": datetime.now(UTC).date().isoformat(),
        "cpus": os.cpu_count(),
        "network_entries": entries,
        "holders": len(holders),
        "fetched_entries": fetched,
        "auditor_workers": phases.get("workers"),
        "end_to_end_seconds": round(seconds, 3),
        "end_to_end_entries_per_s": round(fetched / seconds),
        "end_to_end_network_entries_per_s": round(entries / seconds),
        "phases_seconds": phases.get("seconds"),
        "verified_entries_per_s": round(fetched / verify) if verify else None,
        "verified_network_entries_per_s": round(entries / verify) if verify else None,
        "raw_libsodium_verify_per_s_one_core": [round(r) for r in raw],
        "restart_seconds": round(restart_seconds, 1),
    }
    print(json.dumps(result, indent=2))
    return result
