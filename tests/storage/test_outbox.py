"""The outbox worker: tasks delivered once each, in order per lane, lanes side by side."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import Engine, select

from supplymesh.storage.engine import read_transaction, write_transaction
from supplymesh.storage.outbox import OutboxWorker, enqueue
from supplymesh.storage.tables import outbox

pytestmark = [pytest.mark.db, pytest.mark.anyio]


def queue(engine: Engine, *items: tuple[str, int]) -> None:
    with write_transaction(engine) as conn:
        for partner, seq in items:
            enqueue(
                conn,
                task="push",
                key=f"{partner}:{seq}",
                payload={"partner": partner, "seq": seq},
                now_text="t",
            )


def done(engine: Engine) -> list[tuple[str, int]]:
    with read_transaction(engine) as conn:
        return [
            (r.key, r.done) for r in conn.execute(select(outbox.c.key, outbox.c.done).order_by(outbox.c.id))
        ]


async def test_lanes_run_side_by_side_in_order_and_a_failure_stops_only_its_lane(engine: Engine) -> None:
    seen: list[tuple[str, int]] = []
    running: set[str] = set()
    overlapped: list[bool] = []

    async def push(payload: dict[str, Any]) -> None:
        partner, seq = payload["partner"], payload["seq"]
        running.add(partner)
        await asyncio.sleep(0.01)
        overlapped.append(len(running) > 1)
        running.discard(partner)
        if (partner, seq) == ("b", 2):
            raise ConnectionError("b is down")
        seen.append((partner, seq))

    queue(engine, ("a", 1), ("b", 1), ("a", 2), ("b", 2), ("a", 3), ("b", 3))
    worker = OutboxWorker(engine, {"push": push}, lanes={"push": lambda p: str(p["partner"])})
    assert await worker.run_once() == 4
    assert [s for p, s in seen if p == "a"] == [1, 2, 3]  # in order within a lane
    assert [s for p, s in seen if p == "b"] == [1]  # stopped at its failure; b:3 not tried
    assert any(overlapped)  # the lanes ran at the same time
    assert done(engine) == [("a:1", 1), ("b:1", 1), ("a:2", 1), ("b:2", 0), ("a:3", 1), ("b:3", 0)]


async def test_without_lanes_every_task_is_tried_one_after_another(engine: Engine) -> None:
    seen: list[int] = []

    async def push(payload: dict[str, Any]) -> None:
        if payload["seq"] == 2:
            raise ConnectionError("down")
        seen.append(payload["seq"])

    queue(engine, ("a", 1), ("a", 2), ("a", 3))
    assert await OutboxWorker(engine, {"push": push}).run_once() == 2
    assert seen == [1, 3]
    assert [d for _, d in done(engine)] == [1, 0, 1]
