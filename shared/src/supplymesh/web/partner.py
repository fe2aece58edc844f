"""What every partner node (supplier or OEM) adds to the common node app.

Channels (Algorithm 2) and a replica of the network ledger with its ERP events, their
peer and ERP routes, outbox handlers, start-up recovery and background catch-up.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from fastapi import APIRouter, FastAPI

from supplymesh.channels.service import ChannelService
from supplymesh.network.notify import notifier
from supplymesh.network.replica import NetworkReplica
from supplymesh.web.routes import channels as channel_routes
from supplymesh.web.routes.network import network_partner_router

NETWORK_SYNC_SECONDS = 2.0
CHANNEL_SYNC_SECONDS = 5.0


@dataclass(frozen=True)
class PartnerParts:
    """The partner services attached to an app."""

    channels: ChannelService
    replica: NetworkReplica


def partner_routers() -> list[APIRouter]:
    """Channel (ERP and peer) and network-ledger peer routes."""
    return [channel_routes.erp_router, channel_routes.peer_router, network_partner_router()]


def attach_partner(app: FastAPI) -> PartnerParts:
    """Create the channel service and network replica of ``app``'s node and wire them."""
    node = app.state.node
    channels = ChannelService(node)
    replica = NetworkReplica(node)
    app.state.channels = channels
    app.state.replica = replica
    replica.channels = channels  # a buyer catches up a channel before it judges an attestation
    replica.hooks.append(notifier(node.id, node.now_text))
    node.outbox_handlers.update(channels.outbox_handlers())
    node.on_start.append(channels.recover)  # after a restore: learn own channels' heads first
    node.on_start.append(channels.finish_pending)
    node.background.append(functools.partial(replica.sync_forever, NETWORK_SYNC_SECONDS))
    node.background.append(functools.partial(channels.sync_forever, CHANNEL_SYNC_SECONDS))
    return PartnerParts(channels, replica)
