"""The lifecycles the soak drives, black-box through the ERP API of each node.

A regular lifecycle: an OEM posts a demand (lead time 5 days, every supplier on its
priority list, rotated) → split → for each allocation the OEM deposits the escrow, the
supplier reports the lot → the PDU releases or refunds. Its kind decides the lot:

* ``pass``: a full count within the buyer's AQL (some major defects) → released;
* ``fail``: a full count with one major defect too many → refunded, and the lot is
  re-offered: the driver reads the refund decision, the other OEM it was offered to
  accepts, pays into the new escrow, and the PDU releases it;
* ``sampled-pass`` / ``sampled-fail``: an ISO 2859-1 sample inspection (the sample size
  the buyer's plan requires) with no defect, or one more major defect than the plan
  accepts → released, or refunded and re-offered as above (or surplus);
* ``critical``: a critical defect → refunded, no buyer accepts it → surplus;
* ``cancel``: no deposit → cancelled by quorum once the deposit window passed
  (:class:`Cancels` watches these, so the worker goes on).

Each OEM also keeps one standing "wish" demand (lead time 1 day, which no supplier can
serve: their external queue fills the first day) with a looser AQL: it stays open, so
failed lots of the other OEMs are re-offered to it.
"""

from __future__ import annotations

import queue
import time
from datetime import UTC, datetime
from typing import Any

from benchmarks.soak_net import PRODUCT, REGULAR_LEAD_DAYS, WISH_LEAD_DAYS
from benchmarks.soak_record import Flaw, Recorder
from supplymesh.core.contracts.sampling import class_plans

KINDS = (
    "pass", "fail", "pass", "sampled-pass", "pass", "cancel", "pass", "sampled-fail", "pass", "fail",
    "pass", "fail", "pass", "sampled-pass", "critical", "cancel", "pass", "sampled-fail", "pass", "fail",
)  # fmt: skip
QUANTITY, HOURS = 120, "72"  # 0.6 machine-hours a unit: two demands fill most of a supplier's 204.8 h
AQL = {"critical": "0", "major": "2.5", "minor": "4.0"}
WISH_AQL = {"critical": "0", "major": "6.5", "minor": "6.5"}


def terms(suppliers: list[str], turn: int, *, wish: bool = False) -> dict[str, Any]:
    """A regular demand (or the standing wish demand), suppliers rotated by ``turn``."""
    named = [suppliers[(turn + i) % len(suppliers)] for i in range(len(suppliers))]
    return {
        "product": PRODUCT,
        "quantity": 1_000_000 if wish else QUANTITY,
        "lead_time_days": WISH_LEAD_DAYS if wish else REGULAR_LEAD_DAYS,
        "required_machine_hours": "1000000" if wish else HOURS,
        "priority_suppliers": named,
        "aql": WISH_AQL if wish else AQL,
        "unit_price": {"amount": 90 if wish else 100, "currency": "EUR"},
    }


def report(kind: str, quantity: int) -> dict[str, Any]:
    """The supplier's production report for a lot of ``quantity`` units of this ``kind``."""
    if kind.startswith("sampled"):
        plans = class_plans(quantity, AQL)
        sample = plans["major"].n
        if not plans["major"].full_inspection:
            major = plans["major"].ac + 1 if kind == "sampled-fail" else 0
            defects = {"critical": 0, "major": min(major, sample), "minor": 0}
            return {"produced_quantity": quantity, "sample_size": sample, "defects": defects}
        kind = "fail" if kind == "sampled-fail" else "pass"  # a 100 % plan: the full-count rule
    major = quantity // 40 + (kind == "fail")  # 100 × major ≤ 2.5 × quantity iff it passes
    defects = {"critical": int(kind == "critical"), "major": min(major, quantity), "minor": 0}
    return {"produced_quantity": quantity, "defects": defects}


