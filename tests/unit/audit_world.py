"""A small signed network for audit unit tests: real keys, real signatures, no nodes.

:func:`world` generates a network (two OEMs, two suppliers, the PDU, the auditor) once
per process. :class:`Scenario` builds, with the members' own keys, what the holders
would serve after the SPEC §5 split: the network ledger (genesis, oem-a's demand, the
split certified by every partner) and the channels oem-a × supplier-a/b, each holding a
countersigned capacity attestation for the demand. Tests change what one holder serves
(as an insider with that holder's keys, or all keys) and run the pipeline on it.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from supplymesh.audit.checks import Copy, Pull, Reader
from supplymesh.cli.netgen import build_network, default_seats
from supplymesh.cli.scenarios import DEMAND_A
from supplymesh.config import NETWORK_LEDGER, NetworkConfig, channel_ledger
from supplymesh.core.actions import DEMAND_SUBMITTED, Action, sign_action
from supplymesh.core.contracts.network import SPLIT, NetworkState, apply
from supplymesh.core.crypto import Signer
from supplymesh.core.entry import GENESIS_PREV, Entry, SealedEntry, format_time, sign_entry
from supplymesh.core.numbers import normalise
from supplymesh.core.recipients import Recipient
from supplymesh.core.sealing import key_entry_body, seal_body
from supplymesh.core.verify import Finding
from supplymesh.network.rules import recompute
from supplymesh.node.keys import ENC_KEY_FILE, KEY_FILE, load_enc_key_file, load_key_file

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
PARTNERS = ("oem-a", "oem-b", "supplier-a", "supplier-b")
HOLDERS = ("pdu", *PARTNERS)
CHANNEL_A = channel_ledger("oem-a", "supplier-a")
CHANNEL_B = channel_ledger("oem-a", "supplier-b")
CAPACITY = {"efficiency": "1", "mhc_per_day": "80", "queued_machine_hours": "100", "products": ["P-100"]}


def demand_terms() -> dict[str, Any]:
    """SPEC §5's demand as its buyer's ERP edge signs it (decimals in canonical form)."""
    aql: dict[str, str] = DEMAND_A["aql"]  # type: ignore[assignment]
    return {**DEMAND_A, "aql": {c: normalise(v) for c, v in aql.items()}}


def at(seconds: float) -> str:
    """Entry time ``seconds`` after the scenario's start."""
    return format_time(T0 + timedelta(seconds=seconds))


@dataclass(frozen=True)
class World:
    """A generated network config with every member's private keys."""

    config: NetworkConfig
    signers: Mapping[str, Signer]
    auditor: Recipient


@functools.cache
def world() -> World:
    """The network (generated once per process, removed at exit)."""
    directory = Path(tempfile.mkdtemp(prefix="audit-world-"))
    atexit.register(shutil.rmtree, directory, True)
    config = build_network(directory, default_seats(suppliers=2, oems=2), base_port=19300)
    signers = {m.id: load_key_file(directory / m.id / KEY_FILE) for m in config.members}
    return World(config, signers, load_enc_key_file(directory / "auditor" / ENC_KEY_FILE))


def seal(entry: Entry, signers: Iterable[str]) -> SealedEntry:
    """``entry`` signed by each of ``signers`` with their own keys."""
    keys = world().signers
    return SealedEntry(entry, tuple(sign_entry(entry, signer_id=s, signer=keys[s]) for s in signers))


@dataclass
class Ledger:
    """A ledger being built: its sealed entries."""

    name: str
    sealed: list[SealedEntry] = field(default_factory=list)

    def next(self, kind: str, author: str, body: Mapping[str, Any], time: str) -> Entry:
        """The entry that would come next."""
        head = self.sealed[-1].entry.hash if self.sealed else GENESIS_PREV
        return Entry(self.name, len(self.sealed) + 1, head, time, kind, author, dict(body))

    def append(
        self, kind: str, author: str, body: Mapping[str, Any], time: str, signers: Iterable[str]
    ) -> Entry:
        """Append an entry signed by ``signers``."""
        entry = self.next(kind, author, body, time)
        self.sealed.append(seal(entry, signers))
        return entry

    def items(self) -> list[dict[str, Any]]:
        """As a holder serves it."""
        return [{**s.as_json(), "late_signatures": []} for s in self.sealed]


