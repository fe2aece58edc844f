"""Application factory of the PDU node."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from fastapi import FastAPI

from supplymesh.config import Role
from supplymesh.settings import NodeSettings
from supplymesh.web.app import build_app
from supplymesh_pdu.genesis import ensure_genesis
from supplymesh_pdu.routes import actions

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
        settings, role=Role.PDU, description=DESCRIPTION, routers=[actions.router], peer_mounts=peer_mounts
    )
    ensure_genesis(app.state.node)
    return app
