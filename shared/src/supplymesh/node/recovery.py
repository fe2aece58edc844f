"""What a node learnt from its peers after a restore: what it recovered, what is lost.

A node restored from a backup, or rebuilt from nothing but its keys, may lack entries
it signed after the backup was taken. Its peers hold the ones that reached them (the
counterpart's copy of a channel, the partners' replicas of the network ledger); its
private records (a supplier's DMS, an OEM's demands not yet sequenced) exist nowhere
else. ``supplymesh restore`` leaves the file ``restored`` in the node directory: a node
that starts with it appends nothing on a ledger it sequences until a peer said what it
holds there (so it never signs a second, different entry for a seq it signed before),
and names every entry it recovered and every record it knows it lost. When every step
is done the file is replaced by ``recovery.json``, the report of that recovery.

Without the file a node trusts its database: it holds everything the node signed.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MARKER_FILE = "restored"
REPORT_FILE = "recovery.json"
log = logging.getLogger("supplymesh.recovery")


@dataclass
class Recovery:
    """The recovery report of one node process (shown in ``/health``)."""

    node_dir: Path | None = None
    restored: bool = False
    """The node started with the ``restored`` marker: it waits for its peers before appending."""
    since: str | None = None
    """When the backup restored was taken: records acknowledged after it may be lost (None: rebuilt)."""
    recovered: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    unknowable: list[str] = field(default_factory=list)
    """What no peer can tell: records that may have been acknowledged and lost."""
    waiting: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def at_start(cls, node_dir: Path) -> Recovery:
        """The report of a node starting in ``node_dir`` (marked restored if the marker is there)."""
        marker = node_dir / MARKER_FILE
        if not marker.exists():
            return cls(node_dir=node_dir)
        try:
            saved = json.loads(marker.read_text() or "{}")
        except ValueError:
            saved = {}
        return cls(
            node_dir=node_dir,
            restored=True,
            since=saved.get("since"),
            recovered=list(saved.get("recovered", [])),
            lost=list(saved.get("lost", [])),
            unknowable=list(saved.get("unknowable", [])),
        )

    @property
    def complete(self) -> bool:
        """Every step of the recovery is done (always true for a node not marked restored)."""
        return not self.waiting

    def expect(self, step: str) -> None:
        """A step (e.g. a ledger to catch up) that must be done before the marker is removed."""
        if self.restored:
            with self._lock:
                self.waiting.add(step)

    def note_recovered(self, message: str) -> None:
        """Something missing from the database was recovered from a peer."""
        log.warning("recovered: %s", message)
        with self._lock:
            if message not in self.recovered:
                self.recovered.append(message)
        self._save()

    def note_lost(self, message: str) -> None:
        """Something this node acknowledged is lost, or may be: named for the operator."""
        log.error("lost: %s", message)
        with self._lock:
            if message not in self.lost:
                self.lost.append(message)
        self._save()

    def note_unknowable(self, message: str) -> None:
        """Records that may have been acknowledged and lost, which no peer can tell."""
        log.warning("cannot be checked: %s", message)
        with self._lock:
            if message not in self.unknowable:
                self.unknowable.append(message)
        self._save()

    def done(self, step: str) -> None:
        """``step`` is done; the last one ends the recovery (the marker becomes the report)."""
        with self._lock:
            if step not in self.waiting:
                return
            self.waiting.discard(step)
            finished = not self.waiting
        if finished:
            self._finish()

    def as_json(self) -> dict[str, Any]:
        """The report as ``/health`` shows it."""
        with self._lock:
            return {
                "restored": self.restored,
                "since": self.since,
                "complete": not self.waiting,
                "waiting_for": sorted(self.waiting),
                "recovered": list(self.recovered),
                "lost": list(self.lost),
                "unknowable": list(self.unknowable),
            }

    def _save(self) -> None:
        """Keep the report in the marker while the recovery runs (a crash does not lose it)."""
        if self.restored and self.waiting and self.node_dir is not None:
            _write(self.node_dir / MARKER_FILE, self.as_json())

    def _finish(self) -> None:
        """Replace the marker by the report of this recovery."""
        if self.node_dir is None:
            return
        _write(self.node_dir / REPORT_FILE, self.as_json())
        (self.node_dir / MARKER_FILE).unlink(missing_ok=True)
        log.warning(
            "recovery after restore complete: %d recovered, %d lost (%s)",
            len(self.recovered),
            len(self.lost),
            REPORT_FILE,
        )


def seqs(first: int, last: int) -> str:
    """``seq 3`` or ``seq 3..5``, as the report names a range of entries."""
    return f"seq {first}" if first == last else f"seq {first}..{last}"


def _write(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as JSON to ``path`` atomically."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(temporary, path)
