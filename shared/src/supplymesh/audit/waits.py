"""How long each demand waited for its decision, from the network ledger alone.

The PDU, as sequencer, chooses when to propose, so it can delay a demand (SPEC §2,
known limit). The auditor cannot prove a delay was unjustified, but it reports, for
every demand, the time from the entry that submitted it to the entry that decided it
(a split, or ``demand.failed``), using the entries' own times. An ERP or a regulator
can then see which demands waited and for how long.

Those times are the PDU's. The audit computes waits only from times that passed its
time checks (:mod:`supplymesh.audit.steering`: monotonic along the ledger, and within
the documented clock skew of the inputs an entry uses), and only over the network
ledger's reference (the prefix that verifies). A wait whose submission or decision time
failed a check is reported without ``seconds`` and with ``time_checked`` false.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace

from supplymesh.core.actions import DEMAND_SUBMITTED
from supplymesh.core.contracts.network import DEMAND_FAILED, SPLIT
from supplymesh.core.entry import SealedEntry, parse_time


@dataclass(frozen=True, slots=True)
class DemandWait:
    """One demand: when it was submitted and decided (None while pending)."""

    demand: str
    buyer: str
    demand_id: str
    submitted_seq: int
    submitted: str
    decided_seq: int | None = None
    decided: str | None = None
    outcome: str | None = None
    time_checked: bool = True

    @property
    def seconds(self) -> int | None:
        """Whole seconds from submission to decision (None while pending, or from unchecked times)."""
        if self.decided is None or not self.time_checked:
            return None
        return int((parse_time(self.decided) - parse_time(self.submitted)).total_seconds())

    def as_json(self) -> dict[str, object]:
        """Wire form."""
        return {
            "demand": self.demand,
            "buyer": self.buyer,
            "demand_id": self.demand_id,
            "submitted_seq": self.submitted_seq,
            "submitted": self.submitted,
            "decided_seq": self.decided_seq,
            "decided": self.decided,
            "outcome": self.outcome,
            "seconds": self.seconds,
            "time_checked": self.time_checked,
        }


def _text(value: object) -> str:
    """A served string as it is, anything else as the empty string (never an exception)."""
    return value[:200] if isinstance(value, str) else ""


def demand_waits(network: Iterable[SealedEntry], untrusted: Collection[int] = ()) -> list[DemandWait]:
    """Every demand on the network ledger with its wait, in submission order.

    Args:
        network: the network ledger's entries, from seq 1 (the audit passes its reference).
        untrusted: seqs whose time failed a time check; a wait that starts or ends at one
            of them has no ``seconds`` and ``time_checked`` false.
    """
    waits: dict[str, DemandWait] = {}
    for sealed in network:
        entry = sealed.entry
        body = entry.body
        if entry.kind == DEMAND_SUBMITTED and isinstance(body.get("action"), dict):
            action = body["action"]
            waits[entry.hash] = DemandWait(
                demand=entry.hash,
                buyer=_text(action.get("party")),
                demand_id=_text(action.get("id")),
                submitted_seq=entry.seq,
                submitted=entry.time,
                time_checked=entry.seq not in untrusted,
            )
            continue
        if entry.kind == SPLIT:
            result = body.get("result")
            key = _text(result.get("demand")) if isinstance(result, dict) else ""
            outcome = "split"
        elif entry.kind == DEMAND_FAILED:
            key = _text(body.get("demand"))
            outcome = "failed"
        else:
            continue
        wait = waits.get(key)
        if wait is not None and wait.decided is None:
            checked = wait.time_checked and entry.seq not in untrusted
            waits[key] = replace(
                wait, decided_seq=entry.seq, decided=entry.time, outcome=outcome, time_checked=checked
            )
    return sorted(waits.values(), key=lambda w: w.submitted_seq)
