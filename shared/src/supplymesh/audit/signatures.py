"""An audit's distinct Ed25519 signatures, verified on a pool of processes while the copies are parsed.

The auditor parses every served entry in its own process (the checks need the parsed
entries); the signatures are verified meanwhile by worker processes: as each chunk of
entries is parsed, its signatures not seen before go to the pool as small
``(signer, signature, digest)`` jobs, so parsing and verifying overlap on every core.
Only the failures come back. A job's outcome depends on nothing else, so each distinct
job is verified once, whichever holders served it.

The workers fork from a small server process (:func:`prepare_workers` starts it once per
process), not from the auditor itself. With one worker, fewer distinct signatures than
:data:`MIN_PARALLEL` (the pool would cost more than it saves), or no fork server on the
platform, everything is verified in-process. The outcome is the same either way.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import forkserver

from supplymesh.core.crypto import PublicKey, SignatureError
from supplymesh.core.entry import SealedEntry

log = logging.getLogger("supplymesh.audit")
Job = tuple[str, str, bytes]
"""A signature to verify: signer, base64url signature, the 32-byte entry digest."""
Outcome = Callable[[Job], str | None]
"""Why a job's signature does not verify (the verifier's message), or None if it does."""

CHUNK = 2000
"""Jobs per task sent to a worker."""
MIN_PARALLEL = 4000
"""Fewer distinct signatures than this are verified in-process: the pool would cost more."""


def worker_count(setting: int) -> int:
    """The workers a setting asks for: ``0`` means one per core."""
    return setting if setting > 0 else os.cpu_count() or 1


def verify_one(keys: Mapping[str, PublicKey], job: Job) -> str | None:
    """The outcome of one job, verified here (the signer's key must be known)."""
    signer, sig, digest = job
    try:
        keys[signer].verify_text(sig, digest)
    except SignatureError as exc:
        return str(exc)
    return None


class Verifier:
    """Collects an audit's signatures and verifies each distinct one once, on ``workers`` processes.

    Feed it with :meth:`add` (parsed entries) or :meth:`add_jobs`, then take :meth:`failures`
    once; :meth:`close` releases the pool (also on error).
    """

    def __init__(
        self,
        keys: Mapping[str, PublicKey],
        workers: int = 1,
        *,
        chunk: int | None = None,
        threshold: int | None = None,
    ) -> None:
        self.keys = keys
        self.workers = workers
        self.chunk = chunk or CHUNK
        self.threshold = MIN_PARALLEL if threshold is None else threshold
        self._seen: dict[Job, None] = {}
        self._buffer: list[Job] = []
        self._pool: ProcessPoolExecutor | None = None
        self._sent: list[tuple[list[Job], Future[list[tuple[int, str]]]]] = []

    def add(self, parsed: Iterable[SealedEntry | None]) -> None:
        """Every signature of a known signer in ``parsed``."""
        keys = self.keys
        self.add_jobs(
            (signature.signer, signature.sig, sealed.entry.digest)
            for sealed in parsed
            if sealed is not None
            for signature in sealed.signatures
            if signature.signer in keys
        )

    def add_jobs(self, jobs: Iterable[Job]) -> None:
        """Jobs to verify (those seen before are not verified again)."""
        seen, buffer = self._seen, self._buffer
        for job in jobs:
            if job not in seen:
                seen[job] = None
                buffer.append(job)
        self._send(final=False)

    def failures(self) -> dict[Job, str]:
        """Every job that does not verify, and why."""
        self._send(final=True)
        failed = {job: why for job in self._buffer if (why := verify_one(self.keys, job)) is not None}
        try:
            for part, future in self._sent:
                failed.update(self._outcome(part, future))
        finally:
            self.close()
        return failed

    def _outcome(self, part: list[Job], future: Future[list[tuple[int, str]]]) -> Iterable[tuple[Job, str]]:
        try:
            return [(part[index], why) for index, why in future.result()]
        except (BrokenProcessPool, CancelledError, OSError):  # no worker did it: it is verified here
            log.warning("audit: a signature worker failed; its part is verified in-process", exc_info=True)
            return [(job, why) for job in part if (why := verify_one(self.keys, job)) is not None]

    def close(self) -> None:
        """Release the pool, if one was started."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def _send(self, *, final: bool) -> None:
        if self._pool is None:
            if self.workers <= 1 or len(self._seen) < self.threshold or not can_fork():
                return  # verified in-process by failures()
            try:
                self._pool = start_pool(self.workers, self.keys)
            except OSError:  # no processes to be had: everything is verified here
                log.warning("audit: no signature workers could start", exc_info=True)
                self.workers = 1
                return
        buffer, chunk = self._buffer, self.chunk
        whole = len(buffer) if final else len(buffer) - len(buffer) % chunk
        done = 0
        try:
            while done < whole:
                part = buffer[done : min(done + chunk, whole)]
                self._sent.append((part, self._pool.submit(_verify_part, part)))
                done += len(part)
        except (BrokenProcessPool, RuntimeError):  # the pool broke: the rest is verified here
            log.warning(
                "audit: the signature workers stopped; the rest is verified in-process", exc_info=True
            )
            self.workers = 1
            self.close()
        del buffer[:done]


def verify_signatures(
    jobs: Sequence[Job],
    keys: Mapping[str, PublicKey],
    *,
    workers: int = 1,
    chunk: int | None = None,
    threshold: int | None = None,
) -> dict[Job, str]:
    """The jobs that fail and why, verified on ``workers`` processes (see :class:`Verifier`)."""
    verifier = Verifier(keys, workers, chunk=chunk, threshold=threshold)
    try:
        verifier.add_jobs(jobs)
        return verifier.failures()
    finally:
        verifier.close()


def can_fork() -> bool:
    """Whether worker processes can start from a fork server."""
    return "forkserver" in multiprocessing.get_all_start_methods()


def prepare_workers(workers: int) -> None:
    """Start the fork server now (e.g. while the copies are pulled) if ``workers`` will need it."""
    if workers > 1 and can_fork():
        multiprocessing.get_context("forkserver").set_forkserver_preload([__name__])
        try:
            forkserver.ensure_running()
        except OSError:  # the pool tries again, or the audit verifies in-process
            log.warning("audit: the fork server for signature workers did not start", exc_info=True)


def start_pool(workers: int, keys: Mapping[str, PublicKey]) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes that know ``keys``.

    They fork from a small server process (started once, with this module loaded), not
    from the auditor: forking the auditor, whose memory holds every pulled entry, made
    it copy each page it touched afterwards while parsing, which cost more than the
    workers saved.
    """
    raw = {member: key.raw for member, key in keys.items()}
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_know, initargs=(raw,))


_keys: dict[str, PublicKey] = {}
"""In a worker: the keys of the network being audited."""


def _know(raw: Mapping[str, bytes]) -> None:
    _keys.clear()
    _keys.update({member: PublicKey(key) for member, key in raw.items()})


def _verify_part(jobs: Sequence[Job]) -> list[tuple[int, str]]:
    """In a worker: the index and reason of each job of ``jobs`` that does not verify."""
    return [(index, why) for index, job in enumerate(jobs) if (why := verify_one(_keys, job)) is not None]
