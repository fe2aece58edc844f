"""A node's own records, read for the witness checks: channel copies and the network head.

:class:`StoredChannels` answers :class:`supplymesh.network.witness.ChannelRecords` from
the node's database: the entry it holds at a seq of a channel, or — if its copy has not
reached that seq yet — the entry it countersigned there (a member never countersigns two
entries for one seq), and the latest attestation made for a demand.
"""

from __future__ import annotations

import json

from sqlalchemy import Engine, func, select

from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.contracts.capacity import made_for
from supplymesh.core.contracts.channel import CAPACITY_KIND
from supplymesh.core.contracts.network import NetworkState
from supplymesh.core.entry import Entry, SealedEntry, parse_signatures
from supplymesh.storage.engine import read_transaction
from supplymesh.storage.tables import countersigned, ledger_entries


def attestation_made_for(engine: Engine, ledger: str, demand: str) -> SealedEntry | None:
    """The latest capacity attestation on ``ledger`` made for ``demand`` (alone or with others)."""
    needle = json.dumps(demand)  # in "demand" or in the "demands" of a round
    with read_transaction(engine) as conn:
        rows = conn.execute(
            select(ledger_entries.c.entry, ledger_entries.c.signatures)
            .where(
                ledger_entries.c.ledger == ledger,
                ledger_entries.c.kind == CAPACITY_KIND,
                ledger_entries.c.entry.contains(needle, autoescape=True),
            )
            .order_by(ledger_entries.c.seq.desc())
        )
        for row in rows:
            entry = Entry.from_canonical(row.entry.encode())
            if made_for(entry.body, demand):
                return SealedEntry(entry, parse_signatures(json.loads(row.signatures)))
    return None


class StoredChannels:
    """This node's channel records, read from its database.

    What it found is remembered (a block's decisions ask about the same channels again
    and again): a hash held at a seq never changes; the latest attestation for a demand
    may, when a catch-up appends to the channel, so :meth:`forget` is called after one.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._hashes: dict[tuple[str, int], str] = {}
        self._attestations: dict[tuple[str, str], tuple[int, str] | None] = {}

    def forget(self) -> None:
        """Drop what was remembered of the latest attestations (a catch-up appended entries)."""
        self._attestations.clear()

    def hash_at(self, ledger: str, seq: int) -> str | None:
        """Hash of the entry held at ``seq``, else of the one countersigned there, else None."""
        known = self._hashes.get((ledger, seq))
        if known is None:
            known = self._read_hash(ledger, seq)
            if known is not None:
                self._hashes[(ledger, seq)] = known
        return known

    def _read_hash(self, ledger: str, seq: int) -> str | None:
        with read_transaction(self.engine) as conn:
            held = conn.execute(
                select(ledger_entries.c.hash).where(
                    ledger_entries.c.ledger == ledger, ledger_entries.c.seq == seq
                )
            ).scalar_one_or_none()
            if held is None:
                held = conn.execute(
                    select(countersigned.c.hash).where(
                        countersigned.c.ledger == ledger, countersigned.c.seq == seq
                    )
                ).scalar_one_or_none()
        return None if held is None else str(held)

    def attestation_for(self, ledger: str, demand: str) -> tuple[int, str] | None:
        """(seq, hash) of the latest attestation made for ``demand`` on ``ledger``."""
        if (ledger, demand) not in self._attestations:
            found = attestation_made_for(self.engine, ledger, demand)
            self._attestations[(ledger, demand)] = (
                None if found is None else (found.entry.seq, found.entry.hash)
            )
        return self._attestations[(ledger, demand)]

    def behind(self, ledger: str) -> bool:
        """True if this node countersigned an entry of ``ledger`` its copy does not hold yet."""
        with read_transaction(self.engine) as conn:
            signed = conn.execute(
                select(func.max(countersigned.c.seq)).where(countersigned.c.ledger == ledger)
            ).scalar_one_or_none()
            held = conn.execute(
                select(func.max(ledger_entries.c.seq)).where(ledger_entries.c.ledger == ledger)
            ).scalar_one_or_none()
        return signed is not None and int(signed) > int(held or 0)


def head_time(engine: Engine, state: NetworkState) -> str:
    """Time of the entry at the head of the network replica ("" for an empty ledger)."""
    folded = str(getattr(state, "time", "") or "")
    if folded or state.size == 0:
        return folded
    with read_transaction(engine) as conn:
        time = conn.execute(
            select(ledger_entries.c.time).where(
                ledger_entries.c.ledger == NETWORK_LEDGER, ledger_entries.c.seq == state.size
            )
        ).scalar_one_or_none()
    return "" if time is None else str(time)
