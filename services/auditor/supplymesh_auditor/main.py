"""Application factory of the auditor node."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from fastapi import FastAPI

from supplymesh.config import Role
from supplymesh.settings import NodeSettings
from supplymesh.web.app import build_app

DESCRIPTION = "Auditor node: read-only; pulls and verifies every ledger of every holder."


def create_app(
    settings: NodeSettings, *, peer_mounts: Mapping[str, httpx.AsyncBaseTransport] | None = None
) -> FastAPI:
    """The auditor node's FastAPI application."""
    return build_app(settings, role=Role.AUDITOR, description=DESCRIPTION, peer_mounts=peer_mounts)
