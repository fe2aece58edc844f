"""Replication of the network ledger: every committed entry pushed to every partner, in order.

An append queues one outbox task per partner in its own transaction
(:func:`queue_pushes`), for the one entry or the whole range a block committed; the
outbox then delivers each in one request (:func:`push`) and retries a partner that is
down until it takes them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection

from supplymesh.config import NETWORK_LEDGER
from supplymesh.errors import PeerError
from supplymesh.node import crashpoints
from supplymesh.node.context import Node
from supplymesh.storage import outbox

PUSH_TASK = "network.push"
RANGE_MAX = 256
"""The most entries pushed in one request."""
ENTRIES_PATH = "/peer/v1/network/entries"


def queue_pushes(
    conn: Connection, partners: Iterable[str], seq: int, last: int = 0, *, now_text: str
) -> None:
    """Queue the push of network entries ``seq``…``last`` to each partner, in the appending transaction."""
    last = max(seq, last)
    for partner in partners:
        outbox.enqueue(
            conn,
            task=PUSH_TASK,
            key=f"{partner}:{seq}" if last == seq else f"{partner}:{seq}-{last}",
            payload={"partner": partner, "seq": seq, "last": last},
            now_text=now_text,
        )


async def push(node: Node, payload: dict[str, Any]) -> None:
    """Outbox: deliver one entry, or a range of them in one request, to one partner.

    Raises:
        LookupError: an entry is not on the PDU's ledger.
        PeerError: the partner refused it (the outbox retries).
    """
    partner, seq = payload["partner"], int(payload["seq"])
    last = int(payload.get("last", seq))
    rows = node.store.entries(NETWORK_LEDGER, after=seq - 1, limit=last - seq + 1)
    if len(rows) != last - seq + 1:
        raise LookupError(f"network seq {seq}…{last} not found")
    items = [{"entry": json.loads(r.entry), "signatures": json.loads(r.signatures)} for r in rows]
    body = items[0] if len(items) == 1 else {"entries": items}
    response = await node.peers.request(partner, "POST", ENTRIES_PATH, json=body)
    if response.status_code >= 400:
        raise PeerError(
            f"{partner} refused network seq {seq}…{last}: HTTP {response.status_code} {response.text[:200]}"
        )
    crashpoints.reached("pdu.push.delivered", *(str(i["entry"]["kind"]) for i in items))
