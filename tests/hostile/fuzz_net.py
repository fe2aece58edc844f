"""A seeded in-process network for API fuzzing, driven from synchronous Hypothesis code.

Schemathesis and Hypothesis run synchronous test functions; the nodes are asyncio
applications. :class:`LoopThread` runs one event loop in a thread, the whole network
lives on it, and :class:`FuzzNetwork` hands requests to it one at a time.

Every request is sent with valid credentials: the ERP token of the node for ``/v1/…``,
and for ``/peer/v1/…`` an RFC 9421 signature of the member that is entitled to call the
route (the PDU for network and capacity calls, the channel partner for channel calls),
so the fuzzer reaches the code behind the gate. Before and after each request the
node's database is fingerprinted (a hash of every row of every table): a refused
request (status >= 400) must leave it unchanged.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from supplymesh.node.peers import PeerSignatureAuth
from tests.conftest import DatabaseFactory
from tests.flows import demand, order_for
from tests.harness import Harness

T = TypeVar("T")
NODES = ("oem-a", "oem-b", "supplier-a", "supplier-b", "pdu", "auditor")
"""The six nodes of the default network: two OEMs, two suppliers, the PDU and the auditor."""
REQUEST_SECONDS = 120.0
"""A request that has not been answered by then is a hang, reported as a failure."""


class LoopThread:
    """An asyncio event loop running in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fuzz-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 600.0) -> T:
        """Run ``coro`` on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        """Stop the loop and wait for its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)
        self.loop.close()


def fingerprint(engine: Engine) -> dict[str, str]:
    """``{table: hash of its rows}`` for every table of a node's database."""
    result: dict[str, str] = {}
    with engine.connect() as conn:
        for name in sorted(inspect(conn).get_table_names()):
            rows = sorted(repr(tuple(row)) for row in conn.execute(text(f'SELECT * FROM "{name}"')))
            result[name] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
    return result


def changed_tables(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """The tables whose rows differ between two fingerprints."""
    return sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))


def peer_signer(node_id: str, path: str) -> str:
    """The member that signs a fuzzed peer request to ``node_id`` for ``path``."""
    if path.startswith("/peer/v1/actions"):
        return "oem-a"
    if path.startswith("/peer/v1/channels/"):
        partner = {"oem-a": "supplier-a", "oem-b": "supplier-a", "supplier-a": "oem-a", "supplier-b": "oem-a"}
        return partner.get(node_id, "oem-a")
    if path.startswith("/peer/v1/ledgers"):
        return "auditor" if node_id != "auditor" else "pdu"
    return "pdu" if node_id != "pdu" else "oem-a"


class FuzzNetwork:
    """The six nodes of a default network, seeded with a funded order, a refunded one and its re-offer."""

    def __init__(self, state_dir: Path, database_url: DatabaseFactory) -> None:
        self.loop = LoopThread()
        self.harness: Harness = self.loop.run(self._build(state_dir, database_url))
        self._clients: dict[str, httpx.AsyncClient] = {}

    @staticmethod
    async def _build(state_dir: Path, database_url: DatabaseFactory) -> Harness:
        harness = Harness(state_dir, database_url)
        harness.start_all()
        await order_for(harness, state="funded")
        # oem-b waits for a lot that supplier-b (no plant profile) cannot make ...
        looser = {"critical": "0", "major": "15", "minor": "15"}
        waiting = demand(quantity=390, priority_suppliers=["supplier-b"], aql=looser)
        assert (await harness.erp("oem-b").post("/v1/demands", json=waiting)).status_code == 202
        await harness.settle()
        await order_for(harness, state="refunded")  # ... and is offered the lot oem-a refused
        return harness

    def role(self, node_id: str) -> str:
        """The role of ``node_id`` (the name of its OpenAPI document)."""
        return str(self.harness.config.member(node_id).role)

    def engine(self, node_id: str) -> Engine:
        """The database engine of ``node_id``."""
        engine: Engine = self.harness.app(node_id).state.node.engine
        return engine

    def fingerprint(self, node_id: str) -> dict[str, str]:
        """The current fingerprint of ``node_id``'s database."""
        return fingerprint(self.engine(node_id))

    def _client(self, node_id: str, signer: str | None) -> httpx.AsyncClient:
        key = f"{node_id}/{signer}"
        if key not in self._clients:
            app = self.harness.app(node_id)
            auth = None
            if signer is not None:
                auth = PeerSignatureAuth(signer, self.harness.app(signer).state.node.signer)
            self._clients[key] = httpx.AsyncClient(
                # A crash must come back as the 500 a real server would answer.
                transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                base_url=self.harness.config.member(node_id).url,
                auth=auth,
            )
        return self._clients[key]

    def send(self, node_id: str, kwargs: dict[str, Any]) -> httpx.Response:
        """Send one request (requests-style ``kwargs`` of a Schemathesis case) with valid credentials."""
        return self.loop.run(self._send(node_id, dict(kwargs)), timeout=REQUEST_SECONDS + 10)

    async def _send(self, node_id: str, kwargs: dict[str, Any]) -> httpx.Response:
        url = httpx.URL(kwargs.pop("url"))
        headers = {k: v for k, v in kwargs.pop("headers", {}).items() if k.lower() != "authorization"}
        signer = None
        if url.path.startswith("/peer/v1/"):
            signer = peer_signer(node_id, url.path)
        elif url.path.startswith("/v1/"):
            headers["Authorization"] = f"Bearer {self.harness.token(node_id)}"
        if url.path == "/v1/events":
            headers["Accept"] = "application/json"  # the SSE stream never ends by itself
        body: dict[str, Any] = {}
        if "json" in kwargs:
            body["json"] = kwargs["json"]
        elif kwargs.get("data") is not None:
            body["content"] = kwargs["data"]
        request = self._client(node_id, signer).request(
            kwargs["method"], url, headers=headers, params=kwargs.get("params") or None, **body
        )
        return await asyncio.wait_for(request, REQUEST_SECONDS)

    def settle(self) -> None:
        """Deliver everything queued and let the PDU decide what is due."""
        self.loop.run(self.harness.settle())

    def close(self) -> None:
        """Close clients and nodes, then the loop."""

        async def close() -> None:
            for client in self._clients.values():
                await client.aclose()
            await self.harness.close()

        self.loop.run(close())
        self.loop.stop()
