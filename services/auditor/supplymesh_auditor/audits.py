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

The auditor writes only to its own database; its peer requests are reads. A holder that
cannot be reached, or serves a tree head it did not sign, is a finding: the report is
ok exactly when there are none.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from supplymesh.audit.checks import (
    Checkpoint,
    Copy,
    Pull,
    Reader,
    SeenHead,
    findings_json,
    run_checks,
    untrusted_times,
)
from supplymesh.audit.waits import demand_waits
from supplymesh.config import NETWORK_LEDGER
from supplymesh.core import merkle
from supplymesh.core.canonical import canonicalize, sha256
from supplymesh.core.crypto import SignatureError
from supplymesh.core.entry import EntryFormatError, check_name
from supplymesh.core.treehead import SignedTreeHead, verify_tree_head
from supplymesh.core.verify import Finding
from supplymesh.errors import PeerError
from supplymesh.node.context import Node
from supplymesh.storage.engine import read_transaction, write_transaction
from supplymesh_auditor.tables import (
    audit_checkpoints,
    audit_copies,
    audit_entries,
    audit_reports,
    seen_heads,
)

log = logging.getLogger("supplymesh.auditor")
PAGE = 1000
MODES = ("full", "incremental")
STATE_TYPE = "supplymesh.audit-state.v1"
MAX_TREE_SIZE = 2**53 - 1
"""A signed tree head beyond this size is malformed (no ledger reaches it; it fits every database)."""
AUDIT_FAILED = "audit.failed"
_locks: dict[int, asyncio.Lock] = {}


@dataclass
class Verified:
    """A copy an earlier audit verified, proven against its holder's signed tree head."""

    holder: str
    ledger: str
    tree_head: SignedTreeHead
    leaves: list[bytes]
    missing_countersignatures: list[int]

    @property
    def size(self) -> int:
        """Verified entries."""
        return self.tree_head.head.tree_size

    @property
    def root_hash(self) -> str:
        """Merkle root of the verified entries."""
        return self.tree_head.head.root_hash


@dataclass
class Stored:
    """What the auditor's database offers an audit to build on."""

    copies: dict[tuple[str, str], Verified] = field(default_factory=dict)
    checkpoint: Checkpoint | None = None
    findings: list[Finding] = field(default_factory=list)
    untrusted: set[tuple[str, str]] = field(default_factory=set)


