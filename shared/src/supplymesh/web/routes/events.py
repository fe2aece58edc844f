"""``GET /v1/events``: the node's event feed as server-sent events, or a JSON page.

SSE (``Accept: text/event-stream``, the default): every event as ``id``/``event``/
``data`` lines; resume with ``?after=`` or the ``Last-Event-ID`` header; ``?timeout=``
seconds ends the stream (otherwise it runs until the client leaves, with a comment
line every 15 s to keep proxies from closing it). ``Accept: application/json`` returns
the events after the cursor as a paginated JSON array instead. ``?type=`` (repeatable)
keeps only events of those types; a type no node publishes is a 422 listing
:data:`EVENT_TYPES`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Collection
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from supplymesh.errors import Unprocessable
from supplymesh.node.context import Node
from supplymesh.storage.events import read_events
from supplymesh.web.deps import ErpReader, NodeDep
from supplymesh.web.pagination import DEFAULT_LIMIT, Limit, cursor_query, int32_cursor, page_response

POLL_SECONDS = 0.2
HEARTBEAT_SECONDS = 15.0

EVENT_TYPES = (
    "demand.created",
    "demand.submitted",
    "demand.decided",
    "demand.failed",
    "order.allocated",
    "escrow.opened",
    "escrow.funded",
    "escrow.released",
    "escrow.refunded",
    "escrow.cancelled",
    "offer.opened",
    "offer.accepted",
    "offer.withdrawn",
    "network.entry",
    "channel.entry",
)
"""Every event type a node publishes (each role publishes those that concern it)."""

TypeFilter = Annotated[
    list[str] | None,
    Query(
        alias="type",
        max_length=len(EVENT_TYPES),
        description="Only events of this type; repeat for several "
        "(`?type=escrow.funded&type=escrow.released`). "
        "Types: " + ", ".join(f"`{t}`" for t in EVENT_TYPES),
    ),
]


def event_types(requested: list[str] | None) -> frozenset[str]:
    """The types to keep (empty: all).

    Raises:
        Unprocessable: a type no node publishes (the answer lists the types).
    """
    wanted = frozenset(requested or ())
    unknown = sorted(wanted.difference(EVENT_TYPES))
    if unknown:
        raise Unprocessable(
            f"unknown event type {', '.join(unknown)}; types: {', '.join(EVENT_TYPES)}",
            types=list(EVENT_TYPES),
        )
    return wanted


async def _stream(
    node: Node, request: Request, after: int, timeout: float | None, types: Collection[str]
) -> AsyncIterator[bytes]:
    deadline = None if timeout is None else time.monotonic() + timeout
    last_beat = time.monotonic()
    cursor = after
    while True:
        batch = await run_in_threadpool(read_events, node.engine, after=cursor, limit=200, types=types)
        for event in batch:
            cursor = event.id
            data = json.dumps(event.as_json(), separators=(",", ":"))
            yield f"id: {event.id}\nevent: {event.type}\ndata: {data}\n\n".encode()
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            return
        if await request.is_disconnected():
            return
        if now - last_beat >= HEARTBEAT_SECONDS:
            last_beat = now
            yield b": keep-alive\n\n"
        if not batch:
            await asyncio.sleep(
                POLL_SECONDS if deadline is None else min(POLL_SECONDS, max(0.0, deadline - now))
            )


After = Annotated[int | None, cursor_query("Cursor: the `id` of the last event you have; events after it")]
Timeout = Annotated[float | None, Query(gt=0, le=3600, description="End the stream after this many seconds")]


def events_router() -> APIRouter:
    """The ``/v1/events`` route."""
    router = APIRouter(tags=["events"])

    @router.get(
        "/v1/events",
        summary="Event feed (server-sent events, or JSON with Accept: application/json)",
        response_class=StreamingResponse,
        response_model=None,
    )
    async def events(
        request: Request,
        node: NodeDep,
        _client: ErpReader,
        after: After = None,
        timeout: Timeout = None,
        limit: Limit = DEFAULT_LIMIT,
        type_: TypeFilter = None,
        last_event_id: Annotated[str | None, Header(pattern=r"^\d{1,18}$")] = None,
    ) -> StreamingResponse | JSONResponse:
        cursor = int32_cursor(after if after is not None else int(last_event_id or 0))
        types = event_types(type_)
        accept = request.headers.get("accept", "")
        if "application/json" in accept and "text/event-stream" not in accept:
            items = await run_in_threadpool(
                read_events, node.engine, after=cursor, limit=limit + 1, types=types
            )
            return page_response(
                request, items, limit=limit, cursor=lambda e: e.id, render=lambda e: e.as_json()
            )
        return StreamingResponse(
            _stream(node, request, cursor, timeout, types),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return router
