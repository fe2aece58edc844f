"""``/health`` (what an operator needs at a glance) and ``/health/live`` (liveness only).

Both are public: no credentials, and nothing private in them — no entry bodies, no
tokens, no keys. ``/health`` reads only this node's own state: ledger sizes from its
database, the outbox backlog, and each peer's reachability as the node's peer client
last saw it (:meth:`~supplymesh.node.peers.PeerClient.reachability`); it calls nobody.
``/health/live`` does no I/O at all.

When the node's database fails (a full disk, a lost connection), ``/health`` still
answers 200, with ``status`` ``degraded`` and ``database`` telling the fault: what it
cannot read then (ledger sizes, the backlog) is left out rather than failing the answer.

A role adds its own part through a hook: the auditor reports its last audit with
:func:`report_last_audit`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from supplymesh import __version__
from supplymesh.core.entry import format_time
from supplymesh.errors import DatabaseUnavailable
from supplymesh.node.context import Node
from supplymesh.storage.engine import read_transaction
from supplymesh.storage.faults import status_of
from supplymesh.storage.tables import outbox
from supplymesh.web.deps import NodeDep

AuditSource = Callable[[], Mapping[str, Any] | None]
"""Returns the newest audit report (``finished``, ``mode``, ``ok``, ``findings``, ``id``), or None."""
_AUDIT_SOURCE = "health_last_audit"


class Live(BaseModel):
    """The process answers."""

    status: Literal["ok"] = "ok"


class PeerHealth(BaseModel):
    """What this node last saw of one peer."""

    reachable: bool | None = Field(
        description="whether the last request to it got an answer; null if not called since this node started"
    )
    last_seen: str | None = Field(description="time of its last answer since this node started, if any")


class OutboxHealth(BaseModel):
    """Work waiting for a peer."""

    pending: int | None = Field(
        description="undelivered outbox tasks (pushes, submissions, votes); null while the database "
        "cannot be read"
    )


class DatabaseHealth(BaseModel):
    """What this node last saw of its own database."""

    ok: bool = Field(
        description="false from a fault until a transaction (a write, after a failed write) commits"
    )
    last_error: str | None = Field(
        description="the kind of the last fault seen since start (e.g. `disk full`)"
    )
    last_error_at: str | None = Field(description="when it was seen (UTC)")


class LastAudit(BaseModel):
    """The auditor's most recent audit."""

    id: int | None
    time: str = Field(description="when it finished")
    mode: str
    ok: bool
    findings: int = Field(description="number of findings")


class Health(BaseModel):
    """A node's state for its operator."""

    status: Literal["ok", "degraded"] = Field(description="`degraded` while the node's database fails")
    node: str
    role: str
    key: str = Field(
        description="this node's public signing key, as the network config lists it: a node of "
        "another network that answers at this address has another key"
    )
    version: str
    started: str = Field(description="when this node process started (UTC)")
    ledgers: dict[str, int] = Field(description="size of every ledger this node holds")
    peers: dict[str, PeerHealth] = Field(description="every other member of the network")
    outbox: OutboxHealth
    database: DatabaseHealth
    last_audit: LastAudit | None = Field(default=None, description="auditor only: its most recent audit")


def report_last_audit(app: FastAPI, source: AuditSource) -> None:
    """Make ``/health`` of ``app`` report the last audit that ``source`` returns (auditor)."""
    setattr(app.state, _AUDIT_SOURCE, source)


def health_router() -> APIRouter:
    """The health routes, with this process's start time."""
    router = APIRouter(tags=["health"])
    started = format_time(datetime.now(UTC))

    @router.get("/health/live", summary="Liveness: the process answers")
    async def live() -> Live:
        return Live()

    @router.get("/health", summary="Node state: version, ledgers, peers, backlog, last audit")
    def health(node: NodeDep, request: Request) -> Health:
        try:
            ledgers: dict[str, int] = {head.ledger: head.size for head in node.store.heads()}
            pending: int | None = pending_tasks(node)
        except DatabaseUnavailable:
            ledgers, pending = {}, None
        database = database_health(node)
        return Health(
            status="ok" if database.ok else "degraded",
            node=node.id,
            role=str(node.role),
            key=node.config.member(node.id).public_key,
            version=__version__,
            started=started,
            ledgers=ledgers,
            peers=peer_health(node),
            outbox=OutboxHealth(pending=pending),
            database=database,
            last_audit=last_audit(getattr(request.app.state, _AUDIT_SOURCE, None)),
        )

    return router


def peer_health(node: Node) -> dict[str, PeerHealth]:
    """Every other member, as the peer client last saw it."""
    seen = node.peers.reachability()
    peers = {}
    for member in node.config.members:
        if member.id == node.id:
            continue
        reach = seen.get(member.id)
        peers[member.id] = PeerHealth(
            reachable=None if reach is None else reach.reachable,
            last_seen=None if reach is None else reach.last_seen,
        )
    return peers


def database_health(node: Node) -> DatabaseHealth:
    """The node's database as its transactions last found it."""
    status = status_of(node.engine)
    return DatabaseHealth(
        ok=not status.failing, last_error=status.last_error, last_error_at=status.last_error_at
    )


def pending_tasks(node: Node) -> int:
    """Undelivered outbox tasks."""
    with read_transaction(node.engine) as conn:
        return int(
            conn.execute(select(func.count()).select_from(outbox).where(outbox.c.done == 0)).scalar_one()
        )


def last_audit(source: AuditSource | None) -> LastAudit | None:
    """The summary of the newest report of ``source``."""
    try:
        report = source() if source is not None else None
    except DatabaseUnavailable:  # reported under ``database``
        return None
    if report is None:
        return None
    return LastAudit(
        id=report.get("id"),
        time=str(report["finished"]),
        mode=str(report["mode"]),
        ok=bool(report["ok"]),
        findings=len(report["findings"]),
    )
