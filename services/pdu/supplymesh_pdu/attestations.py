"""The PDU asks each priority supplier for a capacity attestation made for one demand.

One request per supplier, all in parallel, each bounded by a timeout. Whatever a
supplier answers — nothing, an error, garbage, a forged or stale attestation, figures
that break the vocabulary — it ends as ``unavailable`` with the reason, never as an
exception: the split then records why the supplier was skipped (SPEC §5), and the
supplier itself refuses to sign a split that calls it unavailable while it did attest.

A supplier that does not answer may still have attested (its answer lost, or the
supplier down right after): the buyer, which countersigned the attestation on its
channel and refuses a split that leaves it out, is then asked for its copy, checked the
same way. So a supplier that attests and then falls silent cannot make the demands that
name it fail.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from supplymesh.config import Role, channel_ledger
from supplymesh.core.contracts.channel import ChannelMembers
from supplymesh.core.contracts.network import attested
from supplymesh.core.contracts.split import AttestedCapacity
from supplymesh.core.vocabulary.values import MessageError
from supplymesh.errors import PeerError
from supplymesh.network.rules import RuleViolation, check_attestation
from supplymesh.node import crashpoints
from supplymesh.node.context import Node

ATTESTATIONS_PATH = "/peer/v1/capacity/attestations"
NO_ANSWER = "did not answer in time"


@dataclass(frozen=True)
class Gathered:
    """What the priority suppliers answered for one demand."""

    attestations: dict[str, dict[str, Any]]
    """Checked attestations (entry and signatures) by supplier."""
    unavailable: dict[str, str]
    """Suppliers without one, with the reason."""

    @property
    def capacities(self) -> dict[str, AttestedCapacity]:
        """The attested capacity of each supplier that answered."""
        return {s: attested(item["entry"]["body"], s) for s, item in self.attestations.items()}

    @classmethod
    def from_inputs(cls, inputs: Any) -> Gathered:
        """What a proposed split's inputs carry (nothing, if they are not a split's inputs)."""
        items = inputs.get("attestations", []) if isinstance(inputs, dict) else []
        unavailable = inputs.get("unavailable", {}) if isinstance(inputs, dict) else {}
        found = {
            str(ChannelMembers.of(str(item["entry"]["ledger"])).supplier): item
            for item in items
            if isinstance(item, dict) and isinstance(item.get("entry"), dict)
        }
        return cls(found, dict(unavailable) if isinstance(unavailable, dict) else {})

    def adds_to(self, earlier: Gathered) -> bool:
        """True if this gathering has an attestation ``earlier`` lacks or holds an older one of."""
        return any(
            earlier.attestations.get(s, {}).get("entry") != item["entry"]
            for s, item in self.attestations.items()
        )

    def merged(self, earlier: Gathered) -> Gathered:
        """``earlier`` brought up to date: newer attestations win, none is lost to a timeout."""
        attestations = {**earlier.attestations, **self.attestations}
        unavailable = {s: why for s, why in self.unavailable.items() if s not in attestations}
        return Gathered(attestations, unavailable)


async def gather_attestations(
    node: Node, buyer: str, demand_hash: str, suppliers: Sequence[str], *, timeout: float
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Attestations for ``demand_hash`` by supplier, and the suppliers unavailable with the reason.

    Both are filled in the order the answers arrive.
    """
    known = {m.id for m in node.config.by_role(Role.SUPPLIER)}
    found: dict[str, dict[str, Any]] = {}
    unavailable: dict[str, str] = {}

    async def ask(supplier: str) -> None:
        if supplier not in known:
            unavailable[supplier] = "not a supplier of this network"
            return
        answer = await _ask_supplier(node, supplier, buyer, demand_hash, timeout=timeout)
        if isinstance(answer, str):
            unavailable[supplier] = answer
        else:
            found[supplier] = answer

    async def ask_buyer(supplier: str) -> None:
        copy = await _ask_buyer(node, supplier, buyer, demand_hash, timeout=timeout)
        if copy is not None:  # otherwise it stays unavailable with the supplier's own reason
            found[supplier] = copy
            del unavailable[supplier]

    await asyncio.gather(*(ask(s) for s in suppliers))
    silent = [s for s, why in unavailable.items() if why == NO_ANSWER or why.startswith("could not attest")]
    await asyncio.gather(*(ask_buyer(s) for s in silent if s in known))
    return found, unavailable


async def gather_round(
    node: Node, wanted: Sequence[tuple[str, str, Sequence[str]]], *, timeout: float
) -> dict[str, Gathered]:
    """What every priority supplier attests for each (buyer, demand hash, suppliers) of a round.

    One request per supplier and buyer, in parallel: one attestation answers all of that
    buyer's demands naming the supplier. A silent supplier's are asked of the buyer.
    """
    known = {m.id for m in node.config.by_role(Role.SUPPLIER)}
    found: dict[str, dict[str, dict[str, Any]]] = {h: {} for _, h, _ in wanted}
    unavailable: dict[str, dict[str, str]] = {h: {} for _, h, _ in wanted}
    buyer_of = {h: b for b, h, _ in wanted}
    pairs = _by_supplier_and_buyer(wanted, known, unavailable)

    async def ask(supplier: str, buyer: str, hashes: list[str]) -> None:
        if len(hashes) == 1:
            answers = {hashes[0]: await _ask_supplier(node, supplier, buyer, hashes[0], timeout=timeout)}
        else:
            answers = await _ask_supplier_many(node, supplier, buyer, hashes, timeout=timeout)
        for demand_hash, answer in answers.items():
            if isinstance(answer, str):
                unavailable[demand_hash][supplier] = answer
            else:
                found[demand_hash][supplier] = answer

    async def ask_buyer(demand_hash: str, supplier: str) -> None:
        copy = await _ask_buyer(node, supplier, buyer_of[demand_hash], demand_hash, timeout=timeout)
        if copy is not None:
            found[demand_hash][supplier] = copy
            del unavailable[demand_hash][supplier]

    await asyncio.gather(*(ask(s, b, hashes) for (s, b), hashes in pairs.items()))
    silent = [
        (h, s)
        for h, reasons in unavailable.items()
        for s, why in reasons.items()
        if s in known and (why == NO_ANSWER or why.startswith("could not attest"))
    ]
    await asyncio.gather(*(ask_buyer(h, s) for h, s in silent))
    return _gathered(found, unavailable)


