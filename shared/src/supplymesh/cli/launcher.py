"""Start every node of a network as a local process and stop them all again.

Each node runs as ``python -m supplymesh_<role>`` with its own directory, port and log
file (``DIR/<node-id>/node.log``). Children ask the kernel to send them SIGTERM if the
launcher dies (Linux ``PR_SET_PDEATHSIG``), so no node outlives it. A node restarted
(:meth:`LocalNetwork.restart`) keeps its port. While it runs, the launcher keeps its pid
and the nodes' restart counts in ``DIR/launcher.json`` (``supplymesh stop`` and
``supplymesh status`` read it).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx

from supplymesh.cli.netgen import CONFIG_FILE
from supplymesh.config import NetworkConfig

_PR_SET_PDEATHSIG = 1
LAUNCHER_FILE = "launcher.json"


class LaunchError(Exception):
    """The network could not be started."""


class LaunchStopped(LaunchError):
    """A stop was asked for before every node was healthy."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    with contextlib.suppress(OSError):  # not Linux: the launcher's own stop() still applies
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def port_in_use(host: str, port: int) -> bool:
    """True if something already listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


@dataclass
class LocalNetwork:
    """The node processes of one state directory."""

    state_dir: Path
    config: NetworkConfig
    env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)

    def start(self) -> None:
        """Start every node; refuse if one of their ports is taken."""
        for member in self.config.members:
            url = urlparse(member.url)
            if url.hostname and url.port and port_in_use(url.hostname, url.port):
                raise LaunchError(
                    f"port {url.port} for {member.id} is already in use; pick another --base-port"
                )
        self._write_launcher_file()
        for member in self.config.members:
            self._spawn(member.id)

    def restart(self, node_id: str) -> None:
        """Start ``node_id`` again, on the port it was first given."""
        self.restarts[node_id] = self.restarts.get(node_id, 0) + 1
        self._spawn(node_id)
        self._write_launcher_file()

    def port_of(self, node_id: str) -> int:
        """The port ``node_id`` listens on (from its URL in the config)."""
        return urlparse(self.config.member(node_id).url).port or 80

    def _write_launcher_file(self) -> None:
        record = {"pid": os.getpid(), "restarts": self.restarts}
        path = self.state_dir / LAUNCHER_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_suffix(".tmp")
        temp.write_text(json.dumps(record) + "\n", encoding="utf-8")
        temp.replace(path)

    def _remove_launcher_file(self) -> None:
        path = self.state_dir / LAUNCHER_FILE
        with contextlib.suppress(OSError, ValueError, KeyError):
            if json.loads(path.read_text(encoding="utf-8"))["pid"] == os.getpid():
                path.unlink()

    def _spawn(self, node_id: str) -> None:
        role = str(self.config.member(node_id).role)
        node_dir = self.state_dir / node_id
        node_dir.mkdir(parents=True, exist_ok=True)
        log = (node_dir / "node.log").open("ab")
        command = [
            sys.executable,
            "-m",
            f"supplymesh_{role}",
            "--node-id",
            node_id,
            "--node-dir",
            str(node_dir),
            "--network-config",
            str(self.state_dir / CONFIG_FILE),
            "--port",
            str(self.port_of(node_id)),
        ]
        env = {**os.environ, **self.env}
        self.processes[node_id] = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=_die_with_parent
        )
        log.close()

    def wait_healthy(self, timeout: float = 60.0, stopped: Callable[[], bool] = lambda: False) -> None:
        """Wait until every node answers ``/health`` as itself: its id and its own public key.

        The key tells this network's node from a node of the same id in another network
        that answers at the same address.

        Raises:
            LaunchStopped: if ``stopped()`` turns true first.
            LaunchError: if a node exits or does not answer in time.
        """
        pending = {m.id: m.url for m in self.config.members}
        keys = {m.id: m.public_key for m in self.config.members}
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while pending:
                if stopped():
                    raise LaunchStopped("stopped before every node was healthy")
                for node_id, url in list(pending.items()):
                    process = self.processes[node_id]
                    if process.poll() is not None:
                        raise LaunchError(
                            f"{node_id} exited with status {process.returncode}:\n{self.log_tail(node_id)}"
                        )
                    try:
                        answer = client.get(url + "/health")
                        said = answer.json() if answer.status_code == 200 else {}
                        if said.get("node") == node_id and said.get("key") == keys[node_id]:
                            del pending[node_id]
                    except (httpx.TransportError, ValueError):  # not up yet, or not a node
                        pass
                if pending and time.monotonic() > deadline:
                    raise LaunchError(f"not healthy after {timeout:.0f}s: {', '.join(sorted(pending))}")
                if pending:
                    time.sleep(0.1)

    def log_tail(self, node_id: str, lines: int = 15) -> str:
        """The last lines of a node's log."""
        path = self.state_dir / node_id / "node.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def exited(self) -> dict[str, int]:
        """Nodes that have exited, with their status."""
        return {n: p.returncode for n, p in self.processes.items() if p.poll() is not None}

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM every node, then SIGKILL what is left after ``grace`` seconds; forget the launcher file."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.processes.values():
            remaining = max(0.1, deadline - time.monotonic())
            try:
                process.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._remove_launcher_file()
