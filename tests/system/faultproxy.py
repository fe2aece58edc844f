"""A fault-injecting TCP proxy for tests: one listener in front of each node, faults per link.

Every member's URL in the network config points at a listener of the proxy, which
forwards to the port the node really listens on. Since every peer request carries an
RFC 9421 signature naming its sender (``keyid``), the proxy reads the head of the first
request of each connection and so knows the link ``sender → member`` (ERP and test
clients, which sign nothing, are the sender ``"client"``). Faults are set per link or
for every sender of a member, and can expire after a number of seconds:

* :data:`PASS` forwards; ``Fault("latency", seconds)`` delays every chunk both ways;
* ``Fault("drop")`` closes the connection (FIN) at its next chunk;
* ``Fault("reset")`` aborts it with a TCP RST (a new connection at its first request);
* ``Fault("blackhole")`` accepts and reads, never forwards nor answers (half-open);
* ``Fault("flaky", p)`` resets a connection at each chunk with probability ``p``;
* ``Fault("trickle", seconds)`` answers one byte every ``seconds`` (a slow peer).

Rules are read at every chunk, so a fault set while a keep-alive connection is idle
applies to the next request on it, and clearing a fault lets a held connection go on.
The proxy runs its own event loop in a daemon thread; its methods are thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

CLIENT = "client"
"""The sender of unsigned requests (ERP clients, the test itself)."""
ANY = "*"
"""A rule for every sender of a member."""
_KEYID = re.compile(rb'keyid="([a-z0-9-]{1,63})"')
_HEAD_MAX = 64 * 1024


@dataclass(frozen=True)
class Fault:
    """What a link does to its traffic; ``value`` is seconds or a probability."""

    kind: str = "pass"
    value: float = 0.0


PASS = Fault()
BLACKHOLE = Fault("blackhole")
RESET = Fault("reset")
DROP = Fault("drop")


@dataclass
class _Rule:
    fault: Fault
    until: float  # monotonic; inf for no expiry


@dataclass
class Stats:
    """What the proxy did, per kind of fault applied (connections or chunks)."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str) -> None:
        """Count one application of ``kind``."""
        self.counts[kind] = self.counts.get(kind, 0) + 1


class FaultProxy:
    """Listeners on ``127.0.0.1:<listen port>`` forwarding to ``127.0.0.1:<target port>`` per member."""

    def __init__(self, routes: dict[str, tuple[int, int]], *, seed: int = 7) -> None:
        """``routes``: member id → (port the proxy listens on, port the node listens on)."""
        self.routes = dict(routes)
        self.stats = Stats()
        self._rules: dict[tuple[str, str], _Rule] = {}
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="faultproxy")
        self._servers: list[asyncio.AbstractServer] = []

    # -- control, from any thread ------------------------------------------------------------

    def start(self) -> None:
        """Open every listener."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=30)

    def stop(self) -> None:
        """Close every listener and stop the loop."""
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        if not self._thread.is_alive():
            self._loop.close()

    def set(self, member: str, fault: Fault, *, sender: str = ANY, seconds: float | None = None) -> None:
        """Apply ``fault`` to traffic from ``sender`` to ``member`` (for ``seconds``, or until changed)."""
        until = time.monotonic() + seconds if seconds is not None else float("inf")
        with self._lock:
            self._rules[(sender, member)] = _Rule(fault, until)

    def isolate(self, member: str, fault: Fault = BLACKHOLE, *, seconds: float | None = None) -> None:
        """Cut ``member`` off from every other member both ways (its ERP clients still reach it)."""
        self.set(member, fault, seconds=seconds)
        self.set(member, PASS, sender=CLIENT, seconds=seconds)
        for other in self.routes:
            if other != member:
                self.set(other, fault, sender=member, seconds=seconds)

    def clear(self) -> None:
        """Every link passes again."""
        with self._lock:
            self._rules.clear()

    def fault(self, sender: str, member: str) -> Fault:
        """The fault in force on the link now: the link's own rule, else the member's, else pass."""
        now = time.monotonic()
        with self._lock:
            for key in ((sender, member), (ANY, member)):
                rule = self._rules.get(key)
                if rule is not None and rule.until > now:
                    return rule.fault
        return PASS

    # -- the loop ------------------------------------------------------------------------------

    async def _listen(self) -> None:
        for member, (listen, _) in self.routes.items():
            server = await asyncio.start_server(
                functools.partial(self._serve, member), "127.0.0.1", listen, reuse_address=True
            )
            self._servers.append(server)

    async def _close(self) -> None:
        for server in self._servers:
            server.close()
            await server.wait_closed()
        for task in asyncio.all_tasks(self._loop):
            if task is not asyncio.current_task():
                task.cancel()

    async def _serve(self, member: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One client connection: learn its sender, connect upstream, pump both ways under the rules."""
        try:
            head = await _read_head(reader)
            if not head:
                writer.close()
                return
            found = _KEYID.search(head)
            sender = found[1].decode() if found else CLIENT
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.routes[member][1])
        except OSError:
            _reset(writer)
            return
        link = (sender, member)
        await asyncio.gather(
            self._pump(head, reader, up_writer, link, writer, up_writer),
            self._pump(b"", up_reader, writer, link, writer, up_writer, back=True),
            return_exceptions=True,
        )
        for end in (writer, up_writer):
            with contextlib.suppress(Exception):
                end.close()

    async def _pump(
        self,
        first: bytes,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        link: tuple[str, str],
        client: asyncio.StreamWriter,
        upstream: asyncio.StreamWriter,
        *,
        back: bool = False,
    ) -> None:
        """Forward ``first`` and then every chunk of ``source`` to ``sink``, applying the link's fault."""
        chunk = first
        while True:
            if chunk:
                fault = self.fault(*link)
                if fault.kind in ("reset", "drop") or (
                    fault.kind == "flaky" and self._random.random() < fault.value
                ):
                    self.stats.add(fault.kind)
                    if fault.kind == "drop":
                        client.close()
                    else:
                        _reset(client)
                    _reset(upstream)
                    return
                if fault.kind == "blackhole":
                    self.stats.add("blackhole")  # read and forgotten: the peer never hears of it
                else:
                    await self._forward(chunk, sink, link, fault, back=back)
            chunk = await source.read(65536)
            if not chunk:
                with contextlib.suppress(Exception):
                    sink.write_eof()
                return

    async def _forward(
        self, chunk: bytes, sink: asyncio.StreamWriter, link: tuple[str, str], fault: Fault, *, back: bool
    ) -> None:
        """Write ``chunk`` to ``sink``: late under latency, byte by byte while the answer trickles."""
        if fault.kind == "latency":
            await asyncio.sleep(fault.value)
        if fault.kind == "trickle" and back:
            for index in range(len(chunk)):
                if self.fault(*link).kind != "trickle":  # healed: the rest goes at once
                    sink.write(chunk[index:])
                    break
                self.stats.add("trickle")
                sink.write(chunk[index : index + 1])
                await sink.drain()
                await asyncio.sleep(fault.value)
        else:
            sink.write(chunk)
        await sink.drain()


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    """The bytes of the first request up to the end of its head (all of them, if it never ends)."""
    head = b""
    while b"\r\n\r\n" not in head and len(head) < _HEAD_MAX:
        chunk = await reader.read(65536)
        if not chunk:
            break
        head += chunk
    return head


def _reset(writer: asyncio.StreamWriter) -> None:
    """Abort the connection with a TCP RST (SO_LINGER 0)."""
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError, AttributeError):
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(Exception):
        writer.transport.abort()
