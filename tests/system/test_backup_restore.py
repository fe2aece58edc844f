"""Backup and restore of real node processes, by the procedure of docs/operations.md.

A node is backed up while it runs (``supplymesh backup``), the flow goes on, the node is
killed and put back from the backup or from nothing but its keys (``supplymesh
restore``), and started again: it catches up from its peers, names what it recovered and
what it lost, never signs a second entry for a seq it signed before, and the audit is
clean.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from supplymesh.cli.launcher import LocalNetwork
from supplymesh.cli.netgen import prepare, write_runtime_file
from tests.system.conftest import free_base_port
from tests.system.payloads import DEMAND, PROFILE

pytestmark = pytest.mark.system
WITH_A = "channel:oem-a:supplier-a"
WITH_B = "channel:oem-b:supplier-a"
HOLDERS = ("pdu", "oem-a", "oem-b", "supplier-a", "supplier-b")


class Net:
    """Six node processes, their ERP clients and the ``supplymesh`` commands run on their state."""

    def __init__(self, network: LocalNetwork, nodes: dict[str, Any]) -> None:
        self.network = network
        self.state = network.state_dir
        self.clients = {
            n: httpx.Client(
                base_url=i["url"], timeout=30, headers={"Authorization": f"Bearer {i['erp_token']}"}
            )
            for n, i in nodes.items()
        }

    def kill(self, node_id: str) -> None:
        process = self.network.processes[node_id]
        process.send_signal(signal.SIGKILL)
        process.wait()

    def start(self, node_id: str) -> None:
        self.network.restart(node_id)
        wait_for(lambda: self.get(node_id, "/health").get("node") == node_id, f"{node_id} to start", 120)

    def get(self, node_id: str, path: str) -> Any:
        return self.clients[node_id].get(path).json()

    def cli(self, *args: str, status: int = 0) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "supplymesh.cli", *args]
        env = {"COLUMNS": "200", "PATH": "/usr/bin:/bin"}
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, check=False)
        assert done.returncode == status, f"{args}: {done.stdout}{done.stderr}"
        return done

    def entries(self, node_id: str, ledger: str) -> list[Any]:
        found: list[Any] = []
        while True:
            page = self.get(node_id, f"/v1/ledgers/{ledger}/entries?limit=1000&after={len(found)}")
            if not isinstance(page, list) or not page:
                return found
            found += [(e["entry"], e["signatures"]) for e in page]

    def demand(self, oem: str, terms: dict[str, Any]) -> dict[str, Any]:
        created = self.clients[oem].post("/v1/demands", json=terms)
        assert created.status_code == 202, created.text
        path = f"/v1/demands/{created.json()['id']}"
        decided: dict[str, Any] = wait_for(
            lambda: (d := self.get(oem, path))["status"] not in ("pending",) and d, "the split", 120
        )
        return decided

    def profile(self, supplier: str, queued: str) -> None:
        answer = self.clients[supplier].put(
            "/v1/dms/profile", json={**PROFILE, "queued_machine_hours": queued}
        )
        assert answer.status_code == 200, answer.text

    def converged(self, ledger: str, *holders: str) -> list[Any]:
        """The copies of ``ledger`` once every holder's is the same; that copy."""
        copies: list[list[Any]] = []

        def same() -> bool:
            copies[:] = [self.entries(h, ledger) for h in holders]
            return all(c == copies[0] for c in copies)

        wait_for(same, f"{ledger} to converge at {holders}", 120, lambda: [len(c) for c in copies])
        return copies[0]

    def audit_is_clean(self) -> None:
        done = self.cli("audit", "--state-dir", str(self.state))
        assert "audit ok" in done.stdout, done.stdout


def wait_for(
    probe: Callable[[], Any], what: str, timeout: float = 60, state: Callable[[], Any] | None = None
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = probe()
        except (httpx.TransportError, ValueError):
            value = None
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}" + (f": {state()}" if state else ""))


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    """One network for the module: each test restores a different node and checks only its own flow."""
    state = tmp_path_factory.mktemp("backup") / "state"
    config = prepare(state, None, free_base_port())
    network = LocalNetwork(state_dir=state, config=config)
    network.start()
    try:
        network.wait_healthy(timeout=120)
        handle = Net(network, json.loads(write_runtime_file(state, config).read_text())["nodes"])
        try:
            yield handle
        finally:
            for client in handle.clients.values():
                client.close()
    finally:
        network.stop()


def recovery_report(net: Net, node_id: str) -> dict[str, Any]:
    """The report a node leaves when its recovery is complete (its marker gone)."""
    path = net.state / node_id / "recovery.json"
    wait_for(
        lambda: path.exists() and not (net.state / node_id / "restored").exists(), f"{node_id}'s recovery"
    )
    report: dict[str, Any] = json.loads(path.read_text())
    return report


