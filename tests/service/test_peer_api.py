"""Node-to-node reads: signed requests, replay protection, and who may read which ledger."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from supplymesh.config import channel_ledger
from supplymesh.core.crypto import Signer
from supplymesh.errors import PeerError
from supplymesh.node.context import Node
from supplymesh.node.httpsig import RequestTarget, sign_request, url_authority
from tests.harness import Harness
from tests.service.test_node_api import fill

pytestmark = [pytest.mark.anyio, pytest.mark.db]
CHANNEL = channel_ledger("oem-a", "supplier-a")


def _headers(
    harness: Harness,
    sender: str,
    signer: Signer,
    path: str,
    *,
    nonce: str,
    created: int | None = None,
    receiver: str = "supplier-a",
) -> dict[str, str]:
    # Every node runs before the request is signed: a node started after a request was
    # signed refuses it as older than its start (replay protection across restarts).
    harness.start_all()
    host = url_authority(harness.config.member(receiver).url)
    target = RequestTarget(method="GET", authority=host, path=path, query="")
    return sign_request(
        target, b"", keyid=sender, signer=signer, created=created or int(time.time()), nonce=nonce
    )


def _node(harness: Harness, node_id: str) -> Node:
    node: Node = harness.app(node_id).state.node
    return node


@pytest.mark.parametrize(
    ("reader", "allowed"),
    [("oem-a", True), ("auditor", True), ("pdu", False), ("oem-b", False), ("supplier-b", False)],
)
async def test_channel_ledger_read_matrix(harness: Harness, reader: str, allowed: bool) -> None:
    fill(harness, "supplier-a", CHANNEL, 3)
    peer = harness.peer(reader)
    for path in (
        f"/peer/v1/ledgers/{CHANNEL}/entries",
        f"/peer/v1/ledgers/{CHANNEL}/head",
        f"/peer/v1/ledgers/{CHANNEL}/proofs/inclusion?seq=1",
        f"/peer/v1/ledgers/{CHANNEL}/proofs/consistency?first=1",
    ):
        response = await peer.request("supplier-a", "GET", path)
        assert response.status_code == (200 if allowed else 403), (reader, path, response.text)
        if not allowed:
            assert response.headers["content-type"] == "application/problem+json"
    listed = [item["ledger"] for item in (await peer.request("supplier-a", "GET", "/peer/v1/ledgers")).json()]
    assert (CHANNEL in listed) == allowed


async def test_every_member_reads_the_network_ledger(harness: Harness) -> None:
    for member in harness.config.members:
        if member.id == "pdu":
            continue
        entries = await harness.peer(member.id).get_json("pdu", "/peer/v1/ledgers/network/entries")
        assert entries[0]["entry"]["kind"] == "network.genesis"


async def test_unsigned_forged_and_unknown_key_requests_are_401(harness: Harness) -> None:
    client = harness.anonymous("supplier-a")
    path = "/peer/v1/ledgers"
    assert (await client.get(path)).status_code == 401
    outsider = Signer(Ed25519PrivateKey.generate())
    forged = _headers(harness, "oem-a", outsider, path, nonce="forged-nonce-0000001")
    response = await client.get(path, headers=forged)
    assert response.status_code == 401 and "does not verify" in response.json()["detail"]
    unknown = _headers(harness, "mallory", outsider, path, nonce="unknown-nonce-000001")
    assert (await client.get(path, headers=unknown)).status_code == 401


async def test_replayed_and_stale_requests_are_refused(harness: Harness) -> None:
    client = harness.anonymous("supplier-a")
    signer = _node(harness, "oem-a").signer
    path = "/peer/v1/ledgers"
    headers = _headers(harness, "oem-a", signer, path, nonce="replay-nonce-0000001")
    assert (await client.get(path, headers=headers)).status_code == 200
    replay = await client.get(path, headers=headers)
    assert replay.status_code == 401 and "replayed" in replay.json()["detail"]
    stale = _headers(
        harness, "oem-a", signer, path, nonce="stale-nonce-00000001", created=int(time.time()) - 3600
    )
    assert (await client.get(path, headers=stale)).status_code == 401


async def test_request_signed_for_another_path_is_refused(harness: Harness) -> None:
    client = harness.anonymous("supplier-a")
    signer = _node(harness, "oem-a").signer
    headers = _headers(harness, "oem-a", signer, "/peer/v1/ledgers", nonce="path-nonce-000000001")
    response = await client.get(f"/peer/v1/ledgers/{CHANNEL}/entries", headers=headers)
    assert response.status_code == 401


async def test_request_signed_for_one_node_is_refused_by_another_even_with_the_first_nodes_host(
    harness: Harness,
) -> None:
    signer = _node(harness, "oem-a").signer
    path = "/peer/v1/ledgers"
    for_b = _headers(harness, "oem-a", signer, path, nonce="authority-nonce-0001", receiver="supplier-b")
    host_of_b = url_authority(harness.config.member("supplier-b").url)
    replayed = await harness.anonymous("supplier-a").get(path, headers={**for_b, "Host": host_of_b})
    assert replayed.status_code == 401, replayed.text
    assert replayed.headers["content-type"] == "application/problem+json"
    assert "does not verify" in replayed.json()["detail"]
    delivered = await harness.anonymous("supplier-b").get(path, headers=for_b)
    assert delivered.status_code == 200, delivered.text


async def test_request_signed_for_a_node_is_accepted_there_whatever_its_host_header(harness: Harness) -> None:
    signer = _node(harness, "oem-a").signer
    path = "/peer/v1/ledgers"
    for_a = _headers(harness, "oem-a", signer, path, nonce="authority-nonce-0002")
    response = await harness.anonymous("supplier-a").get(path, headers={**for_a, "Host": "elsewhere.example"})
    assert response.status_code == 200, response.text


async def test_erp_token_does_not_open_the_peer_api(harness: Harness) -> None:
    response = await harness.erp("supplier-a").get("/peer/v1/ledgers")
    assert response.status_code == 401


async def test_peer_client_reports_refusal_as_peer_error(harness: Harness) -> None:
    fill(harness, "supplier-a", CHANNEL, 1)
    with pytest.raises(PeerError) as caught:
        await harness.peer("pdu").get_json("supplier-a", f"/peer/v1/ledgers/{CHANNEL}/entries")
    assert caught.value.extensions["peer_status"] == 403


async def test_unreachable_peer_is_peer_unavailable(harness: Harness) -> None:
    peer = harness.peer("oem-a")
    harness.down("oem-b")
    with pytest.raises(PeerError, match="did not answer"):
        await peer.request("oem-b", "GET", "/health")