class Lifecycles:
    """Runs lifecycles for one network; shared by every worker."""

    def __init__(self, rec: Recorder, oems: list[str], suppliers: list[str], cancels: Cancels) -> None:
        self.rec, self.oems, self.suppliers, self.cancels = rec, oems, suppliers, cancels

    def post_wishes(self) -> None:
        """Every OEM's standing wish demand; each must stay unallocated."""
        for turn, oem in enumerate(self.oems):
            created = self.rec.call(
                oem, "POST", "/v1/demands", expect=202, json=terms(self.suppliers, turn, wish=True)
            )
            demand = self.decided(oem, created["id"])
            if demand["status"] != "unallocated":
                raise Flaw(f"{oem}'s wish demand was {demand['status']}, not unallocated")

    def decided(self, oem: str, demand_id: str) -> dict[str, Any]:
        """The demand as its OEM sees it once it is no longer pending."""
        path = f"/v1/demands/{demand_id}"
        found: dict[str, Any] = self.rec.wait(
            f"the split of {demand_id}",
            lambda: self.rec.get_if(oem, path, lambda d: d["status"] != "pending"),
        )
        return found

    def run(self, oem: str, turn: int, kind: str) -> None:
        """One lifecycle of ``kind`` from ``oem``; a flaw is recorded as an error."""
        started = time.monotonic()
        try:
            demand = self.rec.call(oem, "POST", "/v1/demands", expect=202, json=terms(self.suppliers, turn))
            split = self.decided(oem, demand["id"])
            self.rec.timing("split", started)
            if split["status"] == "failed":
                raise Flaw(f"demand {demand['id']} failed: {split.get('reason')}")
            if not split["allocations"]:
                self.rec.outcome("no-capacity")
            self.fund(oem, kind, split["allocations"])
            for allocation in split["allocations"] if kind != "cancel" else ():
                self.lot(oem, kind, allocation)
            if kind != "cancel":
                self.rec.timing("lifecycle", started)
        except Flaw as flaw:
            self.rec.error(f"{oem} {kind}", str(flaw))

    def fund(self, oem: str, kind: str, allocations: list[dict[str, Any]]) -> None:
        """Pay every allocation into escrow at once (or leave them all to be cancelled)."""
        for allocation in allocations:
            self.rec.saw(oem, allocation["escrow_id"])
            if kind == "cancel":
                self.cancels.watch(oem, allocation["escrow_id"])
            else:
                self.deposit(oem, allocation["escrow_id"], allocation["escrow_amount"])

    def lot(self, oem: str, kind: str, allocation: dict[str, Any]) -> None:
        """The supplier reports the funded allocation's lot; the PDU releases it or refunds it."""
        escrow, supplier = allocation["escrow_id"], allocation["supplier"]
        body = report(kind, allocation["quantity"])
        self.rec.call(supplier, "POST", f"/v1/orders/{escrow}/production-complete", op="report", json=body)
        reported = time.monotonic()
        view = self.settled(oem, escrow)
        self.rec.timing("quality", reported)
        expected = "released" if kind in ("pass", "sampled-pass") else "refunded"
        if view["state"] != expected:
            raise Flaw(f"{kind} lot of escrow {escrow}: {view['state']}, expected {expected}")
        self.rec.outcome(expected)
        if expected == "refunded":
            self.reoffer(oem, view)

    def deposit(self, oem: str, escrow: str, amount: int) -> None:
        """``oem`` pays ``amount`` into ``escrow``."""
        body = {"amount": amount, "currency": "EUR", "payment_reference": f"SOAK-{escrow[:12]}"}
        paid = self.rec.call(oem, "POST", f"/v1/escrows/{escrow}/deposit", op="deposit", json=body)
        if paid["state"] != "funded":
            raise Flaw(f"escrow {escrow} is {paid['state']} after its deposit")
        self.rec.paid(oem, escrow, amount)

    def settled(self, oem: str, escrow: str) -> dict[str, Any]:
        """The escrow once it is no longer funded."""
        path = f"/v1/escrows/{escrow}"
        found: dict[str, Any] = self.rec.wait(
            f"the decision on escrow {escrow}",
            lambda: self.rec.get_if(oem, path, lambda e: e["state"] != "funded"),
        )
        return found

    def reoffer(self, oem: str, view: dict[str, Any]) -> None:
        """The refunded lot's first offer is accepted and paid by its buyer; the PDU releases it."""
        step = next(h for h in view["history"] if h["event"] == "refunded")
        entry = self.rec.call(oem, "GET", step["entry_url"])[0]["entry"]
        offers = entry["body"]["result"]["offers"]
        if not offers:
            self.rec.outcome("surplus")
            return
        offer, buyer = offers[0]["id"], offers[0]["buyer"]
        path = f"/v1/offers/{offer}"
        self.rec.wait(
            f"offer {offer} at {buyer}", lambda: self.rec.get_if(buyer, path, lambda o: o["state"] == "open")
        )
        escrow = self.rec.call(buyer, "POST", f"{path}/accept", op="accept")["escrow_id"]
        amount = self.rec.call(buyer, "GET", f"/v1/escrows/{escrow}")["amount"]
        if amount != offers[0]["unit_price"] * offers[0]["quantity"]:
            raise Flaw(f"escrow {escrow} of offer {offer} holds {amount}")
        self.deposit(buyer, escrow, amount)
        paid = time.monotonic()
        state = self.settled(buyer, escrow)["state"]
        self.rec.timing("reoffer_release", paid)
        if state != "released":
            raise Flaw(f"accepted offer {offer}: escrow {escrow} is {state}, expected released")
        self.rec.outcome("reoffer-released")


class Cancels:
    """Unfunded allocations waiting for their cancellation, watched in deadline order by one thread."""

    def __init__(self, rec: Recorder, window: int) -> None:
        self.rec, self.window = rec, window
        self.pending: queue.Queue[tuple[str, str] | None] = queue.Queue()

    def watch(self, oem: str, escrow: str) -> None:
        """Watch ``escrow`` until it is cancelled."""
        self.pending.put((oem, escrow))

    def close(self) -> None:
        """No more escrows will come: :meth:`run` returns once it has seen the rest cancelled."""
        self.pending.put(None)

    def run(self) -> None:
        """Wait for each watched escrow to be cancelled; the lag past its deadline is an op."""
        while (item := self.pending.get()) is not None:
            oem, escrow = item
            try:
                view = self.closed(oem, escrow)
                if view["state"] != "cancelled":
                    raise Flaw(f"unfunded escrow {escrow} is {view['state']}, expected cancelled")
                deadline = datetime.fromisoformat(view["deposit_deadline"].replace("Z", "+00:00"))
                lag = (datetime.now(UTC) - deadline).total_seconds()
                self.rec.timing("cancel_after_deadline", time.monotonic() - lag)
                self.rec.outcome("cancelled")
            except Flaw as flaw:
                self.rec.error(f"{oem} cancel", str(flaw))

    def closed(self, oem: str, escrow: str) -> dict[str, Any]:
        """The escrow once it no longer awaits its deposit."""
        path = f"/v1/escrows/{escrow}"

        def probe() -> dict[str, Any] | None:
            return self.rec.get_if(oem, path, lambda e: e["state"] != "awaiting_deposit")

        found: dict[str, Any] = self.rec.wait(
            f"the cancellation of {escrow}", probe, timeout=self.window + self.rec.wait_timeout
        )
        return found
