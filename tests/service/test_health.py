"""The operator's view of a node: ``/health`` and ``/health/live``, and the access log."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from supplymesh import __version__
from supplymesh.errors import PeerUnavailable
from supplymesh.web.access_log import AccessLogMiddleware
from tests.flows import ROOMY_PROFILE, demand
from tests.harness import Harness

pytestmark = [pytest.mark.anyio, pytest.mark.db]
HEALTH_FIELDS = {
    "status",
    "node",
    "role",
    "key",
    "version",
    "started",
    "ledgers",
    "peers",
    "outbox",
    "database",
    "last_audit",
}


async def health(harness: Harness, node_id: str) -> dict[str, Any]:
    answer = await harness.anonymous(node_id).get("/health")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def submit_demand(harness: Harness) -> str:
    assert (await harness.erp("supplier-a").put("/v1/dms/profile", json=ROOMY_PROFILE)).status_code == 200
    created = await harness.erp("oem-a").post("/v1/demands", json=demand())
    assert created.status_code == 202, created.text
    demand_id: str = created.json()["id"]
    return demand_id


async def test_health_after_a_split_reports_ledgers_peers_and_an_empty_outbox(harness: Harness) -> None:
    await submit_demand(harness)
    assert (await health(harness, "oem-a"))["outbox"] == {"pending": 1}  # the demand, not yet submitted
    await harness.settle()
    oem = await health(harness, "oem-a")
    assert set(oem) == HEALTH_FIELDS
    assert (oem["status"], oem["node"], oem["role"], oem["version"]) == ("ok", "oem-a", "oem", __version__)
    assert oem["key"] == harness.config.member("oem-a").public_key
    pdu_head = harness.node("pdu").store.head("network")
    assert pdu_head is not None and pdu_head.size >= 3
    assert oem["ledgers"]["network"] == pdu_head.size
    assert oem["ledgers"]["channel:oem-a:supplier-a"] == harness.node("oem-a").store.count(
        "channel:oem-a:supplier-a"
    )
    assert set(oem["peers"]) == {"oem-b", "supplier-a", "supplier-b", "pdu", "auditor"}
    assert oem["peers"]["pdu"]["reachable"] is True and oem["peers"]["pdu"]["last_seen"]
    assert oem["peers"]["oem-b"] == {"reachable": None, "last_seen": None}  # never called
    assert oem["outbox"] == {"pending": 0}
    assert oem["last_audit"] is None
    assert (await health(harness, "pdu"))["ledgers"]["network"] == pdu_head.size


async def test_a_peer_that_stops_answering_shows_unreachable_warned_once(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    oem = harness.node("oem-a")
    harness.app("supplier-b")
    assert (await oem.peers.request("supplier-b", "GET", "/health/live")).status_code == 200
    seen = (await health(harness, "oem-a"))["peers"]["supplier-b"]
    assert seen["reachable"] is True
    harness.down("supplier-b")
    caplog.set_level(logging.DEBUG, logger="supplymesh.peers")
    for _ in range(3):
        with pytest.raises(PeerUnavailable):
            await oem.peers.request("supplier-b", "GET", "/health/live")
    down = (await health(harness, "oem-a"))["peers"]["supplier-b"]
    assert down == {"reachable": False, "last_seen": seen["last_seen"]}
    harness.up("supplier-b")
    await oem.peers.request("supplier-b", "GET", "/health/live")
    assert (await health(harness, "oem-a"))["peers"]["supplier-b"]["reachable"] is True
    about = [r for r in caplog.records if r.name == "supplymesh.peers" and r.levelno >= logging.INFO]
    assert [(r.levelname, r.getMessage().split(" (")[0]) for r in about] == [
        ("WARNING", "supplier-b is not answering"),
        ("INFO", "supplier-b answers again"),
    ]
    assert not any(r.exc_info for r in caplog.records)


async def test_a_stopping_node_notes_peers_that_stop_with_it_at_debug_only(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    oem = harness.node("oem-a")
    harness.app("supplier-b")
    assert (await oem.peers.request("supplier-b", "GET", "/health/live")).status_code == 200
    oem.peers.stopping()
    harness.down("supplier-b")
    caplog.set_level(logging.DEBUG, logger="supplymesh.peers")
    with pytest.raises(PeerUnavailable):
        await oem.peers.request("supplier-b", "GET", "/health/live")
    assert (await health(harness, "oem-a"))["peers"]["supplier-b"]["reachable"] is False
    peers = [r for r in caplog.records if r.name == "supplymesh.peers"]
    assert peers and all(r.levelno == logging.DEBUG for r in peers)


async def test_auditor_health_reports_its_last_audit(harness: Harness) -> None:
    assert (await health(harness, "auditor"))["last_audit"] is None
    report = (await harness.erp("auditor").post("/v1/audits", json={"mode": "full"})).json()
    last = (await health(harness, "auditor"))["last_audit"]
    assert last == {
        "id": report["id"],
        "time": report["finished"],
        "mode": "full",
        "ok": report["ok"],
        "findings": len(report["findings"]),
    }


async def test_health_is_public_and_reveals_nothing_private(harness: Harness) -> None:
    await submit_demand(harness)
    await harness.settle()
    secrets = [harness.token(m.id) for m in harness.config.members]
    for member in harness.config.members:
        text = (await harness.anonymous(member.id).get("/health")).text
        assert not any(token in text for token in secrets)
        for private in ("unit_price", "P-100", "body", "erp_token", "node.key", "BEGIN"):
            assert private not in text
        assert "peers" in json.loads(text)


async def test_liveness_is_trivial(harness: Harness) -> None:
    live = await harness.anonymous("pdu").get("/health/live")
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    assert (await harness.anonymous("pdu").post("/health/live")).status_code == 405


async def test_access_log_has_one_line_per_erp_call_without_the_token(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="supplymesh.access")
    erp = harness.erp("oem-a")
    await erp.get("/v1/ledgers")
    await harness.erp("oem-a", token="smk_wrong").get("/v1/demands", params={"limit": 5})
    await harness.anonymous("oem-a").get("/health")
    lines = [r.getMessage() for r in caplog.records if r.name == "supplymesh.access"]
    assert len(lines) == 2
    assert lines[0].startswith("GET /v1/ledgers 200 ") and lines[0].endswith(" erp:erp")
    assert lines[1].startswith("GET /v1/demands 401 ") and lines[1].endswith(" -")
    assert not any(harness.token("oem-a") in line or "limit" in line for line in lines)


async def test_a_client_gone_before_its_body_is_read_is_logged_once_as_499(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def reads_body(scope: Scope, receive: Receive, send: Send) -> None:
        await Request(scope, receive).body()

    async def disconnected() -> Message:
        return {"type": "http.disconnect"}

    async def never(_message: Message) -> None:
        raise AssertionError("nothing is sent to a client that left")

    caplog.set_level(logging.DEBUG)
    scope: Scope = {"type": "http", "method": "POST", "path": "/peer/v1/network/proposals", "headers": []}
    await AccessLogMiddleware(reads_body)(scope, disconnected, never)
    assert [(r.name, r.getMessage().split(" ")[:3]) for r in caplog.records] == [
        ("supplymesh.access", ["POST", "/peer/v1/network/proposals", "499"])
    ]
    assert not any(r.exc_info for r in caplog.records)
