"""Application factory of the supplier node."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from fastapi import FastAPI

from supplymesh.config import Role
from supplymesh.settings import NodeSettings
from supplymesh.web.app import build_app

DESCRIPTION = (
    "Supplier node: the plant's data-management system (DMS) "
    "and the supplier side of each channel with an OEM."
)


def create_app(
    settings: NodeSettings, *, peer_mounts: Mapping[str, httpx.AsyncBaseTransport] | None = None
) -> FastAPI:
    """The supplier node's FastAPI application."""
    return build_app(settings, role=Role.SUPPLIER, description=DESCRIPTION, peer_mounts=peer_mounts)