def test_supplier_restored_from_a_mid_flow_backup_recovers_its_channels_and_never_equivocates(
    net: Net,
) -> None:
    net.profile("supplier-a", "100")
    net.profile("supplier-b", "100")
    assert net.demand("oem-a", DEMAND)["allocations"]
    net.converged(WITH_A, "supplier-a", "oem-a")
    net.cli("backup", "supplier-a", "--state-dir", str(net.state), "--to", str(net.state.parent / "a.db"))

    net.profile("supplier-a", "120")  # acknowledged after the backup: attested on both channels
    assert net.demand("oem-a", {**DEMAND, "quantity": 50, "required_machine_hours": "20"})["allocations"]
    wait_for(lambda: '"120"' in json.dumps(net.entries("supplier-a", WITH_B)), "the new figures attested")
    signed = {
        ledger: net.converged(ledger, "supplier-a", oem)
        for ledger, oem in ((WITH_A, "oem-a"), (WITH_B, "oem-b"))
    }

    backup = str(net.state.parent / "a.db")
    running = net.cli("restore", "supplier-a", "--state-dir", str(net.state), "--from", backup, status=2)
    assert "supplier-a is running" in running.stdout  # a running node's database is never replaced
    net.kill("supplier-a")
    net.kill("oem-b")  # its channel cannot be learnt back while it is down
    net.cli("restore", "supplier-a", "--state-dir", str(net.state), "--from", backup)
    net.start("supplier-a")
    assert net.converged(WITH_A, "supplier-a", "oem-a") == signed[WITH_A]  # learnt back from oem-a
    # The new profile is stored and attested to oem-a; on the channel with oem-b, whose seqs
    # it cannot learn back while oem-b is down, nothing is signed (503: the ERP retries).
    refused = net.clients["supplier-a"].put(
        "/v1/dms/profile", json={**PROFILE, "queued_machine_hours": "130"}
    )
    assert refused.status_code == 503, refused.text
    assert f"{WITH_B}: this node was restored and sequences nothing on it until oem-b" in refused.text
    assert len(net.entries("supplier-a", WITH_A)) == len(signed[WITH_A]) + 1
    assert len(net.entries("supplier-a", WITH_B)) < len(signed[WITH_B])  # nothing signed at a seq it used
    assert (net.state / "supplier-a" / "restored").exists()  # recovery not complete while oem-b is down

    net.start("oem-b")  # the supplier learns the channel back, then attests the new figures on it
    wait_for(
        lambda: '"130"' in json.dumps(net.entries("supplier-a", WITH_B)), "the attestation to oem-b", 120
    )
    final = {
        ledger: net.converged(ledger, "supplier-a", oem)
        for ledger, oem in ((WITH_A, "oem-a"), (WITH_B, "oem-b"))
    }
    for ledger, entries in signed.items():  # every seq signed before keeps its one entry
        assert final[ledger][: len(entries)] == entries
        assert '"130"' in json.dumps(final[ledger][len(entries) :])
    report = recovery_report(net, "supplier-a")
    assert any(WITH_A in item and "recovered from oem-a" in item for item in report["recovered"])
    assert any(WITH_B in item and "recovered from oem-b" in item for item in report["recovered"])
    assert any(item.startswith("dms: the current capacity figures differ") for item in report["lost"])
    net.converged("network", *HOLDERS)
    net.audit_is_clean()


def test_oem_rebuilt_from_its_keys_recovers_its_demands_and_channels(net: Net) -> None:
    net.profile("supplier-a", "100")
    net.profile("supplier-b", "100")
    first = net.demand("oem-a", DEMAND)
    second = net.demand("oem-a", {**DEMAND, "quantity": 50, "required_machine_hours": "20"})
    before = net.get("oem-a", "/v1/demands")

    net.kill("oem-a")
    net.cli("restore", "oem-a", "--state-dir", str(net.state), "--empty")
    assert not (net.state / "oem-a" / "node.db").exists()
    net.start("oem-a")
    report = recovery_report(net, "oem-a")
    assert {first["id"], second["id"]} <= {i.split()[1].rstrip(":") for i in report["recovered"]}
    assert report["lost"] == [] and report["unknowable"]  # what never left the node is named as such
    net.converged("network", *HOLDERS)
    net.converged(WITH_A, "supplier-a", "oem-a")
    net.converged("channel:oem-a:supplier-b", "supplier-b", "oem-a")
    after = net.get("oem-a", "/v1/demands")
    assert [(d["id"], d["status"], d["allocations"]) for d in after] == [
        (d["id"], d["status"], d["allocations"]) for d in before
    ]
    assert net.demand("oem-a", DEMAND)["allocations"]  # and it goes on
    net.audit_is_clean()


def test_pdu_rebuilt_from_its_keys_learns_its_ledger_back_before_it_signs_again(net: Net) -> None:
    net.profile("supplier-a", "100")
    net.profile("supplier-b", "100")
    assert net.demand("oem-a", DEMAND)["allocations"]
    signed = net.converged("network", *HOLDERS)

    net.kill("pdu")
    net.cli("restore", "pdu", "--state-dir", str(net.state), "--empty")
    net.start("pdu")
    report = recovery_report(net, "pdu")
    assert report["recovered"] == [
        f"network: seq 1..{len(signed)}, sealed by pdu, missing from this database; "
        "recovered from the partners' replicas"
    ]
    assert net.entries("pdu", "network")[: len(signed)] == signed  # no second genesis, nothing re-signed
    assert net.demand("oem-b", {**DEMAND, "quantity": 50, "required_machine_hours": "20"})["allocations"]
    final = net.converged("network", *HOLDERS)
    assert final[: len(signed)] == signed and len(final) > len(signed)
    net.audit_is_clean()
