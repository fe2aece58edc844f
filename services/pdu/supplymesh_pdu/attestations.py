"""The PDU asks each priority supplier for a capacity attestation made for one demand.

One request per supplier, all in parallel, each bounded by a timeout. Whatever a
supplier answers — nothing, an error, garbage, a forged or stale attestation, figures
that break the vocabulary — it ends as ``unavailable`` with the reason, never as an
exception: the split then records why the supplier was skipped (SPEC §5), and the
supplier itself refuses to sign a split that calls it unavailable while it did attest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from supplymesh.config import Role
from supplymesh.core.contracts.network import attested
from supplymesh.core.vocabulary.values import MessageError
from supplymesh.errors import PeerError
from supplymesh.network.rules import RuleViolation, check_attestation
from supplymesh.web.node import Node

ATTESTATIONS_PATH = "/peer/v1/capacity/attestations"


async def gather_attestations(
    node: Node, buyer: str, demand_hash: str, suppliers: Sequence[str], *, timeout: float
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Attestations for ``demand_hash`` by supplier, and the suppliers unavailable with the reason."""
    known = {m.id for m in node.config.by_role(Role.SUPPLIER)}
    found: dict[str, dict[str, Any]] = {}
    unavailable: dict[str, str] = {}

    async def ask(supplier: str) -> None:
        if supplier not in known:
            unavailable[supplier] = "not a supplier of this network"
            return
        try:
            response = await asyncio.wait_for(
                node.peers.request(
                    supplier, "POST", ATTESTATIONS_PATH, json={"buyer": buyer, "demand": demand_hash}
                ),
                timeout=timeout,
            )
        except (PeerError, TimeoutError):
            unavailable[supplier] = "did not answer in time"
            return
        if response.status_code != 200:
            unavailable[supplier] = f"could not attest: HTTP {response.status_code}"
            return
        try:
            item = response.json()
            _, body = check_attestation(node.config, item, buyer=buyer, demand_hash=demand_hash)
            attested(body, supplier)
        except (RuleViolation, MessageError, ValueError, TypeError, KeyError) as exc:
            unavailable[supplier] = f"invalid attestation: {exc}"[:500]
            return
        found[supplier] = {"entry": item["entry"], "signatures": item["signatures"]}

    await asyncio.gather(*(ask(s) for s in suppliers))
    return found, unavailable
