"""When things happened to this buyer's demands and escrows, read from its network replica.

The folded state says what a demand or an escrow *is*; an ERP reconciling it also wants
when it got there, by which entry and why. :class:`LedgerHistory` indexes the entries of
the node's own replica that concern this buyer — its demands' sequencing, splits and
failures (with the split's inputs: who attested, who was unavailable, who was skipped),
its deposits, its offer acceptances, and the release, refund or cancellation of its
escrows — as they are (an entry the fold refused changed nothing and is left out). It
catches up incrementally from the stored ledger before each read, so it needs no table
of its own and is complete after a restart.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.actions import DEMAND_SUBMITTED, ESCROW_DEPOSITED, OFFER_ACCEPTED
from supplymesh.core.contracts.ids import OfferId
from supplymesh.core.contracts.network import (
    CANCEL,
    DEMAND_FAILED,
    REFUND,
    RELEASE,
    SPLIT,
    NetworkState,
    acceptance_escrow_id,
)
from supplymesh.core.entry import Entry
from supplymesh.network.replica import NetworkReplica

SETTLED = {RELEASE: "released", REFUND: "refunded", CANCEL: "cancelled"}
BATCH = 500


@dataclass(frozen=True, slots=True)
class Moment:
    """One network entry that moved a demand or an escrow: what, when, where, why."""

    event: str
    seq: int
    time: str
    hash: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class SplitFacts:
    """A split decision of one of this buyer's demands, with what it was computed from."""

    moment: Moment
    attested: frozenset[str]
    unavailable: dict[str, str]
    skipped: dict[str, str]


@dataclass
class LedgerHistory:
    """This buyer's moments on the network ledger, indexed from its replica."""

    replica: NetworkReplica
    submitted: dict[str, Moment] = field(default_factory=dict)
    """Demand id → the entry that sequenced it."""
    splits: dict[str, SplitFacts] = field(default_factory=dict)
    """Demand hash → its split."""
    failures: dict[str, Moment] = field(default_factory=dict)
    """Demand hash → the PDU's ``demand.failed`` entry."""
    escrows: dict[str, list[Moment]] = field(default_factory=dict)
    """Escrow id → created, deposited, released | refunded | cancelled."""
    accepted: dict[str, Moment] = field(default_factory=dict)
    """Offer id → this buyer's acceptance."""
    size: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def caught_up(self) -> LedgerHistory:
        """This index with every entry the replica has folded so far."""
        state = self.replica.state
        with self._lock:
            while self.size < state.size:
                rows = self.replica.node.store.entries(NETWORK_LEDGER, after=self.size, limit=BATCH)
                if not rows:
                    break
                for row in rows:
                    if row.seq > state.size:
                        break
                    if row.seq not in state.refused:
                        self._observe(Entry.from_canonical(row.entry), state)
                    self.size = row.seq
        return self

    def _observe(self, entry: Entry, state: NetworkState) -> None:
        body: Any = entry.body
        if entry.kind == SPLIT:
            self._split(entry, state)
        elif entry.kind == DEMAND_FAILED:
            demand = state.demands.get(str(body.get("demand")))
            if demand is not None and demand.buyer == self.me:
                self.failures[demand.hash] = _moment(entry, "failed", str(body.get("reason")))
        elif entry.kind in SETTLED:
            result = body["result"]
            escrow = state.escrows.get(str(result.get("escrow")))
            if escrow is not None and escrow.buyer == self.me:
                self._step(escrow.id, _moment(entry, SETTLED[entry.kind], str(result.get("reason"))))
        elif isinstance(body, dict) and isinstance(body.get("action"), dict):
            self._action(entry, body["action"])

    @property
    def me(self) -> str:
        """This buyer."""
        return self.replica.node.id

    def _split(self, entry: Entry, state: NetworkState) -> None:
        body: Any = entry.body
        result = body["result"]
        demand = state.demands.get(str(result.get("demand")))
        if demand is None or demand.buyer != self.me:
            return
        inputs = _dict(body.get("inputs"))
        attestations: list[Any] = inputs.get("attestations") or []
        unavailable = _dict(inputs.get("unavailable"))
        self.splits[demand.hash] = SplitFacts(
            moment=_moment(entry, "decided"),
            attested=frozenset(_author(item) for item in attestations),
            unavailable={str(k): str(v) for k, v in unavailable.items()},
            skipped={str(s.get("supplier")): str(s.get("reason")) for s in result.get("skipped", [])},
        )
        for allocation in result.get("allocations", []):
            self._step(str(allocation.get("escrow_id")), _moment(entry, "created"))

    def _action(self, entry: Entry, statement: dict[str, Any]) -> None:
        if statement.get("party") != self.me:
            return
        action: Any = statement.get("body")
        if entry.kind == DEMAND_SUBMITTED:
            self.submitted[str(statement.get("id"))] = _moment(entry, "submitted")
        elif entry.kind == ESCROW_DEPOSITED:
            self._step(str(action.get("escrow")), _moment(entry, "deposited"))
        elif entry.kind == OFFER_ACCEPTED:
            offer = OfferId(str(action.get("offer")))
            self.accepted[offer] = _moment(entry, "accepted")
            self._step(acceptance_escrow_id(offer), _moment(entry, "created"))

    def _step(self, escrow_id: str, moment: Moment) -> None:
        self.escrows.setdefault(escrow_id, []).append(moment)


def _moment(entry: Entry, event: str, reason: str | None = None) -> Moment:
    return Moment(event=event, seq=entry.seq, time=entry.time, hash=entry.hash, reason=reason)


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _author(item: object) -> str:
    """The author (supplier) of an attestation input ``{"entry": {...}, "signatures": [...]}``."""
    entry = item.get("entry") if isinstance(item, dict) else None
    return str(entry.get("author")) if isinstance(entry, dict) else ""
