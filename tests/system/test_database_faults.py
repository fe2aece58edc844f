"""Real node processes, the PDU's SQLite database on a filesystem the test fills to the last byte.

While the PDU cannot write, it answers 503 problem+json and says ``degraded`` on
``/health``, but keeps running and answering reads; the OEM's outbox keeps the demand
it could not submit. Once space is back, nobody restarts anything: the OEM's outbox
submits again, the PDU's decision loop decides, and every replica converges.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from supplymesh.cli.launcher import LocalNetwork
from supplymesh.cli.netgen import prepare, write_runtime_file
from supplymesh.node.settings import DEFAULT_DB_FILE
from tests.service.test_database_faults import fill
from tests.system.conftest import free_base_port
from tests.system.payloads import DEMAND, PROFILE
from tests.system.test_crash import Net, wait_for

pytestmark = pytest.mark.system
DISK_BYTES = 8 * 1024 * 1024
HOLDERS = ("pdu", "oem-a", "oem-b", "supplier-a", "supplier-b")


@contextlib.contextmanager
def small_disk(path: Path) -> Iterator[Path]:
    """A tmpfs of ``DISK_BYTES`` at ``path`` (needs root), unmounted afterwards."""
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, f"mounting a small tmpfs needs root: {done.stderr.decode()}"
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture
def pdu_on_small_disk(tmp_path: Path) -> Iterator[tuple[Net, Path]]:
    """A network of real processes whose PDU keeps its database on a small tmpfs."""
    state = tmp_path / "state"
    config = prepare(state, None, free_base_port())
    with small_disk(tmp_path / "disk") as disk:
        (state / "pdu" / DEFAULT_DB_FILE).symlink_to(disk / DEFAULT_DB_FILE)
        network = LocalNetwork(state_dir=state, config=config)
        network.start()
        try:
            network.wait_healthy()
            net = Net(network, json.loads(write_runtime_file(state, config).read_text())["nodes"])
            try:
                yield net, disk
            finally:
                net.close()
        finally:
            network.stop()


def health(net: Net, node_id: str) -> dict[str, Any]:
    answer = httpx.get(net.nodes[node_id]["url"] + "/health", timeout=20)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def oem_outbox_errors(net: Net) -> str:
    """The last errors of oem-a's undelivered outbox tasks, read from its database."""
    path = net.network.state_dir / "oem-a" / DEFAULT_DB_FILE
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
        rows = db.execute("SELECT last_error FROM outbox WHERE done = 0").fetchall()
    return " | ".join(str(row[0]) for row in rows)


def status_table(net: Net) -> str:
    """What ``supplymesh status`` prints for the network."""
    command = [sys.executable, "-m", "supplymesh.cli", "status", "--state-dir", str(net.network.state_dir)]
    env = {**os.environ, "COLUMNS": "250"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def pdu_log(net: Net) -> str:
    return (net.network.state_dir / "pdu" / "node.log").read_text(errors="replace")


def test_a_pdu_on_a_full_disk_answers_503_and_decides_by_itself_once_space_is_back(
    pdu_on_small_disk: tuple[Net, Path],
) -> None:
    net, disk = pdu_on_small_disk
    for supplier in ("supplier-a", "supplier-b"):
        assert net.clients[supplier].put("/v1/dms/profile", json=PROFILE).status_code == 200
    filler = fill(disk)

    created = net.clients["oem-a"].post("/v1/demands", json=DEMAND)
    assert created.status_code == 202, created.text  # queued at the OEM, durable there
    demand_url = f"/v1/demands/{created.json()['id']}"
    wait_for(lambda: "database unavailable (disk full)" in pdu_log(net), "the PDU to refuse a write")
    wait_for(lambda: "HTTP 503" in oem_outbox_errors(net), "the OEM's submission to be refused with 503")
    during = wait_for(
        lambda: (h := health(net, "pdu"))["status"] == "degraded" and h, "/health to say degraded"
    )
    assert (during["database"]["ok"], during["database"]["last_error"]) == (False, "disk full")
    assert "degraded: database disk full" in status_table(net)
    assert net.clients["pdu"].get("/v1/ledgers/network/head").status_code == 200  # reads still answer
    assert net.get("oem-a", demand_url)["status"] == "pending"
    assert health(net, "oem-a")["outbox"]["pending"] >= 1  # the submission waits at the OEM
    assert net.network.exited() == {}

    filler.unlink()  # space again; nothing is restarted
    demand = wait_for(
        lambda: (d := net.get("oem-a", demand_url))["status"] != "pending" and d,
        "the split once the PDU can write again",
        timeout=120,
        state=lambda: net.network.log_tail("pdu", 10),
    )
    assert demand["status"] == "allocated" and demand["allocations"][0]["quantity"] == 100
    wait_for(
        lambda: len({net.get(n, "/v1/ledgers/network/head")["root_hash"] for n in HOLDERS}) == 1,
        "every network replica to converge",
        timeout=120,
    )
    assert health(net, "pdu")["status"] == "ok"
    assert "database available again" in pdu_log(net)
    assert "Internal error" not in pdu_log(net) and "unhandled error" not in pdu_log(net)
    assert net.network.exited() == {}
