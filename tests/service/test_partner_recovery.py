"""A partner that dies after signing a proposal and before the commit reaches it.

Its signature is on disk before it answers, so after a restart it holds exactly what it
signed, catches the committed entry up from the PDU, and would never sign a different
entry for that seq.
"""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import select

from supplymesh.cli.scenarios import DEMAND_A, PROFILE_A, PROFILE_B
from supplymesh.storage.tables import countersigned
from tests.harness import Harness

pytestmark = [pytest.mark.anyio, pytest.mark.db]

PROPOSALS = "/peer/v1/network/proposals"


class DiesAfterSigning(httpx.AsyncBaseTransport):
    """Passes one proposal through to the node, then the node is gone (as after kill -9)."""

    def __init__(self, harness: Harness, node_id: str, inner: httpx.AsyncBaseTransport) -> None:
        self.harness = harness
        self.node_id = node_id
        self.inner = inner
        self.signed = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path == PROPOSALS and response.status_code == 200:
            self.signed += 1
            self.harness.down(self.node_id)  # the process dies before it could do anything else
        return response


async def test_partner_killed_between_signing_and_commit_catches_up_with_what_it_signed(
    harness: Harness,
) -> None:
    for supplier, profile in (("supplier-a", PROFILE_A), ("supplier-b", PROFILE_B)):
        assert (await harness.erp(supplier).put("/v1/dms/profile", json=profile)).status_code == 200
    await harness.settle()
    victim = "oem-b"
    url = harness.config.member(victim).url
    harness.node(victim)
    dying = DiesAfterSigning(harness, victim, harness.mounts[url])
    harness.mounts[url] = dying

    created = await harness.erp("oem-a").post("/v1/demands", json=DEMAND_A)
    await harness.settle()
    assert dying.signed == 1, "the victim signed the split before it died"
    demand = (await harness.erp("oem-a").get(f"/v1/demands/{created.json()['id']}")).json()
    assert demand["status"] == "partially_allocated"
    decision_hash = demand["decision_id"]
    pdu_head = harness.node("pdu").store.head("network")
    victim_head = harness.node(victim).store.head("network")
    assert pdu_head is not None and victim_head is not None
    assert victim_head.size < pdu_head.size  # the commit never arrived

    # What the victim signed is on disk: the very entry that was committed.
    with harness.node(victim).engine.connect() as conn:
        recorded = conn.execute(
            select(countersigned.c.seq, countersigned.c.hash).where(countersigned.c.ledger == "network")
        ).all()
    committed = [e for e in harness.node("pdu").store.iter_entries("network") if e.hash == decision_hash]
    assert len(committed) == 1
    assert (committed[0].seq, decision_hash) in {(seq, h) for seq, h in recorded}
    signers = {sig["signer"] for sig in json.loads(committed[0].signatures)}
    assert victim in signers

    # Restart (a new process on the same database and key) and let it catch up.
    harness.mounts[url] = dying.inner
    await harness.restart(victim)
    harness.up(victim)
    await harness.settle()
    heads = {n: harness.node(n).store.head("network") for n in ("pdu", "oem-a", "oem-b", "supplier-a")}
    assert len(set(heads.values())) == 1, heads
    assert [(e.entry, e.signatures) for e in harness.node(victim).store.iter_entries("network")] == [
        (e.entry, e.signatures) for e in harness.node("pdu").store.iter_entries("network")
    ]
    report = (await harness.erp("auditor").post("/v1/audits", json={"mode": "full"})).json()
    assert report["ok"], report["findings"]
