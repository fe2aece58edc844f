"""`supplymesh init` as the compose init job runs it, and `supplymesh scenarios` input errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.system


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "supplymesh.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    result.stdout = " ".join(result.stdout.split())  # rich wraps long lines
    return result


def test_init_with_a_url_template_names_members_by_service(tmp_path: Path) -> None:
    state = tmp_path / "state"
    result = _cli("init", "--state-dir", str(state), "--url-template", "http://{id}:8000")
    assert result.returncode == 0, result.stdout + result.stderr
    config = json.loads((state / "network-config.json").read_text())
    assert {m["id"]: m["url"] for m in config["members"]} == {
        member: f"http://{member}:8000"
        for member in ("oem-a", "oem-b", "supplier-a", "supplier-b", "pdu", "auditor")
    }


@pytest.mark.parametrize("template", ["http://{host}:8000", "{id}:8000", "http://{0}"])
def test_a_bad_url_template_is_refused_and_writes_nothing(tmp_path: Path, template: str) -> None:
    state = tmp_path / "state"
    result = _cli("init", "--state-dir", str(state), "--url-template", template)
    assert result.returncode == 2
    assert "bad URL template" in result.stdout
    assert not (state / "network-config.json").exists()


def test_init_exist_ok_keeps_keys_and_config(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert _cli("init", "--state-dir", str(state), "--url-template", "http://{id}:8000").returncode == 0
    config_before = (state / "network-config.json").read_bytes()
    key_before = (state / "pdu" / "node.key").read_bytes()
    token_before = (state / "pdu" / "erp-token").read_bytes()
    again = _cli("init", "--state-dir", str(state), "--exist-ok")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "kept" in again.stdout
    assert (state / "network-config.json").read_bytes() == config_before
    assert (state / "pdu" / "node.key").read_bytes() == key_before
    assert (state / "pdu" / "erp-token").read_bytes() == token_before


def test_init_exist_ok_refuses_a_lost_key(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert _cli("init", "--state-dir", str(state)).returncode == 0
    (state / "supplier-b" / "node.key").unlink()  # e.g. its volume was deleted
    again = _cli("init", "--state-dir", str(state), "--exist-ok")
    assert again.returncode == 2
    assert "supplier-b" in again.stdout
    assert not (state / "supplier-b" / "node.key").exists()  # no new identity made silently


def test_scenarios_refuses_a_file_that_is_not_a_nodes_file(tmp_path: Path) -> None:
    bad = tmp_path / "nodes.json"
    bad.write_text('{"members": []}')
    result = _cli("scenarios", "--nodes", str(bad))
    assert result.returncode == 2
    assert "not a nodes file" in result.stdout


def test_scenarios_fails_when_the_network_does_not_answer(tmp_path: Path) -> None:
    nodes = tmp_path / "nodes.json"
    dead = {"role": "oem", "url": "http://127.0.0.1:9", "erp_token": "x"}
    nodes.write_text(json.dumps({"nodes": {"oem-a": dead, "supplier-a": {**dead, "role": "supplier"}}}))
    result = _cli("scenarios", "--nodes", str(nodes), "--stop-after", "1")
    assert result.returncode == 1
    assert "scenario failed" in result.stdout


def test_init_exist_ok_adds_encryption_keys_to_an_older_config_keeping_urls(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert _cli("init", "--state-dir", str(state), "--url-template", "http://{id}:8000").returncode == 0
    path = state / "network-config.json"
    config = json.loads(path.read_text())
    for member in config["members"]:
        del member["encryption_key"]  # as written before channel encryption
        (state / member["id"] / "node.enc.key").unlink()
    path.write_text(json.dumps(config))
    again = _cli("init", "--state-dir", str(state), "--exist-ok")
    assert again.returncode == 0, again.stdout + again.stderr
    upgraded = json.loads(path.read_text())
    assert [m["url"] for m in upgraded["members"]] == [m["url"] for m in config["members"]]
    assert [m["public_key"] for m in upgraded["members"]] == [m["public_key"] for m in config["members"]]
    assert all(m["encryption_key"] for m in upgraded["members"])
    assert all((state / m["id"] / "node.enc.key").exists() for m in upgraded["members"])
