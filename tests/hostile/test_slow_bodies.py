"""Slow-loris bodies against a node served by uvicorn on a real socket.

A client that sends its headers and then trickles (or withholds) its body must not hold
a request open as long as it likes: the body has ``body_timeout_seconds`` to arrive
whole, then the answer is 408 and the connection is closed, with nothing stored.
Meanwhile the node keeps serving everyone else, and a response stream (server-sent
events) that outlasts the body deadline is not cut by it.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy.engine import Engine

from supplymesh.cli.netgen import CONFIG_FILE, build_network, default_seats, read_token
from supplymesh.node.settings import NodeSettings
from supplymesh_oem.main import create_app as oem_app
from tests.conftest import DatabaseFactory
from tests.hostile.fuzz_net import fingerprint

pytestmark = [pytest.mark.db]
WAIT = 120.0  # generous: the machine may be loaded; every wait ends on a condition


@dataclass
class Served:
    """A node answering on a real port."""

    port: int
    token: str
    engine: Engine

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def _serve(tmp_path: Path, database_url: DatabaseFactory, body_timeout: float) -> Iterator[Served]:
    state = tmp_path / "state"
    build_network(state, default_seats(), base_port=18300)
    settings = NodeSettings(
        node_id="oem-a",
        node_dir=state / "oem-a",
        network_config=state / CONFIG_FILE,
        database_url=database_url("oem-a"),
        body_timeout_seconds=body_timeout,
    )
    app = oem_app(settings)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="slow-bodies-node", daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the node did not start"
        time.sleep(0.05)
    try:
        yield Served(port, read_token(state, "oem-a"), app.state.node.engine)
    finally:
        server.should_exit = True
        thread.join(WAIT)
        asyncio.run(app.state.node.aclose())


def _start_post(served: Served, length: int) -> socket.socket:
    """A POST /v1/demands whose headers are sent and whose body is not."""
    conn = socket.create_connection(("127.0.0.1", served.port), timeout=WAIT)
    head = (
        "POST /v1/demands HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {served.token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    )
    conn.sendall(head.encode())
    return conn


def _answered(conn: socket.socket) -> bool:
    return bool(select.select([conn], [], [], 0)[0])


def _read_to_close(conn: socket.socket) -> bytes:
    """Everything the node sends until it closes the connection (a hang fails on the socket timeout)."""
    received = b""
    while chunk := conn.recv(65536):
        received += chunk
    return received


def test_a_trickled_body_is_answered_408_its_connection_closed_and_nothing_stored(
    tmp_path: Path, database_url_factory: DatabaseFactory
) -> None:
    with _serve(tmp_path, database_url_factory, body_timeout=1.0) as served:
        before = fingerprint(served.engine)
        conn = _start_post(served, length=4096)
        deadline = time.monotonic() + WAIT
        while not _answered(conn):  # one byte at a time, as a slow-loris client does
            assert time.monotonic() < deadline, "the node let the body trickle on"
            with contextlib.suppress(OSError):
                conn.sendall(b" ")
            time.sleep(0.1)
        answer = _read_to_close(conn)
        conn.close()
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:300]
        assert b"application/problem+json" in answer and b"request-timeout" in answer
        assert fingerprint(served.engine) == before


def test_a_withheld_body_does_not_hold_up_other_clients(
    tmp_path: Path, database_url_factory: DatabaseFactory
) -> None:
    with _serve(tmp_path, database_url_factory, body_timeout=600.0) as served:
        stalled = [_start_post(served, length=1000) for _ in range(20)]
        headers = {"Authorization": f"Bearer {served.token}"}
        listed = httpx.get(served.url("/v1/demands"), headers=headers, timeout=WAIT)
        assert listed.status_code == 200 and listed.json() == []
        created = httpx.post(served.url("/v1/demands"), headers=headers, json={"bad": 1}, timeout=WAIT)
        assert created.status_code == 422
        assert not any(_answered(conn) for conn in stalled)  # still waiting for their bodies
        for conn in stalled:
            conn.close()


def test_a_response_stream_longer_than_the_body_deadline_is_not_cut(
    tmp_path: Path, database_url_factory: DatabaseFactory
) -> None:
    with _serve(tmp_path, database_url_factory, body_timeout=0.5) as served:
        headers = {"Authorization": f"Bearer {served.token}", "Accept": "text/event-stream"}
        with httpx.stream(
            "GET", served.url("/v1/events"), params={"timeout": 3}, headers=headers, timeout=WAIT
        ) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            body = b"".join(stream.iter_bytes())  # ends by the stream's own timeout, cleanly
        assert b"408" not in body and b"request-timeout" not in body
