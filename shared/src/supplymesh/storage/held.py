"""Idempotency-Key reservations as the requests of this process hold them, or gave them up.

A reservation row names its owner (:mod:`supplymesh.storage.idempotency`). Whether that
owner's request is still running is known only to this process: a row of this start
whose owner no request holds was left by a request whose database failed under it (its
response or its release could not be written), and a retry may take it over by the
rules for a previous start's. A request that raised and could not drop its reservation
is *abandoned*: it committed nothing a retry could double, so a retry runs afresh.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_held: set[str] = set()
_abandoned: set[str] = set()


def holds(owner: str) -> bool:
    """True while a request of this process holds ``owner``'s reservation."""
    return owner in _held


def abandoned(owner: str) -> bool:
    """True if ``owner``'s request raised and its reservation could not be dropped."""
    return owner in _abandoned


def drop(owner: str) -> None:
    """``owner``'s request no longer holds a reservation."""
    with _lock:
        _held.discard(owner)


def forget(owner: str) -> None:
    """A retry took ``owner``'s abandoned reservation over."""
    with _lock:
        _abandoned.discard(owner)


@contextlib.contextmanager
def holding(owner: str, *, until_error: bool = False) -> Iterator[None]:
    """Hold ``owner`` from the start of the block: to its end, or (``until_error``) until it fails."""
    with _lock:
        _held.add(owner)
    try:
        yield
    except BaseException:
        drop(owner)
        raise
    if not until_error:
        drop(owner)


@contextlib.contextmanager
def releasing(owner: str) -> Iterator[None]:
    """The block drops ``owner``'s reservation; if it fails, the reservation is abandoned."""
    try:
        yield
    except BaseException:
        with _lock:
            _abandoned.add(owner)
        raise
    finally:
        drop(owner)
