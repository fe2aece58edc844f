"""Decisions of the PDU: every one listed, and a page for each with its split and quorum.

The quorum is checked with the core's certificate check against the policy the network
config sets for the decision's kind: "4/4 signed · threshold 3" counts the valid
signatures of the policy's members over the entry's recomputed hash.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from supplymesh.core.contracts.network import DECISION_KINDS, SPLIT
from supplymesh.core.entry import Entry, EntryFormatError, parse_signatures
from supplymesh.core.quorum import check
from supplymesh.network.rules import policy_for
from supplymesh.node.context import Node
from supplymesh.web.deps import NodeDep
from supplymesh_auditor.explorer.entries import parse_seq, verify_signers
from supplymesh_auditor.explorer.events import Timeline
from supplymesh_auditor.explorer.fetch import Item, network_copy
from supplymesh_auditor.explorer.history import fold
from supplymesh_auditor.explorer.session import Reader
from supplymesh_auditor.explorer.views import NotShown, render

router = APIRouter(prefix="/explorer", include_in_schema=False)


def quorum(node: Node, item: Item, entry: Entry) -> dict[str, Any]:
    """The certificate of a decision entry against its kind's policy."""
    policy = policy_for(node.config, entry.kind)
    try:
        signatures = parse_signatures(item.get("signatures"))
    except EntryFormatError:
        signatures = ()
    result = check(policy, signatures, entry.digest, node.config.keys())
    text = f"{len(result.signed)}/{len(policy.members)} signed · threshold {result.threshold}"
    return {
        "text": text,
        "ok": result.ok,
        "invalid": sorted(result.invalid),
        "missing": sorted(result.missing),
    }


def _decisions(items: list[Item]) -> list[tuple[Item, Entry]]:
    found = []
    for item in items:
        try:
            entry = Entry.from_json(item.get("entry"))
        except (EntryFormatError, TypeError, KeyError):
            continue
        if entry.kind in DECISION_KINDS:
            found.append((item, entry))
    return found


def _part(entry: Entry, name: str) -> dict[str, Any]:
    part = entry.body.get(name)
    return part if isinstance(part, dict) else {}


def _subject(entry: Entry) -> dict[str, Any]:
    result = _part(entry, "result")
    if entry.kind == SPLIT:
        return {"demand": result.get("demand"), "status": result.get("status")}
    return {"escrow": result.get("escrow"), "status": entry.kind.removeprefix("decision.")}


@router.get("/decisions")
async def decisions_page(request: Request, node: NodeDep, _reader: Reader) -> Response:
    """Every decision, newest first: kind, subject, base, quorum."""
    items = await network_copy(node)
    line = fold(items)
    rows = [
        {
            "seq": entry.seq,
            "kind": entry.kind,
            "time": entry.time,
            "base": _part(entry, "base").get("seq"),
            "quorum": quorum(node, item, entry),
            "refused": line.state.refused.get(entry.seq),
            **_subject(entry),
        }
        for item, entry in reversed(_decisions(items))
    ]
    return render(request, "decisions.html", {"decisions": rows})


def _split_rows(line: Timeline, result: dict[str, Any]) -> list[dict[str, Any]]:
    demand = line.state.demands.get(str(result.get("demand")))
    price = demand.terms.unit_price if demand else None
    rows = []
    for allocation in result.get("allocations", []):
        if not isinstance(allocation, dict):
            continue
        escrow = line.state.escrows.get(str(allocation.get("escrow_id")))
        rows.append(
            {
                **allocation,
                "unit_price": price.amount if price else None,
                "currency": price.currency if price else "",
                "state": escrow.state if escrow else None,
            }
        )
    return rows


@router.get("/decisions/{seq}")
async def decision_page(request: Request, node: NodeDep, _reader: Reader, seq: str) -> Response:
    """One decision: its result as a table, its base and inputs linked, its quorum."""
    number = parse_seq(seq)
    items = await network_copy(node)
    found = next((pair for pair in _decisions(items) if pair[1].seq == number), None)
    if found is None:
        raise NotShown(404, f"Entry {number} of the network ledger is not a decision.")
    item, entry = found
    line = fold(items)
    result = _part(entry, "result")
    inputs = _part(entry, "inputs")
    escrow = line.state.escrows.get(str(result.get("escrow")))
    context = {
        "entry": entry,
        "result": result,
        "inputs": inputs,
        "base": _part(entry, "base"),
        "quorum": quorum(node, item, entry),
        "signers": verify_signers(node, entry, item.get("signatures", [])),
        "refused": line.state.refused.get(entry.seq),
        "allocations": _split_rows(line, result) if entry.kind == SPLIT else [],
        "demand": line.state.demands.get(str(result.get("demand"))),
        "escrow": escrow,
        "currency": escrow.currency if escrow else "",
    }
    return render(request, "decision.html", context)
