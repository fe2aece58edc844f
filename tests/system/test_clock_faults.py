"""Real node processes with skewed clocks (libfaketime): beyond the bound refused, within it trusted.

supplier-b runs 10 minutes ahead (beyond the documented ±300 s,
``SUPPLYMESH_PEER_CLOCK_SKEW_SECONDS`` and ``MAX_CLOCK_SKEW_SECONDS``), oem-b 30 s
ahead (within it). The clocks are skewed under the node with ``LD_PRELOAD`` of Debian's
libfaketime (``apt-get install faketime``); the node itself is not told.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from supplymesh.cli.launcher import LocalNetwork
from supplymesh.cli.netgen import prepare, write_runtime_file
from supplymesh.core.entry import parse_time
from supplymesh.node.httpsig import RequestTarget, sign_request, url_authority
from supplymesh.node.keys import load_key_file
from tests.system.conftest import free_base_port
from tests.system.payloads import DEMAND, PROFILE
from tests.system.test_network_faults import wait_for

pytestmark = pytest.mark.system
LIBFAKETIMES = sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))  # Debian's multiarch dir
LIBFAKETIME = LIBFAKETIMES[0] if LIBFAKETIMES else Path("/usr/lib/faketime/libfaketime.so.1")
BEYOND = 600
WITHIN = 30
SKEWED = "supplier-b"
NEAR = "oem-b"


@dataclass
class SkewedNetwork(LocalNetwork):
    """A local network whose nodes may each run with extra environment (their clock offset)."""

    node_env: dict[str, dict[str, str]] = field(default_factory=dict)

    def _spawn(self, node_id: str) -> None:
        common = self.env
        self.env = {**common, **self.node_env.get(node_id, {})}
        try:
            super()._spawn(node_id)
        finally:
            self.env = common


def ahead(seconds: int) -> dict[str, str]:
    """Environment running a process ``seconds`` ahead of the machine's clock."""
    return {
        "LD_PRELOAD": str(LIBFAKETIME),
        "FAKETIME": f"+{seconds}s",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }


@dataclass
class Skewed:
    """The running network and one ERP client per node."""

    network: SkewedNetwork
    clients: dict[str, httpx.Client]

    def get(self, node_id: str, path: str) -> Any:
        """GET a JSON document from a node's ERP API."""
        response = self.clients[node_id].get(path)
        assert response.status_code == 200, response.text
        return response.json()

    def decided(self, node_id: str, demand_id: str) -> Any:
        """The demand once it is no longer pending."""
        return wait_for(
            lambda: (d := self.get(node_id, f"/v1/demands/{demand_id}"))["status"] != "pending" and d,
            f"{demand_id} at {node_id} to be decided",
            timeout=120,
        )

    def log(self, node_id: str) -> str:
        """A node's whole log."""
        return (self.network.state_dir / node_id / "node.log").read_text(errors="replace")


def signed_get(network: LocalNetwork, sender: str, receiver: str, path: str, offset: int) -> httpx.Response:
    """GET a peer path of ``receiver``, signed with ``sender``'s key by a clock ``offset`` s ahead."""
    url = network.config.member(receiver).url
    headers = sign_request(
        RequestTarget("GET", url_authority(url), path, ""),
        b"",
        keyid=sender,
        signer=load_key_file(network.state_dir / sender / "node.key"),
        created=int(time.time()) + offset,
        nonce=secrets.token_urlsafe(18),
    )
    return httpx.get(url + path, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def skewed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Skewed]:
    """Six real nodes, supplier-b's clock 10 min ahead, oem-b's 30 s ahead; profiles set."""
    if not LIBFAKETIME.exists():
        pytest.fail(f"{LIBFAKETIME} is missing: run scripts/install-test-tools (Debian's faketime)")
    state = tmp_path_factory.mktemp("clocks") / "state"
    config = prepare(state, None, free_base_port())
    network = SkewedNetwork(
        state_dir=state, config=config, node_env={SKEWED: ahead(BEYOND), NEAR: ahead(WITHIN)}
    )
    network.start()
    try:
        network.wait_healthy(timeout=120)
        nodes = json.loads(write_runtime_file(state, config).read_text())["nodes"]
        clients = {
            n: httpx.Client(
                base_url=i["url"], timeout=30, headers={"Authorization": f"Bearer {i['erp_token']}"}
            )
            for n, i in nodes.items()
        }
        # A node refuses requests signed before it started (by its own clock: a restart
        # forgets the nonces it saw), so oem-b, 30 s ahead, refuses its peers for its
        # first 30 s; they retry. Wait for that to pass, as the network would.
        wait_for(
            lambda: signed_get(network, "pdu", NEAR, "/peer/v1/ledgers", 0).status_code == 200,
            "oem-b to accept requests signed by its peers' clocks",
            timeout=WITHIN + 120,
        )
        try:
            for supplier in ("supplier-a", SKEWED):  # answered in bounded time, countersigned or not
                assert clients[supplier].put("/v1/dms/profile", json=PROFILE).status_code == 200
            yield Skewed(network, clients)
        finally:
            for client in clients.values():
                client.close()
    finally:
        network.stop()


