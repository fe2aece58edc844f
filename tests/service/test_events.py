"""A node's event feed ``GET /v1/events``: JSON pages and server-sent events."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from supplymesh.web.routes.events import EVENT_TYPES
from tests.harness import Harness
from tests.service.test_oem_api import create_demand, demand

pytestmark = [pytest.mark.anyio, pytest.mark.db]

JSON = {"Accept": "application/json"}


def parse_sse(text: str) -> list[dict[str, Any]]:
    """Events of an SSE body: each with its ``id``, ``event`` and decoded ``data``; comments dropped."""
    events: list[dict[str, Any]] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, Any] = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        if fields:
            assert set(fields) == {"id", "event", "data"}, block
            fields["data"] = json.loads(fields["data"])
            events.append(fields)
    return events


async def two_demands(harness: Harness) -> list[str]:
    client = harness.erp("oem-a")
    return [await create_demand(client), await create_demand(client, demand(quantity=500))]


async def test_json_feed_lists_demand_events_with_increasing_ids(harness: Harness) -> None:
    ids = await two_demands(harness)
    response = await harness.erp("oem-a").get("/v1/events", headers=JSON)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    events = response.json()
    assert isinstance(events, list)
    created = [e for e in events if e["type"] == "demand.created"]
    assert [e["subject"] for e in created] == ids
    assert [e["data"] for e in created] == [{"id": i, "status": "pending"} for i in ids]
    event_ids = [e["id"] for e in events]
    assert all(isinstance(i, int) for i in event_ids)
    assert event_ids == sorted(event_ids) and len(set(event_ids)) == len(event_ids)
    assert all(set(e) == {"id", "type", "subject", "data", "created"} for e in events)


async def test_json_feed_after_cursor_returns_only_later_events(harness: Harness) -> None:
    ids = await two_demands(harness)
    client = harness.erp("oem-a")
    events = (await client.get("/v1/events", headers=JSON)).json()
    first = next(e for e in events if e["subject"] == ids[0])
    later = (await client.get("/v1/events", params={"after": first["id"]}, headers=JSON)).json()
    assert later and all(e["id"] > first["id"] for e in later)
    assert ids[1] in [e["subject"] for e in later] and ids[0] not in [e["subject"] for e in later]
    last = events[-1]["id"]
    assert (await client.get("/v1/events", params={"after": last}, headers=JSON)).json() == []


async def test_json_feed_is_paginated_with_link_header(harness: Harness) -> None:
    await two_demands(harness)
    client = harness.erp("oem-a")
    everything = (await client.get("/v1/events", headers=JSON)).json()
    assert len(everything) >= 2
    seen: list[int] = []
    url = "/v1/events?limit=1"
    for _ in range(len(everything) + 2):
        page = await client.get(url, headers=JSON)
        assert page.status_code == 200
        items = page.json()
        assert len(items) <= 1
        seen += [e["id"] for e in items]
        if "link" not in page.headers:
            break
        link = page.headers["link"]
        assert link.endswith('rel="next"') and f"after={items[-1]['id']}" in link
        url = link[1 : link.index(">")]
    assert seen == [e["id"] for e in everything]


async def test_submission_to_the_pdu_is_an_event_too(harness: Harness) -> None:
    demand_id = await create_demand(harness.erp("oem-a"))
    await harness.drain()
    events = (await harness.erp("oem-a").get("/v1/events", headers=JSON)).json()
    types = [e["type"] for e in events if e["subject"] == demand_id]
    assert types[:2] == ["demand.created", "demand.submitted"]
    submitted = next(e for e in events if e["type"] == "demand.submitted")
    assert submitted["data"]["id"] == demand_id and isinstance(submitted["data"]["network_seq"], int)


async def test_sse_stream_carries_the_events_and_ends_after_timeout(harness: Harness) -> None:
    ids = await two_demands(harness)
    client = harness.erp("oem-a")
    expected = (await client.get("/v1/events", headers=JSON)).json()
    started = time.monotonic()
    response = await client.get("/v1/events", params={"timeout": 0.5})
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert elapsed < 10
    events = parse_sse(response.text)
    assert [int(e["id"]) for e in events] == [e["id"] for e in expected]
    assert [e["event"] for e in events] == [e["type"] for e in expected]
    assert [e["data"] for e in events] == expected
    assert [e["data"]["subject"] for e in events if e["event"] == "demand.created"] == ids


async def test_sse_with_explicit_event_stream_accept(harness: Harness) -> None:
    await two_demands(harness)
    response = await harness.erp("oem-a").get(
        "/v1/events", params={"timeout": 0.5}, headers={"Accept": "text/event-stream"}
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    assert len([e for e in parse_sse(response.text) if e["event"] == "demand.created"]) == 2


async def test_sse_resumes_after_cursor(harness: Harness) -> None:
    await two_demands(harness)
    client = harness.erp("oem-a")
    expected = (await client.get("/v1/events", headers=JSON)).json()
    first = expected[0]["id"]
    response = await client.get("/v1/events", params={"timeout": 0.5, "after": first})
    assert [int(e["id"]) for e in parse_sse(response.text)] == [e["id"] for e in expected[1:]]


async def test_sse_resumes_from_last_event_id_header(harness: Harness) -> None:
    await two_demands(harness)
    client = harness.erp("oem-a")
    expected = (await client.get("/v1/events", headers=JSON)).json()
    first = expected[0]["id"]
    response = await client.get("/v1/events", params={"timeout": 0.5}, headers={"Last-Event-ID": str(first)})
    assert response.status_code == 200
    assert [int(e["id"]) for e in parse_sse(response.text)] == [e["id"] for e in expected[1:]]
    last = expected[-1]["id"]
    empty = await client.get("/v1/events", params={"timeout": 0.3}, headers={"Last-Event-ID": str(last)})
    assert parse_sse(empty.text) == []


async def test_sse_stream_picks_up_events_from_a_later_start(harness: Harness) -> None:
    client = harness.erp("oem-a")
    first = await create_demand(client)
    events = parse_sse((await client.get("/v1/events", params={"timeout": 0.3})).text)
    cursor = events[-1]["id"]
    second = await create_demand(client)
    resumed = parse_sse((await client.get("/v1/events", params={"timeout": 0.3, "after": cursor})).text)
    subjects = [e["data"]["subject"] for e in resumed]
    assert second in subjects and first not in subjects


async def test_events_without_token_are_401(harness: Harness) -> None:
    client = harness.anonymous("oem-a")
    for headers in ({}, JSON):
        response = await client.get("/v1/events", params={"timeout": 0.2}, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "params",
    [{"timeout": 0}, {"timeout": 5000}, {"timeout": -1}, {"timeout": "soon"}, {"after": -1}, {"limit": 0}],
    ids=["timeout-0", "timeout-5000", "timeout-negative", "timeout-text", "after-negative", "limit-0"],
)
async def test_bad_feed_parameters_are_422(harness: Harness, params: dict[str, Any]) -> None:
    response = await harness.erp("oem-a").get("/v1/events", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_bad_last_event_id_is_422(harness: Harness) -> None:
    response = await harness.erp("oem-a").get(
        "/v1/events", params={"timeout": 0.2}, headers={"Last-Event-ID": "yesterday"}
    )
    assert response.status_code == 422


async def test_feeds_are_per_node(harness: Harness) -> None:
    demand_id = await create_demand(harness.erp("oem-a"))
    others = (await harness.erp("oem-b").get("/v1/events", headers=JSON)).json()
    assert demand_id not in [e["subject"] for e in others]


# --- filtering by type ---------------------------------------------------------------------------


async def test_json_feed_keeps_only_the_requested_types(harness: Harness) -> None:
    await two_demands(harness)
    await harness.drain()
    client = harness.erp("oem-a")
    every = (await client.get("/v1/events", headers=JSON)).json()
    assert {"demand.created", "demand.submitted"} <= {e["type"] for e in every}
    created = (await client.get("/v1/events", params={"type": "demand.created"}, headers=JSON)).json()
    assert created == [e for e in every if e["type"] == "demand.created"] and len(created) == 2
    both = await client.get(
        "/v1/events", params={"type": ["demand.created", "demand.submitted"]}, headers=JSON
    )
    wanted = {"demand.created", "demand.submitted"}
    assert both.json() == [e for e in every if e["type"] in wanted]
    none_yet = await client.get("/v1/events", params={"type": "escrow.released"}, headers=JSON)
    assert none_yet.status_code == 200 and none_yet.json() == []


async def test_filtered_pages_link_to_the_next_filtered_page(harness: Harness) -> None:
    await two_demands(harness)
    await harness.drain()
    client = harness.erp("oem-a")
    first = await client.get("/v1/events", params={"type": "demand.submitted", "limit": 1}, headers=JSON)
    link = first.headers["link"]
    assert "type=demand.submitted" in link
    second = await client.get(link[1 : link.index(">")], headers=JSON)
    assert [e["type"] for e in first.json() + second.json()] == ["demand.submitted"] * 2
    assert second.json()[0]["id"] > first.json()[0]["id"] and "link" not in second.headers


async def test_sse_keeps_only_the_requested_types(harness: Harness) -> None:
    ids = await two_demands(harness)
    response = await harness.erp("oem-a").get("/v1/events", params={"timeout": 0.3, "type": "demand.created"})
    assert response.status_code == 200
    events = parse_sse(response.text)
    assert [(e["event"], e["data"]["subject"]) for e in events] == [("demand.created", i) for i in ids]


@pytest.mark.parametrize("types", [["demand.exploded"], ["demand.created", "nope"], [""]], ids=str)
async def test_an_unknown_event_type_is_422_listing_the_types(harness: Harness, types: list[str]) -> None:
    for headers in (JSON, {}):
        response = await harness.erp("oem-a").get(
            "/v1/events", params={"type": types, "timeout": 0.2}, headers=headers
        )
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["types"] == list(EVENT_TYPES)
        assert "demand.created" in problem["detail"] and "unknown event type" in problem["detail"]
