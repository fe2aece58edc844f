"""Build a node's FastAPI application: the parts every role shares.

Each service's ``create_app(settings)`` calls :func:`build_app` with its role and its
own routers. The node context is opened eagerly (so in-process tests need no lifespan
runner); the lifespan starts the role's background tasks and closes connections.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
from fastapi import APIRouter, FastAPI

from supplymesh import __version__
from supplymesh.config import Role
from supplymesh.node.context import Node, open_node
from supplymesh.node.settings import NodeSettings
from supplymesh.web.access_log import AccessLogMiddleware
from supplymesh.web.apidocs import install_api_docs
from supplymesh.web.fastbody import install_extra_schemas
from supplymesh.web.gate import AuthGateMiddleware
from supplymesh.web.limits import BodyLimitMiddleware
from supplymesh.web.problems import install_problem_handlers
from supplymesh.web.routes.events import events_router
from supplymesh.web.routes.health import health_router
from supplymesh.web.routes.ledgers import erp_ledger_router, peer_ledger_router

StartHook = Callable[[Node], Awaitable[None]]


def build_app(
    settings: NodeSettings,
    *,
    role: Role,
    description: str,
    routers: Sequence[APIRouter] = (),
    migrations: Path | None = None,
    on_start: StartHook | None = None,
    peer_mounts: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> FastAPI:
    """A node application for ``role`` with the shared routes and error handling."""
    node = open_node(settings, role=role, migrations=migrations, peer_mounts=peer_mounts)
    app = FastAPI(
        title=f"SupplyMesh {role} node",
        version=__version__,
        description=description,
        lifespan=_lifespan(node, on_start),
        docs_url=None,  # served from the node's own assets by install_api_docs
        redoc_url=None,
    )
    app.state.node = node
    install_problem_handlers(app)
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_body_bytes, body_timeout=settings.body_timeout_seconds
    )
    app.add_middleware(AuthGateMiddleware, node=node)  # credentials before any body
    app.add_middleware(AccessLogMiddleware)  # outermost: one line per ERP call, refused ones too
    app.include_router(health_router())
    app.include_router(erp_ledger_router())
    app.include_router(events_router())
    app.include_router(peer_ledger_router())
    for router in routers:
        app.include_router(router)
    install_extra_schemas(app)
    install_api_docs(app)
    return app


def _lifespan(
    node: Node, on_start: StartHook | None
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start hooks, the outbox worker and background jobs; stop them and close the node."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if on_start is not None:
            await on_start(node)
        for hook in node.on_start:
            await hook()
        worker = node.start_outbox()
        tasks = [asyncio.create_task(worker.run_forever(), name=f"{node.id}-outbox")]
        tasks += [asyncio.create_task(job(), name=f"{node.id}-background") for job in node.background]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await node.aclose()

    return lifespan
