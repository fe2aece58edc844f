"""Whether the holders of each ledger agree: every holder's RFC 9162 tree size and root.

Each holder is asked for its head. The reference is the largest tree that most holders
share; a holder with the same size and root agrees, a smaller tree that the reference
holder proves consistent (RFC 9162 consistency proof, checked with the core's Merkle
code) is behind, anything else disagrees. A holder that does not answer is unreachable,
one that answers but holds no copy is missing: neither silently disappears.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from supplymesh.core.merkle import ProofError, verify_consistency
from supplymesh.errors import PeerError
from supplymesh.node.context import Node
from supplymesh_auditor.explorer.fetch import holders, ledgers


@dataclass
class Replica:
    """One holder's copy of one ledger, as its head says."""

    holder: str
    size: int | None = None
    root: str | None = None
    status: str = "unreachable"  # agrees, behind, disagrees, missing, unreachable
    note: str = ""


@dataclass
class Agreement:
    """One ledger across its holders."""

    ledger: str
    replicas: list[Replica] = field(default_factory=list)
    size: int | None = None
    root: str | None = None
    reference: str | None = None

    @property
    def agreeing(self) -> int:
        """How many holders have the reference tree."""
        return sum(1 for r in self.replicas if r.status == "agrees")

    @property
    def ok(self) -> bool:
        """True if every holder has the reference tree."""
        return self.agreeing == len(self.replicas)

    @property
    def summary(self) -> str:
        """``5/5 holders agree``, or which do not and how."""
        text = f"{self.agreeing}/{len(self.replicas)} holders agree"
        others = [f"{r.holder} {r.status}" for r in self.replicas if r.status != "agrees"]
        return text + (" · " + ", ".join(others) if others else "")


async def _head(node: Node, holder: str, ledger: str) -> Replica:
    try:
        head = await node.peers.get_json(holder, f"/peer/v1/ledgers/{ledger}/head")
        return Replica(holder, int(head["size"]), str(head["root_hash"]), "answered")
    except PeerError as exc:
        status = exc.extensions.get("peer_status")
        if status is not None:
            return Replica(holder, status="missing", note=f"holds no copy (HTTP {status})")
        return Replica(holder, note=exc.detail[:200])
    except (KeyError, TypeError, ValueError) as exc:
        return Replica(holder, status="disagrees", note=f"unreadable head: {exc}")


async def _consistent(node: Node, ledger: str, replica: Replica, reference: Replica) -> bool:
    """True if the reference holder proves ``replica``'s tree a prefix of its own."""
    if not replica.size:
        return True
    assert replica.root is not None and reference.root is not None and reference.size is not None
    try:
        answer: dict[str, Any] = await node.peers.get_json(
            reference.holder,
            f"/peer/v1/ledgers/{ledger}/proofs/consistency",
            first=replica.size,
            second=reference.size,
        )
        verify_consistency(
            first=replica.size,
            second=reference.size,
            first_root=bytes.fromhex(replica.root),
            second_root=bytes.fromhex(reference.root),
            proof=[bytes.fromhex(p) for p in answer["proof"]],
        )
    except (PeerError, ProofError, KeyError, TypeError, ValueError):
        return False
    return True


async def _judge(node: Node, agreement: Agreement) -> None:
    answered = [r for r in agreement.replicas if r.status == "answered"]
    if not answered:
        return
    trees = Counter((r.size or 0, r.root) for r in answered)
    (size, root), _count = max(trees.items(), key=lambda item: (item[0][0], item[1]))
    reference = next(r for r in answered if (r.size, r.root) == (size, root))
    agreement.size, agreement.root, agreement.reference = size, root, reference.holder
    for replica in answered:
        if (replica.size, replica.root) == (size, root):
            replica.status = "agrees"
        elif (replica.size or 0) < size and await _consistent(node, agreement.ledger, replica, reference):
            replica.status, replica.note = (
                "behind",
                f"{size - (replica.size or 0)} entries behind, consistent",
            )
        else:
            replica.status, replica.note = "disagrees", "a different tree"


async def agreements(node: Node) -> list[Agreement]:
    """Every ledger of the network, each with every holder's head judged."""
    pairs = [(ledger, holder) for ledger in ledgers(node) for holder in holders(node, ledger) or []]
    heads = await asyncio.gather(*(_head(node, holder, ledger) for ledger, holder in pairs))
    found: dict[str, Agreement] = {}
    for (ledger, _holder), replica in zip(pairs, heads, strict=True):
        found.setdefault(ledger, Agreement(ledger)).replicas.append(replica)
    for agreement in found.values():
        await _judge(node, agreement)
    return list(found.values())
