"""The network ledger's contracts in one place: the fold, the decisions, the deadlines.

Every partner folds its replica with :func:`apply` (:mod:`.fold`); the PDU proposes a
decision computed by :func:`decide_split` (Algorithm 3, :mod:`.split`),
:func:`decide_quality` (Algorithm 4, :mod:`.quality`) or :func:`decide_cancel` (here)
against the state at a base (SPEC §5–§7); a partner re-executes the same function on
its own state at that base and signs only an identical body. Party actions that do not
fit the state (a deposit of the wrong amount, a second acceptance of an offer) change
nothing, the same way on every peer.
"""

from __future__ import annotations

from typing import Any

from supplymesh.core.contracts.dms import DEFECT_CLASSES
from supplymesh.core.contracts.fold import GENESIS_KIND, apply
from supplymesh.core.contracts.ids import acceptance_escrow_id, derive_id
from supplymesh.core.contracts.quality import decide_quality
from supplymesh.core.contracts.records import (
    OPEN_ESCROW_STATES,
    DemandRecord,
    EscrowRecord,
    NetworkState,
    OfferRecord,
)
from supplymesh.core.contracts.split import attested, decide_split, demand_terms
from supplymesh.core.entry import parse_time
from supplymesh.core.numbers import format_decimal
from supplymesh.core.vocabulary.decisions import (
    CANCEL,
    DECISION_KINDS,
    DEMAND_FAILED,
    PROPOSAL_WITHDRAWN,
    REFUND,
    RELEASE,
    SPLIT,
)

__all__ = [
    "CANCEL",
    "DECISION_KINDS",
    "DEFECT_CLASSES",
    "DEMAND_FAILED",
    "GENESIS_KIND",
    "OPEN_ESCROW_STATES",
    "PROPOSAL_WITHDRAWN",
    "REFUND",
    "RELEASE",
    "SPLIT",
    "DemandRecord",
    "EscrowRecord",
    "NetworkState",
    "OfferRecord",
    "acceptance_escrow_id",
    "apply",
    "attested",
    "decide_cancel",
    "decide_quality",
    "decide_split",
    "demand_terms",
    "deposit_overdue",
    "derive_id",
]


# -- cancellation after the deposit window ------------------------------------------------------


def deposit_overdue(escrow: EscrowRecord, now: str, window_seconds: int) -> bool:
    """True if an allocation's escrow still awaits its deposit ``window_seconds`` after it opened."""
    if escrow.demand is None or escrow.state != "awaiting_deposit":
        return False
    opened = parse_time(escrow.created_time)
    moment = parse_time(now)
    return (moment - opened).total_seconds() >= window_seconds


def decide_cancel(state: NetworkState, escrow_id: str) -> dict[str, Any]:
    """The cancellation of an unfunded allocation: its hours go back to the supplier."""
    escrow = state.escrows[escrow_id]
    return {
        "escrow": escrow_id,
        "amount": 0,
        "reason": "no deposit within the window",
        "freed_machine_hours": format_decimal(escrow.machine_hours),
    }
