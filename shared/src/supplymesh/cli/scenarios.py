"""The paper's two scenarios, driven through the public ERP API of a running network.

Scenario 1 (SPEC §5): oem-a's demand for 1,000 units is split by real capacity —
390 units to supplier-a, 400 to supplier-b, 210 unallocated — by a decision every
partner re-executed and signed. Scenario 2 (SPEC §6): both lots are paid into escrow;
supplier-a's lot passes oem-a's AQL and is released, supplier-b's fails (14 major
defects in 400) and is refunded, then re-offered to oem-b, whose looser AQL accepts it;
oem-b accepts, pays, and the PDU releases to supplier-b.

Each step checks the outcome against the worked examples and raises
:class:`~supplymesh.cli.scenario_client.ScenarioFailed` otherwise.
"""

from __future__ import annotations

import functools
from typing import Any

from rich.table import Table

from supplymesh.cli.scenario_client import ScenarioClient, ScenarioFailed

PROFILE_A = {
    "machines": 4,
    "hours_per_day": "16",
    "baseline_efficiency": "0.8",
    "queued_machine_hours": "100",
    "products": ["P-100"],
}
PROFILE_B = {
    "machines": 5,
    "hours_per_day": "8",
    "baseline_efficiency": "0.9",
    "queued_machine_hours": "20",
    "products": ["P-100"],
}
DEMAND_A = {
    "product": "P-100",
    "quantity": 1000,
    "lead_time_days": 5,
    "required_machine_hours": "400",
    "priority_suppliers": ["supplier-a", "supplier-b"],
    "aql": {"critical": "0", "major": "2.5", "minor": "4.0"},
    "unit_price": {"amount": 1250, "currency": "EUR"},
}
DEMAND_B = {
    "product": "P-100",
    "quantity": 600,
    "lead_time_days": 5,
    "required_machine_hours": "240",
    "priority_suppliers": ["supplier-a", "supplier-b"],
    "aql": {"critical": "0", "major": "4.0", "minor": "6.5"},
    "unit_price": {"amount": 1300, "currency": "EUR"},
}


