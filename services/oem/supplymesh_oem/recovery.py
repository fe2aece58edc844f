"""After a restore: demands this buyer submitted that its database no longer holds.

A demand the OEM acknowledged after the backup was taken is on the network ledger if
its submission reached the PDU: the entry holds the very statement the OEM signed (id,
time, terms). On a node marked restored, once the replica has caught up from the PDU,
every such demand of this buyer without a row is stored again from that statement and
named in the node's recovery report. A demand whose submission never left the node is
on no peer: nothing can name it but the ERP that was answered 202 (the report says from
when on the ERP must check).
"""

from __future__ import annotations

import asyncio
import json
import logging

from sqlalchemy import func, insert, select

from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.contracts.records import DemandRecord
from supplymesh.core.entry import Entry
from supplymesh.errors import SupplyMeshError
from supplymesh.network.replica import NetworkReplica
from supplymesh.node.context import Node
from supplymesh.storage.engine import read_transaction, write_transaction
from supplymesh.storage.events import publish
from supplymesh_oem.tables import demands

log = logging.getLogger("supplymesh.recovery")
STEP = "demands"
RETRY_SECONDS = 2.0


class DemandRecovery:
    """Restores the rows of this buyer's sequenced demands from the network ledger."""

    def __init__(self, node: Node, replica: NetworkReplica, *, retry: float = RETRY_SECONDS) -> None:
        self.node = node
        self.replica = replica
        self.retry = retry
        node.recovery.expect(STEP)

    async def run(self) -> None:
        """Background, marked restored: catch the replica up from the PDU, then restore what is missing."""
        if not self.node.recovery.restored:
            return
        while True:
            try:
                await self.replica.sync()
                break
            except SupplyMeshError as exc:  # the PDU is down: the replica is caught up later
                log.debug("network sync before recovering demands failed: %s", exc)
            await asyncio.sleep(self.retry)
        async with self.replica.lock:
            self.restore_missing()
        since = self.node.recovery.since or "the start of this node"
        self.node.recovery.note_unknowable(
            f"demands acknowledged since {since} whose submission had not reached the PDU are on "
            "no peer: the ERP must send again any it does not find here"
        )
        self.node.recovery.done(STEP)

    def restore_missing(self) -> int:
        """Store every sequenced demand of this buyer that has no row; return how many."""
        mine = [r for r in self.replica.state.demands.values() if r.buyer == self.node.id]
        with read_transaction(self.node.engine) as conn:
            held = set(conn.execute(select(demands.c.id)).scalars())
        missing = sorted((r for r in mine if r.id not in held), key=lambda r: r.seq)
        for record in missing:
            self._restore(record)
        return len(missing)

    def _restore(self, record: DemandRecord) -> None:
        """Store ``record``'s demand as the OEM signed it, with its place on the ledger."""
        [row] = self.node.store.entries(NETWORK_LEDGER, after=record.seq - 1, limit=1)
        action = Entry.from_canonical(row.entry).body["action"]
        now = self.node.now_text()
        with write_transaction(self.node.engine) as conn:
            position = conn.execute(select(func.coalesce(func.max(demands.c.seq), 0))).scalar_one() + 1
            conn.execute(
                insert(demands).values(
                    id=record.id,
                    seq=position,
                    terms=json.dumps(action["body"]),
                    status="pending",
                    created=action["time"],
                    network_seq=row.seq,
                    network_hash=row.hash,
                )
            )
            publish(
                conn,
                type_="demand.submitted",
                subject=record.id,
                data={"id": record.id, "network_seq": row.seq},
                now_text=now,
            )
        self.node.recovery.note_recovered(
            f"demand {record.id}: missing from this database; restored from its statement on the "
            f"network ledger (seq {row.seq})"
        )
