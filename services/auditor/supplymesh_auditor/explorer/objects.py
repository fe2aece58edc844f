"""Demands and escrows as the network ledger says, each with its timeline.

States come from the core's fold of the PDU's copy of the network ledger (a partner's
when the PDU does not answer); the timeline of a demand runs from its submission through
the attestations and the split to each of its escrows' deposit, production, inspection
and release, refund, re-offer or cancellation, and what reached it through an accepted
re-offer.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from supplymesh.web.deps import NodeDep
from supplymesh_auditor.explorer.fetch import Item, network_copy, seq_of
from supplymesh_auditor.explorer.history import fold, in_order
from supplymesh_auditor.explorer.session import Reader
from supplymesh_auditor.explorer.views import NotShown, render

router = APIRouter(prefix="/explorer", include_in_schema=False)


def _seqs(items: list[Item]) -> dict[str, int]:
    """Seq of each entry by its served hash."""
    return {str(i.get("hash")): seq_of(i) for i in items}


@router.get("/demands")
async def demands_page(request: Request, node: NodeDep, _reader: Reader) -> Response:
    """Every demand, newest first, with its status."""
    line = fold(await network_copy(node))
    demands = sorted(line.state.demands.values(), key=lambda d: d.seq, reverse=True)
    return render(request, "demands.html", {"demands": demands})


@router.get("/demands/{demand}")
async def demand_page(request: Request, node: NodeDep, _reader: Reader, demand: str) -> Response:
    """One demand: its terms, its status and the timeline of everything that decided it."""
    items = await network_copy(node)
    line = fold(items)
    record = line.state.demands.get(demand)
    if record is None:
        raise NotShown(404, f"There is no demand {demand!r} on the network ledger.")
    escrows = [e for e in line.state.escrows.values() if line.demand_of(e) == demand]
    context = {
        "demand": record,
        "escrows": sorted(escrows, key=lambda e: e.created_seq),
        "offers": [o for o in line.state.offers.values() if o.demand == demand],
        "events": in_order(line.demands.get(demand, [])),
        "decision_seq": _seqs(items).get(record.decision or ""),
    }
    return render(request, "demand.html", context)


@router.get("/escrows")
async def escrows_page(request: Request, node: NodeDep, _reader: Reader) -> Response:
    """Every escrow, newest first, with its state."""
    line = fold(await network_copy(node))
    escrows = sorted(line.state.escrows.values(), key=lambda e: e.created_seq, reverse=True)
    return render(request, "escrows.html", {"escrows": escrows, "demand_of": line.demand_of})


@router.get("/escrows/{escrow}")
async def escrow_page(request: Request, node: NodeDep, _reader: Reader, escrow: str) -> Response:
    """One escrow: amount, parties, demand, lot, re-offers and its timeline."""
    line = fold(await network_copy(node))
    record = line.state.escrows.get(escrow)
    if record is None:
        raise NotShown(404, f"There is no escrow {escrow!r} on the network ledger.")
    context = {
        "escrow": record,
        "demand": line.demand_of(record),
        "source": line.state.offers.get(record.offer) if record.offer else None,
        "offers": [o for o in line.state.offers.values() if o.lot == escrow],
        "events": in_order(line.escrows.get(escrow, [])),
    }
    return render(request, "escrow.html", context)
