"""Real node processes behind a fault-injecting proxy: outages, partitions, resets, slow peers.

Every member's URL in the network config points at the proxy (:mod:`tests.system.faultproxy`),
which forwards to the port the node listens on; the test's ERP clients talk to the nodes
directly. Outcomes are asserted, never speeds: every ERP call must answer within its
client's timeout (an ``httpx.TimeoutException`` fails the test), queued work must
complete once links return, and every decision must be whole — committed with its
certificate on every replica, or not at all — which the auditor checks from every copy.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from supplymesh.cli.launcher import LocalNetwork
from supplymesh.cli.netgen import CONFIG_FILE, prepare, write_runtime_file
from supplymesh.errors import PeerUnavailable
from supplymesh.node.keys import load_key_file
from supplymesh.node.peers import PeerClient
from tests.system.conftest import free_base_port
from tests.system.faultproxy import BLACKHOLE, RESET, Fault, FaultProxy
from tests.system.payloads import DEMAND, PROFILE

pytestmark = pytest.mark.system
PARTNERS = ("oem-a", "oem-b", "supplier-a", "supplier-b")
HOLDERS = ("pdu", *PARTNERS)
ERP_TIMEOUT = 30.0
"""Every ERP call must answer within this (a peer timeout is 5 s): no call may hang."""


class Cluster:
    """A running network, its proxy and one ERP client per node (straight to the node)."""

    def __init__(self, network: LocalNetwork, proxy: FaultProxy, nodes: dict[str, Any]) -> None:
        self.network = network
        self.proxy = proxy
        self.clients = {
            n: httpx.Client(
                base_url=i["url"],
                timeout=ERP_TIMEOUT,
                headers={"Authorization": f"Bearer {i['erp_token']}"},
            )
            for n, i in nodes.items()
        }

    def get(self, node_id: str, path: str) -> Any:
        """GET a JSON document from a node's ERP API."""
        response = self.clients[node_id].get(path)
        assert response.status_code == 200, response.text
        return response.json()

    def demand(self, node_id: str, body: dict[str, Any]) -> str:
        """Create a demand at an OEM; its id (answered 202 at once, whatever the network does)."""
        response = self.clients[node_id].post("/v1/demands", json=body)
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    def decided(self, node_id: str, demand_id: str, timeout: float = 120) -> dict[str, Any]:
        """The demand once it is no longer pending."""
        result: dict[str, Any] = wait_for(
            lambda: (d := self.get(node_id, f"/v1/demands/{demand_id}"))["status"] != "pending" and d,
            f"{demand_id} at {node_id} to be decided",
            timeout=timeout,
            state=lambda: self.network.log_tail("pdu", 6),
        )
        return result

    def head(self, node_id: str, ledger: str = "network") -> Any:
        """A node's head of a ledger."""
        return self.get(node_id, f"/v1/ledgers/{ledger}/head")

    def entries(self, node_id: str, ledger: str) -> list[Any]:
        """A node's copy of a ledger (entries and signatures)."""
        items = self.get(node_id, f"/v1/ledgers/{ledger}/entries?limit=1000")
        return [(e["entry"], e["signatures"]) for e in items]

    def converged(self, timeout: float = 150) -> None:
        """Wait until every holder's network replica has the PDU's root, and its copy is identical."""
        wait_for(
            lambda: len({self.head(n)["root_hash"] for n in HOLDERS}) == 1,
            "every network replica to converge",
            timeout=timeout,
            state=lambda: {n: self.head(n)["size"] for n in HOLDERS},
        )
        reference = self.entries("pdu", "network")
        for node_id in PARTNERS:
            assert self.entries(node_id, "network") == reference, node_id

    def audit_clean(self) -> dict[str, Any]:
        """A full audit of every copy of every ledger has no finding."""
        response = self.clients["auditor"].post("/v1/audits", json={"mode": "full"}, timeout=120)
        assert response.status_code in (200, 201), response.text
        report: dict[str, Any] = response.json()
        assert report["findings"] == [], report["findings"]
        return report

    def close(self) -> None:
        """Close the ERP clients."""
        for client in self.clients.values():
            client.close()


