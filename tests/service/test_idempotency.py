"""Idempotency-Key semantics on a creating POST, with a real node app and database."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from supplymesh.config import Role
from supplymesh.netgen import CONFIG_FILE, build_network, default_seats, read_token
from supplymesh.settings import NodeSettings
from supplymesh.web.app import build_app
from supplymesh.web.idempotency import IdempotencyDep
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
