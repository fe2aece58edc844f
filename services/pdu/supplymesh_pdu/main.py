"""Application factory of the PDU node."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from fastapi import FastAPI

from supplymesh.config import Role
from supplymesh.network.replica import NetworkReplica
from supplymesh.node.settings import NodeSettings
from supplymesh.web.app import build_app
from supplymesh_pdu.genesis import ensure_genesis
from supplymesh_pdu.openapi_examples import document_api
from supplymesh_pdu.recovery import LedgerRecovery
from supplymesh_pdu.replication import PUSH_TASK
from supplymesh_pdu.routes import actions, decisions
from supplymesh_pdu.sequencer import Sequencer

DESCRIPTION = (
    "PDU node: the Procurement and Distribution Unit. It sequences the network ledger, "
    "reads channels' capacity and quality views only, and proposes order splits and "
    "escrow decisions that partner nodes validate by signature quorum."
)


def create_app(
    settings: NodeSettings, *, peer_mounts: Mapping[str, httpx.AsyncBaseTransport] | None = None
) -> FastAPI:
    """The PDU node's FastAPI application."""
    app = build_app(
        settings,
        role=Role.PDU,
        description=DESCRIPTION,
        routers=[actions.router, decisions.router],
        peer_mounts=peer_mounts,
    )
    document_api(app)
    node = app.state.node
    ensure_genesis(node)
    replica = NetworkReplica(node)
    sequencer = Sequencer(node, replica, timeout=settings.decision_timeout_seconds)
    app.state.replica = replica
    app.state.sequencer = sequencer
    node.outbox_handlers[PUSH_TASK] = sequencer.push
    node.outbox_lanes[PUSH_TASK] = lambda payload: str(payload["partner"])  # partners in parallel
    node.on_start.append(LedgerRecovery(node, replica).run)  # before anything is appended
    node.on_start.append(sequencer.resume)
    node.background.append(sequencer.run_forever)
    return app
