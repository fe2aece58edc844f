"""What the network ledger says, folded: demands, escrows (the suppliers' orders), offers.

The fold (:mod:`supplymesh.core.contracts.fold`) validates an entry completely before it
changes anything, and changes a state copy-on-write: it never assigns to a record or to
a value inside one (``lot``, ``allocations``, ``terms``, ``defects``), it puts a changed
copy (``dataclasses.replace``) in the record's place. So a record read from a state keeps
what it said when it was read, and :meth:`NetworkState.fork` can share every record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from itertools import islice

from supplymesh.core.contracts.ids import DemandHash, EscrowId, OfferId
from supplymesh.core.vocabulary.bodies import DemandTerms, Lot
from supplymesh.core.vocabulary.decisions import AllocationResult

ZERO = Decimal(0)
OPEN_ESCROW_STATES = frozenset({"awaiting_deposit", "funded"})


@dataclass
class DemandRecord:
    """A demand as the network knows it."""

    hash: DemandHash
    seq: int
    buyer: str
    id: str
    terms: DemandTerms
    time: str = ""
    status: str = "pending"
    allocations: list[AllocationResult] = field(default_factory=list)
    unallocated: int = 0
    decision: str | None = None
    detail: str | None = None

    @property
    def product(self) -> str:
        """The product demanded."""
        return self.terms.product

    def aql(self) -> dict[str, Decimal]:
        """AQL per class."""
        return self.terms.aql.as_decimals()


@dataclass
class EscrowRecord:
    """Money held for one allocation or one accepted offer; the supplier's order."""

    id: EscrowId
    buyer: str
    supplier: str
    product: str
    quantity: int
    machine_hours: Decimal
    amount: int
    currency: str
    created_seq: int
    created_time: str
    demand: DemandHash | None = None
    offer: OfferId | None = None
    state: str = "awaiting_deposit"
    completed: bool = False
    lot: Lot | None = None
    payment_reference_commitment: str | None = None

    @property
    def holds_hours(self) -> bool:
        """True while its machine-hours count as the supplier's open network hours."""
        return self.demand is not None and self.state in OPEN_ESCROW_STATES and not self.completed


@dataclass
class OfferRecord:
    """A failed lot offered to one eligible buyer."""

    id: OfferId
    lot: EscrowId
    buyer: str
    supplier: str
    product: str
    quantity: int
    defects: dict[str, int]
    unit_price: int
    currency: str
    demand: DemandHash
    state: str = "open"


@dataclass
class NetworkState:
    """Everything the network ledger says, folded.

    ``refused`` maps the seq of every entry the fold refused to the reason (an
    inadmissible action or a malformed decision a faulty PDU sequenced anyway);
    ``refused_actions`` maps (kind, party, action id) of a refused action to the reason,
    so the party's node can show it. ``time`` is the time of the last entry that moved
    the ledger's clock (entry times never go backwards).
    """

    size: int = 0
    head: str = "0" * 64
    time: str = ""
    demands: dict[str, DemandRecord] = field(default_factory=dict)
    escrows: dict[str, EscrowRecord] = field(default_factory=dict)
    offers: dict[str, OfferRecord] = field(default_factory=dict)
    surplus: list[str] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)
    refused_actions: dict[tuple[str, str, str], str] = field(default_factory=dict)
    _ids: dict[tuple[str, str], str] = field(default_factory=dict, repr=False, compare=False)
    _indexed: int = field(default=0, repr=False, compare=False)

    def fork(self) -> NetworkState:
        """A copy to fold further (a proposed block) while this state stays exactly as it is.

        Cheap: the containers are copied, the records are shared (the fold replaces a
        record instead of changing it, see the module docstring).
        """
        return NetworkState(
            size=self.size,
            head=self.head,
            time=self.time,
            demands=dict(self.demands),
            escrows=dict(self.escrows),
            offers=dict(self.offers),
            surplus=list(self.surplus),
            refused=dict(self.refused),
            refused_actions=dict(self.refused_actions),
            _ids=dict(self._ids),
            _indexed=self._indexed,
        )

    def open_hours(self) -> dict[str, Decimal]:
        """Open network hours per supplier."""
        hours: dict[str, Decimal] = {}
        for escrow in self.escrows.values():
            if escrow.holds_hours:
                hours[escrow.supplier] = hours.get(escrow.supplier, ZERO) + escrow.machine_hours
        return hours

    def demand_by_id(self, buyer: str, demand_id: str) -> DemandRecord | None:
        """A demand by its buyer's id (the first recorded, if several).

        Demands are only ever added (a changed demand takes its record's place under the
        same key), so an index of (buyer, id) catches up with the newest ones only: a lookup
        per admitted demand stays constant time on a long ledger.
        """
        fresh = len(self.demands) - self._indexed
        if fresh:
            for demand_hash, demand in reversed(list(islice(reversed(self.demands.items()), fresh))):
                self._ids.setdefault((demand.buyer, demand.id), demand_hash)
            self._indexed = len(self.demands)
        found = self._ids.get((buyer, demand_id))
        return self.demands[found] if found is not None else None

    def undecided_demands(self) -> list[DemandRecord]:
        """Demands without a split yet, oldest first."""
        return sorted((d for d in self.demands.values() if d.status == "pending"), key=lambda d: d.seq)

    def awaiting_quality_decision(self) -> list[EscrowRecord]:
        """Funded escrows whose lot was reported and not yet released or refunded."""
        waiting = [e for e in self.escrows.values() if e.state == "funded" and e.lot is not None]
        return sorted(waiting, key=lambda e: e.created_seq)
