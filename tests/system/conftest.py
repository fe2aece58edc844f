from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from supplymesh.cli.launcher import port_in_use


def free_base_port(count: int = 6) -> int:
    for _ in range(200):
        base = random.randint(20000, 32000)  # below the ephemeral range
        if not any(port_in_use("127.0.0.1", base + i) for i in range(count)):
            return base
    raise RuntimeError("no free port range")


@dataclass
class Up:
    process: subprocess.Popen[bytes]
    state_dir: Path
    base_port: int

    def wait_runtime(self, timeout: float = 90) -> dict[str, Any]:
        path = self.state_dir / "network.json"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"supplymesh up exited {self.process.returncode}: {self.output()}")
            if path.exists():
                data: dict[str, Any] = json.loads(path.read_text())
                return data
            time.sleep(0.2)
        raise AssertionError("network.json not written in time")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)

    def output(self) -> str:
        return (self.state_dir.parent / "up.log").read_text(errors="replace")


def start_up(state_dir: Path, base_port: int, *extra: str) -> Up:
    env = {k: v for k, v in os.environ.items() if k != "SUPPLYMESH_DATABASE_URL"}
    env["COLUMNS"] = "200"  # keep rich from wrapping messages that tests read
    with (state_dir.parent / "up.log").open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "supplymesh.cli",
                "up",
                "--state-dir",
                str(state_dir),
                "--base-port",
                str(base_port),
                *extra,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    return Up(process, state_dir, base_port)


@pytest.fixture
def up_factory() -> Iterator[Any]:
    started: list[Up] = []

    def make(state_dir: Path, base_port: int | None = None, *extra: str) -> Up:
        up = start_up(state_dir, base_port or free_base_port(), *extra)
        started.append(up)
        return up

    yield make
    for up in started:
        if up.process.poll() is None:
            up.process.kill()
            up.process.wait()
