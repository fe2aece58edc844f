"""Application factory of the supplier node."""

from __future__ import annotations

import functools
from collections.abc import Mapping

import httpx
from fastapi import FastAPI

from supplymesh.channels.routes import channel_erp_router, channel_peer_router
from supplymesh.channels.service import ChannelService
from supplymesh.config import Role
from supplymesh.network.notify import notifier
from supplymesh.network.replica import NetworkReplica
from supplymesh.network.routes import network_partner_router
from supplymesh.settings import NodeSettings
from supplymesh.web.app import build_app
from supplymesh_supplier.attest import Attestations
from supplymesh_supplier.dms import Dms
from supplymesh_supplier.routes import dms, orders, views
from supplymesh_supplier.tables import metadata

NETWORK_SYNC_SECONDS = 2.0
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
        routers=[
            dms.router,
            orders.router,
            views.router,
            channel_erp_router(),
            channel_peer_router(),
            network_partner_router(),
        ],
        metadata=metadata,
        peer_mounts=peer_mounts,
    )
    node = app.state.node
    channels = ChannelService(node)
    replica = NetworkReplica(node)
    app.state.replica = replica
    replica.hooks.append(notifier(node.id, node.now_text))
    dms_service = Dms(node, replica)
    attestations = Attestations(node, dms_service, channels)
    app.state.channels = channels
    app.state.dms = dms_service
    app.state.attestations = attestations
    node.outbox_handlers.update(channels.outbox_handlers())
    node.on_start.append(channels.finish_pending)
    node.background.append(attestations.run_forever)
    node.background.append(functools.partial(replica.sync_forever, NETWORK_SYNC_SECONDS))
    return app
