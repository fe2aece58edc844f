"""Durable outbox: work that needs a peer, delivered by a background worker with retries.

A task is recorded in the same transaction as the state change that causes it.

Each task has a ``task`` name and a ``key`` unique per task name, so enqueuing the same
work twice is a no-op. Handlers must be idempotent at the receiver: a crash between a
successful delivery and marking the task done means it is delivered again.
Retry delays grow exponentially from 0.5 s to 30 s. While the node's database is
unavailable (:class:`~supplymesh.errors.DatabaseUnavailable`) the worker keeps polling
and delivers again by itself once it is back; the fault is logged once, not per pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite

from supplymesh.errors import DatabaseUnavailable, PeerUnavailable
from supplymesh.storage.engine import is_sqlite, read_transaction, write_transaction
from supplymesh.storage.tables import outbox

log = logging.getLogger("supplymesh.outbox")
Handler = Callable[[dict[str, Any]], Awaitable[None]]
Lane = Callable[[dict[str, Any]], str]
MAX_DELAY = 30.0


def enqueue(conn: Connection, *, task: str, key: str, payload: Mapping[str, Any], now_text: str) -> None:
    """Record a task inside the caller's transaction (no-op if ``(task, key)`` exists)."""
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    conn.execute(
        dialect.insert(outbox)
        .values(
            task=task,
            key=key,
            payload=json.dumps(payload),
            created=now_text,
            attempts=0,
            next_attempt=0,
            done=0,
        )
        .on_conflict_do_nothing(index_elements=["task", "key"])
    )


class OutboxWorker:
    """Delivers due tasks with the registered handlers."""

    def __init__(
        self,
        engine: Engine,
        handlers: Mapping[str, Handler],
        *,
        poll: float = 0.5,
        lanes: Mapping[str, Lane] | None = None,
    ) -> None:
        self.engine = engine
        self.handlers = dict(handlers)
        self.lanes = dict(lanes or {})
        """Per task name, the lane of a task's payload: lanes are delivered concurrently,
        each in order; tasks without a lane one after another, first."""
        self.poll = poll
        self.wakeup = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sqlite = is_sqlite(engine)

    def wake(self) -> None:
        """Look for due tasks now; safe to call from any thread (e.g. a threadpool route)."""
        loop = self._loop
        if loop is None:
            self.wakeup.set()
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self.wakeup.set()
        else:
            loop.call_soon_threadsafe(self.wakeup.set)

    def due(self, limit: int = 50) -> list[Any]:
        """Tasks whose next attempt is due."""
        with read_transaction(self.engine) as conn:
            return list(
                conn.execute(
                    select(outbox)
                    .where(outbox.c.done == 0, outbox.c.next_attempt <= int(time.time() * 1000))
                    .order_by(outbox.c.id)
                    .limit(limit)
                ).all()
            )

    def pending(self) -> int:
        """Number of undelivered tasks."""
        with read_transaction(self.engine) as conn:
            return len(conn.execute(select(outbox.c.id).where(outbox.c.done == 0)).all())

    async def run_once(self) -> int:
        """Attempt every due task once (a lane stops at its first failure); return how many succeeded."""
        lanes: dict[str, list[Any]] = {}
        for row in self.due():
            lane_of = self.lanes.get(row.task)
            lanes.setdefault(lane_of(json.loads(row.payload)) if lane_of else "", []).append(row)
        delivered = 0
        for row in lanes.pop("", []):
            if await self._deliver(row):
                self._done([row.id])
                delivered += 1
        if lanes:
            done = await asyncio.gather(*(self._lane(rows) for rows in lanes.values()))
            ids = [task_id for lane in done for task_id in lane]
            self._done(ids)  # one transaction for every lane
            delivered += len(ids)
        return delivered

    async def _lane(self, rows: list[Any]) -> list[int]:
        """Deliver one lane's tasks in order until one fails; the ids delivered."""
        delivered = []
        for row in rows:
            if not await self._deliver(row):
                break
            delivered.append(row.id)
        return delivered

    async def _deliver(self, row: Any) -> bool:
        """Run one task's handler; on failure schedule its retry with the reason."""
        handler = self.handlers.get(row.task)
        try:
            if handler is None:
                raise LookupError(f"no handler for outbox task {row.task!r}")
            await handler(json.loads(row.payload))
        except Exception as exc:  # any failure is retried later; the reason is kept
            self._retry(row.id, row.attempts + 1, f"{type(exc).__name__}: {exc}")
            level = logging.DEBUG if isinstance(exc, PeerUnavailable) else logging.INFO  # warned once
            log.log(level, "outbox %s %s failed (attempt %d): %s", row.task, row.key, row.attempts + 1, exc)
            return False
        return True

    def _retry(self, task_id: int, attempts: int, error: str) -> None:
        delay = min(MAX_DELAY, 0.5 * 2 ** min(attempts - 1, 10))
        with write_transaction(self.engine) as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == task_id)
                .values(
                    attempts=attempts, next_attempt=int((time.time() + delay) * 1000), last_error=error[:2000]
                )
            )

    def _done(self, task_ids: list[int]) -> None:
        if not task_ids:
            return
        with write_transaction(self.engine) as conn:
            conn.execute(update(outbox).where(outbox.c.id.in_(task_ids)).values(done=1))

    async def run_forever(self) -> None:
        """Loop until cancelled."""
        self._loop = asyncio.get_running_loop()
        while True:
            try:
                await self.run_once()
            except DatabaseUnavailable as exc:  # warned once by the database status; retried next pass
                log.debug("outbox pass failed: %s", exc)
            except Exception:  # the loop must survive any other fault too
                log.exception("outbox pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout=self.poll)
            self.wakeup.clear()
