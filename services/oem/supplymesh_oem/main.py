"""Application factory of the OEM node."""

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
from supplymesh_oem import demands
from supplymesh_oem.routes import demands as demand_routes
from supplymesh_oem.routes import escrows as escrow_routes
from supplymesh_oem.tables import metadata

DESCRIPTION = (
    "OEM node: the buyer's demands, escrow deposits and re-offered lots, "
    "and the OEM side of the endorsed channel with each supplier."
)
CHANNEL_SYNC_SECONDS = 5.0
NETWORK_SYNC_SECONDS = 2.0


def create_app(
    settings: NodeSettings, *, peer_mounts: Mapping[str, httpx.AsyncBaseTransport] | None = None
) -> FastAPI:
    """The OEM node's FastAPI application."""
    app = build_app(
        settings,
        role=Role.OEM,
        description=DESCRIPTION,
        routers=[
            demand_routes.router,
            escrow_routes.router,
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
    app.state.channels = channels
    app.state.replica = replica
    replica.hooks.append(notifier(node.id, node.now_text))
    node.outbox_handlers.update(channels.outbox_handlers())
    node.outbox_handlers[demands.SUBMIT_TASK] = functools.partial(demands.submit, node)
    node.background.append(functools.partial(channels.sync_forever, CHANNEL_SYNC_SECONDS))
    node.background.append(functools.partial(replica.sync_forever, NETWORK_SYNC_SECONDS))
    return app
