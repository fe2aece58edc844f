"""`supplymesh up` as a user runs it: six real node processes on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from supplymesh import __version__
from supplymesh.cli.launcher import LaunchError, LocalNetwork, port_in_use
from supplymesh.cli.netgen import prepare
from tests.system.conftest import free_base_port

pytestmark = pytest.mark.system
ROLES = {
    "oem-a": "oem",
    "oem-b": "oem",
    "supplier-a": "supplier",
    "supplier-b": "supplier",
    "pdu": "pdu",
    "auditor": "auditor",
}


def _check_nodes(runtime: dict[str, Any]) -> None:
    assert {n: v["role"] for n, v in runtime["nodes"].items()} == ROLES
    with httpx.Client(timeout=10) as client:
        for node_id, node in runtime["nodes"].items():
            health = client.get(node["url"] + "/health").json()
            assert (health["status"], health["node"], health["role"]) == ("ok", node_id, node["role"])
            assert health["version"] == __version__ and health["outbox"] == {"pending": 0}
            assert set(health["peers"]) == set(runtime["nodes"]) - {node_id}
            assert client.get(node["url"] + "/health/live").json() == {"status": "ok"}
            assert client.get(node["url"] + "/docs").status_code == 200
            assert client.get(node["url"] + "/openapi.json").json()["info"]["title"].startswith("SupplyMesh")
            auth = {"Authorization": f"Bearer {node['erp_token']}"}
            assert client.get(node["url"] + "/v1/ledgers", headers=auth).status_code == 200
            assert client.get(node["url"] + "/v1/ledgers").status_code == 401


def _network_size(runtime: dict[str, Any]) -> int:
    pdu = runtime["nodes"]["pdu"]
    head = httpx.get(
        pdu["url"] + "/v1/ledgers/network/head", headers={"Authorization": f"Bearer {pdu['erp_token']}"}
    )
    size: int = head.json()["size"]
    return size


def test_up_starts_six_nodes_stops_them_all_and_resumes(tmp_path: Path, up_factory: Any) -> None:
    state = tmp_path / "state"
    up = up_factory(state)
    runtime = up.wait_runtime()
    _check_nodes(runtime)
    assert _network_size(runtime) == 1
    assert (state / "pdu" / "node.key").stat().st_mode & 0o077 == 0
    assert (state / "pdu" / "node.db").exists()
    config = json.loads((state / "network-config.json").read_text())
    assert up.stop() == 0
    assert not any(port_in_use("127.0.0.1", up.base_port + i) for i in range(6))

    assert not (state / "launcher.json").exists()

    (state / "network.json").unlink()
    again = up_factory(state, up.base_port)  # the same ports, given again: accepted
    runtime_again = again.wait_runtime()
    assert json.loads((state / "network-config.json").read_text())["members"] == config["members"]
    assert json.loads((state / "launcher.json").read_text())["pid"] == again.process.pid
    assert runtime_again["nodes"]["pdu"]["erp_token"] == runtime["nodes"]["pdu"]["erp_token"]
    assert _network_size(runtime_again) == 1  # same data, genesis not repeated
    assert again.stop() == 0


def test_up_fails_clearly_when_a_port_is_taken(tmp_path: Path, up_factory: Any) -> None:
    base = free_base_port()
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", base + 2))
        blocker.listen()
        up = up_factory(tmp_path / "state", base)
        status = up.process.wait(timeout=60)
        output = up.output()
    assert status != 0
    assert f"port {base + 2}" in output and "in use" in output
    assert not (tmp_path / "state" / "network.json").exists()


def test_nodes_die_with_a_killed_launcher(tmp_path: Path, up_factory: Any) -> None:
    up = up_factory(tmp_path / "state")
    up.wait_runtime()
    up.process.kill()
    up.process.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(port_in_use("127.0.0.1", up.base_port + i) for i in range(6)):
        time.sleep(0.2)
    assert not any(port_in_use("127.0.0.1", up.base_port + i) for i in range(6))


def test_init_makes_a_network_of_any_size(tmp_path: Path) -> None:
    state = tmp_path / "big"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "supplymesh.cli",
            "init",
            "--state-dir",
            str(state),
            "--suppliers",
            "3",
            "--oems",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    config = json.loads((state / "network-config.json").read_text())
    assert [m["id"] for m in config["members"]] == [
        "oem-a",
        "supplier-a",
        "supplier-b",
        "supplier-c",
        "pdu",
        "auditor",
    ]
    again = subprocess.run(
        [sys.executable, "-m", "supplymesh.cli", "init", "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode != 0 and "exists" in again.stdout


def test_a_node_of_another_network_at_a_nodes_address_is_not_taken_for_it(tmp_path: Path) -> None:
    """Same id, other key: the launcher keeps waiting for its own node and says so."""
    base = free_base_port()
    config = prepare(tmp_path / "state", None, base, suppliers=2, oems=2)
    member = config.members[0]
    impostor = {"status": "ok", "node": member.id, "key": config.members[1].public_key}

    class Impostor(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(impostor).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", urlparse(member.url).port or 0), Impostor)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    network = LocalNetwork(state_dir=tmp_path / "state", config=config)
    network.processes = {m.id: sleeper for m in config.members}
    try:
        with pytest.raises(LaunchError, match=f"not healthy after 1s: .*{member.id}"):
            network.wait_healthy(timeout=1)
        impostor["key"] = member.public_key  # the same answer with the node's own key is its own
        network.config = config.model_copy(update={"members": [member]})
        network.wait_healthy(timeout=5)
    finally:
        server.shutdown()
        server.server_close()
        sleeper.kill()
        sleeper.wait()
