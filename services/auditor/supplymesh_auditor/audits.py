"""Run an audit: pull every ledger from every holder, check, store the report.

The auditor keeps every signed tree head it has seen and runs the pipeline of
:mod:`supplymesh.audit.checks`.

The auditor writes only to its own database; its peer requests are reads. A holder that
cannot be reached, or serves a tree head it did not sign, is a finding: the report is
ok exactly when there are none.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from sqlalchemy import insert, select

from supplymesh.audit.checks import Copy, Pull, Reader, SeenHead, findings_json, run_pipeline
from supplymesh.core.crypto import SignatureError
from supplymesh.core.treehead import SignedTreeHead, verify_tree_head
from supplymesh.core.verify import Finding
from supplymesh.errors import PeerError
from supplymesh.storage.engine import read_transaction, write_transaction
from supplymesh.web.node import Node
from supplymesh_auditor.tables import audit_reports, seen_heads

log = logging.getLogger("supplymesh.auditor")
PAGE = 1000


async def pull_holder(
    node: Node, holder: str
) -> tuple[list[Copy], list[tuple[str, SignedTreeHead]], list[Finding]]:
    """Every ledger ``holder`` serves to the auditor, with its signed tree heads."""
    copies: list[Copy] = []
    heads: list[tuple[str, SignedTreeHead]] = []
    findings: list[Finding] = []
    try:
        ledgers = await node.peers.get_json(holder, "/peer/v1/ledgers")
        for info in ledgers:
            ledger = info["ledger"]
            items: list[dict[str, Any]] = []
            while True:
                page = await node.peers.get_json(
                    holder, f"/peer/v1/ledgers/{ledger}/entries", after=len(items), limit=PAGE
                )
                items += page
                if len(page) < PAGE:
                    break
            head = await node.peers.get_json(holder, f"/peer/v1/ledgers/{ledger}/head")
            copies.append(Copy(holder=holder, ledger=ledger, items=items))
            try:
                sth = SignedTreeHead.from_json(head["tree_head"])
                verify_tree_head(sth, node.config.member(holder).key)
                if sth.head.signer != holder or sth.head.ledger != ledger:
                    raise SignatureError("tree head names another holder or ledger")
                heads.append((ledger, sth))
            except (ValueError, KeyError) as exc:
                findings.append(Finding(ledger, None, "tree_head", f"{holder}: {exc}"))
    except PeerError as exc:
        findings.append(Finding("*", None, "unreachable", f"{holder}: {exc}"))
    return copies, heads, findings


def _seen(node: Node) -> list[SeenHead]:
    with read_transaction(node.engine) as conn:
        rows = conn.execute(select(seen_heads)).all()
    return [SeenHead(r.holder, r.ledger, int(r.size), r.root_hash) for r in rows]


def _remember(node: Node, holder: str, ledger: str, sth: SignedTreeHead) -> None:
    with write_transaction(node.engine) as conn:
        exists = conn.execute(
            select(seen_heads.c.root_hash).where(
                seen_heads.c.holder == holder,
                seen_heads.c.ledger == ledger,
                seen_heads.c.size == sth.head.tree_size,
            )
        ).first()
        if exists is None:
            conn.execute(
                insert(seen_heads).values(
                    holder=holder,
                    ledger=ledger,
                    size=sth.head.tree_size,
                    root_hash=sth.head.root_hash,
                    tree_head=json.dumps(sth.as_json()),
                    seen=node.now_text(),
                )
            )


async def run_audit(node: Node, mode: str = "full") -> dict[str, Any]:
    """Pull, verify, report. ``incremental`` currently re-pulls everything as ``full`` does."""
    started = node.now_text()
    holders = [m.id for m in node.config.members if m.id != node.id]
    pulled = await asyncio.gather(*(pull_holder(node, h) for h in holders))
    copies = [c for part in pulled for c in part[0]]
    findings = [f for part in pulled for f in part[2]]
    seen_before = _seen(node)
    pull = Pull(config=node.config, copies=copies, seen=seen_before, reader=Reader(node.id, node.recipient))
    findings += await asyncio.to_thread(run_pipeline, pull)
    for holder, (_, heads, _) in zip(holders, pulled, strict=True):
        for ledger, sth in heads:
            _remember(node, holder, ledger, sth)
    report = {
        "ok": not findings,
        "mode": mode,
        "started": started,
        "finished": node.now_text(),
        "findings": findings_json(findings),
        "ledgers": [{"holder": c.holder, "ledger": c.ledger, "size": len(c.items)} for c in copies],
    }
    with write_transaction(node.engine) as conn:
        result = conn.execute(
            insert(audit_reports).values(
                mode=mode,
                ok=1 if report["ok"] else 0,
                started=started,
                finished=report["finished"],
                report=json.dumps(report),
            )
        )
        report["id"] = int(result.inserted_primary_key[0])  # type: ignore[index]
    return report


def latest(node: Node) -> dict[str, Any] | None:
    """The newest report."""
    with read_transaction(node.engine) as conn:
        row = conn.execute(select(audit_reports).order_by(audit_reports.c.id.desc()).limit(1)).one_or_none()
    return None if row is None else {**json.loads(row.report), "id": row.id}


def history(node: Node, *, after: int, limit: int) -> list[dict[str, Any]]:
    """Reports (summaries) after id ``after``."""
    with read_transaction(node.engine) as conn:
        rows = conn.execute(
            select(audit_reports).where(audit_reports.c.id > after).order_by(audit_reports.c.id).limit(limit)
        ).all()
    return [
        {
            "id": r.id,
            "ok": bool(r.ok),
            "mode": r.mode,
            "started": r.started,
            "finished": r.finished,
            "findings": len(json.loads(r.report)["findings"]),
        }
        for r in rows
    ]


async def run_forever(node: Node, interval: float) -> None:
    """Background: audit on a schedule."""
    while True:
        await asyncio.sleep(interval)
        try:
            await run_audit(node, "incremental")
        except Exception:  # the next scheduled audit tries again; the reason is logged
            log.exception("scheduled audit failed")
