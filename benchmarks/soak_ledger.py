"""The soak's end checks, computed here from the network ledger, not taken from the nodes' folds.

:func:`replay` walks every entry of the PDU's network ledger in seq order and keeps its
own books, in exact integers and decimals:

* **overbooking**: after every split, each supplier's open machine-hours (allocated, not
  yet reported complete nor cancelled) must stay within what its plant profile allows
  for the demand's lead time (MHCp × Ld − external queue, SPEC §5);
* **money**: every deposit pays exactly its escrow's amount, once, into an escrow
  awaiting it; every release or refund pays out exactly the deposit of a funded escrow,
  once; a cancellation only closes an unfunded allocation; so deposited = released +
  refunded + held, and every amount is the one its escrow was opened with.

:func:`compare_views` then checks that each OEM shows every escrow the driver saw in the
state and with the amount the ledger gives it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

ZERO = Decimal(0)


@dataclass
class Escrow:
    """One escrow as the ledger tells it."""

    amount: int
    supplier: str
    hours: Decimal
    state: str = "awaiting_deposit"
    holds_hours: bool = True
    deposit: int = 0


@dataclass
class Books:
    """The replay's books."""

    capacity: Callable[[int], Decimal]
    escrows: dict[str, Escrow] = field(default_factory=dict)
    lead_days: dict[str, int] = field(default_factory=dict)
    offers: dict[str, int] = field(default_factory=dict)
    open_hours: dict[str, Decimal] = field(default_factory=dict)
    peak_hours: dict[str, Decimal] = field(default_factory=dict)
    money: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("deposited", "released", "refunded"), 0)
    )
    kinds: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    overbooked: int = 0

    def free(self, escrow: Escrow) -> None:
        """The escrow's hours no longer count as open."""
        if escrow.holds_hours:
            escrow.holds_hours = False
            self.open_hours[escrow.supplier] -= escrow.hours


def replay(entries: list[dict[str, Any]], capacity: Callable[[int], Decimal]) -> dict[str, Any]:
    """The books of the whole ledger and every problem found; see the module docstring."""
    books = Books(capacity)
    for item in entries:
        entry = {**item["entry"], "hash": item["hash"]}
        books.kinds[entry["kind"]] = books.kinds.get(entry["kind"], 0) + 1
        step = STEPS.get(entry["kind"])
        if step is not None:
            try:
                step(books, entry)
            except (KeyError, TypeError, ValueError) as exc:
                books.problems.append(f"seq {entry['seq']} {entry['kind']}: {type(exc).__name__} {exc}")
    money = books.money
    held = sum(e.deposit for e in books.escrows.values() if e.state == "funded")
    states: dict[str, int] = {}
    for escrow in books.escrows.values():
        states[escrow.state] = states.get(escrow.state, 0) + 1
    return {
        "entries": len(entries),
        "kinds": dict(sorted(books.kinds.items())),
        "escrows_by_state": dict(sorted(states.items())),
        "money": {**money, "held": held},
        "money_conserved": money["deposited"] == money["released"] + money["refunded"] + held,
        "peak_open_hours": {s: str(h) for s, h in sorted(books.peak_hours.items())},
        "capacity_hours_5_days": str(capacity(5)),
        "overbooked_splits": books.overbooked,
        "problems": books.problems[:50],
        "problem_count": len(books.problems),
        "escrows": {i: {"state": e.state, "amount": e.amount} for i, e in books.escrows.items()},
    }


def _action(entry: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = entry["body"]["action"]["body"]
    return body


def _demand(books: Books, entry: dict[str, Any]) -> None:
    books.lead_days[entry["hash"]] = int(_action(entry)["lead_time_days"])


def _split(books: Books, entry: dict[str, Any]) -> None:
    result = entry["body"]["result"]
    cap = books.capacity(books.lead_days[result["demand"]])
    for allocation in result["allocations"]:
        supplier, hours = allocation["supplier"], Decimal(allocation["machine_hours"])
        books.escrows[allocation["escrow_id"]] = Escrow(int(allocation["escrow_amount"]), supplier, hours)
        books.open_hours[supplier] = books.open_hours.get(supplier, ZERO) + hours
        books.peak_hours[supplier] = max(books.peak_hours.get(supplier, ZERO), books.open_hours[supplier])
        if books.open_hours[supplier] > cap:
            books.overbooked += 1
            books.problems.append(
                f"seq {entry['seq']}: {supplier} holds {books.open_hours[supplier]} h, beyond its {cap} h"
            )


def _deposit(books: Books, entry: dict[str, Any]) -> None:
    body = _action(entry)
    escrow = books.escrows[body["escrow"]]
    if escrow.state != "awaiting_deposit" or int(body["amount"]) != escrow.amount:
        books.problems.append(f"seq {entry['seq']}: deposit of {body['amount']} into a {escrow.state} escrow")
        return
    escrow.state, escrow.deposit = "funded", int(body["amount"])
    books.money["deposited"] += escrow.deposit


def _production(books: Books, entry: dict[str, Any]) -> None:
    escrow = books.escrows[_action(entry)["escrow"]]
    if escrow.state != "funded":
        books.problems.append(f"seq {entry['seq']}: a lot reported on a {escrow.state} escrow")
    books.free(escrow)


def _accept(books: Books, entry: dict[str, Any]) -> None:
    body = _action(entry)
    amount = books.offers[body["offer"]] * int(body["unit_price"])
    books.escrows[body["escrow"]] = Escrow(amount, "", ZERO, holds_hours=False)


def _payout(books: Books, entry: dict[str, Any]) -> None:
    result = entry["body"]["result"]
    escrow = books.escrows[result["escrow"]]
    state = "released" if entry["kind"] == "decision.release" else "refunded"
    if escrow.state != "funded" or int(result["amount"]) != escrow.deposit:
        books.problems.append(f"seq {entry['seq']}: {state} {result['amount']} of a {escrow.state} escrow")
        return
    escrow.state = state
    books.money[state] += escrow.deposit
    books.free(escrow)
    for offer in result.get("offers", []):
        books.offers[offer["id"]] = int(offer["quantity"])


def _cancel(books: Books, entry: dict[str, Any]) -> None:
    escrow = books.escrows[entry["body"]["result"]["escrow"]]
    if escrow.state != "awaiting_deposit":
        books.problems.append(f"seq {entry['seq']}: cancelled a {escrow.state} escrow")
        return
    escrow.state = "cancelled"
    books.free(escrow)


STEPS: dict[str, Callable[[Books, dict[str, Any]], None]] = {
    "demand.submitted": _demand,
    "decision.split": _split,
    "escrow.deposited": _deposit,
    "production.completed": _production,
    "offer.accepted": _accept,
    "decision.release": _payout,
    "decision.refund": _payout,
    "decision.cancel": _cancel,
}


def compare_views(ledger: dict[str, Any], views: dict[str, dict[str, Any]], paid: int) -> list[str]:
    """Differences between the ledger's escrows, the OEMs' views and the driver's own payments."""
    differences = []
    for escrow_id, view in views.items():
        mine = ledger["escrows"].get(escrow_id)
        if mine is None or (view["state"], view["amount"]) != (mine["state"], mine["amount"]):
            differences.append(
                f"escrow {escrow_id}: OEM shows {view['state']} {view['amount']}, ledger {mine}"
            )
    if paid != ledger["money"]["deposited"]:
        differences.append(
            f"the driver paid {paid}, the ledger holds deposits of {ledger['money']['deposited']}"
        )
    return differences
