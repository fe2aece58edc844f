"""A PDU that dies after collecting a quorum but before committing finishes the same
decision on restart: nothing lost, nothing committed twice or with other contents."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from supplymesh.cli.scenarios import DEMAND_A, PROFILE_A, PROFILE_B
from supplymesh.core.entry import SealedEntry
from supplymesh.storage import entry_records
from tests.harness import Harness

pytestmark = [pytest.mark.anyio, pytest.mark.db]


class Crash(Exception):
    pass


async def test_pdu_crash_after_quorum_before_commit_recovers_the_same_decision(harness: Harness) -> None:
    for supplier, profile in (("supplier-a", PROFILE_A), ("supplier-b", PROFILE_B)):
        assert (await harness.erp(supplier).put("/v1/dms/profile", json=profile)).status_code == 200
    created = await harness.erp("oem-a").post("/v1/demands", json=DEMAND_A)
    await harness.drain()
    sequencer = harness.app("pdu").state.sequencer
    size_before = harness.node("pdu").store.head("network")

    def crash(_block: Sequence[SealedEntry], **_kw: object) -> None:
        raise Crash("power cut between the quorum and the commit")

    sequencer._commit = crash
    [demand] = sequencer.replica.state.undecided_demands()
    with pytest.raises(Crash):  # the process dies here: nothing after this line runs in it
        await sequencer.decide_split(demand.hash)
    [(kept, _)] = entry_records.load_pending_block(harness.node("pdu").engine, "network")
    signed_hash = kept.hash  # the proposal is on disk before partners are asked
    assert harness.node("pdu").store.head("network") == size_before  # nothing committed

    await harness.restart("pdu")  # start-up resumes the pending proposal
    await harness.settle()
    demand = (await harness.erp("oem-a").get(f"/v1/demands/{created.json()['id']}")).json()
    assert demand["status"] == "partially_allocated"
    assert demand["decision_id"] == signed_hash  # the very entry the partners signed
    splits = (await harness.erp("pdu").get("/v1/decisions", params={"kind": "decision.split"})).json()
    assert [d["id"] for d in splits] == [signed_hash]
    assert len(splits[0]["certificate"]) >= 3
    roots = {
        (await harness.erp(n).get("/v1/ledgers/network/head")).json()["root_hash"]
        for n in ("pdu", "oem-a", "oem-b", "supplier-a", "supplier-b")
    }
    assert len(roots) == 1
    assert entry_records.load_pending_block(harness.node("pdu").engine, "network") == []
