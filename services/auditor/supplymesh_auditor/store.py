"""The auditor's stored copies and semantic checkpoint, which incremental audits build on.

Every copy that verified is kept (tables ``audit_copies`` and ``audit_entries``), and the
checkpoint of the network ledger's semantic checks (``audit_checkpoints``). They are not
trusted blindly: rows the holders did not sign carry the auditor's own signature, and a
stored copy's leaves must give the root of the holder-signed tree head stored with it.
A stored copy or checkpoint that fails this is a finding (``auditor_state``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from supplymesh.audit.checks import Checkpoint, Copy, findings_json
from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.canonical import canonicalize, sha256
from supplymesh.core.crypto import SignatureError
from supplymesh.core.treehead import SignedTreeHead
from supplymesh.core.verify import Finding
from supplymesh.node.context import Node
from supplymesh.storage.engine import read_transaction, write_transaction
from supplymesh_auditor.proofs import Verified, prove_copy
from supplymesh_auditor.tables import audit_checkpoints, audit_copies, audit_entries

STATE_TYPE = "supplymesh.audit-state.v1"


@dataclass
class Stored:
    """What the auditor's database offers an audit to build on."""

    copies: dict[tuple[str, str], Verified] = field(default_factory=dict)
    checkpoint: Checkpoint | None = None
    findings: list[Finding] = field(default_factory=list)
    untrusted: set[tuple[str, str]] = field(default_factory=set)


# -- the auditor's own signature over its state ----------------------------------------


def _state_digest(kind: str, fields: dict[str, Any]) -> bytes:
    return sha256(canonicalize({"type": STATE_TYPE, "kind": kind, **fields}))


def _copy_fields(holder: str, ledger: str, tree_head: str, missing: list[int]) -> dict[str, Any]:
    return {"holder": holder, "ledger": ledger, "tree_head": tree_head, "missing_countersignatures": missing}


def _checkpoint_fields(ledger: str, point: Checkpoint, findings: str) -> dict[str, Any]:
    return {
        "ledger": ledger,
        "size": point.size,
        "root_hash": point.root_hash,
        "config_hash": point.config_hash,
        "findings": findings,
    }


def _sign(node: Node, kind: str, fields: dict[str, Any]) -> str:
    return node.signer.sign_text(_state_digest(kind, fields))


def _check_signature(node: Node, kind: str, fields: dict[str, Any], signature: str) -> None:
    node.config.member(node.id).key.verify_text(signature, _state_digest(kind, fields))


# -- loading ----------------------------------------------------------------------------


def load_stored(node: Node) -> Stored:
    """Every stored copy and the checkpoint, each proven before it is offered."""
    stored = Stored()
    with read_transaction(node.engine) as conn:
        for row in conn.execute(select(audit_copies)).all():
            _load_copy(node, conn, row, stored)
        point = conn.execute(
            select(audit_checkpoints).where(audit_checkpoints.c.ledger == NETWORK_LEDGER)
        ).one_or_none()
    if point is not None:
        _load_checkpoint(node, point, stored)
    return stored


def _load_copy(node: Node, conn: Connection, row: Any, stored: Stored) -> None:
    """Offer the copy of ``row`` if it proves itself, else note it as an untrusted finding."""
    leaves = conn.execute(
        select(audit_entries.c.seq, audit_entries.c.leaf)
        .where(audit_entries.c.holder == row.holder, audit_entries.c.ledger == row.ledger)
        .order_by(audit_entries.c.seq)
    ).all()
    try:
        missing = json.loads(row.missing_countersignatures)
        fields = _copy_fields(row.holder, row.ledger, row.tree_head, missing)
        try:
            _check_signature(node, "copy", fields, row.signature)
        except SignatureError as exc:
            raise ValueError("does not carry the auditor's signature") from exc
        stored.copies[(row.holder, row.ledger)] = prove_copy(node, row, leaves, missing)
    except (ValueError, KeyError, TypeError) as exc:
        stored.untrusted.add((row.holder, row.ledger))
        detail = f"{row.holder}: the auditor's stored copy {exc}; it was fetched and verified again"
        stored.findings.append(Finding(row.ledger, None, "auditor_state", detail))


