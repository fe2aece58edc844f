"""The kill -9 matrix: each node kind killed at each step of an order's life, and restarted.

One network of real node processes per kind runs the paper's scenario 2 — oem-a's demand
split between supplier-a and supplier-b, deposits, supplier-a's lot released, supplier-b's
refunded and re-offered to oem-b, which accepts, pays and is released — and kills that
kind's node (SIGKILL, nothing flushed) at every step in turn (the cells of
:data:`COLUMNS`, one column per kind). After each kill the node is restarted and, before
the next step: every replica of the network ledger and of each channel converges to the
same root, and every ERP event feed read on from the cursor held before the kill goes
on with the next id, never a gap or a repeat. At the end every ERP request was applied
exactly once (one demand per request, one action per deposit, report and acceptance,
one decision per subject, one lot quality per order, no event twice) and a full audit
is clean. ``docs/reliability.md`` lists the cells.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from supplymesh.cli.scenarios import DEMAND_A, DEMAND_B, PROFILE_A, PROFILE_B
from tests.system.lifecycle import CHANNELS, HOLDERS, Cell, Kills, Mesh, running_network, wait_until

pytestmark = pytest.mark.system

PROBE = {**DEMAND_B, "product": "P-999", "required_machine_hours": "4"}
"""A demand for a product no supplier makes: decided (unallocated) at once, and offered no lot."""
STEPS = (
    "demand accepted",
    "attestation",
    "proposal sent",
    "partly signed",
    "committed",
    "pushed",
    "deposit",
    "production report",
    "release",
    "re-offer",
    "acceptance",
)


def column(node: str, points: dict[str, str], freeze: tuple[str, ...] = ()) -> list[Cell]:
    """The cells of ``node`` at every step: its crash point there, or a kill from outside."""
    return [Cell(s, node, points.get(s, ""), s in freeze) for s in STEPS]


COLUMNS: dict[str, list[Cell]] = {
    "pdu": column(
        "pdu",
        {
            "demand accepted": "pdu.action.sequenced:demand.submitted",
            "attestation": "pdu.attestations.gathered",
            "proposal sent": "pdu.block.saved:decision.split",
            "partly signed": "pdu.vote.received:decision.split",
            "committed": "pdu.block.committed:decision.split",
            "pushed": "pdu.push.delivered:decision.split",
            "deposit": "pdu.action.sequenced:escrow.deposited",
            "production report": "pdu.action.sequenced:production.completed",
            "release": "pdu.block.committed:decision.release",
            "re-offer": "pdu.block.committed:decision.refund",
            "acceptance": "pdu.action.sequenced:offer.accepted",
        },
    ),
    "supplier": column(
        "supplier-a",
        {
            "proposal sent": "network.vote.received:decision.split",
            "partly signed": "network.vote.signed:decision.split",
            "committed": "network.push.received:decision.split",
            "pushed": "network.push.applied:decision.split",
            "deposit": "network.push.received:escrow.deposited",
            "production report": "erp.applied:production-complete",
            "release": "network.push.applied:decision.release",
            "re-offer": "network.push.received:decision.refund",
            "acceptance": "network.push.applied:offer.accepted",
        },
        freeze=("demand accepted",),
    ),
    "oem": [
        *column(
            "oem-a",
            {
                "demand accepted": "erp.applied:demands",
                "proposal sent": "network.vote.received:decision.split",
                "partly signed": "network.vote.signed:decision.split",
                "committed": "network.push.received:decision.split",
                "pushed": "network.push.applied:decision.split",
                "deposit": "erp.applied:deposit",
                "production report": "network.push.applied:production.completed",
                "release": "network.push.applied:decision.release",
            },
            freeze=("demand accepted",),
        )[:9],
        Cell("re-offer", "oem-b", "network.push.received:decision.refund"),
        Cell("acceptance", "oem-b", "erp.applied:accept"),
    ],
    "auditor": [Cell(s, "auditor", "auditor.audit.kept") for s in STEPS],
}


class Feeds:
    """Each ERP node's event feed, read on from the cursor held before every kill."""

    def __init__(self, mesh: Mesh) -> None:
        self.mesh = mesh
        self.cursor = dict.fromkeys(HOLDERS, 0)
        self.seen: dict[str, Counter[tuple[str, str, str]]] = {n: Counter() for n in HOLDERS}

    def read(self) -> None:
        """Read every feed on from its cursor: consecutive ids, and no event seen before."""
        for node in HOLDERS:
            while page := self.mesh.get(node, "/v1/events", after=self.cursor[node], limit=1000):
                ids = [e["id"] for e in page]
                expected = list(range(self.cursor[node] + 1, self.cursor[node] + 1 + len(page)))
                assert ids == expected, f"{node}'s feed after {self.cursor[node]}: {ids}"
                self.seen[node].update(
                    (e["type"], e["subject"], json.dumps(e["data"], sort_keys=True)) for e in page
                )
                self.cursor[node] = ids[-1]
            twice = [k for k, n in self.seen[node].items() if n > 1]
            assert twice == [], f"{node} published these events twice: {twice}"


