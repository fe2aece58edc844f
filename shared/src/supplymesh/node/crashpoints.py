"""Crash points: a testing aid that kills this node with SIGKILL at one named step.

``SUPPLYMESH_FAULT_KILL_AT=<point>`` (or ``<point>:<kind>``), read once when the process
starts, arms one point of :data:`POINTS`; the first time the node reaches it — for
``<point>:<kind>``, with an entry, action or request of that kind — the process kills
itself with SIGKILL, as ``kill -9`` would, with nothing flushed or closed. The kill -9
tests (``tests/system/test_kill_matrix.py``) restart the node afterwards and check that
nothing was lost or done twice. Unset (the default), :func:`reached` does nothing. An
unknown point refuses the start, so a misspelt point cannot pass a test by never firing.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

ENV_VAR = "SUPPLYMESH_FAULT_KILL_AT"

POINTS: dict[str, str] = {
    "erp.applied": "an ERP write's effect is committed, its answer not yet sent (kind: last path segment)",
    "supplier.attested": "a supplier's attestation for a demand is endorsed, the PDU not yet answered",
    "network.vote.received": "a partner was offered decisions, not yet checked (kind: decision)",
    "network.vote.signed": "a partner signed and recorded decisions, the PDU not yet answered (kind)",
    "network.push.received": "a partner was pushed committed entries, not yet appended (kind)",
    "network.push.applied": "a partner appended pushed entries, the PDU not yet answered (kind)",
    "pdu.action.sequenced": "the PDU appended a party's action, the party not yet answered (kind: action)",
    "pdu.attestations.gathered": "the PDU gathered attestations for a round, nothing proposed yet",
    "pdu.block.saved": "the PDU persisted a block of decisions, about to offer it (kind: decision)",
    "pdu.vote.received": "a partner's signatures reached the PDU, other votes outstanding (kind)",
    "pdu.block.committed": "the PDU committed a certified block, its pushes queued, none sent (kind)",
    "pdu.push.delivered": "a partner took a push, the PDU's outbox not yet told (kind)",
    "auditor.audit.kept": "the auditor stored what an audit pulled, its report not yet written",
}
"""Every crash point, with the moment it stands for; ``(kind)``: may be narrowed by a kind."""

log = logging.getLogger("supplymesh.crashpoints")


def _armed(value: str | None) -> tuple[str, str] | None:
    """The armed point and kind ("" for any) of ``value``; None if unset.

    Raises:
        ValueError: if the point is not one of :data:`POINTS`.
    """
    if not value:
        return None
    point, _, kind = value.partition(":")
    if point not in POINTS:
        raise ValueError(f"{ENV_VAR}={value!r}: unknown crash point; known: {', '.join(sorted(POINTS))}")
    return point, kind


ARMED = _armed(os.environ.get(ENV_VAR))


def reached(point: str, *kinds: str) -> None:
    """Kill this process with SIGKILL if ``point`` (with one of ``kinds``, if narrowed) is armed."""
    if point not in POINTS:
        raise ValueError(f"unknown crash point {point!r}")
    if ARMED is None or ARMED[0] != point or (ARMED[1] and ARMED[1] not in kinds):
        return
    log.critical("crash point %s reached (%s): killing this process", point, ",".join(kinds))
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)
