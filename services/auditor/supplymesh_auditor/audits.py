"""Run an audit: pull every ledger from every holder, check, store the report.

The auditor keeps every signed tree head it has seen and runs the pipeline of
:mod:`supplymesh.audit.checks`.

A **full** audit fetches and verifies every entry of every holder. An **incremental**
audit builds on the copies earlier audits verified (tables ``audit_copies`` and
``audit_entries``): per holder and ledger it asks for a consistency proof from the
verified tree head to the holder's current signed head, fetches only the entries after
the verified size, verifies them record by record with the chain continuing the stored
last hash, checks that they give the signed root, and re-checks only the entries that
were still missing a countersignature. The semantic checks of the network ledger replay
its state from the stored entries and judge only the new ones after the checkpoint of
the previous audit (``audit_checkpoints``). A copy whose proof fails, whose stored form
does not prove itself, or which has none yet, is fetched in full. Both modes store what
verified, so either can follow the other.

The stored copies are not trusted blindly: before use, each stored copy's leaves must
give the root of the holder-signed tree head stored with it, and rows the holders did
not sign carry the auditor's own signature. A stored copy that fails this is a finding
(``auditor_state``) and is replaced by a fresh, fully verified pull.

Signatures are verified on ``audit_workers`` worker processes (setting
``SUPPLYMESH_AUDIT_WORKERS``; 0, the default, means one per core, 1 in-process) while the
copies are parsed; their fork server starts while the copies are pulled. An audit with
fewer than a few thousand new signatures verifies them in-process, where the workers
would cost more. The findings are the same either way.

The auditor writes only to its own database; its peer requests are reads. A holder that
cannot be reached, or serves a tree head it did not sign, is a finding: the report is
ok exactly when there are none.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from supplymesh.audit.checks import (
    Copy,
    Pull,
    Reader,
    findings_json,
    run_checks,
    untrusted_times,
    verify_copies,
)
from supplymesh.audit.signatures import prepare_workers, worker_count
from supplymesh.audit.waits import demand_waits
from supplymesh.core.verify import Finding
from supplymesh.node import crashpoints
from supplymesh.node.context import Node
from supplymesh_auditor import reports
from supplymesh_auditor.proofs import Verified
from supplymesh_auditor.pulls import HolderPull, pull_holder
from supplymesh_auditor.store import Stored, load_stored, store_checkpoint, store_copies

log = logging.getLogger("supplymesh.auditor")
MODES = ("full", "incremental")
AUDIT_FAILED = "audit.failed"


class Auditor:
    """The audits of one auditor node: one at a time, each building on the stored state."""

    def __init__(self, node: Node) -> None:
        """An auditor for ``node``; the app creates one at start."""
        self.node = node
        self._lock = asyncio.Lock()

    async def run(self, mode: str = "full") -> dict[str, Any]:
        """Pull, verify, report: ``full`` re-fetches everything, ``incremental`` what is new.

        Always returns a report. The pipeline is total and reports what holders serve as
        findings; should the audit still fail (its own database, say), the report says so
        with the finding ``audit.failed`` and the reason is logged.

        Raises:
            ValueError: for an unknown ``mode`` (the only error a caller can cause).
        """
        if mode not in MODES:
            raise ValueError(f"unknown audit mode {mode!r}")
        async with self._lock:  # one audit at a time builds on the state
            started = self.node.now_text()
            try:
                return await _run_audit(self.node, mode)
            except Exception as exc:  # the report is the answer, never an HTTP 500
                log.exception("%s audit failed", mode)
                return await asyncio.to_thread(_failed_report, self.node, mode, started, exc)


async def _run_audit(node: Node, mode: str) -> dict[str, Any]:
    """One audit top to bottom: load what verified before, pull, check, keep, report."""
    started, clock = node.now_text(), _Clock()
    stored = await asyncio.to_thread(load_stored, node)
    incremental = mode == "incremental"
    holders = [m.id for m in node.config.members if m.id != node.id]
    verified = _builds_on(holders, stored) if incremental else {h: {} for h in holders}
    workers = worker_count(node.settings.audit_workers)
    warming = asyncio.create_task(asyncio.to_thread(prepare_workers, workers))
    pulled = await asyncio.gather(*(pull_holder(node, h, verified[h]) for h in holders))
    await warming
    copies = [c for part in pulled for c in part.copies]
    findings = list(stored.findings) + [f for part in pulled for f in part.findings]
    pull = Pull(
        config=node.config,
        copies=copies,
        seen=reports.seen(node),
        checkpoint=stored.checkpoint if incremental else None,
        reader=Reader(node.id, node.recipient),
        workers=workers,
    )
    clock.lap("pull")
    await asyncio.to_thread(_verify_all, pull)
    clock.lap("verify")
    found, checkpoint = await asyncio.to_thread(run_checks, pull)
    clock.lap("checks")
    findings += found
    await _keep(node, mode, holders, pulled, stored)
    crashpoints.reached("auditor.audit.kept")
    await asyncio.to_thread(store_checkpoint, node, checkpoint)
    report = _report(node, mode, started, findings, pulled, pull)
    report["id"] = reports.store_report(node, report)
    clock.lap("store")
    entries = sum(len(c.items) for c in copies)
    log.info("%s audit: %d entries served, %d workers, %s", mode, entries, pull.workers, clock)
    return report


class _Clock:
    """Wall time of an audit's phases, for the log."""

    def __init__(self) -> None:
        self.last = time.perf_counter()
        self.laps: list[tuple[str, float]] = []

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps.append((name, now - self.last))
        self.last = now

    def __str__(self) -> str:
        return ", ".join(f"{name} {seconds:.3f} s" for name, seconds in self.laps)


