"""Cursor pagination for lists: ``?limit=&after=`` and an RFC 8288 ``Link: rel="next"``.

A handler fetches ``limit + 1`` items; if the extra one exists there is a next page,
whose cursor is the key of the last item returned: the ``id`` or ``seq`` the items
show, so an ERP can also resume from the last item it stored. An integer cursor (and
every other integer query parameter: sizes, seqs) is bounded to what the databases
store, ``0 ≤ n ≤ 2**63 - 1`` (:data:`MAX_INT`); a larger one is a 422 problem, never a
500. A list kept in an order its ids do not sort by (demands, in creation order) takes
the id of its last item and finds its position (:func:`position_after`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar, cast

import orjson
from fastapi import Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response

from supplymesh.errors import Unprocessable

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


IdCursor = Annotated[
    str,
    Query(
        max_length=64,
        pattern=r"^[A-Za-z0-9._:-]*$",
        description="Cursor: the `id` of the last item you have (as in the `next` link); empty for the start",
    ),
]
"""``?after=`` of a list whose cursor is an item id."""


def position_after(after: str, position_of: Callable[[str], int | None]) -> int:
    """The position a page starts after, from the ``id`` of the last item a reader has.

    ``""`` is the start. A decimal position of at most 19 digits (an earlier form of the
    ``next`` link) is still accepted, bounded like every integer cursor.

    Raises:
        Unprocessable: an id of no item of this list, or a position past :data:`MAX_INT`.
    """
    if not after:
        return 0
    if after.isdigit() and len(after) <= 19 and int(after) <= MAX_INT:
        return int(after)
    position = position_of(after)
    if position is None:
        raise Unprocessable(f"after: {after!r} is not the id of an item of this list")
    return position


def _page(
    request: Request, items: Sequence[T], limit: int, cursor: Callable[[T], str | int]
) -> tuple[list[T], dict[str, str]]:
    """The first ``limit`` items, and a ``Link`` header to the next page if there are more."""
    page = list(items[:limit])
    headers = {}
    if len(items) > limit and page:
        next_url = request.url.include_query_params(after=str(cursor(page[-1])), limit=limit)
        headers["Link"] = f'<{next_url}>; rel="next"'
    return page, headers


def page_response(
    request: Request,
    items: Sequence[T],
    *,
    limit: int,
    cursor: Callable[[T], str | int],
    render: Callable[[T], Any],
) -> JSONResponse:
    """A JSON array of at most ``limit`` items, with a next link if ``items`` has more."""
    page, headers = _page(request, items, limit, cursor)
    return JSONResponse(jsonable_encoder([render(item) for item in page]), headers=headers)


def json_page_response(
    request: Request,
    items: Sequence[T],
    *,
    limit: int,
    cursor: Callable[[T], str | int],
    render: Callable[[T], Any],
) -> Response:
    """:func:`page_response` for items ``render`` makes plain JSON values, serialized at once.

    Dicts, lists, strings and numbers need no walk by FastAPI's encoder. The ledgers'
    entry pages use it: an auditor pulls every entry of every copy, and the
    encoder's walk was most of what a holder spent serving one.
    """
    page, headers = _page(request, items, limit, cursor)
    rendered = [render(item) for item in page]
    try:
        body = orjson.dumps(rendered)
    except TypeError:  # e.g. an integer beyond 64 bits in a (tampered) stored entry
        return JSONResponse(jsonable_encoder(rendered), headers=headers)
    return Response(body, media_type="application/json", headers=headers)