def _gathered(
    found: dict[str, dict[str, Any]], unavailable: dict[str, dict[str, str]]
) -> dict[str, Gathered]:
    """A round's answers by demand (the crash point ``pdu.attestations.gathered`` once there are any)."""
    if any(found.values()):
        crashpoints.reached("pdu.attestations.gathered")
    return {h: Gathered(found[h], unavailable[h]) for h in found}


def _by_supplier_and_buyer(
    wanted: Sequence[tuple[str, str, Sequence[str]]], known: set[str], unavailable: dict[str, dict[str, str]]
) -> dict[tuple[str, str], list[str]]:
    """The demands to ask each (supplier, buyer) about; a name that is no supplier is unavailable."""
    pairs: dict[tuple[str, str], list[str]] = {}
    for buyer, demand_hash, suppliers in wanted:
        for supplier in suppliers:
            if supplier in known:
                pairs.setdefault((supplier, buyer), []).append(demand_hash)
            else:
                unavailable[demand_hash][supplier] = "not a supplier of this network"
    return pairs


async def _ask_supplier_many(
    node: Node, supplier: str, buyer: str, hashes: list[str], *, timeout: float
) -> dict[str, dict[str, Any] | str]:
    """The supplier's one checked attestation for several demands of ``buyer``, or why not, per demand."""
    try:
        response = await asyncio.wait_for(
            node.peers.request(supplier, "POST", ATTESTATIONS_PATH, json={"buyer": buyer, "demands": hashes}),
            timeout=timeout,
        )
    except (PeerError, TimeoutError):
        return dict.fromkeys(hashes, NO_ANSWER)
    if response.status_code != 200:
        return dict.fromkeys(hashes, f"could not attest: HTTP {response.status_code}")
    try:
        item = response.json()
        refused = item.get("refused", {})
        entry = {"entry": item["entry"], "signatures": item["signatures"]}
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return dict.fromkeys(hashes, f"invalid attestation: {exc}"[:500])
    answers: dict[str, dict[str, Any] | str] = {}
    for demand_hash in hashes:
        if isinstance(refused, dict) and demand_hash in refused:
            answers[demand_hash] = f"could not attest: {str(refused[demand_hash])[:300]}"
            continue
        try:
            _, body = check_attestation(node.config, entry, buyer=buyer, demand_hash=demand_hash)
            attested(body, supplier)
        except (RuleViolation, MessageError, ValueError, TypeError, KeyError) as exc:
            answers[demand_hash] = f"invalid attestation: {exc}"[:500]
            continue
        answers[demand_hash] = entry
    return answers


async def _ask_supplier(
    node: Node, supplier: str, buyer: str, demand_hash: str, *, timeout: float
) -> dict[str, Any] | str:
    """The supplier's checked attestation for the demand, or why it has none."""
    try:
        response = await asyncio.wait_for(
            node.peers.request(
                supplier, "POST", ATTESTATIONS_PATH, json={"buyer": buyer, "demand": demand_hash}
            ),
            timeout=timeout,
        )
    except (PeerError, TimeoutError):
        return NO_ANSWER
    if response.status_code != 200:
        return f"could not attest: HTTP {response.status_code}"
    try:
        item = response.json()
        _, body = check_attestation(node.config, item, buyer=buyer, demand_hash=demand_hash)
        attested(body, supplier)
    except (RuleViolation, MessageError, ValueError, TypeError, KeyError) as exc:
        return f"invalid attestation: {exc}"[:500]
    return {"entry": item["entry"], "signatures": item["signatures"]}


async def _ask_buyer(
    node: Node, supplier: str, buyer: str, demand_hash: str, *, timeout: float
) -> dict[str, Any] | None:
    """The buyer's checked copy of the supplier's attestation, for a supplier that did not answer."""
    ledger = channel_ledger(buyer, supplier)
    try:
        response = await asyncio.wait_for(
            node.peers.request(
                buyer, "GET", f"/peer/v1/channels/{ledger}/attestations", params={"demand": demand_hash}
            ),
            timeout=timeout,
        )
        if response.status_code != 200:
            return None
        item = response.json()
        _, body = check_attestation(node.config, item, buyer=buyer, demand_hash=demand_hash)
        attested(body, supplier)
    except (PeerError, TimeoutError, RuleViolation, MessageError, ValueError, TypeError, KeyError):
        return None
    return {"entry": item["entry"], "signatures": item["signatures"]}
