"""Replication of the network ledger: every committed entry pushed to every partner, in order.

An append queues one outbox task per partner in its own transaction
(:func:`queue_pushes`); the outbox then delivers each (:func:`push`) and retries a
partner that is down until it takes the entry.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection

from supplymesh.config import NETWORK_LEDGER
from supplymesh.errors import PeerError
from supplymesh.node.context import Node
from supplymesh.storage import outbox

PUSH_TASK = "network.push"
ENTRIES_PATH = "/peer/v1/network/entries"


def queue_pushes(conn: Connection, partners: Iterable[str], seq: int, *, now_text: str) -> None:
    """Queue the push of network entry ``seq`` to each partner, in the appending transaction."""
    for partner in partners:
        outbox.enqueue(
            conn,
            task=PUSH_TASK,
            key=f"{partner}:{seq}",
            payload={"partner": partner, "seq": seq},
            now_text=now_text,
        )


async def push(node: Node, payload: dict[str, Any]) -> None:
    """Outbox: deliver one entry to one partner.

    Raises:
        LookupError: the entry is not on the PDU's ledger.
        PeerError: the partner refused it (the outbox retries).
    """
    partner, seq = payload["partner"], int(payload["seq"])
    rows = node.store.entries(NETWORK_LEDGER, after=seq - 1, limit=1)
    if not rows:
        raise LookupError(f"network seq {seq} not found")
    item = {"entry": json.loads(rows[0].entry), "signatures": json.loads(rows[0].signatures)}
    response = await node.peers.request(partner, "POST", ENTRIES_PATH, json=item)
    if response.status_code >= 400:
        raise PeerError(
            f"{partner} refused network seq {seq}: HTTP {response.status_code} {response.text[:200]}"
        )
