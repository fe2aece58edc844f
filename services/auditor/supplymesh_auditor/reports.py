"""The auditor's record of what it saw and concluded: every signed tree head, every report."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import insert, select

from supplymesh.audit.checks import SeenHead
from supplymesh.core.treehead import SignedTreeHead
from supplymesh.node.context import Node
from supplymesh.storage.engine import read_transaction, write_transaction
from supplymesh_auditor.tables import audit_reports, seen_heads


def seen(node: Node) -> list[SeenHead]:
    """Every signed tree head the auditor has seen."""
    with read_transaction(node.engine) as conn:
        rows = conn.execute(select(seen_heads)).all()
    return [SeenHead(r.holder, r.ledger, int(r.size), r.root_hash) for r in rows]


def remember(node: Node, holder: str, ledger: str, sth: SignedTreeHead) -> None:
    """Keep ``sth`` as seen from ``holder``, unless a head of its size is kept already."""
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


def store_report(node: Node, report: dict[str, Any]) -> int:
    """Keep ``report``; its id."""
    with write_transaction(node.engine) as conn:
        result = conn.execute(
            insert(audit_reports).values(
                mode=report["mode"],
                ok=1 if report["ok"] else 0,
                started=report["started"],
                finished=report["finished"],
                report=json.dumps(report),
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def latest(node: Node) -> dict[str, Any] | None:
    """The newest report."""
    return by_id(node, None)


def by_id(node: Node, report_id: int | None) -> dict[str, Any] | None:
    """A stored report by id (the newest if None) with its id, None if there is none."""
    query = select(audit_reports)
    query = (
        query.order_by(audit_reports.c.id.desc()).limit(1)
        if report_id is None
        else query.where(audit_reports.c.id == report_id)
    )
    with read_transaction(node.engine) as conn:
        row = conn.execute(query).one_or_none()
    return None if row is None else {**json.loads(row.report), "id": row.id}


def _summary(row: Any) -> dict[str, Any]:
    """A stored report as a list shows it: when, which mode, ok, how many findings."""
    return {
        "id": row.id,
        "ok": bool(row.ok),
        "mode": row.mode,
        "started": row.started,
        "finished": row.finished,
        "findings": len(json.loads(row.report).get("findings", [])),
    }


def recent(node: Node, limit: int) -> list[dict[str, Any]]:
    """Summaries of the newest ``limit`` reports, newest first."""
    with read_transaction(node.engine) as conn:
        rows = conn.execute(select(audit_reports).order_by(audit_reports.c.id.desc()).limit(limit)).all()
    return [_summary(r) for r in rows]


def history(node: Node, *, after: int, limit: int) -> list[dict[str, Any]]:
    """Summaries of the reports after id ``after``, oldest first."""
    with read_transaction(node.engine) as conn:
        rows = conn.execute(
            select(audit_reports).where(audit_reports.c.id > after).order_by(audit_reports.c.id).limit(limit)
        ).all()
    return [_summary(r) for r in rows]
