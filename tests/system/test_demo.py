"""`supplymesh demo --exit`: both paper scenarios over real HTTP between six processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.system.conftest import free_base_port

pytestmark = pytest.mark.system


def test_demo_runs_both_scenarios_and_exits_zero(tmp_path: Path) -> None:
    state = tmp_path / "demo"
    env = {**os.environ, "COLUMNS": "200"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "supplymesh.cli",
            "demo",
            "--state-dir",
            str(state),
            "--base-port",
            str(free_base_port()),
            "--exit",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "both scenarios succeeded" in out
    assert "390" in out and "487500 released to supplier-a" in out and "500000 refunded to oem-a" in out
    assert "audit ok: no findings" in out
    runtime_nodes = json.loads((state / "network.json").read_text())["nodes"]
    auditor = runtime_nodes["auditor"]
    assert f"explorer: {auditor['url']}/explorer — sign in with the auditor's ERP token" in out
    assert "token=" not in out and not any(node["erp_token"] in out for node in runtime_nodes.values())
    assert not (state / "launcher.json").exists()  # --exit stopped the network and its launcher
    runtime = json.loads((state / "network.json").read_text())
    assert set(runtime["nodes"]) == {"oem-a", "oem-b", "supplier-a", "supplier-b", "pdu", "auditor"}


def test_demo_refuses_a_state_dir_that_holds_a_network(tmp_path: Path) -> None:
    state = tmp_path / "used"
    (state / "pdu").mkdir(parents=True)
    (state / "pdu" / "node.db").write_bytes(b"")
    result = subprocess.run(
        [sys.executable, "-m", "supplymesh.cli", "demo", "--state-dir", str(state), "--exit"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    assert result.returncode == 2
    assert "already holds a network" in result.stdout
