"""After a restore: is the DMS behind what this supplier already attested on its channels?

The plant profile, sensors and readings exist only in the supplier's own database; what
left it are the capacity figures attested on each channel. Once the channels are caught
up from their OEMs, a supplier marked restored compares its current figures with each
channel's latest attestation as the channel is caught up (before anything new is
sequenced on it): a profile that is gone, or figures that differ, mean that DMS data
acknowledged after the backup is lost. That is named in the recovery report (the ERP
must send the profile and readings again; until then the supplier attests the figures
its DMS holds).

:class:`CitedAttestations` gives the channel recovery the supplier's own attestations
that splits on the network ledger carry: one that is on no copy of its channel is put
back at its seq (:mod:`supplymesh.channels.recovery`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from supplymesh.channels.service import ChannelService
from supplymesh.channels.wire import parse_sealed
from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.contracts.channel import CAPACITY_KIND
from supplymesh.core.entry import Entry, SealedEntry
from supplymesh.errors import Unprocessable
from supplymesh.network.replica import NetworkReplica
from supplymesh.node.context import Node
from supplymesh.storage.entry_records import latest_of_kind
from supplymesh_supplier.dms import Dms

STEP = "dms"
FIGURES = ("efficiency", "mhc_per_day", "queued_machine_hours", "products")


class DmsRecovery:
    """Names DMS data lost in a restore, judged against the supplier's own attestations."""

    def __init__(self, node: Node, dms: Dms, channels: ChannelService) -> None:
        self.node = node
        self.dms = dms
        self.recovery = channels.sequencer.recovery
        self.recovery.checks.append(self.check)
        node.recovery.expect(STEP)

    def check(self, ledger: str) -> None:
        """Name the DMS loss that ``ledger``'s latest attestation reveals (run as it is caught up)."""
        latest = latest_of_kind(self.node.engine, ledger, CAPACITY_KIND)
        if latest is not None:
            self._compare(latest)
        if set(self.recovery.sequenced()) <= self.recovery.checked:
            since = self.node.recovery.since or "the start of this node"
            self.node.recovery.note_unknowable(
                f"dms: sensors and readings acknowledged since {since} that moved no attested figure "
                "are on no peer: the ERP must send again any it does not find here"
            )
            self.node.recovery.done(STEP)

    def _compare(self, latest: SealedEntry) -> None:
        where = f"{latest.entry.ledger} seq {latest.entry.seq} ({latest.entry.time})"
        current = self.dms.capacity()
        if current is None:
            self.node.recovery.note_lost(
                f"dms: no plant profile here, but {where} attests capacity from one: the profile "
                "(and readings) are lost; send them again"
            )
        elif _figures(current.as_json()) != _figures(latest.entry.body):
            self.node.recovery.note_lost(
                f"dms: the current capacity figures differ from those attested at {where}: profile "
                "or readings acknowledged after the backup are lost; send them again"
            )


def _figures(body: Mapping[str, Any]) -> tuple[Any, ...]:
    """What an attestation states about capacity (not when or for which demand)."""
    return tuple(body.get(name) for name in FIGURES)


class CitedAttestations:
    """The attestations on a channel, beyond a seq, that splits on the network ledger carry."""

    def __init__(self, node: Node, replica: NetworkReplica) -> None:
        self.node = node
        self.replica = replica

    async def __call__(self, ledger: str, after: int) -> list[SealedEntry]:
        """Those entries in seq order, the replica caught up from the PDU first if it answers."""
        await self.replica.sync_if_reachable()
        found: dict[int, SealedEntry] = {}
        for row in self.node.store.iter_entries(NETWORK_LEDGER):
            inputs = Entry.from_canonical(row.entry).body.get("inputs")
            items = inputs.get("attestations") if isinstance(inputs, dict) else None
            for item in items if isinstance(items, list) else []:
                try:
                    sealed = parse_sealed(item)
                except Unprocessable:
                    continue
                if sealed.entry.ledger == ledger and sealed.entry.seq > after:
                    found[sealed.entry.seq] = sealed
        return [found[seq] for seq in sorted(found)]
