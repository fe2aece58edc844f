"""Application factory of the auditor node."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path

import httpx
from fastapi import FastAPI

from supplymesh.config import Role
from supplymesh.node.settings import NodeSettings
from supplymesh.web.app import build_app
from supplymesh.web.routes.health import report_last_audit
from supplymesh_auditor import explorer, reports, schedule
from supplymesh_auditor.audits import Auditor
from supplymesh_auditor.openapi_examples import document_api
from supplymesh_auditor.routes import audits as audit_routes
from supplymesh_auditor.routes import epcis as epcis_routes

MIGRATIONS = Path(__file__).with_name("migrations")

DESCRIPTION = (
    "Auditor node: read-only. Pulls every ledger from every holder, verifies hash chains, "
    "signatures, countersignatures, quorum certificates, replica agreement and history, "
    "re-executes every decision, and checks overbooking, money and private fields. "
    "Exports the traceability events as a GS1 EPCIS 2.0 document."
)


def create_app(
    settings: NodeSettings, *, peer_mounts: Mapping[str, httpx.AsyncBaseTransport] | None = None
) -> FastAPI:
    """The auditor node's FastAPI application."""
    app = build_app(
        settings,
        role=Role.AUDITOR,
        description=DESCRIPTION,
        routers=[audit_routes.router, epcis_routes.router],
        migrations=MIGRATIONS,
        peer_mounts=peer_mounts,
    )
    document_api(app)
    explorer.install(app)
    auditor = Auditor(app.state.node)
    app.state.auditor = auditor
    report_last_audit(app, functools.partial(reports.latest, app.state.node))
    if settings.audit_interval_seconds > 0:
        app.state.node.background.append(
            functools.partial(
                schedule.run_forever, auditor, settings.audit_interval_seconds, settings.audit_full_every
            )
        )
    return app
