"""Merkle tree material for served proofs, extended incrementally as ledgers grow.

Leaf hashes are append-only, so the cache only ever reads the rows added since it last
looked; roots are memoised per (ledger, size). Serving proofs from this cache is an
optimisation for readers; verification never trusts it (the auditor recomputes leaves
from entries).
"""

from __future__ import annotations

import threading

from supplymesh.core import merkle
from supplymesh.storage.ledger_store import LedgerStore


class TreeCache:
    """Leaf hashes and roots per ledger."""

    def __init__(self, store: LedgerStore) -> None:
        self._store = store
        self._leaves: dict[str, list[bytes]] = {}
        self._roots: dict[tuple[str, int], bytes] = {}
        self._lock = threading.Lock()

    def leaves(self, ledger: str, size: int) -> list[bytes]:
        """The first ``size`` leaf hashes (``size`` must not exceed the ledger)."""
        with self._lock:
            known = self._leaves.setdefault(ledger, [])
            if len(known) < size:
                known.extend(self._store.leaf_hashes(ledger, size, after=len(known)))
            return known[:size]

    def root(self, ledger: str, size: int) -> bytes:
        """RFC 9162 root over the first ``size`` leaves."""
        cached = self._roots.get((ledger, size))
        if cached is None:
            cached = merkle.root_from_leaf_hashes(self.leaves(ledger, size))
            self._roots[(ledger, size)] = cached
        return cached
