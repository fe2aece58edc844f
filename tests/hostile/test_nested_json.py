"""Deeply nested JSON bodies: refused as malformed (4xx), never a crash, nothing stored.

Python's JSON parser gives up on nesting deeper than its recursion limit with a
``RecursionError``, which is not a ``ValueError``: where a node parsed a body outside
FastAPI (the Idempotency-Key fingerprint), that was a 500. Every body-taking ERP route,
with and without an Idempotency-Key, and the peer write routes get 100 000 levels of
arrays and of objects.
"""

from __future__ import annotations

import httpx
import pytest

from supplymesh.node.peers import PeerSignatureAuth
from tests.flows import order_for
from tests.harness import Harness
from tests.hostile.fuzz_net import changed_tables, fingerprint

pytestmark = [pytest.mark.anyio, pytest.mark.db]
DEPTH = 100_000
NESTED = {
    "arrays": b"[" * DEPTH + b"]" * DEPTH,
    "objects": b'{"a":' * DEPTH + b"1" + b"}" * DEPTH,
}
ERP_ROUTES = [
    ("oem-a", "/v1/demands"),
    ("oem-a", "/v1/escrows/{escrow}/deposit"),
    ("oem-a", "/v1/channels/channel:oem-a:supplier-a/entries"),
    ("supplier-a", "/v1/dms/readings"),
    ("supplier-a", "/v1/dms/sensors"),
    ("supplier-a", "/v1/orders/{escrow}/production-complete"),
    ("auditor", "/v1/audits"),
]
PEER_ROUTES = [
    ("pdu", "/peer/v1/actions", "oem-a"),
    ("supplier-a", "/peer/v1/network/proposals", "pdu"),
    ("supplier-a", "/peer/v1/network/blocks", "pdu"),
    ("supplier-a", "/peer/v1/capacity/attestations", "pdu"),
    ("oem-a", "/peer/v1/channels/channel:oem-a:supplier-a/entries", "supplier-a"),
    ("supplier-a", "/peer/v1/channels/channel:oem-a:supplier-a/proposals", "oem-a"),
]


def _client(harness: Harness, node_id: str, auth: httpx.Auth | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=harness.app(node_id), raise_app_exceptions=False),
        base_url=harness.config.member(node_id).url,
        auth=auth,
    )


async def test_deeply_nested_erp_bodies_are_refused_without_a_crash_or_a_write(harness: Harness) -> None:
    escrow = await order_for(harness)
    for node_id, template in ERP_ROUTES:
        path = template.format(escrow=escrow)
        before = fingerprint(harness.node(node_id).engine)
        async with _client(harness, node_id) as client:
            for shape, body in NESTED.items():
                for key in (None, f"nested-{shape}"):
                    headers = {"Authorization": f"Bearer {harness.token(node_id)}"}
                    headers["Content-Type"] = "application/json"
                    if key is not None:
                        headers["Idempotency-Key"] = key
                    answer = await client.post(path, content=body, headers=headers)
                    assert 400 <= answer.status_code < 500, (path, shape, key, answer.text[:300])
                    assert answer.headers["content-type"] == "application/problem+json"
        assert changed_tables(before, fingerprint(harness.node(node_id).engine)) == [], path


async def test_deeply_nested_signed_peer_bodies_are_refused_without_a_crash_or_a_write(
    harness: Harness,
) -> None:
    harness.start_all()
    for node_id, path, signer in PEER_ROUTES:
        before = fingerprint(harness.node(node_id).engine)
        auth = PeerSignatureAuth(signer, harness.node(signer).signer)
        async with _client(harness, node_id, auth) as client:
            for shape, body in NESTED.items():
                answer = await client.post(path, content=body, headers={"Content-Type": "application/json"})
                assert 400 <= answer.status_code < 500, (path, shape, answer.text[:300])
        assert changed_tables(before, fingerprint(harness.node(node_id).engine)) == [], path
