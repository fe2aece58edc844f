"""Application factory of the oem node."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from fastapi import FastAPI

from supplymesh.config import Role
from supplymesh.settings import NodeSettings
from supplymesh.web.app import build_app

DESCRIPTION = (
    "OEM node: the buyer's demands, escrow deposits and re-offered lots, "
    "and the OEM side of each channel with a supplier."
)


def create_app(
    settings: NodeSettings, *, peer_mounts: Mapping[str, httpx.AsyncBaseTransport] | None = None
) -> FastAPI:
    """The oem node's FastAPI application."""
    return build_app(settings, role=Role.OEM, description=DESCRIPTION, peer_mounts=peer_mounts)