@dataclass
class HolderPull:
    """What one holder served."""

    copies: list[Copy] = field(default_factory=list)
    heads: list[tuple[str, SignedTreeHead]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    fetched: int = 0


# -- the auditor's own signed state ---------------------------------------------------


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


def _load_stored(node: Node) -> Stored:
    """Every stored copy and the checkpoint, each proven before it is offered."""
    stored = Stored()
    with read_transaction(node.engine) as conn:
        rows = conn.execute(select(audit_copies)).all()
        for row in rows:
            leaves = conn.execute(
                select(audit_entries.c.seq, audit_entries.c.leaf)
                .where(audit_entries.c.holder == row.holder, audit_entries.c.ledger == row.ledger)
                .order_by(audit_entries.c.seq)
            ).all()
            try:
                stored.copies[(row.holder, row.ledger)] = _prove_copy(node, row, leaves)
            except (ValueError, KeyError, TypeError) as exc:
                stored.untrusted.add((row.holder, row.ledger))
                stored.findings.append(
                    Finding(
                        row.ledger,
                        None,
                        "auditor_state",
                        f"{row.holder}: the auditor's stored copy {exc}; it was fetched and verified again",
                    )
                )
        point = conn.execute(
            select(audit_checkpoints).where(audit_checkpoints.c.ledger == NETWORK_LEDGER)
        ).one_or_none()
    if point is not None:
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
            stored.findings.append(
                Finding(
                    NETWORK_LEDGER,
                    None,
                    "auditor_state",
                    f"the auditor's stored checkpoint is not its own ({exc}); every entry was judged again",
                )
            )
    return stored


def _prove_copy(node: Node, row: Any, leaves: Sequence[Any]) -> Verified:
    """A stored copy, if its leaves give the root its holder signed; raises ValueError if not."""
    missing = json.loads(row.missing_countersignatures)
    fields = _copy_fields(row.holder, row.ledger, row.tree_head, missing)
    try:
        _check_signature(node, "copy", fields, row.signature)
    except SignatureError as exc:
        raise ValueError("does not carry the auditor's signature") from exc
    sth = SignedTreeHead.from_json(json.loads(row.tree_head))
    try:
        verify_tree_head(sth, node.config.member(row.holder).key)
    except SignatureError as exc:
        raise ValueError("is stored with a tree head its holder did not sign") from exc
    head = sth.head
    if (head.signer, head.ledger, head.tree_size, head.root_hash) != (
        row.holder,
        row.ledger,
        int(row.size),
        row.root_hash,
    ):
        raise ValueError("does not match the tree head stored with it")
    if [int(r.seq) for r in leaves] != list(range(1, head.tree_size + 1)):
        raise ValueError(f"does not hold entries 1…{head.tree_size}")
    data = [r.leaf.encode() for r in leaves]
    root = merkle.root_from_leaf_hashes([merkle.leaf_hash(leaf) for leaf in data]).hex()
    if root != head.root_hash:
        raise ValueError(f"does not give the root its holder signed at size {head.tree_size}")
    return Verified(row.holder, row.ledger, sth, data, [int(s) for s in missing])


def _store(
    node: Node,
    mode: str,
    copies: Iterable[Copy],
    heads: dict[tuple[str, str], SignedTreeHead],
    stored: Stored,
) -> None:
    """Keep every copy that verified, and the checkpoint; forget stored copies that did not prove."""
    with write_transaction(node.engine) as conn:
        for holder, ledger in stored.untrusted:
            _forget(conn, holder, ledger)
        for copy in copies:
            sth = heads.get((copy.holder, copy.ledger))
            if copy.problems or sth is None or sth.head.tree_size != copy.size or copy.size == 0:
                continue  # not verified: the next audit fetches what it needs again
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


def _store_checkpoint(node: Node, point: Checkpoint | None) -> None:
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


# -- pulling --------------------------------------------------------------------------


async def _entries(node: Node, holder: str, ledger: str, *, after: int, upto: int | None) -> list[Any]:
    """Entries after seq ``after`` (up to seq ``upto`` when given), as served.

    Raises:
        MalformedAnswer: if a page is not a list.
    """
    items: list[Any] = []
    while upto is None or after + len(items) < upto:
        limit = PAGE if upto is None else min(PAGE, upto - after - len(items))
        page = await node.peers.get_json(
            holder, f"/peer/v1/ledgers/{ledger}/entries", after=after + len(items), limit=limit
        )
        if not isinstance(page, list):
            raise MalformedAnswer("a page of entries is not a list")
        items += page[:limit]
        if len(page) < limit:
            break
    return items


async def _consistent(
    node: Node, holder: str, ledger: str, known: Verified, sth: SignedTreeHead
) -> str | None:
    """None if ``sth`` extends the verified head by a valid RFC 9162 proof, else why not."""
    first, second = known.size, sth.head.tree_size
    if second < first:
        return f"its tree head of size {second} is smaller than the verified size {first}"
    proof: list[bytes] = []
    if second > first:
        try:
            answer = await node.peers.get_json(
                holder, f"/peer/v1/ledgers/{ledger}/proofs/consistency", first=first, second=second
            )
            proof = [bytes.fromhex(p) for p in answer["proof"]]
        except (PeerError, KeyError, TypeError, ValueError, AttributeError) as exc:
            return f"no consistency proof from size {first} to {second}: {exc}"
    try:
        merkle.verify_consistency(
            first=first,
            second=second,
            first_root=bytes.fromhex(known.root_hash),
            second_root=bytes.fromhex(sth.head.root_hash),
            proof=proof,
        )
    except merkle.ProofError as exc:
        return str(exc)
    return None


def _runs(seqs: Iterable[int]) -> list[tuple[int, int]]:
    """Contiguous runs ``(first, count)`` of sorted seqs."""
    runs: list[tuple[int, int]] = []
    for seq in sorted(seqs):
        if runs and runs[-1][0] + runs[-1][1] == seq and runs[-1][1] < PAGE:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((seq, 1))
    return runs


class MalformedAnswer(ValueError):
    """A holder answered a read with something other than what the peer API serves."""


def _ledger_names(answer: object) -> list[str]:
    """Ledger names from a ``/peer/v1/ledgers`` answer.

    Raises:
        MalformedAnswer: if it is not a list of ``{"ledger": name}`` objects.
    """
    if not isinstance(answer, list):
        raise MalformedAnswer("the ledger list is not a list")
    names = []
    for info in answer:
        name = info.get("ledger") if isinstance(info, dict) else None
        try:
            names.append(check_name(name, "ledger") if isinstance(name, str) else "")
        except EntryFormatError:
            names.append("")
        if not names[-1]:
            raise MalformedAnswer("the ledger list names something that is not a ledger")
    return names


async def pull_holder(node: Node, holder: str, verified: dict[str, Verified] | None = None) -> HolderPull:
    """Every ledger ``holder`` serves to the auditor, with its signed tree heads.

    With ``verified`` copies (incremental), only what follows them is fetched. Whatever the
    holder answers, this returns: an unreachable holder, or an answer of the wrong shape,
    is a finding, and the copies pulled so far are kept.
    """
    result = HolderPull()
    try:
        for ledger in _ledger_names(await node.peers.get_json(holder, "/peer/v1/ledgers")):
            result.copies.append(await _pull_copy(node, holder, ledger, (verified or {}).get(ledger), result))
    except PeerError as exc:
        result.findings.append(Finding("*", None, "unreachable", f"{holder}: {exc}"))
    except Exception as exc:  # anything a hostile holder can make a read raise becomes its finding
        log.info("audit: %s answered a read with something malformed: %r", holder, exc)
        detail = f"{holder}: its answer to a read was malformed ({type(exc).__name__})"
        result.findings.append(Finding("*", None, "malformed_answer", detail))
    for copy in result.copies:
        result.fetched += len(copy.items) + len(copy.recheck)
    return result


async def _pull_copy(
    node: Node, holder: str, ledger: str, known: Verified | None, result: HolderPull
) -> Copy:
    """One ledger of ``holder``: its signed head, and the entries after what ``known`` verified."""
    head = await node.peers.get_json(holder, f"/peer/v1/ledgers/{ledger}/head")
    copy = Copy(holder=holder, ledger=ledger, items=[])
    sth: SignedTreeHead | None = None
    try:
        if not isinstance(head, dict):
            raise MalformedAnswer("the head answer is not an object")
        sth = SignedTreeHead.from_json(head["tree_head"])
        verify_tree_head(sth, node.config.member(holder).key)
        if sth.head.signer != holder or sth.head.ledger != ledger:
            raise SignatureError("tree head names another holder or ledger")
        if sth.head.tree_size > MAX_TREE_SIZE:
            raise MalformedAnswer(f"a tree head of size {sth.head.tree_size} is beyond any ledger")
        result.heads.append((ledger, sth))
        copy.signed_size, copy.signed_root = sth.head.tree_size, sth.head.root_hash
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        sth = None
        result.findings.append(Finding(ledger, None, "tree_head", f"{holder}: {type(exc).__name__}: {exc}"))
    if known is not None and sth is not None:
        copy.proof_failed = await _consistent(node, holder, ledger, known, sth)
        if copy.proof_failed is None:
            copy.offset = known.size
            copy.prev_hash = known.tree_head.head.head_hash
            copy.known_leaves = known.leaves
            copy.known_missing = set(known.missing_countersignatures)
            for first, count in _runs(known.missing_countersignatures):
                copy.recheck += await _entries(node, holder, ledger, after=first - 1, upto=first - 1 + count)
    upto = sth.head.tree_size if sth else None
    copy.items = await _entries(node, holder, ledger, after=copy.offset, upto=upto)
    return copy


# -- the audit ------------------------------------------------------------------------


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
    """Pull, verify, report: ``full`` re-fetches everything, ``incremental`` what is new.

    Always returns a report. The pipeline is total and reports what holders serve as
    findings; should the audit still fail (its own database, say), the report says so
    with the finding ``audit.failed`` and the reason is logged.

    Raises:
        ValueError: for an unknown ``mode`` (the only error a caller can cause).
    """
    if mode not in MODES:
        raise ValueError(f"unknown audit mode {mode!r}")
    async with _locks.setdefault(id(node), asyncio.Lock()):  # one audit at a time builds on the state
        started = node.now_text()
        try:
            return await _run_audit(node, mode)
        except Exception as exc:  # the report is the answer, never an HTTP 500
            log.exception("%s audit failed", mode)
            return await asyncio.to_thread(_failed_report, node, mode, started, exc)


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
        report["id"] = _store_report(node, report)
    except Exception:  # the database itself failed: the report is still the answer
        log.exception("the failed audit's report could not be stored")
        report["id"] = None
    return report


def _store_report(node: Node, report: dict[str, Any]) -> int:
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


async def _run_audit(node: Node, mode: str) -> dict[str, Any]:
    started = node.now_text()
    stored = await asyncio.to_thread(_load_stored, node)
    incremental = mode == "incremental"
    holders = [m.id for m in node.config.members if m.id != node.id]
    verified: dict[str, dict[str, Verified]] = {h: {} for h in holders}
    if incremental:
        for (holder, ledger), copy in stored.copies.items():
            verified.setdefault(holder, {})[ledger] = copy
    pulled = await asyncio.gather(*(pull_holder(node, h, verified[h]) for h in holders))
    copies = [c for part in pulled for c in part.copies]
    findings = list(stored.findings) + [f for part in pulled for f in part.findings]
    pull = Pull(
        config=node.config,
        copies=copies,
        seen=_seen(node),
        checkpoint=stored.checkpoint if incremental else None,
        reader=Reader(node.id, node.recipient),
    )
    found, checkpoint = await asyncio.to_thread(run_checks, pull)
    findings += found
    heads = {
        (holder, ledger): sth
        for holder, part in zip(holders, pulled, strict=True)
        for ledger, sth in part.heads
    }
    for (holder, ledger), sth in heads.items():
        _remember(node, holder, ledger, sth)
    await asyncio.to_thread(_store, node, mode, copies, heads, stored)
    await asyncio.to_thread(_store_checkpoint, node, checkpoint)
    report = {
        "ok": not findings,
        "mode": mode,
        "started": started,
        "finished": node.now_text(),
        "findings": findings_json(findings),
        "fetched_entries": sum(part.fetched for part in pulled),
        "demand_waits": [w.as_json() for w in demand_waits(pull.network(), untrusted_times(findings))],
        "ledgers": [
            {
                "holder": c.holder,
                "ledger": c.ledger,
                "size": c.size,
                "verified_before": c.offset,
                "fetched": len(c.items) + len(c.recheck),
            }
            for c in copies
        ],
    }
    report["id"] = _store_report(node, report)
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


async def run_forever(
    node: Node, interval: float, full_every: int = 0, stop: asyncio.Event | None = None
) -> None:
    """Background: audit on a schedule, incrementally; every ``full_every``-th audit is full.

    With ``stop``, it returns once the event is set and no audit is running (an audit in
    progress finishes first, so none is cut off with a database connection in use).
    """
    count = 0
    stopping = stop or asyncio.Event()
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=interval)
        if stopping.is_set():
            return
        count += 1
        mode = "full" if full_every > 0 and count % full_every == 0 else "incremental"
        try:
            await run_audit(node, mode)
        except Exception:  # the next scheduled audit tries again; the reason is logged
            log.exception("scheduled %s audit failed", mode)
