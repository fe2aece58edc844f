"""Application factory of the OEM node."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import httpx
from fastapi import FastAPI

from supplymesh.config import Role
from supplymesh.node.settings import NodeSettings
from supplymesh.web.app import build_app
from supplymesh.web.partner import attach_partner, partner_routers
from supplymesh_oem.demands import SUBMIT_TASK, Demands
from supplymesh_oem.escrows import Escrows
from supplymesh_oem.history import LedgerHistory
from supplymesh_oem.openapi_examples import document_api
from supplymesh_oem.recovery import DemandRecovery
from supplymesh_oem.routes import demands as demand_routes
from supplymesh_oem.routes import escrows as escrow_routes

MIGRATIONS = Path(__file__).with_name("migrations")

DESCRIPTION = (
    "OEM node: the buyer's demands, escrow deposits and re-offered lots, "
    "and the OEM side of the endorsed channel with each supplier."
)


def create_app(
    settings: NodeSettings, *, peer_mounts: Mapping[str, httpx.AsyncBaseTransport] | None = None
) -> FastAPI:
    """The OEM node's FastAPI application."""
    app = build_app(
        settings,
        role=Role.OEM,
        description=DESCRIPTION,
        routers=[demand_routes.router, escrow_routes.router, *partner_routers()],
        migrations=MIGRATIONS,
        peer_mounts=peer_mounts,
    )
    document_api(app)
    parts = attach_partner(app)
    node = app.state.node
    history = LedgerHistory(parts.replica)
    demands = Demands(node, parts.replica, history)
    app.state.demands = demands
    app.state.escrows = Escrows(parts.replica, parts.channels, history)
    node.outbox_handlers[SUBMIT_TASK] = demands.submit
    node.background.append(DemandRecovery(node, parts.replica).run)
    return app