def test_node_clock_really_skewed(skewed: Skewed) -> None:
    """The fixture does skew the node's clock: its signed tree head is dated ahead (the test is real)."""
    stamp = skewed.get(SKEWED, "/v1/ledgers/channel:oem-a:supplier-b/head")["tree_head"]["timestamp"]
    offset = parse_time(stamp).timestamp() - time.time()
    assert BEYOND - 60 < offset < BEYOND + 60, stamp


def test_peer_skewed_beyond_bound_is_refused_and_the_network_goes_on(skewed: Skewed) -> None:
    """supplier-b, 10 min ahead: refused by its peers; the split goes on with supplier-a alone."""
    created = skewed.clients["oem-a"].post(
        "/v1/demands", json={**DEMAND, "quantity": 1000, "required_machine_hours": "400"}
    )
    assert created.status_code == 202
    demand = skewed.decided("oem-a", created.json()["id"])
    assert [a["supplier"] for a in demand["allocations"]] == ["supplier-a"]
    decision = next(d for d in skewed.get("pdu", "/v1/decisions") if d["id"] == demand["decision_id"])
    assert SKEWED in {s["supplier"] for s in decision["result"]["skipped"]}
    assert {s["signer"] for s in decision["certificate"]} == {"oem-a", NEAR, "supplier-a"}
    refusal = "refusing supplier-b's requests: clock skew, signature created"
    wait_for(lambda: refusal in skewed.log("pdu"), "the PDU to log why it refuses supplier-b", timeout=60)
    assert "ahead of this node's clock" in skewed.log("pdu")
    wait_for(  # supplier-b's operator reads why in its own log: the peers' problem, its own refusals
        lambda: all(
            t in skewed.log(SKEWED) for t in ("allowed clock skew of ±300 s", "refusing pdu's requests")
        ),
        "supplier-b to log the clock refusals",
        timeout=60,
    )
    held = skewed.clients[SKEWED].get("/v1/ledgers/network/head")  # its pulls are refused too
    pdu_size = skewed.get("pdu", "/v1/ledgers/network/head")["size"]
    assert held.status_code == 404 or held.json()["size"] < pdu_size, held.text


def test_peer_skewed_within_bound_is_trusted(skewed: Skewed) -> None:
    """oem-b, 30 s ahead: its demand is sequenced and decided; it signed the other splits too."""
    created = skewed.clients[NEAR].post("/v1/demands", json={**DEMAND, "priority_suppliers": ["supplier-a"]})
    assert created.status_code == 202
    demand = skewed.decided(NEAR, created.json()["id"])
    assert demand["status"] != "failed" and demand["decision_id"], demand["reason"]  # capacity may be gone
    decision = next(d for d in skewed.get("pdu", "/v1/decisions") if d["id"] == demand["decision_id"])
    assert NEAR in {s["signer"] for s in decision["certificate"]}
    assert "refusing oem-b's requests" not in skewed.log("pdu")


def test_refusal_is_a_problem_naming_the_clock_skew(skewed: Skewed) -> None:
    """A request signed at supplier-b's clock (10 min ahead) gets a 401 problem saying by how much."""
    answer = signed_get(skewed.network, SKEWED, "pdu", "/peer/v1/ledgers/network/head", BEYOND)
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert "clock skew" in problem["detail"] and "ahead of this node's clock" in problem["detail"]
    assert BEYOND - 60 < problem["clock_skew_seconds"] <= BEYOND + 60
    assert problem["allowed_clock_skew_seconds"] == 300
