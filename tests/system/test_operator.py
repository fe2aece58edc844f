"""An operator's commands against real node processes: status, logs, stop, restarts, quiet logs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from supplymesh import __version__
from supplymesh.cli.launcher import port_in_use
from tests.system.conftest import Up, free_base_port

pytestmark = pytest.mark.system
NODES = ("oem-a", "oem-b", "supplier-a", "supplier-b", "pdu", "auditor")
PARTNERS = ("oem-a", "oem-b", "supplier-a", "supplier-b")


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250"}
    return subprocess.run(
        [sys.executable, "-m", "supplymesh.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def status_json(state: Path) -> tuple[int, dict[str, dict[str, Any]]]:
    result = cli("status", "--state-dir", str(state), "--json")
    return result.returncode, {n["node"]: n for n in json.loads(result.stdout)}


def node_pid(state: Path, node_id: str) -> int:
    """The pid of the node process ``node_id`` of ``state``."""
    wanted = [b"--node-id", node_id.encode(), b"--node-dir", str(state / node_id).encode()]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(argv[i : i + 4] == wanted for i in range(len(argv))):
                return int(proc.name)
    raise AssertionError(f"no process for {node_id}")


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what}")
        time.sleep(0.2)


def log_of(state: Path, node_id: str) -> str:
    return (state / node_id / "node.log").read_text(errors="replace")


def noticed(state: Path, node_id: str, text: str) -> Callable[[], bool]:
    return lambda: text in log_of(state, node_id)


def network_size(node: dict[str, Any]) -> int:
    answer = httpx.get(node["url"] + "/health", timeout=10).json()
    size: int = answer["ledgers"].get("network", 0)
    return size


def launch(state: Path, *extra: str) -> Up:
    """``supplymesh up`` on ``state`` with exactly the options given."""
    env = {k: v for k, v in os.environ.items() if k != "SUPPLYMESH_DATABASE_URL"}
    env["COLUMNS"] = "250"
    with (state.parent / "up.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "supplymesh.cli", "up", "--state-dir", str(state), *extra],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    return Up(process, state, 0)


def test_status_restarts_logs_and_stop_on_a_running_network(tmp_path: Path, up_factory: Any) -> None:
    state = tmp_path / "state"
    up = up_factory(state)
    runtime = up.wait_runtime()
    config = (state / "network-config.json").read_bytes()
    config_mtime = (state / "network-config.json").stat().st_mtime_ns

    code, nodes = status_json(state)
    assert code == 0 and set(nodes) == set(NODES)
    assert all(n["up"] and n["health"]["node"] == n["node"] and n["restarts"] == 0 for n in nodes.values())
    assert nodes["pdu"]["health"]["ledgers"] == {"network": 1}
    assert f"explorer: {runtime['nodes']['auditor']['url']}/explorer" in up.output()
    assert runtime["nodes"]["auditor"]["erp_token"] not in up.output()

    # A node killed while the launcher cannot yet restart it shows down, and status says so.
    launcher = up.process.pid
    os.kill(launcher, signal.SIGSTOP)
    try:
        os.kill(node_pid(state, "supplier-b"), signal.SIGKILL)
        port = up.base_port + 3
        wait_for("supplier-b's port to close", lambda: not port_in_use("127.0.0.1", port))
        table = cli("status", "--state-dir", str(state))
        assert table.returncode == 1
        assert "supplier-b" in table.stdout and "down" in table.stdout and "down: supplier-b" in table.stdout
    finally:
        os.kill(launcher, signal.SIGCONT)

    # The launcher restarts it on the same port; the other nodes never stopped; it rejoins.
    wait_for("supplier-b restarted", lambda: "supplier-b restarted on port" in up.output())
    assert "supplier-b exited with status -9; restarting it in 1 s" in up.output()
    wait_for("every node up again", lambda: status_json(state)[0] == 0)
    code, nodes = status_json(state)
    assert nodes["supplier-b"]["restarts"] == 1 and nodes["supplier-b"]["url"].endswith(f":{port}")
    assert {n for n, v in nodes.items() if v["restarts"]} == {"supplier-b"}
    pdu_size = network_size(runtime["nodes"]["pdu"])
    wait_for("supplier-b's replica in step", lambda: network_size(runtime["nodes"]["supplier-b"]) == pdu_size)
    assert (state / "network-config.json").read_bytes() == config
    assert (state / "network-config.json").stat().st_mtime_ns == config_mtime

    logs = cli("logs", "supplier-b", "--state-dir", str(state), "-n", "3")
    assert logs.returncode == 0 and f"supplier-b (supplier) starting on 127.0.0.1:{port}" in log_of(
        state, "supplier-b"
    )
    assert len(logs.stdout.splitlines()) == 3
    assert logs.stdout.splitlines()[-1] == log_of(state, "supplier-b").splitlines()[-1]
    every = cli("logs", "--state-dir", str(state), "-n", "1")
    assert {line.split(" | ")[0] for line in every.stdout.splitlines()} == set(NODES)
    assert cli("logs", "nobody", "--state-dir", str(state)).returncode == 2

    stopped = cli("stop", "--state-dir", str(state))
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert up.process.wait(timeout=30) == 0
    assert not (state / "launcher.json").exists()
    assert not any(port_in_use("127.0.0.1", up.base_port + i) for i in range(6))
    assert "no network is running" in cli("stop", "--state-dir", str(state)).stdout


def test_quiet_logs_access_lines_and_a_paused_peer(tmp_path: Path, up_factory: Any) -> None:
    state = tmp_path / "state"
    up = up_factory(state)
    runtime = up.wait_runtime()
    oem = runtime["nodes"]["oem-a"]
    with httpx.Client(timeout=10, headers={"Authorization": f"Bearer {oem['erp_token']}"}) as erp:
        for path in ("/v1/ledgers", "/v1/demands", "/v1/offers"):
            assert erp.get(oem["url"] + path).status_code == 200

    # The PDU paused longer than a peer's timeout: every partner polling it gives up on it.
    pdu = node_pid(state, "pdu")
    os.kill(pdu, signal.SIGSTOP)
    try:
        # Every partner polls it; the calls queued at the paused PDU are abandoned by their callers.
        for partner in PARTNERS:
            wait_for(f"{partner} to notice", noticed(state, partner, "pdu is not answering"))
        auditor = runtime["nodes"]["auditor"]
        audit = httpx.post(
            auditor["url"] + "/v1/audits",
            json={"mode": "full"},
            headers={"Authorization": f"Bearer {auditor['erp_token']}"},
            timeout=60,
        ).json()
        assert [f["rule"] for f in audit["findings"]] == ["unreachable"]
    finally:
        os.kill(pdu, signal.SIGCONT)
    wait_for("oem-a to see it back", lambda: "pdu answers again" in log_of(state, "oem-a"))
    assert up.stop() == 0

    oem_log = log_of(state, "oem-a")
    access = [line for line in oem_log.splitlines() if " supplymesh.access " in line]
    assert [line.split(" INFO ")[1].split(" ")[:3] for line in access] == [
        ["GET", "/v1/ledgers", "200"],
        ["GET", "/v1/demands", "200"],
        ["GET", "/v1/offers", "200"],
    ]
    assert all(line.endswith(" erp:erp") for line in access)
    assert "/peer/" not in oem_log and "HTTP Request" not in oem_log and oem["erp_token"] not in oem_log
    assert oem_log.count("pdu is not answering") == 1 and oem_log.count("pdu answers again") == 1
    warning = next(line for line in oem_log.splitlines() if "pdu is not answering" in line)
    assert " supplymesh.peers WARNING " in warning
    for node_id in NODES:
        text = log_of(state, node_id)
        assert "Traceback" not in text and " ERROR " not in text, node_id


def test_a_resumed_network_keeps_its_ports_and_refuses_to_move_them(tmp_path: Path, up_factory: Any) -> None:
    state = tmp_path / "state"
    first = up_factory(state)
    runtime = first.wait_runtime()
    assert cli("stop", "--state-dir", str(state)).returncode == 0
    first.process.wait(timeout=30)
    config = (state / "network-config.json").read_bytes()
    mtime = (state / "network-config.json").stat().st_mtime_ns

    moved = launch(state, "--base-port", str(free_base_port()))
    assert moved.process.wait(timeout=60) == 2
    assert "would move them" in moved.output() and "Omit --base-port" in moved.output()

    (state / "network.json").unlink()
    again = launch(state)
    try:
        resumed = again.wait_runtime()
        assert {n: v["url"] for n, v in resumed["nodes"].items()} == {
            n: v["url"] for n, v in runtime["nodes"].items()
        }
        assert (state / "network-config.json").read_bytes() == config
        assert (state / "network-config.json").stat().st_mtime_ns == mtime
    finally:
        assert again.stop() == 0


def test_version_and_commands_without_a_running_network(tmp_path: Path) -> None:
    version = cli("--version")
    assert (version.returncode, version.stdout.strip()) == (0, f"supplymesh {__version__}")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli("status", "--state-dir", str(empty)).returncode == 2
    assert cli("logs", "--state-dir", str(empty)).returncode == 2
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (empty / "launcher.json").write_text(json.dumps({"pid": gone.pid, "restarts": {}}))
    stale = cli("stop", "--state-dir", str(empty))
    assert stale.returncode == 0 and "is gone" in stale.stdout
    assert not (empty / "launcher.json").exists()
    unlisted = tmp_path / "nodes.json"
    unlisted.write_text(
        json.dumps({"nodes": {"pdu": {"role": "pdu", "url": f"http://127.0.0.1:{free_base_port(1)}"}}})
    )
    down = cli("status", "--nodes", str(unlisted), "--json")
    assert down.returncode == 1
    assert json.loads(down.stdout)[0]["up"] is False and json.loads(down.stdout)[0]["restarts"] is None


def node_pids(state: Path) -> list[int]:
    """Pids of every node process of ``state`` still running."""
    found = []
    for node_id in NODES:
        try:
            found.append(node_pid(state, node_id))
        except AssertionError:
            continue
    return found


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_while_nodes_start_exits_0(tmp_path: Path, up_factory: Any, signum: int) -> None:
    # No window between the first node starting and the network serving in which a stop
    # kills the launcher by its signal: it stops what it started and exits 0.
    state = tmp_path / "state"
    up = up_factory(state)
    wait_for("the first node started", lambda: bool(node_pids(state)), timeout=60)
    up.process.send_signal(signum)
    assert up.process.wait(timeout=60) == 0, up.output()
    if not (state / "network.json").exists():
        assert "stopped before every node was healthy" in up.output()
    assert node_pids(state) == []
    assert not (state / "launcher.json").exists()


def test_a_stop_just_after_network_json_exits_0(tmp_path: Path, up_factory: Any) -> None:
    state = tmp_path / "state"
    up = up_factory(state)
    up.wait_runtime()
    up.process.send_signal(signal.SIGTERM)
    assert up.process.wait(timeout=60) == 0, up.output()
    assert "stopping every node" in up.output()
    assert node_pids(state) == []
