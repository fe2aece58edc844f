"""Ctrl-C and SIGTERM, caught from the first moment a long-running command begins.

``supplymesh up`` and ``supplymesh demo`` enter :func:`stop_signals` before they start a
node. Either signal then only sets the event it yields; the command looks at it where it
waits (for nodes to become healthy, between supervision rounds) and stops every node it
started, then exits 0 — whether the signal came while nodes were starting, just after
``network.json`` was written, or while the network was serving. Nothing is raised at an
arbitrary point of the program, so no library can swallow the stop, and further signals
only set the event again. Once a stop was asked for, signals stay ignored until exit.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stop_signals() -> Iterator[threading.Event]:
    """SIGINT and SIGTERM set the yielded event inside this block."""
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in _SIGNALS}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_IGN if stop.is_set() else handler)
