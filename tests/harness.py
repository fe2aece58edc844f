"""In-process network harness: every node of a generated network as an ASGI app.

Nodes talk to each other through ``httpx.ASGITransport`` mounts keyed by their config
URL, so the whole network runs in one test process with real signatures, real
databases (SQLite files or PostgreSQL schemas) and no sockets.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from supplymesh.channels.service import ChannelService
from supplymesh.cli.netgen import CONFIG_FILE, build_network, default_seats, read_token
from supplymesh.config import NetworkConfig, Role
from supplymesh.node.context import Node
from supplymesh.node.keys import KEY_FILE, load_key_file
from supplymesh.node.peers import PeerClient
from supplymesh.node.settings import NodeSettings
from supplymesh.storage.engine import write_transaction
from supplymesh.storage.tables import outbox
from supplymesh_auditor.main import create_app as auditor_app
from supplymesh_oem.main import create_app as oem_app
from supplymesh_pdu.main import create_app as pdu_app
from supplymesh_supplier.main import create_app as supplier_app

FACTORIES = {Role.SUPPLIER: supplier_app, Role.OEM: oem_app, Role.PDU: pdu_app, Role.AUDITOR: auditor_app}


class RoutingTransport(httpx.AsyncBaseTransport):
    """Routes each request to the node for its origin, starting that node on first use."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        origin = f"{request.url.scheme}://{request.url.netloc.decode()}"
        transport = self.harness.transport_for(origin)
        if transport is None:
            raise httpx.ConnectError(f"no node at {origin}", request=request)
        response = await transport.handle_async_request(request)
        key = (origin, request.url.path)
        if self.harness.lost_answers.get(key, 0) > 0:
            # The node did the work and answered; the answer is lost on the way back, as
            # when a slow partner answers after the caller's deadline.
            self.harness.lost_answers[key] -= 1
            raise httpx.ReadTimeout(f"answer of {origin} lost", request=request)
        return response


class Harness:
    """A generated network whose nodes are created on first use."""

    def __init__(
        self,
        state_dir: Path,
        database_url: Callable[[str], str],
        *,
        suppliers: int = 2,
        oems: int = 2,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.config: NetworkConfig = build_network(
            state_dir, default_seats(suppliers=suppliers, oems=oems), base_port=18100, extra=extra
        )
        self._database_url = database_url
        self._urls: dict[str, str] = {}
        self.apps: dict[str, FastAPI] = {}
        self.mounts: dict[str, httpx.AsyncBaseTransport] = {}
        self.router = RoutingTransport(self)
        self.unreachable: set[str] = set()
        self.lost_answers: dict[tuple[str, str], int] = {}
        self._clients: list[httpx.AsyncClient | PeerClient] = []

    def settings(self, node_id: str) -> NodeSettings:
        return NodeSettings(
            node_id=node_id,
            node_dir=self.state_dir / node_id,
            network_config=self.state_dir / CONFIG_FILE,
            database_url=self._urls.setdefault(node_id, self._database_url(node_id)),
            # In-process nodes share one event loop with the test: on a loaded machine a
            # supplier answers slowly, and a split must not skip it for that.
            decision_timeout_seconds=10.0,
        )

    def start_all(self) -> None:
        for member in self.config.members:
            self.app(member.id)

    def app(self, node_id: str) -> FastAPI:
        if node_id not in self.apps:
            member = self.config.member(node_id)
            app = FACTORIES[member.role](self.settings(node_id), peer_mounts={"all://": self.router})
            self.apps[node_id] = app
            self.mounts[member.url] = httpx.ASGITransport(app=app)
        return self.apps[node_id]

    def node(self, node_id: str) -> Node:
        node: Node = self.app(node_id).state.node
        if node.outbox is None:
            node.start_outbox()
        return node

    def channels(self, node_id: str) -> ChannelService:
        service: ChannelService = self.app(node_id).state.channels
        return service

    def transport_for(self, origin: str) -> httpx.AsyncBaseTransport | None:
        """The transport of the node at ``origin`` (started lazily), None if down or unknown."""
        if origin in self.unreachable:
            return None
        if origin not in self.mounts:
            member = next((m for m in self.config.members if m.url == origin), None)
            if member is None:
                return None
            # A node started lazily here stands for one that was running all along: the
            # request in hand was signed before this app existed, and on a loaded machine
            # the start can outlast the nonce cache's grace for requests signed before a
            # restart. Restarts (``restart``) keep the real behaviour.
            self.app(member.id).state.node.nonces.started = 0
        return self.mounts.get(origin)

    def down(self, node_id: str) -> None:
        """Make ``node_id`` unreachable (started, but requests to it fail to connect)."""
        self.app(node_id)
        self.unreachable.add(self.config.member(node_id).url)

    def lose_answers(self, node_id: str, path: str, count: int = 1) -> None:
        """The next ``count`` answers of ``node_id`` to requests for ``path`` never arrive."""
        self.lost_answers[(self.config.member(node_id).url, path)] = count

    def up(self, node_id: str) -> None:
        """Make ``node_id`` reachable again."""
        self.unreachable.discard(self.config.member(node_id).url)

    async def restart(self, node_id: str) -> FastAPI:
        """A fresh app instance on the same database and key, as after a process restart."""
        old = self.apps.pop(node_id)
        await old.state.node.aclose()
        app = self.app(node_id)
        for hook in app.state.node.on_start:
            await hook()
        return app

    async def drain(self, rounds: int = 20) -> None:
        """Run every node's outbox until nothing more is delivered (retry delays ignored)."""
        for _ in range(rounds):
            delivered = 0
            for node_id in list(self.apps):
                worker = self.node(node_id).outbox
                assert worker is not None
                with write_transaction(worker.engine) as conn:
                    conn.execute(update(outbox).where(outbox.c.done == 0).values(next_attempt=0))
                delivered += await worker.run_once()
            if delivered == 0:
                return

    async def settle(self, rounds: int = 10) -> None:
        """Deliver everything and let the PDU decide whatever is due, until quiet."""
        for _ in range(rounds):
            await self.drain()
            pdu = self.config.pdu.id
            before = self.node(pdu).store.head("network")
            await self.app(pdu).state.sequencer.step()
            await self.drain()
            if self.node(pdu).store.head("network") == before:
                return

    def token(self, node_id: str) -> str:
        return read_token(self.state_dir, node_id)

    def erp(self, node_id: str, *, token: str | None = None) -> httpx.AsyncClient:
        """An ERP client of ``node_id`` (its default token unless given)."""
        app = self.app(node_id)
        headers = {"Authorization": f"Bearer {token if token is not None else self.token(node_id)}"}
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=self.config.member(node_id).url, headers=headers
        )
        self._clients.append(client)
        return client

    def anonymous(self, node_id: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app(node_id)), base_url=self.config.member(node_id).url
        )
        self._clients.append(client)
        return client

    def peer(self, as_member: str) -> PeerClient:
        """A signed peer client acting as ``as_member``, reaching every started node."""
        client = PeerClient(
            member_id=as_member,
            signer=load_key_file(self.state_dir / as_member / KEY_FILE),
            config=self.config,
            timeout=5.0,
            mounts={"all://": self.router},
        )
        self._clients.append(client)
        return client

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()
        for app in self.apps.values():
            await app.state.node.aclose()
