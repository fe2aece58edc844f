"""What the scenarios are driven with: an ERP client per node, polling, checks, a timeline.

A call that fails, a wait that times out or a check that does not hold raises
:class:`ScenarioFailed`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from rich.console import Console


class ScenarioFailed(Exception):
    """A step did not give the outcome of the paper's worked example."""


class ScenarioClient:
    """ERP clients of every node in ``nodes`` (the ``network.json`` of ``supplymesh up``), and a timeline."""

    def __init__(self, nodes: dict[str, Any], console: Console, *, timeout: float = 60.0) -> None:
        self.nodes = nodes
        self.console = console
        self.timeout = timeout
        self.clients = {
            node_id: httpx.Client(
                base_url=info["url"], timeout=30.0, headers={"Authorization": f"Bearer {info['erp_token']}"}
            )
            for node_id, info in nodes.items()
        }
        self.started = time.monotonic()

    def close(self) -> None:
        """Close HTTP connections."""
        for client in self.clients.values():
            client.close()

    def say(self, who: str, text: str) -> None:
        """One line of the timeline."""
        elapsed = time.monotonic() - self.started
        self.console.print(f"[dim]{elapsed:7.2f}s[/dim] [bold cyan]{who:>11}[/bold cyan]  {text}")

    def call(self, node: str, method: str, path: str, **kwargs: Any) -> Any:
        """An ERP call that must succeed."""
        response = self.clients[node].request(method, path, **kwargs)
        if response.status_code >= 400:
            raise ScenarioFailed(f"{node} {method} {path}: HTTP {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def wait(self, what: str, probe: Callable[[], Any]) -> Any:
        """Poll ``probe`` until it returns something truthy."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            value = probe()
            if value:
                return value
            time.sleep(0.1)
        raise ScenarioFailed(f"timed out waiting for {what}")

    @staticmethod
    def expect(condition: bool, message: str) -> None:
        """Raise unless ``condition``."""
        if not condition:
            raise ScenarioFailed(message)