def _load_checkpoint(node: Node, point: Any, stored: Stored) -> None:
    """Offer the checkpoint of ``point`` if it carries the auditor's signature, else note a finding."""
    try:
        checkpoint = Checkpoint(
            int(point.size),
            point.root_hash,
            point.config_hash,
            tuple(Finding(**f) for f in json.loads(point.findings)),
        )
        fields = _checkpoint_fields(point.ledger, checkpoint, point.findings)
        _check_signature(node, "checkpoint", fields, point.signature)
        stored.checkpoint = checkpoint
    except (ValueError, KeyError, TypeError) as exc:
        detail = f"the auditor's stored checkpoint is not its own ({exc}); every entry was judged again"
        stored.findings.append(Finding(NETWORK_LEDGER, None, "auditor_state", detail))


# -- storing ----------------------------------------------------------------------------


def store_copies(
    node: Node,
    mode: str,
    copies: Iterable[Copy],
    heads: dict[tuple[str, str], SignedTreeHead],
    stored: Stored,
) -> None:
    """Keep every copy that verified; forget stored copies that did not prove."""
    with write_transaction(node.engine) as conn:
        for holder, ledger in stored.untrusted:
            _forget(conn, holder, ledger)
        for copy in copies:
            sth = heads.get((copy.holder, copy.ledger))
            if copy.problems or sth is None or sth.head.tree_size != copy.size or copy.size == 0:
                continue  # not verified: the next audit fetches what it needs again
            _store_copy(node, conn, mode, copy, sth)


def _store_copy(node: Node, conn: Connection, mode: str, copy: Copy, sth: SignedTreeHead) -> None:
    """Keep one verified copy: its new leaves, and its signed head under the auditor's signature."""
    if mode == "full" or copy.offset == 0:
        _forget(conn, copy.holder, copy.ledger)
        items = zip(range(1, copy.size + 1), copy.sealed(), strict=True)
    else:
        conn.execute(
            delete(audit_copies).where(
                audit_copies.c.holder == copy.holder, audit_copies.c.ledger == copy.ledger
            )
        )
        items = zip(range(copy.offset + 1, copy.size + 1), copy.sealed(), strict=True)
    rows = [
        {"holder": copy.holder, "ledger": copy.ledger, "seq": seq, "leaf": sealed.leaf.decode()}
        for seq, sealed in items
        if sealed is not None
    ]
    if rows:
        conn.execute(insert(audit_entries), rows)
    tree_head = json.dumps(sth.as_json(), sort_keys=True)
    missing = sorted(copy.missing_countersignatures)
    conn.execute(
        insert(audit_copies).values(
            holder=copy.holder,
            ledger=copy.ledger,
            size=copy.size,
            root_hash=sth.head.root_hash,
            tree_head=tree_head,
            missing_countersignatures=json.dumps(missing),
            verified=node.now_text(),
            signature=_sign(node, "copy", _copy_fields(copy.holder, copy.ledger, tree_head, missing)),
        )
    )


def _forget(conn: Connection, holder: str, ledger: str) -> None:
    conn.execute(
        delete(audit_entries).where(audit_entries.c.holder == holder, audit_entries.c.ledger == ledger)
    )
    conn.execute(delete(audit_copies).where(audit_copies.c.holder == holder, audit_copies.c.ledger == ledger))


def store_checkpoint(node: Node, point: Checkpoint | None) -> None:
    """Replace the stored checkpoint of the network ledger by ``point`` (none: forget it)."""
    with write_transaction(node.engine) as conn:
        conn.execute(delete(audit_checkpoints).where(audit_checkpoints.c.ledger == NETWORK_LEDGER))
        if point is None:
            return
        findings = json.dumps(findings_json(point.findings), sort_keys=True)
        conn.execute(
            insert(audit_checkpoints).values(
                ledger=NETWORK_LEDGER,
                size=point.size,
                root_hash=point.root_hash,
                config_hash=point.config_hash,
                findings=findings,
                signature=_sign(node, "checkpoint", _checkpoint_fields(NETWORK_LEDGER, point, findings)),
            )
        )
