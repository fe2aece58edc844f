"""The EPCIS 2.0 export, served from a verified copy of the network ledger.

The auditor pulls the network ledger from one holder (the PDU unless another is named)
through its read-only peer access, verifies it (hash chain, entry signatures) and maps it
with :mod:`supplymesh.audit.epcis`. A copy that does not verify is not exported: the
audit names what is wrong with it.
"""

from __future__ import annotations

from typing import Any

from supplymesh.audit.checks import record_of
from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.entry import Entry
from supplymesh.core.verify import verify_ledger
from supplymesh.errors import NotFound, PeerError
from supplymesh.node.context import Node

PAGE = 1000


async def network_entries(node: Node, holder: str | None = None) -> list[Entry]:
    """The network ledger as ``holder`` serves it, verified, in seq order.

    Raises:
        NotFound: ``holder`` is not a member of the network.
        PeerError: the holder cannot be reached, or its copy does not verify.
    """
    source = holder or node.config.pdu.id
    if source == node.id or source not in {m.id for m in node.config.members}:
        raise NotFound(f"{source!r} is not a holder of the network ledger")
    items: list[dict[str, Any]] = []
    while True:
        page = await node.peers.get_json(
            source, f"/peer/v1/ledgers/{NETWORK_LEDGER}/entries", after=len(items), limit=PAGE
        )
        items += page
        if len(page) < PAGE:
            break
    report = verify_ledger(NETWORK_LEDGER, [record_of(i) for i in items], node.config.keys())
    if not report.ok:
        first = report.findings[0]
        raise PeerError(
            f"the network ledger served by {source} does not verify "
            f"(seq {first.seq}: {first.rule}); run an audit: POST /v1/audits"
        )
    return [Entry.from_json(item["entry"]) for item in items]
