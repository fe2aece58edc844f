"""The end of a soak: replicas converged, the ledger's books, the OEMs' views, the audit, the logs."""

from __future__ import annotations

import time
from typing import Any

from benchmarks.soak_ledger import compare_views, replay
from benchmarks.soak_net import SoakNetwork, capacity_hours, log_findings
from benchmarks.soak_record import Flaw, Recorder
from supplymesh.config import Role

PAGE = 1000


def end_checks(net: SoakNetwork, rec: Recorder) -> dict[str, Any]:
    """Everything the verdict is made of, besides the driver's own errors."""
    checks: dict[str, Any] = {"exited_nodes": net.local.exited()}
    started = time.monotonic()
    try:
        checks["converged_size"] = converged(net, rec)
    except Flaw as flaw:
        rec.error("end", str(flaw))
        checks["converged_size"] = None
    checks["converge_s"] = round(time.monotonic() - started, 1)
    ledger = replay(entries(rec), capacity_hours)
    views = escrow_views(rec)
    checks["view_differences"] = compare_views(ledger, views, rec.deposited)[:50]
    checks["escrows_checked"] = len(views)
    checks["driver_deposited"] = rec.deposited
    del ledger["escrows"]
    checks["ledger"] = ledger
    checks["audit"] = audit(net, rec)
    checks["logs"] = log_findings(net)
    return checks


def converged(net: SoakNetwork, rec: Recorder) -> int:
    """Wait until every holder of the network ledger has the PDU's head; its size."""
    holders = [m.id for m in net.config.members if m.role != Role.AUDITOR]

    def same() -> int | None:
        heads = [rec.call(n, "GET", "/v1/ledgers/network/head") for n in holders]
        return heads[0]["size"] if len({h["root_hash"] for h in heads}) == 1 else None

    size: int = rec.wait("every replica of the network ledger to converge", same)
    return size


def entries(rec: Recorder) -> list[dict[str, Any]]:
    """Every entry of the PDU's network ledger, in seq order."""
    found: list[dict[str, Any]] = []
    while True:
        page = rec.call(
            "pdu", "GET", "/v1/ledgers/network/entries", params={"after": len(found), "limit": PAGE}
        )
        found += page
        if len(page) < PAGE:
            return found


def escrow_views(rec: Recorder) -> dict[str, dict[str, Any]]:
    """Every escrow the driver saw, as the OEM that holds it shows it."""
    views = {}
    for escrow, oem in sorted(rec.escrows.items()):
        views[escrow] = rec.call(oem, "GET", f"/v1/escrows/{escrow}")
    return views


def audit(net: SoakNetwork, rec: Recorder) -> dict[str, Any]:
    """A full audit on the auditor: ok, how many findings, the first few, how long it took."""
    auditor = net.ids(Role.AUDITOR)[0]
    started = time.monotonic()
    report = rec.call(auditor, "POST", "/v1/audits", json={"mode": "full"}, timeout=900)
    findings = report.get("findings", [])
    return {
        "ok": bool(report.get("ok")),
        "findings": len(findings),
        "first_findings": findings[:10],
        "seconds": round(time.monotonic() - started, 1),
    }
