"""Idempotency-Key semantics on a creating POST, with a real node app and database."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select, text
from starlette.concurrency import run_in_threadpool

from supplymesh.cli.netgen import CONFIG_FILE, build_network, default_seats, read_token
from supplymesh.config import Role
from supplymesh.node.context import Node
from supplymesh.node.settings import NodeSettings
from supplymesh.storage.engine import read_transaction, write_transaction
from supplymesh.storage.tables import idempotency_records
from supplymesh.web.app import build_app
from supplymesh.web.deps import NodeDep
from supplymesh.web.idempotency import (
    COMMITTED,
    RESERVED,
    Idempotency,
    IdempotencyDep,
    request_fingerprint,
    respond_in,
)
from tests.conftest import DatabaseFactory

pytestmark = [pytest.mark.anyio, pytest.mark.db]


class ThingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


@pytest.fixture
async def client(tmp_path: Path, database_url_factory: DatabaseFactory) -> AsyncIterator[httpx.AsyncClient]:
    state = tmp_path / "state"
    build_network(state, default_seats(), base_port=18200)
    counter = itertools.count(1)
    router = APIRouter()

    @router.post("/v1/things", status_code=201)
    async def create(body: ThingCreate, idem: IdempotencyDep) -> object:
        async def make() -> dict[str, object]:
            if body.name == "explode":
                raise RuntimeError("handler failed")
            return {"id": next(counter), "name": body.name}

        return await idem.run(201, make)

    settings = NodeSettings(
        node_id="oem-a",
        node_dir=state / "oem-a",
        network_config=state / CONFIG_FILE,
        database_url=database_url_factory("oem-a"),
    )
    app = build_app(settings, role=Role.OEM, description="test", routers=[router])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://oem-a",
        headers={"Authorization": f"Bearer {read_token(state, 'oem-a')}"},
    ) as http:
        yield http
    await app.state.node.aclose()


async def test_same_key_same_body_returns_stored_response(client: httpx.AsyncClient) -> None:
    first = await client.post("/v1/things", json={"name": "a"}, headers={"Idempotency-Key": "k1"})
    again = await client.post(
        "/v1/things",
        content=b'{ "name" : "a" }',
        headers={"Idempotency-Key": "k1", "Content-Type": "application/json"},
    )
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() == {"id": 1, "name": "a"}
    assert again.headers["idempotent-replayed"] == "true"


async def test_same_key_different_body_is_422(client: httpx.AsyncClient) -> None:
    await client.post("/v1/things", json={"name": "a"}, headers={"Idempotency-Key": "k2"})
    other = await client.post("/v1/things", json={"name": "b"}, headers={"Idempotency-Key": "k2"})
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    assert "different request" in other.json()["detail"]


async def test_without_key_every_post_creates(client: httpx.AsyncClient) -> None:
    ids = [(await client.post("/v1/things", json={"name": "a"})).json()["id"] for _ in range(3)]
    assert ids == [1, 2, 3]


async def test_failed_first_attempt_releases_the_key(client: httpx.AsyncClient) -> None:
    failed = await client.post("/v1/things", json={"name": "explode"}, headers={"Idempotency-Key": "k3"})
    assert failed.status_code == 500 and failed.headers["content-type"] == "application/problem+json"
    retry = await client.post("/v1/things", json={"name": "explode"}, headers={"Idempotency-Key": "k3"})
    assert retry.status_code == 500  # ran again rather than replaying or reporting in-progress


async def test_malformed_json_and_unknown_fields_are_problems(client: httpx.AsyncClient) -> None:
    bad = await client.post("/v1/things", content=b"{not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.json()["title"] == "Malformed JSON"
    extra = await client.post("/v1/things", json={"name": "a", "admin": True})
    assert extra.status_code == 422 and extra.headers["content-type"] == "application/problem+json"
    wrong_type = await client.post("/v1/things", json={"name": 5})
    assert wrong_type.status_code == 422


# --- crashes, restarts and parallel retries --------------------------------------


class Things:
    """Apps of one node on one database, as successive starts of its process.

    ``POST /v1/stored-things`` inserts a row into ``things`` (in a worker thread, as the
    real handlers do) and answers with the row count; ``respond_in`` stores the answer in
    the same transaction when asked to. A start given a ``gate`` holds every handler
    before its write until the gate opens, and sets ``started`` when one is held.
    """

    def __init__(self, state: Path, database_url: str) -> None:
        self.settings = NodeSettings(
            node_id="oem-a",
            node_dir=state / "oem-a",
            network_config=state / CONFIG_FILE,
            database_url=database_url,
        )
        self.token = read_token(state, "oem-a")
        self.started = asyncio.Event()
        self.crash_before_commit = False
        self.apps: list[FastAPI] = []
        self.clients: list[httpx.AsyncClient] = []

    def start(self, gate: asyncio.Event | None = None) -> httpx.AsyncClient:
        """A new start of the node (a new process on the same database)."""
        router = APIRouter()

        @router.post("/v1/stored-things", status_code=201)
        async def create(body: ThingCreate, idem: IdempotencyDep, node: NodeDep) -> object:
            async def make() -> dict[str, object]:
                if gate is not None:
                    self.started.set()
                    await gate.wait()
                if self.crash_before_commit:
                    raise _Crash
                return await run_in_threadpool(self._insert, node, body.name)

            return await idem.run(201, make)

        app = build_app(self.settings, role=Role.OEM, description="test", routers=[router])
        with write_transaction(app.state.node.engine) as conn:
            conn.execute(text("CREATE TABLE IF NOT EXISTS things (name VARCHAR(64) NOT NULL)"))
        self.apps.append(app)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://oem-a",
            headers={"Authorization": f"Bearer {self.token}"},
        )
        self.clients.append(client)
        return client

    @staticmethod
    def _insert(node: Node, name: str) -> dict[str, object]:
        with write_transaction(node.engine) as conn:
            conn.execute(text("INSERT INTO things (name) VALUES (:name)"), {"name": name})
            count = conn.execute(text("SELECT COUNT(*) FROM things")).scalar_one()
            answer = {"name": name, "count": count}
            if name.startswith("atomic"):
                respond_in(conn, answer)
        if name == "atomic-then-more":  # a second transaction after the stored response
            with write_transaction(node.engine) as conn:
                conn.execute(text("INSERT INTO things (name) VALUES (:name)"), {"name": name})
        return answer

    def count(self) -> int:
        with read_transaction(self.apps[-1].state.node.engine) as conn:
            return int(conn.execute(text("SELECT COUNT(*) FROM things")).scalar_one())

    def reservation(self, key: str) -> Any:
        with read_transaction(self.apps[-1].state.node.engine) as conn:
            return conn.execute(select(idempotency_records).where(idempotency_records.c.key == key)).one()

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()
        for app in self.apps:
            await app.state.node.aclose()


class _Crash(Exception):
    """Where the process dies (with the code that would run after it patched away)."""


@pytest.fixture
async def things(tmp_path: Path, database_url_factory: DatabaseFactory) -> AsyncIterator[Things]:
    state = tmp_path / "state"
    build_network(state, default_seats(), base_port=18300)
    net = Things(state, database_url_factory("oem-a"))
    yield net
    await net.close()


def _crash_in(monkeypatch: pytest.MonkeyPatch, method: str) -> None:
    """The process dies where ``method`` would run: it does nothing (a release) or fails."""

    def crash(*_args: object) -> None:
        if method != "_release":
            raise _Crash

    monkeypatch.setattr(Idempotency, method, crash)


async def _post(client: httpx.AsyncClient, name: str, key: str) -> httpx.Response:
    return await client.post("/v1/stored-things", json={"name": name}, headers={"Idempotency-Key": key})


async def test_a_reservation_left_without_response_by_a_crash_before_commit_is_usable_after_restart(
    things: Things, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = things.start()
    things.crash_before_commit = True
    with monkeypatch.context() as patch:
        _crash_in(patch, "_release")
        crashed = await _post(first, "a", "k-before")
    things.crash_before_commit = False
    assert crashed.status_code == 500
    row = things.reservation("k-before")
    assert (row.status, things.count()) == (RESERVED, 0)
    assert (await _post(first, "a", "k-before")).status_code == 409  # the same start: still "running"
    after_restart = await _post(things.start(), "a", "k-before")
    assert after_restart.status_code == 201 and after_restart.headers["idempotent-replayed"] == "false"
    assert after_restart.json() == {"name": "a", "count": 1}
    again = await _post(things.clients[-1], "a", "k-before")
    assert again.json() == after_restart.json() and again.headers["idempotent-replayed"] == "true"
    assert things.count() == 1


async def test_a_stale_reserved_row_of_a_previous_start_is_taken_over_and_runs_once(things: Things) -> None:
    client = things.start()
    with write_transaction(things.apps[-1].state.node.engine) as conn:
        conn.execute(
            idempotency_records.insert().values(
                client="erp",
                key="k-left",
                method="POST",
                path="/v1/stored-things",
                request_hash=request_fingerprint("POST", "/v1/stored-things", b'{"name":"a"}'),
                status=RESERVED,
                response="a-previous-start:attempt",
                created="2026-01-01T00:00:00.000000Z",
            )
        )
    first = await _post(client, "a", "k-left")
    assert first.status_code == 201 and first.json() == {"name": "a", "count": 1}
    again = await _post(client, "a", "k-left")
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert things.count() == 1


async def test_a_crash_between_commit_and_stored_response_never_runs_the_handler_twice(
    things: Things, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = things.start()
    with monkeypatch.context() as patch:
        _crash_in(patch, "_store")
        assert (await _post(first, "a", "k-after")).status_code == 500
    assert (things.reservation("k-after").status, things.count()) == (COMMITTED, 1)
    lost = await _post(things.start(), "a", "k-after")
    assert lost.status_code == 409 and lost.headers["content-type"] == "application/problem+json"
    problem = lost.json()
    assert problem["type"].endswith("/idempotency-response-lost") and problem["committed"] is True
    assert (await _post(things.clients[-1], "a", "k-after")).status_code == 409
    assert things.count() == 1


async def test_a_response_stored_in_the_handlers_transaction_survives_the_crash(
    things: Things, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = things.start()
    with monkeypatch.context() as patch:
        _crash_in(patch, "_store")
        assert (await _post(first, "atomic", "k-atomic")).status_code == 500
    replay = await _post(things.start(), "atomic", "k-atomic")
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == {"name": "atomic", "count": 1}
    assert things.count() == 1


async def test_a_handler_may_still_write_after_storing_its_response_in_its_transaction(
    things: Things,
) -> None:
    client = things.start()
    first = await _post(client, "atomic-then-more", "k-more")
    assert first.status_code == 201 and first.json() == {"name": "atomic-then-more", "count": 1}
    again = await _post(client, "atomic-then-more", "k-more")
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert things.count() == 2


async def test_parallel_requests_with_one_key_make_exactly_one_effect(things: Things) -> None:
    gate = asyncio.Event()
    client = things.start(gate)
    first = asyncio.create_task(_post(client, "held", "k-parallel"))
    await things.started.wait()
    others = await asyncio.gather(*(_post(client, "held", "k-parallel") for _ in range(5)))
    assert [r.status_code for r in others] == [409] * 5
    gate.set()
    assert (await first).status_code == 201
    replays = await asyncio.gather(*(_post(client, "held", "k-parallel") for _ in range(5)))
    assert {r.headers["idempotent-replayed"] for r in replays} == {"true"}
    assert things.count() == 1


async def test_parallel_retries_after_a_restart_take_the_reservation_over_once(
    things: Things, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = things.start()
    things.crash_before_commit = True
    with monkeypatch.context() as patch:
        _crash_in(patch, "_release")
        assert (await _post(first, "a", "k-race")).status_code == 500
    things.crash_before_commit = False
    client = things.start()
    answers = await asyncio.gather(*(_post(client, "a", "k-race") for _ in range(6)))
    assert sorted({r.status_code for r in answers}) in ([201], [201, 409])
    assert sum(r.headers.get("idempotent-replayed") == "false" for r in answers) == 1
    assert things.count() == 1


async def test_a_handler_whose_reservation_was_taken_over_cannot_commit(things: Things) -> None:
    gate = asyncio.Event()
    stalled = asyncio.create_task(_post(things.start(gate), "slow", "k-fence"))
    await things.started.wait()
    retry = await _post(things.start(), "slow", "k-fence")
    assert retry.status_code == 201 and things.count() == 1
    gate.set()
    fenced = await stalled
    assert fenced.status_code == 409 and fenced.json()["type"].endswith("/idempotency-superseded")
    assert things.count() == 1
