"""Cursor pagination for lists: ``?limit=&after=`` and an RFC 8288 ``Link: rel="next"``.

A handler fetches ``limit + 1`` items; if the extra one exists there is a next page,
whose cursor is the key of the last item returned. An integer cursor (and every other
integer query parameter: sizes, seqs) is bounded to what the databases store,
``0 ≤ n ≤ 2**63 - 1`` (:data:`MAX_INT`); a larger one is a 422 problem, never a 500.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar, cast

from fastapi import Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

T = TypeVar("T")
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100

MAX_INT = 2**63 - 1
"""The largest integer a query parameter may carry (a signed 64-bit database integer)."""

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")]


MAX_INT32 = 2**31 - 1
"""The largest value of an ``Integer`` column (32 bits on PostgreSQL)."""


def cursor_query(description: str, *, ge: int = 0) -> Any:
    """``Query`` of an integer cursor (or size, seq): ``ge ≤ n ≤ MAX_INT``."""
    return cast(Any, Query(ge=ge, le=MAX_INT, description=description))


def int32_cursor(after: int) -> int:
    """A cursor over a 32-bit ``Integer`` column: one past all its values means the same.

    No row holds a key above :data:`MAX_INT32`, so "after ``n``" for a larger ``n`` is
    "after ``MAX_INT32``" (an empty page); the database is never asked to compare with
    a value its column type cannot hold.
    """
    return min(after, MAX_INT32)


def page_response(
    request: Request,
    items: Sequence[T],
    *,
    limit: int,
    cursor: Callable[[T], str | int],
    render: Callable[[T], Any],
) -> JSONResponse:
    """A JSON array of at most ``limit`` items, with a next link if ``items`` has more."""
    page = list(items[:limit])
    headers = {}
    if len(items) > limit and page:
        next_url = request.url.include_query_params(after=str(cursor(page[-1])), limit=limit)
        headers["Link"] = f'<{next_url}>; rel="next"'
    return JSONResponse(jsonable_encoder([render(item) for item in page]), headers=headers)
