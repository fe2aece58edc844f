"""One node's HTTP surface: health, docs, ERP auth, ledger reads, proofs, problems."""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime

import pytest

from supplymesh.config import NETWORK_LEDGER
from supplymesh.core import merkle
from supplymesh.core.entry import Entry, SealedEntry, format_time, next_entry, parse_signatures, sign_entry
from supplymesh.core.treehead import SignedTreeHead, verify_tree_head
from supplymesh.node.context import Node
from supplymesh.storage.ledger_store import Head
from tests.harness import Harness

pytestmark = [pytest.mark.anyio, pytest.mark.db]
ROLES = {"oem-a": "oem", "supplier-a": "supplier", "pdu": "pdu", "auditor": "auditor"}


def node_of(harness: Harness, node_id: str) -> Node:
    node: Node = harness.app(node_id).state.node
    return node


def fill(harness: Harness, node_id: str, ledger: str, count: int) -> None:
    node = node_of(harness, node_id)

    def build(head: Head, n: int) -> SealedEntry:
        entry = next_entry(
            ledger=ledger,
            head=(head.size, head.head_hash),
            time=format_time(datetime.now(UTC)),
            kind="test.item",
            author=node.id,
            body={"n": n},
        )
        return SealedEntry(entry, (sign_entry(entry, signer_id=node.id, signer=node.signer),))

    for n in range(count):
        node.store.append(ledger, functools.partial(build, n=n))


@pytest.mark.parametrize(("node_id", "role"), ROLES.items())
async def test_every_role_serves_health_docs_and_openapi_without_token(
    harness: Harness, node_id: str, role: str
) -> None:
    client = harness.anonymous(node_id)
    health = await client.get("/health")
    assert {k: health.json()[k] for k in ("status", "node", "role")} == {
        "status": "ok",
        "node": node_id,
        "role": role,
    }
    assert (await client.get("/docs")).status_code == 200
    spec = (await client.get("/openapi.json")).json()
    assert "/v1/ledgers/{ledger}/entries" in spec["paths"]


async def test_missing_or_unknown_token_is_401_with_www_authenticate(harness: Harness) -> None:
    anonymous = await harness.anonymous("pdu").get("/v1/ledgers")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert anonymous.headers["content-type"] == "application/problem+json"
    wrong = await harness.erp("pdu", token="smk_not-a-token").get("/v1/ledgers")
    assert wrong.status_code == 401
    other_nodes_token = await harness.erp("pdu", token=harness.token("oem-a")).get("/v1/ledgers")
    assert other_nodes_token.status_code == 401


async def test_pdu_starts_network_ledger_with_signed_genesis(harness: Harness) -> None:
    entries = (await harness.erp("pdu").get("/v1/ledgers/network/entries")).json()
    assert len(entries) == 1
    genesis = entries[0]
    assert genesis["entry"]["kind"] == "network.genesis" and genesis["entry"]["seq"] == 1
    assert genesis["signatures"][0]["signer"] == "pdu"


async def test_entries_are_paginated_with_link_header(harness: Harness) -> None:
    fill(harness, "pdu", NETWORK_LEDGER, 6)  # 7 with genesis
    client = harness.erp("pdu")
    first = await client.get("/v1/ledgers/network/entries", params={"limit": 3})
    assert [e["entry"]["seq"] for e in first.json()] == [1, 2, 3]
    link = first.headers["link"]
    assert link.endswith('rel="next"') and "after=3" in link
    url = link[1 : link.index(">")]
    second = await client.get(url)
    assert [e["entry"]["seq"] for e in second.json()] == [4, 5, 6]
    last = await client.get("/v1/ledgers/network/entries", params={"after": 6, "limit": 3})
    assert [e["entry"]["seq"] for e in last.json()] == [7]
    assert "link" not in last.headers


async def test_read_past_end_and_unknown_ledger_are_problems(harness: Harness) -> None:
    client = harness.erp("pdu")
    past = await client.get("/v1/ledgers/network/entries", params={"after": 99})
    assert past.status_code == 400 and past.headers["content-type"] == "application/problem+json"
    assert "past the end" in past.json()["detail"]
    at_end = await client.get("/v1/ledgers/network/entries", params={"after": 1})
    assert at_end.status_code == 200 and at_end.json() == []
    unknown = await client.get("/v1/ledgers/channel:oem-a:supplier-a/head")
    assert unknown.status_code == 404
    bad_name = await client.get("/v1/ledgers/NOT%20A%20NAME/head")
    assert bad_name.status_code == 422
    bad_limit = await client.get("/v1/ledgers/network/entries", params={"limit": "lots"})
    assert bad_limit.status_code == 422 and bad_limit.json()["errors"]


async def test_head_carries_tree_head_signed_by_the_node(harness: Harness) -> None:
    fill(harness, "pdu", NETWORK_LEDGER, 4)
    head = (await harness.erp("pdu").get("/v1/ledgers/network/head")).json()
    assert head["size"] == 5
    sth = SignedTreeHead.from_json(head["tree_head"])
    verify_tree_head(sth, harness.config.member("pdu").key)
    assert sth.head.root_hash == head["root_hash"] and sth.head.tree_size == 5


async def test_inclusion_and_consistency_proofs_verify_against_served_roots(harness: Harness) -> None:
    fill(harness, "pdu", NETWORK_LEDGER, 10)  # 11 entries
    client = harness.erp("pdu")
    for seq in (1, 6, 11):
        proof = (
            await client.get("/v1/ledgers/network/proofs/inclusion", params={"seq": seq, "size": 11})
        ).json()
        merkle.verify_inclusion(
            leaf_hash=bytes.fromhex(proof["leaf_hash"]),
            index=seq - 1,
            size=11,
            proof=[bytes.fromhex(p) for p in proof["audit_path"]],
            root=bytes.fromhex(proof["root_hash"]),
        )
    entry = (await client.get("/v1/ledgers/network/entries", params={"after": 5, "limit": 1})).json()[0]
    sealed = SealedEntry(Entry.from_json(entry["entry"]), parse_signatures(entry["signatures"]))
    proof = (await client.get("/v1/ledgers/network/proofs/inclusion", params={"seq": 6})).json()
    assert sealed.leaf_hash.hex() == proof["leaf_hash"]
    consistency = (
        await client.get("/v1/ledgers/network/proofs/consistency", params={"first": 4, "second": 11})
    ).json()
    merkle.verify_consistency(
        first=4,
        second=11,
        first_root=bytes.fromhex(consistency["first_root"]),
        second_root=bytes.fromhex(consistency["second_root"]),
        proof=[bytes.fromhex(p) for p in consistency["proof"]],
    )
    head = (await client.get("/v1/ledgers/network/head")).json()
    assert head["root_hash"] == consistency["second_root"]
    bad = await client.get("/v1/ledgers/network/proofs/inclusion", params={"seq": 12})
    assert bad.status_code == 400
    bad = await client.get("/v1/ledgers/network/proofs/consistency", params={"first": 5, "second": 4})
    assert bad.status_code == 400


async def test_oversized_body_is_refused_with_413(harness: Harness) -> None:
    client = harness.erp("pdu")
    limit = node_of(harness, "pdu").settings.max_body_bytes
    response = await client.post("/v1/ledgers", content=b"x" * (limit + 1))
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert (await client.get("/health")).status_code == 200


async def test_unknown_route_and_wrong_method_are_problems(harness: Harness) -> None:
    client = harness.erp("pdu")
    missing = await client.get("/v1/nothing-here")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    wrong = await client.delete("/v1/ledgers")
    assert wrong.status_code == 405 and json.loads(wrong.content)["status"] == 405
