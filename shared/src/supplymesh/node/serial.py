"""One piece of work at a time per key, different keys in parallel (within one node process).

A check-then-act handler (is the escrow still awaiting a deposit? then record it) is
correct on its own but not when the same act arrives twice at once: both checks pass
before either act is recorded. :class:`PerKey` gives each key (an escrow, an order) its
own :class:`asyncio.Lock`; a lock lives only while some request holds or awaits it.
"""

from __future__ import annotations

import asyncio
import weakref


class PerKey:
    """An :class:`asyncio.Lock` per key, dropped when no one holds or awaits it."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def __call__(self, key: str) -> asyncio.Lock:
        """The lock of ``key``."""
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock
