"""What the soak's driver records, and the ERP calls it makes through it.

Every call and every wait goes through :class:`Recorder`: a latency per operation (with
the time it ended), an error for any answer that is not the expected one, any transport
failure or any wait that times out, the outcome of each lifecycle, and the driver's own
books (money it paid into escrows, and which OEM holds each escrow it saw).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

POLL_SECONDS = 0.02
KEPT_ERRORS = 50


class Flaw(Exception):
    """A call or a wait did not give what the lifecycle expects; the lifecycle stops there."""


@dataclass
class Recorder:
    """Latencies, errors, outcomes and the driver's books, shared by every worker thread."""

    runtime: dict[str, Any]
    """``nodes`` of ``network.json``: each node's URL and ERP token."""
    wait_timeout: float
    started: float = field(default_factory=time.monotonic)
    ops: list[tuple[float, str, float]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    error_count: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    deposited: int = 0
    escrows: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _local: threading.local = field(default_factory=threading.local)
    _opened: list[httpx.Client] = field(default_factory=list)

    def client(self, node: str) -> httpx.Client:
        """This thread's ERP client of ``node`` (connections are not shared between threads)."""
        clients: dict[str, httpx.Client] = self._local.__dict__.setdefault("clients", {})
        if node not in clients:
            info = self.runtime[node]
            clients[node] = httpx.Client(
                base_url=info["url"], timeout=60.0, headers={"Authorization": f"Bearer {info['erp_token']}"}
            )
            with self.lock:
                self._opened.append(clients[node])
        return clients[node]

    def close(self) -> None:
        """Close every client of every thread."""
        for http in self._opened:
            http.close()

    def now(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.started

    def timing(self, op: str, since: float) -> None:
        """Record that ``op`` took from ``since`` (monotonic) until now."""
        end = time.monotonic()
        with self.lock:
            self.ops.append((round(end - self.started, 3), op, end - since))

    def outcome(self, what: str) -> None:
        """Count one outcome (``released``, ``surplus``, ``cancelled``…)."""
        with self.lock:
            self.outcomes[what] += 1

    def error(self, where: str, what: str) -> None:
        """Count an error; keep the first :data:`KEPT_ERRORS` with their time."""
        with self.lock:
            self.error_count += 1
            if len(self.errors) < KEPT_ERRORS:
                self.errors.append({"t": round(self.now(), 2), "where": where, "what": what[:500]})

    def paid(self, oem: str, escrow: str, amount: int) -> None:
        """The driver paid ``amount`` into ``escrow`` at ``oem``."""
        with self.lock:
            self.deposited += amount
            self.escrows[escrow] = oem

    def saw(self, oem: str, escrow: str) -> None:
        """An escrow held at ``oem`` (even one that was never paid)."""
        with self.lock:
            self.escrows.setdefault(escrow, oem)

    def call(
        self, node: str, method: str, path: str, *, op: str | None = None, expect: int = 200, **kwargs: Any
    ) -> Any:
        """An ERP call answered ``expect``; its JSON. Its latency is recorded under ``op``."""
        since = time.monotonic()
        try:
            answer = self.client(node).request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise Flaw(f"{node} {method} {path}: {type(exc).__name__}: {exc}") from exc
        if answer.status_code != expect:
            raise Flaw(f"{node} {method} {path}: HTTP {answer.status_code} {answer.text[:300]}")
        if op is not None:
            self.timing(op, since)
        return answer.json() if answer.content else None

    def wait(self, what: str, probe: Callable[[], Any], timeout: float | None = None) -> Any:
        """Poll ``probe`` until it returns something truthy."""
        deadline = time.monotonic() + (timeout or self.wait_timeout)
        while time.monotonic() < deadline:
            value = probe()
            if value:
                return value
            time.sleep(POLL_SECONDS)
        raise Flaw(f"timed out waiting for {what}")

    def get_if(self, node: str, path: str, keep: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        """The resource at ``path`` if it exists (not 404) and ``keep`` holds for it."""
        try:
            answer = self.client(node).get(path)
        except httpx.HTTPError as exc:
            raise Flaw(f"{node} GET {path}: {type(exc).__name__}: {exc}") from exc
        if answer.status_code == 404:
            return None
        if answer.status_code != 200:
            raise Flaw(f"{node} GET {path}: HTTP {answer.status_code} {answer.text[:300]}")
        body: dict[str, Any] = answer.json()
        return body if keep(body) else None
