"""Application factory of the supplier node."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import httpx
from fastapi import FastAPI

from supplymesh.config import Role
from supplymesh.node.settings import NodeSettings
from supplymesh.web.app import build_app
from supplymesh.web.partner import attach_partner, partner_routers
from supplymesh_supplier.attest import Attestations
from supplymesh_supplier.dms import Dms
from supplymesh_supplier.openapi_examples import document_api
from supplymesh_supplier.orders import Orders
from supplymesh_supplier.recovery import CitedAttestations, DmsRecovery
from supplymesh_supplier.routes import dms, orders, views

MIGRATIONS = Path(__file__).with_name("migrations")

DESCRIPTION = (
    "Supplier node: the plant's data-management system (DMS, the paper's Algorithm 1), "
    "capacity and quality attestations on the endorsed channel with each OEM (Algorithm 2), "
    "and the orders allocated to this supplier."
)


def create_app(
    settings: NodeSettings, *, peer_mounts: Mapping[str, httpx.AsyncBaseTransport] | None = None
) -> FastAPI:
    """The supplier node's FastAPI application."""
    app = build_app(
        settings,
        role=Role.SUPPLIER,
        description=DESCRIPTION,
        routers=[dms.router, orders.router, views.router, *partner_routers()],
        migrations=MIGRATIONS,
        peer_mounts=peer_mounts,
    )
    document_api(app)
    parts = attach_partner(app)
    node = app.state.node
    dms_service = Dms(node, parts.replica)
    attestations = Attestations(node, dms_service, parts.channels)
    app.state.dms = dms_service
    app.state.attestations = attestations
    app.state.orders = Orders(parts.replica, dms_service, parts.channels)
    node.background.append(attestations.run_forever)
    DmsRecovery(node, dms_service, parts.channels)  # judges each channel as it is caught up
    parts.channels.sequencer.recovery.cited = CitedAttestations(node, parts.replica)
    return app