class Demo(ScenarioClient):
    """Runs the scenarios against ``nodes`` (the ``network.json`` of ``supplymesh up``)."""

    # -- scenario 1 ---------------------------------------------------------------------------

    def scenario_1(self) -> dict[str, Any]:
        """The §5 split."""
        self.console.rule("Scenario 1 — order split by real capacity (SPEC §5)")
        self._set_plant_profiles()
        demand = self._split(self._submit("oem-a", DEMAND_A))
        self._check_split(demand)
        self._show_orders()
        return demand

    def _set_plant_profiles(self) -> None:
        """Both suppliers attest their plant profiles."""
        for supplier, profile in (("supplier-a", PROFILE_A), ("supplier-b", PROFILE_B)):
            self.call(supplier, "PUT", "/v1/dms/profile", json=profile)
            capacity = self.call(supplier, "GET", "/v1/capacity")
            self.say(
                supplier,
                f"plant profile set: E {capacity['efficiency']}, MHCp {capacity['mhc_per_day']} "
                f"machine-h/day, external queue {capacity['queued_machine_hours']} h "
                "(attested on its channels, countersigned by each OEM)",
            )

    def _submit(self, oem: str, terms: dict[str, Any]) -> dict[str, Any]:
        """``oem`` submits a demand; its creation answer."""
        created: dict[str, Any] = self.call(oem, "POST", "/v1/demands", json=terms)
        return created

    def _split(self, created: dict[str, Any]) -> dict[str, Any]:
        """oem-a's demand, once the PDU's split of it is decided and signed."""
        self.say(
            "oem-a",
            f"demand {created['id'][:8]}…: 1000 × P-100, lead time 5 days, RMHd 400 h, "
            "priority supplier-a, then supplier-b; AQL major 2.5; 12.50 EUR/unit",
        )
        demand: dict[str, Any] = self.wait(
            "the split decision", lambda: self._decided("oem-a", created["id"])
        )
        decision = self._decision(demand["decision_id"])
        signers = ", ".join(s["signer"] for s in decision["certificate"])
        self.say(
            "pdu",
            f"attestations asked for this demand; split proposed at base {decision['base']['seq']}; "
            f"signed by [bold]{signers}[/bold] after each re-executed it",
        )
        return demand

    def _check_split(self, demand: dict[str, Any]) -> None:
        """Show the split and check it is the worked example's: 390 + 400, 210 unallocated."""
        table = Table("supplier", "units", "machine-h", "escrow (EUR cents)")
        for allocation in demand["allocations"]:
            table.add_row(
                allocation["supplier"],
                str(allocation["quantity"]),
                allocation["machine_hours"],
                str(allocation["escrow_amount"]),
            )
        table.add_row("unallocated", str(demand["unallocated_quantity"]), "", "")
        self.console.print(table)
        got = [
            (a["supplier"], a["quantity"], a["machine_hours"], a["escrow_amount"])
            for a in demand["allocations"]
        ]
        self.expect(
            got == [("supplier-a", 390, "156", 487500), ("supplier-b", 400, "160", 500000)],
            f"split differs from the worked example: {got}",
        )
        self.expect(
            demand["unallocated_quantity"] == 210 and demand["status"] == "partially_allocated",
            f"unallocated {demand['unallocated_quantity']}, status {demand['status']}",
        )

    def _show_orders(self) -> None:
        """Each supplier's order, once it has one."""
        for supplier in ("supplier-a", "supplier-b"):
            order = self.wait(
                f"{supplier}'s order", functools.partial(self.call, supplier, "GET", "/v1/orders")
            )[0]
            self.say(supplier, f"order {order['id'][:8]}…: {order['quantity']} units, {order['state']}")

    def _decided(self, oem: str, demand_id: str) -> dict[str, Any] | None:
        demand: dict[str, Any] = self.call(oem, "GET", f"/v1/demands/{demand_id}")
        return None if demand["status"] == "pending" else demand

    def _decision(self, decision_id: str) -> dict[str, Any]:
        decisions: list[dict[str, Any]] = self.call("pdu", "GET", "/v1/decisions", params={"limit": 1000})
        for decision in decisions:
            if decision["id"] == decision_id:
                return decision
        raise ScenarioFailed(f"decision {decision_id} not listed by the PDU")

    # -- scenario 2 ---------------------------------------------------------------------------

    def scenario_2(self, demand: dict[str, Any]) -> None:
        """The §6 release, refund and re-offer."""
        self.console.rule("Scenario 2 — escrow released on quality, refunded and re-offered (SPEC §6)")
        self._unserved_demand()
        escrow_a, escrow_b = (a["escrow_id"] for a in demand["allocations"])
        self._fund(escrow_a, escrow_b)
        self._release(escrow_a)
        self._refund(escrow_b)
        self._reoffer()

    def _unserved_demand(self) -> None:
        """oem-b's demand, which finds no capacity left."""
        other = self._submit("oem-b", DEMAND_B)
        other_demand = self.wait("oem-b's split", lambda: self._decided("oem-b", other["id"]))
        self.say(
            "oem-b",
            f"demand 600 × P-100 with AQL major 4.0: {other_demand['status']} "
            f"({other_demand['unallocated_quantity']} units open — no capacity left)",
        )

    def _fund(self, escrow_a: str, escrow_b: str) -> None:
        """oem-a pays both allocations into escrow."""
        for escrow_id, amount in ((escrow_a, 487500), (escrow_b, 500000)):
            paid = self.call(
                "oem-a",
                "POST",
                f"/v1/escrows/{escrow_id}/deposit",
                json={"amount": amount, "currency": "EUR", "payment_reference": f"SEPA-{escrow_id[:6]}"},
            )
            self.expect(paid["state"] == "funded", f"escrow {escrow_id} is {paid['state']} after deposit")
            self.say(
                "oem-a",
                f"deposited {amount} EUR cents into escrow {escrow_id[:8]}… for {paid['supplier']}: funded",
            )

    def _release(self, escrow_a: str) -> None:
        """supplier-a's lot passes oem-a's AQL: the PDU releases its escrow."""
        self.call(
            "supplier-a",
            "POST",
            f"/v1/orders/{escrow_a}/production-complete",
            json={"produced_quantity": 390, "defects": {"critical": 0, "major": 5, "minor": 10}},
        )
        self.say("supplier-a", "production complete: 390 units, 0 critical, 5 major, 10 minor")
        self.wait("release to supplier-a", lambda: self._escrow("oem-a", escrow_a) == "released")
        self.say(
            "pdu",
            "quality passes (5×100 ≤ 2.5×390, 10×100 ≤ 4.0×390): "
            "[green]487500 released to supplier-a[/green]",
        )

    def _refund(self, escrow_b: str) -> None:
        """supplier-b's lot fails oem-a's AQL: the PDU refunds oem-a and re-offers the lot."""
        self.call(
            "supplier-b",
            "POST",
            f"/v1/orders/{escrow_b}/production-complete",
            json={"produced_quantity": 400, "defects": {"critical": 0, "major": 14, "minor": 0}},
        )
        self.say("supplier-b", "production complete: 400 units, 14 major defects")
        self.wait("refund to oem-a", lambda: self._escrow("oem-a", escrow_b) == "refunded")
        self.say(
            "pdu",
            "quality fails (14×100 > 2.5×400): [yellow]500000 refunded to oem-a[/yellow]; lot re-offered",
        )

    def _reoffer(self) -> None:
        """oem-b, whose looser AQL admits the lot, accepts the offer and pays; the PDU releases."""
        offers = self.wait(
            "the offer to oem-b",
            lambda: [o for o in self.call("oem-b", "GET", "/v1/offers") if o["state"] == "open"],
        )
        offer = offers[0]
        self.expect(offer["quantity"] == 400 and offer["defects"]["major"] == 14, f"unexpected offer {offer}")
        self.say(
            "oem-b",
            f"offer {offer['id'][:8]}…: 400 units, 14 major (1400 ≤ 4.0×400) at "
            f"{offer['unit_price']['amount']} EUR cents/unit",
        )
        accepted = self.call("oem-b", "POST", f"/v1/offers/{offer['id']}/accept")
        escrow = self.call("oem-b", "GET", f"/v1/escrows/{accepted['escrow_id']}")
        self.say("oem-b", f"accepted; new escrow {escrow['id'][:8]}… of {escrow['amount']} EUR cents")
        self.call(
            "oem-b",
            "POST",
            f"/v1/escrows/{escrow['id']}/deposit",
            json={"amount": escrow["amount"], "currency": "EUR", "payment_reference": "SEPA-B-1"},
        )
        self.wait("release of the re-offered lot", lambda: self._escrow("oem-b", escrow["id"]) == "released")
        self.say(
            "pdu",
            f"[green]{escrow['amount']} released to supplier-b[/green] with no further step by the supplier",
        )

    def _escrow(self, oem: str, escrow_id: str) -> str:
        state: str = self.call(oem, "GET", f"/v1/escrows/{escrow_id}")["state"]
        return state

    def ledger_heads(self) -> None:
        """Show that every replica of the network ledger converges to the same head."""
        holders = [n for n, info in self.nodes.items() if info["role"] != "auditor"]

        def heads() -> dict[str, Any] | None:
            found = {n: self.call(n, "GET", "/v1/ledgers/network/head") for n in holders}
            return found if len({h["root_hash"] for h in found.values()}) == 1 else None

        converged = self.wait("every replica of the network ledger to converge", heads)
        table = Table("node", "network ledger size", "root hash (RFC 9162)")
        for node_id, head in converged.items():
            table.add_row(node_id, str(head["size"]), head["root_hash"][:24] + "…")
        self.console.print(table)

    def audit(self) -> dict[str, Any]:
        """Run a full audit on the auditor node."""
        auditor = next(n for n, info in self.nodes.items() if info["role"] == "auditor")
        report: dict[str, Any] = self.call(auditor, "POST", "/v1/audits", json={"mode": "full"}, timeout=300)
        return report
