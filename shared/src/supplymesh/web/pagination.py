"""Cursor pagination for lists: ``?limit=&after=`` and an RFC 8288 ``Link: rel="next"``.

A handler fetches ``limit + 1`` items; if the extra one exists there is a next page,
whose cursor is the key of the last item returned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

T = TypeVar("T")
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")]


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
