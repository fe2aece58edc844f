"""The scheduled audits: incremental on an interval, with a periodic full one."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from supplymesh_auditor.audits import Auditor

log = logging.getLogger("supplymesh.auditor")


async def run_forever(
    auditor: Auditor, interval: float, full_every: int = 0, stop: asyncio.Event | None = None
) -> None:
    """Background: audit on a schedule, incrementally; every ``full_every``-th audit is full.

    With ``stop``, it returns once the event is set and no audit is running (an audit in
    progress finishes first, so none is cut off with a database connection in use).
    """
    count = 0
    stopping = stop or asyncio.Event()
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=interval)
        if stopping.is_set():
            return
        count += 1
        mode = "full" if full_every > 0 and count % full_every == 0 else "incremental"
        try:
            await auditor.run(mode)
        except Exception:  # the next scheduled audit tries again; the reason is logged
            log.exception("scheduled %s audit failed", mode)