def _verify_all(pull: Pull) -> None:
    """Verify every copy (signatures on the pull's workers); a failure leaves it to the checks."""
    try:
        verify_copies(pull.copies, pull.config, pull.workers)
    except Exception:  # the checks verify each copy again and report what raises
        log.exception("audit: verifying the copies failed")


def _builds_on(holders: Sequence[str], stored: Stored) -> dict[str, dict[str, Verified]]:
    """Per holder, per ledger: the stored copy an incremental audit builds on."""
    verified: dict[str, dict[str, Verified]] = {h: {} for h in holders}
    for (holder, ledger), copy in stored.copies.items():
        verified.setdefault(holder, {})[ledger] = copy
    return verified


async def _keep(
    node: Node, mode: str, holders: Sequence[str], pulled: Sequence[HolderPull], stored: Stored
) -> None:
    """Remember every signed head served, and keep every copy that verified."""
    heads = {
        (holder, ledger): sth
        for holder, part in zip(holders, pulled, strict=True)
        for ledger, sth in part.heads
    }
    for (holder, ledger), sth in heads.items():
        reports.remember(node, holder, ledger, sth)
    copies = [c for part in pulled for c in part.copies]
    await asyncio.to_thread(store_copies, node, mode, copies, heads, stored)


def _report(
    node: Node, mode: str, started: str, findings: list[Finding], pulled: Sequence[HolderPull], pull: Pull
) -> dict[str, Any]:
    """The report of a completed audit; ``ok`` exactly when there are no findings."""
    return {
        "ok": not findings,
        "mode": mode,
        "started": started,
        "finished": node.now_text(),
        "findings": findings_json(findings),
        "fetched_entries": sum(part.fetched for part in pulled),
        "demand_waits": [w.as_json() for w in demand_waits(pull.network(), untrusted_times(findings))],
        "ledgers": [_ledger_line(c) for part in pulled for c in part.copies],
    }


def _ledger_line(copy: Copy) -> dict[str, Any]:
    """What the report says of one copy: its size, what was verified before, what was fetched."""
    return {
        "holder": copy.holder,
        "ledger": copy.ledger,
        "size": copy.size,
        "verified_before": copy.offset,
        "fetched": len(copy.items) + len(copy.recheck),
    }


def _failed_report(node: Node, mode: str, started: str, exc: Exception) -> dict[str, Any]:
    """The report of an audit that could not complete, stored if the database takes it."""
    detail = f"the audit could not complete ({type(exc).__name__}); the auditor's log has the reason"
    report: dict[str, Any] = {
        "ok": False,
        "mode": mode,
        "started": started,
        "finished": node.now_text(),
        "findings": findings_json([Finding("*", None, AUDIT_FAILED, detail)]),
        "fetched_entries": 0,
        "demand_waits": [],
        "ledgers": [],
    }
    try:
        report["id"] = reports.store_report(node, report)
    except Exception:  # the database itself failed: the report is still the answer
        log.exception("the failed audit's report could not be stored")
        report["id"] = None
    return report
