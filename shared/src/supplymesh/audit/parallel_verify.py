"""Verify a ledger on several processes: per-entry checks spread, linking in one pass.

The per-entry step (:func:`supplymesh.core.verify.check_record`: parse, hash, Ed25519
verify) dominates and is independent per entry, so it is mapped over a process pool in
chunks; :func:`supplymesh.core.verify.summarise` then links the chain and computes the
Merkle root. With ``workers=1`` it runs in the calling process.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial

from supplymesh.core.crypto import PublicKey
from supplymesh.core.verify import (
    LedgerReport,
    Record,
    RecordCheck,
    RequiredSigners,
    author_only,
    check_record,
    summarise,
)

CHUNK = 2000


def _check_chunk(
    ledger: str, keys: Mapping[str, bytes], required: RequiredSigners, chunk: Sequence[Record]
) -> list[RecordCheck]:
    public = {member: PublicKey(raw) for member, raw in keys.items()}
    # Only findings and links go back: unpickling parsed entries would cost the parent
    # more than the check itself.
    return [check_record(ledger, record, public, required).without_entry() for record in chunk]


def verify_ledger_parallel(
    ledger: str,
    records: Sequence[Record],
    keys: Mapping[str, PublicKey],
    required: RequiredSigners = author_only,
    *,
    workers: int | None = None,
    pool: ProcessPoolExecutor | None = None,
) -> LedgerReport:
    """Verify ``records`` using ``workers`` processes (default: one per core).

    ``required`` must be a module-level function so it can be sent to workers.
    """
    count = workers or os.cpu_count() or 1
    raw_keys = {member: key.raw for member, key in keys.items()}
    job = partial(_check_chunk, ledger, raw_keys, required)
    bounds = [(i, min(i + CHUNK, len(records))) for i in range(0, len(records), CHUNK)]
    if count == 1 or len(bounds) <= 1:
        return summarise(ledger, job(records))
    if pool is None and "fork" in multiprocessing.get_all_start_methods():
        results = _forked(records, bounds, partial(_check_shared, ledger, raw_keys, required), count)
    else:
        chunks = (records[start:stop] for start, stop in bounds)
        if pool is not None:
            results = list(pool.map(job, chunks))
        else:
            with ProcessPoolExecutor(max_workers=count) as own_pool:
                results = list(own_pool.map(job, chunks))
    return summarise(ledger, [c for part in results for c in part])


# Records handed to forked workers by inheritance rather than by pickling: sending
# 100,000 records through pipes kept the parent busy on one of the two cores.
_shared: Sequence[Record] = ()
_shared_lock = threading.Lock()


def _check_shared(
    ledger: str, keys: Mapping[str, bytes], required: RequiredSigners, bounds: tuple[int, int]
) -> list[RecordCheck]:
    return _check_chunk(ledger, keys, required, _shared[bounds[0] : bounds[1]])


def _forked(
    records: Sequence[Record],
    bounds: Sequence[tuple[int, int]],
    job: Callable[[tuple[int, int]], list[RecordCheck]],
    count: int,
) -> list[list[RecordCheck]]:
    global _shared
    with _shared_lock:
        _shared = records
        try:
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=count, mp_context=context) as own_pool:
                return list(own_pool.map(job, bounds))
        finally:
            _shared = ()
