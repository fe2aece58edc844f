"""A replica's in-memory state never keeps half of a change its database rolled back."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection

from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.contracts.network import NetworkState
from supplymesh.core.entry import SealedEntry
from tests.harness import Harness
from tests.insider import PARTNERS, heads, replica
from tests.service.test_oem_api import NORMALISED

pytestmark = [pytest.mark.anyio, pytest.mark.db]


class DiskFull(Exception):
    pass


async def test_a_failed_append_leaves_the_folded_state_as_the_database_holds_it(harness: Harness) -> None:
    harness.start_all()
    held = replica(harness, "oem-b")
    failures: list[int] = []

    def refuse_once(_conn: Connection, sealed: SealedEntry, _state: NetworkState) -> None:
        if not failures:
            failures.append(sealed.entry.seq)
            raise DiskFull("the transaction fails after the fold")

    held.hooks.append(refuse_once)
    created = await harness.erp("oem-a").post("/v1/demands", json=NORMALISED)
    assert created.status_code == 202, created.text
    for _ in range(3):  # pushes to oem-b fail once, then the outbox delivers them
        await harness.drain()
    assert failures, "the hook refused one append"
    stored = harness.node("oem-b").store.head(NETWORK_LEDGER)
    assert stored is not None
    assert (held.state.size, held.state.head) == (stored.size, stored.head_hash)
    assert len(heads(harness)) == 1
    pdu_demands = replica(harness, "pdu").state.demands
    for partner in PARTNERS:
        assert set(replica(harness, partner).state.demands) == set(pdu_demands), partner


async def test_the_state_after_a_rollback_is_the_state_before_it(harness: Harness) -> None:
    harness.start_all()
    held = replica(harness, "oem-b")
    await harness.drain()
    before = (held.state.size, held.state.head, dict(held.state.demands))

    def refuse(_conn: Connection, _sealed: SealedEntry, state: NetworkState) -> None:
        assert state.size == before[0] + 1  # the fold ran on the in-memory state
        raise DiskFull("rolled back")

    held.hooks.append(refuse)
    created = await harness.erp("oem-a").post("/v1/demands", json=NORMALISED)
    assert created.status_code == 202, created.text
    await harness.drain(rounds=2)
    assert (held.state.size, held.state.head, dict(held.state.demands)) == before
    held.hooks.remove(refuse)
    await harness.drain()
    assert len(heads(harness)) == 1
