"""Edges of every node's HTTP surface: credentials before bodies, bounded cursors."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.types import Message

from supplymesh.node.context import Node
from supplymesh.node.httpsig import RequestTarget, sign_request, url_authority
from tests.harness import Harness

pytestmark = [pytest.mark.anyio, pytest.mark.db]
TEN_MIB_NOT_JSON = b"\x00not json at all " * (10 * 1024 * 1024 // 17)


async def _call_unread(app: FastAPI, method: str, path: str, headers: dict[str, str]) -> tuple[int, bool]:
    """Send a request whose body the app must not touch: (status, whether it asked for the body)."""
    asked = False
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal asked
        asked = True
        return {"type": "http.request", "body": TEN_MIB_NOT_JSON, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw.append((b"content-length", str(len(TEN_MIB_NOT_JSON)).encode()))
    raw.append((b"content-type", b"application/json"))
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": raw,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "root_path": "",
    }
    await app(scope, receive, send)
    return sent[0]["status"], asked


# --- credentials are checked before the body is read ---------------------------


@pytest.mark.parametrize(
    ("node_id", "path"),
    [
        ("oem-a", "/v1/demands"),
        ("oem-a", "/v1/channels/channel:oem-a:supplier-a/entries"),
        ("supplier-a", "/v1/dms/readings"),
        ("auditor", "/v1/audits"),
    ],
)
async def test_unauthenticated_ten_mib_erp_post_is_401_not_a_parse_error(
    harness: Harness, node_id: str, path: str
) -> None:
    response = await harness.anonymous(node_id).post(path, content=TEN_MIB_NOT_JSON)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    wrong = await harness.erp(node_id, token="not-a-token").post(path, content=TEN_MIB_NOT_JSON)
    assert wrong.status_code == 401 and wrong.json()["detail"] == "unknown bearer token"


@pytest.mark.parametrize(
    ("node_id", "path"),
    [
        ("pdu", "/peer/v1/actions"),
        ("supplier-a", "/peer/v1/network/proposals"),
        ("oem-a", "/peer/v1/channels/channel:oem-a:supplier-a/proposals"),
    ],
)
async def test_unsigned_ten_mib_peer_post_is_401_not_a_parse_error(
    harness: Harness, node_id: str, path: str
) -> None:
    response = await harness.anonymous(node_id).post(path, content=TEN_MIB_NOT_JSON)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_unauthenticated_requests_are_refused_without_reading_the_body(harness: Harness) -> None:
    oem, pdu = harness.app("oem-a"), harness.app("pdu")
    assert await _call_unread(oem, "POST", "/v1/demands", {}) == (401, False)
    assert await _call_unread(oem, "POST", "/v1/demands", {"Authorization": "Bearer nope"}) == (401, False)
    assert await _call_unread(pdu, "POST", "/peer/v1/actions", {}) == (401, False)


async def test_a_peer_signature_for_another_node_is_refused_without_reading_the_body(
    harness: Harness,
) -> None:
    node: Node = harness.app("oem-a").state.node
    target = RequestTarget(
        method="POST",
        authority=url_authority(harness.config.member("supplier-a").url),
        path="/peer/v1/actions",
        query="",
    )
    headers = sign_request(
        target, TEN_MIB_NOT_JSON, keyid="oem-a", signer=node.signer, created=int(time.time()), nonce="n" * 20
    )
    assert await _call_unread(harness.app("pdu"), "POST", "/peer/v1/actions", headers) == (401, False)


async def test_authenticated_requests_still_have_their_body_parsed(harness: Harness) -> None:
    erp = await harness.erp("oem-a").post(
        "/v1/demands", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert erp.status_code == 400 and erp.json()["title"] == "Malformed JSON"
    peer = await harness.peer("oem-a").request("pdu", "POST", "/peer/v1/actions", json={"kind": 5})
    assert peer.status_code == 422, peer.text


async def test_a_signed_peer_body_that_does_not_match_its_digest_is_401(harness: Harness) -> None:
    node: Node = harness.app("oem-a").state.node
    target = RequestTarget(
        method="POST",
        authority=url_authority(harness.config.member("pdu").url),
        path="/peer/v1/actions",
        query="",
    )
    headers = sign_request(
        target,
        b"{}",
        keyid="oem-a",
        signer=node.signer,
        created=int(time.time()),
        nonce="digest-nonce-000001",
    )
    response = await harness.anonymous("pdu").post(
        "/peer/v1/actions", content=b'{"other": 1}', headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 401, response.text
    assert "does not match the body" in response.json()["detail"]


async def test_an_oversized_body_is_still_413_for_an_authenticated_client(harness: Harness) -> None:
    client = harness.erp("oem-a")
    limit: int = harness.app("oem-a").state.node.settings.max_body_bytes
    response = await client.post("/v1/demands", content=b"x" * (limit + 1))
    assert response.status_code == 413


# --- integer query parameters are bounded to 64 bits --------------------------

HUGE = 1180591620717411303424  # 2**70, past any database integer
ROLE_NODES = ("oem-a", "supplier-a", "pdu", "auditor")
CHANNEL_ENTRIES = "/v1/channels/{ledger}/entries"
PATH_VALUES = {"ledger": "network"}
CHANNEL_OF = {"oem-a": "channel:oem-a:supplier-a", "supplier-a": "channel:oem-a:supplier-a"}


def _integer_query_routes(harness: Harness) -> list[tuple[str, str, str, list[str]]]:
    """(node, path, integer parameter, required integer parameters) for every GET of every role."""
    found = []
    for node_id in ROLE_NODES:
        for path, ops in harness.app(node_id).openapi()["paths"].items():
            params = ops.get("get", {}).get("parameters", [])
            ints = [p for p in params if p["in"] == "query" and "integer" in _types(p["schema"])]
            required = [p["name"] for p in ints if p.get("required")]
            found += [(node_id, path, p["name"], required) for p in ints]
    return found


def _types(schema: dict[str, Any]) -> set[str]:
    return {schema.get("type", "")} | {s.get("type", "") for s in schema.get("anyOf", [])}


async def _get(harness: Harness, node_id: str, path: str, params: dict[str, int]) -> tuple[int, str, str]:
    ledger = CHANNEL_OF.get(node_id, "network") if path == CHANNEL_ENTRIES else "network"
    url = path.format(**{**PATH_VALUES, "ledger": ledger})
    headers = {"Accept": "application/json"}
    if path.startswith("/peer/"):
        sender = "pdu" if node_id == "auditor" else "auditor"
        response = await harness.peer(sender).request(node_id, "GET", url, params=params)
    else:
        response = await harness.erp(node_id).get(url, params=params, headers=headers)
    return response.status_code, response.headers.get("content-type", ""), response.text


async def test_every_integer_query_parameter_of_every_role_refuses_a_cursor_past_64_bits_with_422(
    harness: Harness,
) -> None:
    routes = _integer_query_routes(harness)
    listed = {(n, p) for n, p, _, _ in routes}
    for node_id in ("oem-a", "supplier-a", "pdu", "auditor"):
        assert (node_id, "/v1/events") in listed
    assert {("oem-a", "/v1/demands"), ("auditor", "/v1/audits"), ("pdu", "/v1/decisions")} <= listed
    answers = {}
    for node_id, path, name, required in routes:
        if path == CHANNEL_ENTRIES:
            continue  # see the test below
        params = {**dict.fromkeys(required, 1), name: HUGE}
        answers[(node_id, path, name)] = await _get(harness, node_id, path, params)
    wrong = {
        route: answer for route, answer in answers.items() if answer[:2] != (422, "application/problem+json")
    }
    assert not wrong
    assert len(answers) >= 40


@pytest.mark.parametrize("node_id", ["oem-a", "supplier-a"])
async def test_channel_entries_refuse_a_cursor_past_64_bits_with_422(harness: Harness, node_id: str) -> None:
    status, content_type, _ = await _get(harness, node_id, CHANNEL_ENTRIES, {"after": HUGE})
    assert (status, content_type) == (422, "application/problem+json")


@pytest.mark.parametrize(
    ("node_id", "path"),
    [("oem-a", "/v1/events"), ("oem-a", "/v1/demands"), ("auditor", "/v1/audits"), ("pdu", "/v1/decisions")],
)
async def test_the_largest_64_bit_cursor_is_an_empty_page_not_an_error(
    harness: Harness, node_id: str, path: str
) -> None:
    status, _, text = await _get(harness, node_id, path, {"after": 2**63 - 1})
    assert status == 200 and text == "[]"
    status, _, _ = await _get(harness, node_id, path, {"after": 2**63})
    assert status == 422


# --- bodies: JSON only (415), chunked uploads bounded (413) ---------------------------------------

DEMAND_JSON = (
    b'{"product": "P-100", "quantity": 10, "lead_time_days": 5, "required_machine_hours": "4",'
    b' "priority_suppliers": ["supplier-a"], "aql": {"critical": "0", "major": "2.5", "minor": "4"},'
    b' "unit_price": {"amount": 100, "currency": "EUR"}}'
)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "json"])
@pytest.mark.parametrize(
    ("node_id", "path"),
    [("oem-a", "/v1/demands"), ("supplier-a", "/v1/dms/readings")],
    ids=["demands", "readings"],
)
async def test_a_body_that_is_not_declared_json_is_415_and_stores_nothing(
    harness: Harness, node_id: str, path: str, content_type: str | None
) -> None:
    client = harness.erp(node_id)
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = await client.post(path, content=DEMAND_JSON, headers=headers)
    assert response.status_code == 415, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["accept-post"] == "application/json"
    problem = response.json()
    assert (problem["status"], problem["type"], problem["instance"]) == (
        415,
        "https://supplymesh.dev/problems/unsupported-media-type",
        path,
    )
    assert "Content-Type: application/json" in problem["detail"]
    if node_id == "oem-a":
        assert (await client.get("/v1/demands")).json() == []


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json"]
)
async def test_json_media_types_with_parameters_or_suffixes_are_read(
    harness: Harness, content_type: str
) -> None:
    response = await harness.erp("oem-a").post(
        "/v1/demands", content=DEMAND_JSON, headers={"Content-Type": content_type}
    )
    assert response.status_code == 202, response.text


async def test_a_post_without_a_body_needs_no_content_type(harness: Harness) -> None:
    response = await harness.erp("oem-a").post("/v1/channels/channel:oem-a:supplier-a/keys")
    assert response.status_code == 201, response.text


async def test_an_unsigned_non_json_peer_post_is_still_401_first(harness: Harness) -> None:
    response = await harness.anonymous("pdu").post(
        "/peer/v1/actions", content=b"x", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 401


async def _chunks(total: int, size: int = 1024 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        chunk = b" " * min(size, total - sent)
        sent += len(chunk)
        yield chunk


@pytest.mark.parametrize(
    ("node_id", "path"),
    [
        ("oem-a", "/v1/demands"),
        ("supplier-a", "/v1/dms/readings"),
        ("oem-a", "/v1/channels/channel:oem-a:supplier-a/entries"),
    ],
    ids=["demands", "readings", "channel-entries"],
)
async def test_an_oversized_chunked_upload_is_413_problem(harness: Harness, node_id: str, path: str) -> None:
    limit: int = harness.app(node_id).state.node.settings.max_body_bytes
    response = await harness.erp(node_id).post(
        path, content=_chunks(limit + 1), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["type"], problem["status"], problem["instance"]) == (
        "https://supplymesh.dev/problems/payload-too-large",
        413,
        path,
    )


async def test_a_chunked_upload_within_the_limit_is_read(harness: Harness) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield DEMAND_JSON[:40]
        yield DEMAND_JSON[40:]

    response = await harness.erp("oem-a").post(
        "/v1/demands", content=body(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 202, response.text