class Order:
    """Scenario 2 step by step, with the kills of one column."""

    def __init__(self, mesh: Mesh, cells: list[Cell]) -> None:
        self.mesh = mesh
        self.kills = Kills(mesh, cells)
        self.feeds = Feeds(mesh)
        self.ids: dict[str, Any] = {}

    def wait(self, probe: Any, what: str) -> Any:
        return wait_until(probe, what, poll=self.kills.reap)

    def at(self, step: str) -> None:
        """The moment ``step`` is reached: an outside kill, or the audit that kills the auditor."""
        cell = self.kills.cell(step)
        if (
            cell.node == "auditor"
        ):  # one audit, killed at its crash point (not retried: that would be the next cell)
            with contextlib.suppress(httpx.TransportError):
                self.mesh.clients["auditor"].post("/v1/audits", json={"mode": "incremental"})
        else:
            self.kills.outside(step)

    def check(self, step: str) -> None:
        """After ``step``: its kill happened, every replica converged, every feed goes on."""
        self.kills.done(step)
        self.wait(self.converged, f"every replica to converge after {step}")
        self.feeds.read()

    def converged(self) -> bool:
        heads = {self.root(n, "network") for n in HOLDERS}
        if len(heads) != 1 or None in heads:
            return False
        for channel in CHANNELS:
            _, oem, supplier = channel.split(":")
            copies = {self.root(n, channel) for n in (oem, supplier)}
            if len(copies) != 1 or None in copies:
                return False
        return True

    def root(self, node: str, ledger: str) -> str | None:
        """``node``'s root hash of ``ledger``; None while it holds none yet (a 404 problem)."""
        head = self.mesh.get(node, f"/v1/ledgers/{ledger}/head")
        root: str | None = head.get("root_hash")
        return root

    def demand(self, node: str, demand_id: str) -> Any:
        return self.mesh.get(node, f"/v1/demands/{demand_id}")

    def escrow(self, node: str, escrow_id: str) -> Any:
        return self.mesh.get(node, f"/v1/escrows/{escrow_id}")

    # -- the steps ------------------------------------------------------------------------------

    def setup(self) -> None:
        """Both plants' profiles, attested on every channel."""
        for supplier, profile in (("supplier-a", PROFILE_A), ("supplier-b", PROFILE_B)):
            assert self.mesh.clients[supplier].put("/v1/dms/profile", json=profile).status_code == 200
        self.wait(self.converged, "the profiles' attestations on every channel")
        self.feeds.read()

    def demand_accepted(self) -> None:
        """oem-a's ERP posts demand A (one Idempotency-Key, retried through a kill): 202."""
        self.kills.before("demand accepted")
        created = self.mesh.send("oem-a", "/v1/demands", DEMAND_A, key="demand-a")
        assert created.status_code == 202, created.text
        self.ids["a"] = created.json()["id"]
        self.at("demand accepted")
        self.ids["a-hash"] = self.wait(
            lambda: self.demand("oem-a", self.ids["a"])["network_hash"], "demand A on the network ledger"
        )
        self.check("demand accepted")

    def attestation(self) -> None:
        """Both suppliers attest their capacity for demand A on their channel with oem-a.

        The outside kill comes once oem-a's copy holds both (the supplier answered the PDU by
        then): a supplier killed between endorsing its attestation and answering is left out
        of the split, as oem-a cannot serve an entry it countersigned but does not hold yet.
        """
        self.kills.before("attestation")
        self.wait(lambda: all(self.attested(s) for s in ("supplier-a", "supplier-b")), "attestations")
        self.at("attestation")
        self.check("attestation")

    def attested(self, supplier: str) -> bool:
        items = self.mesh.get("oem-a", f"/v1/channels/channel:oem-a:{supplier}/entries", limit=1000)
        made_for = [(e["body"] or {}).get("demand") for e in items if e["kind"] == "capacity.attestation"]
        made_for += [
            d for e in items if e["kind"] == "capacity.attestation" for d in e["body"].get("demands", [])
        ]
        return self.ids["a-hash"] in made_for

    def split(self) -> None:
        """The split of demand A: proposed, signed, committed and pushed to every replica."""
        for step in ("proposal sent", "partly signed", "committed", "pushed"):
            self.kills.before(step)
            self.at(step)
            self.probe(step)
            self.check(step)
        demand = self.demand("oem-a", self.ids["a"])
        got = [(a["supplier"], a["quantity"]) for a in demand["allocations"]]
        assert got == [("supplier-a", 390), ("supplier-b", 400)], demand
        self.ids["allocations"] = demand["allocations"]

    def probe(self, step: str) -> None:
        """Once split A is decided and ``step``'s crash point is still ahead: one more split to be killed at.

        oem-b asks for a product nobody makes; its split is voted on and pushed like any other
        (a partner that was down while split A was voted on missed that one).
        """
        if not self.kills.cell(step).point:
            return
        for n in range(4):
            self.wait(lambda: self.fired(step) or self.decided("oem-a", self.ids["a"]), "split A")
            if self.fired(step):
                return
            created = self.mesh.send(
                "oem-b",
                "/v1/demands",
                {**PROBE, "quantity": 10 + n},
                key=f"probe-{step.replace(' ', '-')}-{n}",
            )
            assert created.status_code == 202, created.text
            probe = created.json()["id"]
            self.ids.setdefault("probes", []).append(probe)
            self.wait(lambda p=probe: self.fired(step) or self.decided("oem-b", p), f"a probe at {step}")

    def fired(self, step: str) -> bool:
        self.kills.reap()
        return step in self.kills.killed

    def decided(self, node: str, demand_id: str) -> bool:
        return bool(self.demand(node, demand_id)["status"] != "pending")

    def second_demand(self) -> None:
        """oem-b's demand B finds no capacity left: open for a re-offer."""
        created = self.mesh.send("oem-b", "/v1/demands", DEMAND_B, key="demand-b")
        assert created.status_code == 202, created.text
        self.ids["b"] = created.json()["id"]
        demand = self.wait(
            lambda: (d := self.demand("oem-b", self.ids["b"]))["status"] != "pending" and d, "the split of B"
        )
        assert demand["status"] == "unallocated", demand
        self.wait(self.converged, "every replica to converge after demand B")
        self.feeds.read()

    def deposit(self) -> None:
        """oem-a pays both escrows (each retried with its key through a kill)."""
        self.kills.before("deposit")
        for n, allocation in enumerate(self.ids["allocations"]):
            escrow = allocation["escrow_id"]
            paid = self.mesh.send(
                "oem-a",
                f"/v1/escrows/{escrow}/deposit",
                {"amount": allocation["escrow_amount"], "currency": "EUR", "payment_reference": f"PAY-{n}"},
                key=f"deposit-{escrow}",
            )
            assert paid.status_code == 200 and paid.json()["state"] == "funded", paid.text
            if n == 0:
                self.at("deposit")
        for supplier in ("supplier-a", "supplier-b"):
            self.wait(lambda s=supplier: self.mesh.get(s, "/v1/orders")[0]["state"] == "funded", "funded")
        self.check("deposit")

    def report(self, supplier: str, escrow: str, produced: int, major: int) -> None:
        """``supplier`` reports its lot (retried with its key through a kill)."""
        done = self.mesh.send(
            supplier,
            f"/v1/orders/{escrow}/production-complete",
            {"produced_quantity": produced, "defects": {"critical": 0, "major": major, "minor": 10}},
            key=f"report-{escrow}",
        )
        assert done.status_code == 200, done.text

    def production_report(self) -> None:
        """supplier-a reports its lot of 390 (5 major defects: within oem-a's AQL)."""
        self.kills.before("production report")
        self.report("supplier-a", self.ids["allocations"][0]["escrow_id"], 390, 5)
        self.at("production report")
        self.check("production report")

    def release(self) -> None:
        """The PDU releases supplier-a's escrow."""
        self.kills.before("release")
        escrow = self.ids["allocations"][0]["escrow_id"]
        self.wait(lambda: self.escrow("oem-a", escrow)["state"] == "released", "the release")
        self.at("release")
        self.check("release")

    def reoffer(self) -> None:
        """supplier-b's lot fails oem-a's AQL: refunded and re-offered to oem-b."""
        self.kills.before("re-offer")
        escrow = self.ids["allocations"][1]["escrow_id"]
        self.report("supplier-b", escrow, 400, 14)
        self.wait(lambda: self.escrow("oem-a", escrow)["state"] == "refunded", "the refund")
        offers = self.wait(lambda: self.mesh.get("oem-b", "/v1/offers"), "the re-offer to oem-b")
        self.at("re-offer")
        self.check("re-offer")
        assert [(o["quantity"], o["state"]) for o in offers] == [(400, "open")], offers
        self.ids["offer"] = offers[0]["id"]

    def acceptance(self) -> None:
        """oem-b accepts the lot, pays its new escrow, and the PDU releases it."""
        self.kills.before("acceptance")
        accepted = self.mesh.send("oem-b", f"/v1/offers/{self.ids['offer']}/accept", key="accept")
        assert accepted.status_code == 200, accepted.text
        escrow = accepted.json()["escrow_id"]
        self.at("acceptance")
        paid = self.mesh.send(
            "oem-b",
            f"/v1/escrows/{escrow}/deposit",
            {"amount": 520000, "currency": "EUR", "payment_reference": "B-1"},
            key=f"deposit-{escrow}",
        )
        assert paid.status_code == 200, paid.text
        self.wait(lambda: self.escrow("oem-b", escrow)["state"] == "released", "the release of the lot")
        self.check("acceptance")

    # -- at the end -----------------------------------------------------------------------------

    def exactly_once(self) -> None:
        """One demand per request; one action, decision and lot quality per subject; a clean audit."""
        assert [d["id"] for d in self.mesh.get("oem-a", "/v1/demands")] == [self.ids["a"]]
        probes = self.ids.get("probes", [])
        assert [d["id"] for d in self.mesh.get("oem-b", "/v1/demands")] == [*probes, self.ids["b"]]
        rows = self.mesh.get("pdu", "/v1/ledgers/network/entries", limit=1000)
        bodies = [(r["entry"]["kind"], r["entry"]["body"]) for r in rows]
        actions = Counter((k, b["action"]["id"]) for k, b in bodies if "action" in b)
        decisions = Counter(
            (k, b["inputs"].get("demand") or b["inputs"].get("escrow")) for k, b in bodies if "decision" in b
        )
        assert max(actions.values()) == 1 and max(decisions.values()) == 1, (actions, decisions)
        kinds = Counter(k for k, _ in [*actions, *decisions])
        assert kinds == {
            "demand.submitted": 2 + len(probes),
            "escrow.deposited": 3,
            "production.completed": 2,
            "offer.accepted": 1,
            "decision.split": 2 + len(probes),
            "decision.release": 2,
            "decision.refund": 1,
        }, kinds
        for supplier in ("supplier-a", "supplier-b"):
            items = self.mesh.get(supplier, f"/v1/channels/channel:oem-a:{supplier}/entries", limit=1000)
            held = [e["kind"] for e in items]
            assert held.count("lot.quality") == held.count("escrow.event") == 1, items
        report = self.mesh.send("auditor", "/v1/audits", {"mode": "full"}).json()
        assert report["ok"], report["findings"]


def run_column(tmp_path: Path, kind: str) -> None:
    """Scenario 2 with ``kind``'s node killed at every step; every cell's kill happened."""
    with running_network(tmp_path / "state") as mesh:
        order = Order(mesh, COLUMNS[kind])
        order.setup()
        order.demand_accepted()
        order.attestation()
        order.split()
        order.second_demand()
        order.deposit()
        order.production_report()
        order.release()
        order.reoffer()
        order.acceptance()
        order.exactly_once()
        assert order.kills.killed == list(STEPS), order.kills.killed


@pytest.mark.timeout(1800)
def test_pdu_killed_at_every_step_of_an_order(tmp_path: Path) -> None:
    run_column(tmp_path, "pdu")


@pytest.mark.timeout(1800)
def test_supplier_killed_at_every_step_of_an_order(tmp_path: Path) -> None:
    run_column(tmp_path, "supplier")


@pytest.mark.timeout(1800)
def test_oem_killed_at_every_step_of_an_order(tmp_path: Path) -> None:
    run_column(tmp_path, "oem")


@pytest.mark.timeout(1800)
def test_auditor_killed_at_every_step_of_an_order(tmp_path: Path) -> None:
    run_column(tmp_path, "auditor")