def wait_for(
    probe: Callable[[], Any], what: str, timeout: float = 60, state: Callable[[], Any] | None = None
) -> Any:
    """Poll ``probe`` until it is truthy; fail naming ``what`` (and ``state()``) after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}" + (f": {state()}" if state else ""))


def proxied(state: Path, base: int) -> tuple[LocalNetwork, FaultProxy]:
    """A network whose members' URLs point at a proxy (ports base+6…), the nodes on base…base+5."""
    config = prepare(state, None, base)
    network = LocalNetwork(state_dir=state, config=config)  # nodes listen on the configured ports
    path = state / CONFIG_FILE
    document = json.loads(path.read_text())
    routes = {}
    for index, member in enumerate(document["members"]):
        listen = base + len(document["members"]) + index
        routes[member["id"]] = (listen, network.port_of(member["id"]))
        member["url"] = f"http://127.0.0.1:{listen}"
    path.write_text(json.dumps(document, indent=2) + "\n")
    return network, FaultProxy(routes)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Six real nodes behind the fault proxy, suppliers' profiles set; shared by this module's tests.

    Starting six processes takes most of a minute on a loaded machine, so the tests share
    one network; each starts and ends with every link passing and asserts only on its own
    demands, plus whole-network properties (converged replicas, a clean audit).
    """
    state = tmp_path_factory.mktemp("faults") / "state"
    network, proxy = proxied(state, free_base_port(12))
    proxy.start()
    network.start()
    try:
        network.wait_healthy(timeout=120)
        nodes = json.loads(write_runtime_file(state, network.config).read_text())["nodes"]
        handle = Cluster(network, proxy, nodes)
        try:
            for supplier in ("supplier-a", "supplier-b"):
                assert handle.clients[supplier].put("/v1/dms/profile", json=PROFILE).status_code == 200
            yield handle
        finally:
            proxy.clear()
            handle.close()
    finally:
        network.stop()
        proxy.stop()


def test_partner_cut_off_half_open_then_back_its_queued_work_completes(cluster: Cluster) -> None:
    """oem-b is cut off (connections accepted, never answered) for longer than every timeout."""
    cluster.proxy.isolate("oem-b", BLACKHOLE)
    cut = time.monotonic()
    early = cluster.demand("oem-a", DEMAND)  # the rest decide without oem-b (3 of 4 partners)
    queued = cluster.demand("oem-b", DEMAND)  # queued at oem-b: the PDU cannot hear it
    profile = {**PROFILE, "queued_machine_hours": "110"}
    assert cluster.clients["supplier-a"].put("/v1/dms/profile", json=profile).status_code == 200
    decided = cluster.decided("oem-a", early)
    assert decided["status"] == "allocated"
    decision = next(d for d in cluster.get("pdu", "/v1/decisions") if d["id"] == decided["decision_id"])
    assert {s["signer"] for s in decision["certificate"]} == {"oem-a", "supplier-a", "supplier-b"}
    while time.monotonic() - cut < OUTAGE_SECONDS:  # the outage lasts; ERP calls still answer
        assert cluster.get("oem-b", f"/v1/demands/{queued}")["status"] == "pending"
        assert cluster.clients["oem-b"].get("/health").status_code == 200
        time.sleep(2)
    cluster.proxy.clear()
    assert cluster.decided("oem-b", queued, timeout=180)["status"] in ("allocated", "partially_allocated")
    cluster.converged()
    channel = "channel:oem-b:supplier-a"
    wait_for(
        lambda: cluster.entries("oem-b", channel) == cluster.entries("supplier-a", channel),
        "oem-b's channel copy to catch up",
        timeout=120,
    )
    cluster.audit_clean()


OUTAGE_SECONDS = float(os.environ.get("SUPPLYMESH_TEST_OUTAGE_SECONDS", "40"))
"""Longer than the peer timeout (5 s), the decision timeout (3 s) and the outbox back-off up to
its 30 s cap. Set ``SUPPLYMESH_TEST_OUTAGE_SECONDS=600`` to rehearse an outage of minutes."""


def test_quorum_out_of_reach_demand_fails_by_rule_never_half_applied(cluster: Cluster) -> None:
    """The PDU cannot reach oem-b nor supplier-b: 2 of 4 partners sign, the split is never committed."""
    cluster.proxy.set("oem-b", BLACKHOLE, sender="pdu")
    cluster.proxy.set("supplier-b", BLACKHOLE, sender="pdu")
    size = cluster.head("pdu")["size"]
    lonely = cluster.demand("oem-a", {**DEMAND, "priority_suppliers": ["supplier-a"]})
    failed = cluster.decided("oem-a", lonely)
    assert failed["status"] == "failed" and failed["reason"]["code"] == "no-quorum", failed["reason"]
    assert "oem-b" in failed["reason"]["detail"] and "supplier-b" in failed["reason"]["detail"]
    cluster.proxy.clear()
    cluster.converged()
    after = [e for e, _ in cluster.entries("pdu", "network")[size:]]
    about = [e for e in after if json.dumps(e["body"]).count(failed["network_hash"])]
    assert "decision.split" not in {e["kind"] for e in about}  # signed by oem-a and supplier-a only
    assert "demand.failed" in {e["kind"] for e in about}
    again = cluster.demand("oem-a", {**DEMAND, "priority_suppliers": ["supplier-a"]})
    assert cluster.decided("oem-a", again)["status"] == "allocated"  # nothing is stuck at that seq
    cluster.converged()
    cluster.audit_clean()


def test_resets_drops_and_latency_every_demand_ends_whole(cluster: Cluster) -> None:
    """Links reset at random, drop, and lag; every demand still ends by a rule, the same on every replica."""
    cluster.proxy.set("pdu", Fault("flaky", 0.15))
    cluster.proxy.set("supplier-a", Fault("latency", 1.0))
    cluster.proxy.set("supplier-b", Fault("flaky", 0.15))
    cluster.proxy.set("oem-a", RESET, seconds=10)  # every connection aborted at its next chunk
    cluster.proxy.set("oem-b", Fault("drop"), seconds=10)
    ids = [(buyer, cluster.demand(buyer, DEMAND)) for buyer in ("oem-a", "oem-b", "oem-a")]
    ended = {demand_id: cluster.decided(buyer, demand_id, timeout=180) for buyer, demand_id in ids}
    by_rule = {"allocated", "insufficient-capacity", "no-capacity", "no-attestation", "no-quorum"}
    for demand in ended.values():  # a supplier that did not answer in time counts as unavailable
        assert demand["reason"]["code"] in by_rule, demand["reason"]
    applied = sum(cluster.proxy.stats.counts.get(kind, 0) for kind in ("flaky", "reset", "drop"))
    assert applied > 0, cluster.proxy.stats.counts
    cluster.proxy.clear()
    cluster.converged()
    splits = {d["inputs"]["demand"]: d for d in cluster.get("pdu", "/v1/decisions?kind=split&limit=1000")}
    for demand in ended.values():
        if demand["status"] != "failed":
            assert len(splits[demand["network_hash"]]["certificate"]) >= 3
    cluster.audit_clean()


def test_peer_answering_a_byte_at_a_time_does_not_hold_an_audit(cluster: Cluster) -> None:
    """supplier-b answers the auditor one byte every 2 s (each read within the 5 s timeout).

    Without a deadline on the whole peer call the audit (an ERP call) would wait for every
    byte, minutes per request; it answers instead, naming supplier-b unreachable.
    """
    cluster.proxy.set("supplier-b", Fault("trickle", 2.0), sender="auditor")
    response = cluster.clients["auditor"].post("/v1/audits", json={"mode": "full"}, timeout=150)
    assert response.status_code in (200, 201), response.text
    findings = response.json()["findings"]
    assert any(f["rule"] == "unreachable" and "supplier-b" in f["detail"] for f in findings), findings
    assert cluster.proxy.stats.counts.get("trickle", 0) > 0
    cluster.proxy.clear()
    cluster.audit_clean()


def test_peer_call_to_a_trickling_peer_ends_at_its_deadline(tmp_path: Path) -> None:
    """In process: a peer answering a byte every 0.2 s, each read inside the 0.5 s timeout.

    httpx alone would wait for the last byte (about 35 s here); the call ends
    PeerUnavailable at its deadline instead (six timeouts).
    """
    state = tmp_path / "state"
    config = prepare(state, None, free_base_port())
    answer = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 99\r\n\r\n" + b" " * 97 + b"{}"
    )

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            for index in range(len(answer)):
                writer.write(answer[index : index + 1])
                await writer.drain()
                await asyncio.sleep(0.2)
        except (OSError, asyncio.IncompleteReadError):
            pass  # the caller gave up
        finally:
            writer.transport.abort()

    async def call() -> BaseException | int:
        server = await asyncio.start_server(trickle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        members = [
            m.model_copy(update={"url": f"http://127.0.0.1:{port}"}) if m.id == "oem-a" else m
            for m in config.members
        ]
        peers = PeerClient(
            member_id="pdu",
            signer=load_key_file(state / "pdu" / "node.key"),
            config=config.model_copy(update={"members": members}),
            timeout=0.5,
        )
        try:
            return (await peers.request("oem-a", "GET", "/peer/v1/ledgers")).status_code
        except PeerUnavailable as exc:
            return exc
        finally:
            await peers.aclose()
            server.close()
            await asyncio.sleep(0.3)  # let the handler see the caller go

    outcome = asyncio.run(call())
    assert isinstance(outcome, PeerUnavailable), outcome
    assert "TimeoutError" in str(outcome)
