"""Kill -9 and restart real node processes mid-flow: nothing is lost, replicas converge."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from supplymesh.cli.launcher import LocalNetwork
from supplymesh.cli.netgen import prepare, write_runtime_file
from tests.system.conftest import free_base_port
from tests.system.payloads import DEMAND, PROFILE

pytestmark = pytest.mark.system
CHANNEL = "channel:oem-a:supplier-a"


class Net:
    def __init__(self, network: LocalNetwork, nodes: dict[str, Any]) -> None:
        self.network = network
        self.nodes = nodes
        self.clients = {
            n: httpx.Client(
                base_url=i["url"], timeout=20, headers={"Authorization": f"Bearer {i['erp_token']}"}
            )
            for n, i in nodes.items()
        }

    def kill(self, node_id: str) -> None:
        process = self.network.processes[node_id]
        process.send_signal(signal.SIGKILL)
        process.wait()

    def restart(self, node_id: str) -> None:
        self.network.restart(node_id)  # on the port it was first given
        wait_for(lambda: self._healthy(node_id), f"{node_id} to come back")

    def _healthy(self, node_id: str) -> bool:
        try:
            return self.clients[node_id].get("/health").status_code == 200
        except httpx.TransportError:
            return False

    def close(self) -> None:
        for client in self.clients.values():
            client.close()

    def get(self, node_id: str, path: str) -> Any:
        return self.clients[node_id].get(path).json()


def wait_for(
    probe: Callable[[], Any], what: str, timeout: float = 60, state: Callable[[], Any] | None = None
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = probe()
        except httpx.TransportError:
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}" + (f": {state()}" if state else ""))


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    state = tmp_path / "state"
    config = prepare(state, None, free_base_port())
    network = LocalNetwork(state_dir=state, config=config)
    network.start()
    try:
        network.wait_healthy()
        handle = Net(network, json.loads(write_runtime_file(state, config).read_text())["nodes"])
        try:
            yield handle
        finally:
            handle.close()
    finally:
        network.stop()


def entries(net: Net, node_id: str, ledger: str) -> list[Any]:
    items: list[Any] = net.get(node_id, f"/v1/ledgers/{ledger}/entries?limit=1000")
    return items if isinstance(items, list) else []


def leaves(items: list[Any]) -> list[Any]:
    return [(e["entry"], e["signatures"]) for e in items]


def test_killed_oem_catches_up_and_channel_copies_are_identical(net: Net) -> None:
    supplier = net.clients["supplier-a"]
    assert supplier.put("/v1/dms/profile", json=PROFILE).status_code == 200
    net.kill("oem-a")
    assert supplier.put("/v1/dms/profile", json={**PROFILE, "queued_machine_hours": "120"}).status_code == 200
    assert supplier.put("/v1/dms/profile", json={**PROFILE, "queued_machine_hours": "130"}).status_code == 200
    net.restart("oem-a")
    wait_for(
        lambda: len(entries(net, "oem-a", CHANNEL)) == len(entries(net, "supplier-a", CHANNEL)) == 3,
        "the OEM's copy to catch up",
        timeout=120,
        state=lambda: (
            len(entries(net, "oem-a", CHANNEL)),
            len(entries(net, "supplier-a", CHANNEL)),
            net.network.log_tail("oem-a", 8),
        ),
    )
    assert leaves(entries(net, "oem-a", CHANNEL)) == leaves(entries(net, "supplier-a", CHANNEL))
    late = wait_for(
        lambda: (
            {e["entry"]["seq"] for e in entries(net, "supplier-a", CHANNEL) if e["late_signatures"]} == {2, 3}
        ),
        "late countersignatures of seq 2 and 3 at the supplier",
        timeout=120,
    )
    assert late


def test_killed_pdu_restarts_decides_the_queued_demand_and_replicas_converge(net: Net) -> None:
    for supplier in ("supplier-a", "supplier-b"):
        assert net.clients[supplier].put("/v1/dms/profile", json=PROFILE).status_code == 200
    net.kill("pdu")
    created = net.clients["oem-a"].post("/v1/demands", json=DEMAND)
    assert created.status_code == 202
    time.sleep(1)
    assert net.get("oem-a", f"/v1/demands/{created.json()['id']}")["status"] == "pending"
    net.restart("pdu")
    demand = wait_for(
        lambda: (d := net.get("oem-a", f"/v1/demands/{created.json()['id']}"))["status"] != "pending" and d,
        "the split after the PDU restarted",
    )
    assert demand["status"] == "allocated" and demand["allocations"][0]["quantity"] == 100
    holders = ("pdu", "oem-a", "oem-b", "supplier-a", "supplier-b")
    wait_for(
        lambda: len({net.get(n, "/v1/ledgers/network/head")["root_hash"] for n in holders}) == 1,
        "every network replica to converge",
    )


def test_split_reaches_quorum_with_a_supplier_down_which_then_catches_up(net: Net) -> None:
    assert net.clients["supplier-a"].put("/v1/dms/profile", json=PROFILE).status_code == 200
    assert net.clients["supplier-b"].put("/v1/dms/profile", json=PROFILE).status_code == 200
    net.kill("supplier-b")
    created = net.clients["oem-a"].post(
        "/v1/demands", json={**DEMAND, "quantity": 1000, "required_machine_hours": "400"}
    )
    demand = wait_for(
        lambda: (d := net.get("oem-a", f"/v1/demands/{created.json()['id']}"))["status"] != "pending" and d,
        "the split with supplier-b down",
        timeout=90,
    )
    assert [a["supplier"] for a in demand["allocations"]] == ["supplier-a"]
    decision = next(d for d in net.get("pdu", "/v1/decisions") if d["id"] == demand["decision_id"])
    assert {"supplier": "supplier-b", "reason": "did not answer in time"} in decision["result"]["skipped"]
    assert len(decision["certificate"]) == 3
    net.restart("supplier-b")
    wait_for(
        lambda: (
            net.get("supplier-b", "/v1/ledgers/network/head")["root_hash"]
            == net.get("pdu", "/v1/ledgers/network/head")["root_hash"]
        ),
        "supplier-b's replica to catch up",
    )


def test_audit_command_is_clean_then_names_a_tampered_entry(net: Net) -> None:
    import sqlite3
    import subprocess
    import sys

    state = net.network.state_dir
    assert net.clients["supplier-a"].put("/v1/dms/profile", json=PROFILE).status_code == 200
    command = [sys.executable, "-m", "supplymesh.cli", "audit", "--state-dir", str(state)]
    env = {"COLUMNS": "200", "PATH": "/usr/bin:/bin"}
    clean = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "audit ok" in clean.stdout
    with sqlite3.connect(state / "supplier-a" / "node.db") as db:  # an insider edits a stored entry
        db.execute("DROP TRIGGER ledger_entries_no_update")
        db.execute(
            "UPDATE ledger_entries SET entry = replace(entry, '\"100\"', '\"99\"') WHERE seq = 1 "
            "AND ledger = ?",
            (CHANNEL,),
        )
    tampered = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert tampered.returncode == 1, tampered.stdout + tampered.stderr
    assert "bad_signature" in tampered.stdout and CHANNEL in tampered.stdout
