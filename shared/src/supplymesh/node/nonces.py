"""Replay protection for peer requests: each (sender, nonce) is accepted once."""

from __future__ import annotations

import threading
import time

from supplymesh.errors import Unauthenticated


class NonceCache:
    """Nonces seen within the replay window, kept in memory.

    A restart empties the cache, so the node also refuses any request signed before it
    started: such a request could be a replay it can no longer recognise. A sender whose
    clock runs behind is refused for that long after a restart and retries (outbox).
    This keeps replay protection off the disk: no durable write per peer request.
    """

    GRACE_SECONDS = 2

    def __init__(self) -> None:
        # Every peer write is idempotent at the receiver, so the few requests signed in
        # the grace period before a restart that could be replayed once more do no harm;
        # the grace spares senders a refusal when a node starts as they sign.
        self.started = int(time.time()) - self.GRACE_SECONDS
        self._seen: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def remember(self, sender: str, nonce: str, created: int, now: int, window: int) -> None:
        """Accept ``(sender, nonce)`` once.

        Raises:
            Unauthenticated: on a replay or a request signed before this process started.
        """
        if created < self.started:
            raise Unauthenticated("peer request signed before this node started; sign it again")
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen = {k: v for k, v in self._seen.items() if v >= now - 2 * window}
            if (sender, nonce) in self._seen:
                raise Unauthenticated("replayed peer request (nonce already used)")
            self._seen[(sender, nonce)] = now
