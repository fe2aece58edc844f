"""Ctrl-C and SIGTERM, caught from the first moment a long-running command begins.

``supplymesh up`` and ``supplymesh demo`` enter :func:`stop_signals` before they start a
node. Either signal then raises :class:`KeyboardInterrupt` in the main thread, once: the
command stops every node it started and exits 0, whether the signal came while nodes were
starting, just after ``network.json`` was written, or while the network was serving.
Once a stop was asked for, further signals are ignored until the process exits, so a
second one can neither cut the stop short nor kill the process by its signal afterwards.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stop_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise KeyboardInterrupt (the first one only) inside this block.

    A stop that nothing inside caught ends the block as ``SystemExit(0)``.
    """
    raised = False

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        nonlocal raised
        if not raised:
            raised = True
            raise KeyboardInterrupt

    previous = {s: signal.signal(s, on_signal) for s in _SIGNALS}
    try:
        yield
    except KeyboardInterrupt:
        if raised:
            raise SystemExit(0) from None
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_IGN if raised else handler)