class Scenario:
    """The SPEC §5 split as every holder would serve it."""

    def __init__(
        self,
        *,
        unavailable: Mapping[str, str] | None = None,
        attest_time: str = "",
        split_time: str = "",
    ) -> None:
        self.config = world().config
        self.network = Ledger(NETWORK_LEDGER)
        self.channels = {CHANNEL_A: Ledger(CHANNEL_A), CHANNEL_B: Ledger(CHANNEL_B)}
        self.state = NetworkState()
        self._add("network.genesis", {"network": self.config.network, "config_sha256": "0" * 64}, at(0))
        self.demand = self.action(DEMAND_SUBMITTED, "oem-a", "d-1", demand_terms(), at(1))
        self.attestations = [self.attest(ledger, attest_time or at(2)) for ledger in self.channels]
        dropped = dict(unavailable or {})
        used = [a for a in self.attestations if a.entry.author not in dropped]
        self.split = self.decide(SPLIT, self.split_inputs(used, dropped), split_time or at(3))

    def _add(self, kind: str, body: Mapping[str, Any], time: str, signers: Iterable[str] = ("pdu",)) -> Entry:
        entry = self.network.append(kind, "pdu", body, time, signers)
        apply(self.state, entry)
        return entry

    def action(
        self, kind: str, party: str, action_id: str, body: dict[str, Any], time: str, stated: str = ""
    ) -> Entry:
        """A party action signed by ``party`` (dated ``stated``) and sequenced by the PDU at ``time``."""
        action = Action(kind=kind, party=party, id=action_id, time=stated or time, body=body)
        signature = sign_action(action, world().signers[party])
        return self._add(kind, {"action": action.statement(), "signature": signature}, time)

    def attest(self, ledger: str, time: str, demand: str | None = None) -> SealedEntry:
        """A capacity attestation for the demand, countersigned by the buyer."""
        supplier = ledger.split(":")[2]
        body = {**CAPACITY, "computed_at": time, "demand": demand or self.demand.hash}
        self.channels[ledger].append("capacity.attestation", supplier, body, time, (supplier, "oem-a"))
        return self.channels[ledger].sealed[-1]

    def split_inputs(self, used: list[SealedEntry], unavailable: Mapping[str, str]) -> dict[str, Any]:
        """Split inputs from attestations (as the PDU copies them) and unavailable suppliers."""
        copied = [{"entry": a.entry.as_json(), "signatures": a.signatures_json()} for a in used]
        return {"demand": self.demand.hash, "attestations": copied, "unavailable": dict(unavailable)}

    def decide(self, kind: str, inputs: dict[str, Any], time: str) -> Entry:
        """A decision re-executed against the state, certified by every partner."""
        body = {"decision": kind, "base": {"seq": self.state.size, "hash": self.state.head}, "inputs": inputs}
        draft = self.network.next(kind, "pdu", {**body, "result": {}}, time)
        result = recompute(self.config, self.state, draft)
        return self._add(kind, {**body, "result": result}, time, ("pdu", *PARTNERS))

    def key_entry(self, ledger: str, time: str) -> bytes:
        """A ``channel.key`` entry on ``ledger`` wrapping a fresh data key for its readers."""
        key = os.urandom(32)
        readers = {m: self.config.member(m).enc_key for m in self.config.channel_readers(ledger)}
        body = key_entry_body(
            key, ledger=ledger, readers=readers, ephemerals={r: X25519PrivateKey.generate() for r in readers}
        )
        supplier = ledger.split(":")[2]
        self.channels[ledger].append("channel.key", supplier, body, time, (supplier, "oem-a"))
        return key

    def private(self, ledger: str, kind: str, body: Mapping[str, Any], key: bytes, time: str) -> Entry:
        """A private entry by the supplier, sealed under ``key`` and countersigned."""
        channel = self.channels[ledger]
        supplier = ledger.split(":")[2]
        seq = len(channel.sealed) + 1
        sealed = seal_body(
            body, key=key, nonce=os.urandom(12), ledger=ledger, seq=seq, kind=kind, author=supplier
        )
        return channel.append(kind, supplier, sealed, time, (supplier, "oem-a"))

    def copies(self, served: Mapping[tuple[str, str], list[Any]] | None = None) -> list[Copy]:
        """Every holder's copy; ``served`` replaces what (holder, ledger) serves."""
        served = served or {}
        ledgers = [(NETWORK_LEDGER, h) for h in HOLDERS]
        ledgers += [(name, m) for name in self.channels for m in ("oem-a", name.split(":")[2])]
        copies = []
        for ledger, holder in ledgers:
            honest = self.network.items() if ledger == NETWORK_LEDGER else self.channels[ledger].items()
            copies.append(Copy(holder=holder, ledger=ledger, items=served.get((holder, ledger), honest)))
        return copies

    def pull(self, served: Mapping[tuple[str, str], list[Any]] | None = None) -> Pull:
        """What the auditor would look at."""
        return Pull(config=self.config, copies=self.copies(served), reader=Reader("auditor", world().auditor))


def rules(findings: Iterable[Finding]) -> set[tuple[str, int | None, str]]:
    """(ledger, seq, rule) of each finding."""
    return {(f.ledger, f.seq, f.rule) for f in findings}


def holders_named(findings: Iterable[Finding], rule: str) -> set[str]:
    """Holders named at the start of the details of findings of ``rule``."""
    return {f.detail.split(": ", 1)[0] for f in findings if f.rule == rule}
