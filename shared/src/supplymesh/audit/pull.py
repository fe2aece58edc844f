"""Everything one audit looks at, and the reference copy of each ledger.

The **reference** of a ledger is the copy the semantic checks judge: per holder, its
longest prefix that verifies (:func:`supplymesh.audit.copies.verification`), then the
longest of those; ties go to the ledger's sequencer (the PDU for the network ledger,
the supplier for a channel), then to the holder id, so every run picks the same one. A
holder that serves more than verifies never becomes the reference for the part that
does not verify, and honest holders are compared with what verified, not with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from supplymesh.audit.copies import Copy, verification
from supplymesh.audit.payloads import OpenedChannel, open_channel
from supplymesh.config import NETWORK_LEDGER, NetworkConfig
from supplymesh.core.canonical import sha256
from supplymesh.core.contracts.channel import ChannelMembers, EndorsementRefused
from supplymesh.core.entry import SealedEntry
from supplymesh.core.recipients import Recipient
from supplymesh.core.verify import Finding


@dataclass
class SeenHead:
    """A tree head the auditor saw before (size and root) for a holder's ledger."""

    holder: str
    ledger: str
    size: int
    root_hash: str


@dataclass(frozen=True)
class Checkpoint:
    """Semantic checks already done on the network ledger's first ``size`` entries.

    ``findings`` are those entries' findings (each with a seq ≤ ``size``). They depend
    only on the content, which ``root_hash`` pins, and on the network config, which
    ``config_hash`` pins; a checkpoint that matches neither is ignored.
    """

    size: int
    root_hash: str
    config_hash: str
    findings: tuple[Finding, ...] = ()


@dataclass(frozen=True)
class Reader:
    """Who reads channel payloads for the audit: a member id and its encryption key."""

    id: str
    recipient: Recipient


@dataclass(frozen=True)
class Reference:
    """The copy a ledger is judged on, and how many of its entries verify."""

    copy: Copy
    size: int

    @property
    def holder(self) -> str:
        """Whose copy it is."""
        return self.copy.holder

    def entries(self) -> list[SealedEntry]:
        """The verified prefix, parsed (every entry in it is well formed)."""
        return [s for s in self.copy.every_sealed()[: self.size] if s is not None]

    def hashes(self) -> list[str]:
        """Leaf hashes of the verified prefix."""
        return self.copy.leaf_hashes()[: self.size]


def finding(ledger: str, seq: int | None, rule: str, detail: str, holder: str = "") -> Finding:
    """A finding; ``holder`` (when given) starts the detail: ``"supplier-a: …"``."""
    where = f"{holder}: " if holder else ""
    return Finding(ledger, seq, rule, where + detail)


def flag(copy: Copy, found: Finding) -> Finding:
    """Note that ``copy`` did not verify (so no audit builds on it), and return ``found``."""
    copy.problems.add(found.rule)
    return found


@dataclass
class Pull:
    """Everything one audit looks at."""

    config: NetworkConfig
    copies: list[Copy]
    seen: list[SeenHead] = field(default_factory=list)
    checkpoint: Checkpoint | None = None
    reader: Reader | None = None
    workers: int = 1
    """Processes that verify the copies' signatures (1: this one; see :func:`verify_copies`)."""
    _opened: dict[tuple[str, str, int], OpenedChannel] = field(default_factory=dict, repr=False)
    _references: dict[str, Reference | None] = field(default_factory=dict, repr=False)

    def channels(self) -> list[str]:
        """Channel ledgers among the copies."""
        return sorted({c.ledger for c in self.copies if c.ledger != NETWORK_LEDGER})

    def of(self, ledger: str) -> list[Copy]:
        """Every holder's copy of ``ledger``."""
        return [c for c in self.copies if c.ledger == ledger]

    def longest(self, ledger: str) -> Copy | None:
        """The longest copy of ``ledger`` (whether it verifies or not)."""
        copies = self.of(ledger)
        return max(copies, key=lambda c: c.size) if copies else None

    def reference(self, ledger: str) -> Reference | None:
        """The copy ``ledger`` is judged on: the longest prefix that verifies (None: no copy)."""
        if ledger not in self._references:
            sequencer = self._sequencer(ledger)
            candidates = [Reference(c, verification(c, self.config).valid_size) for c in self.of(ledger)]
            candidates.sort(key=lambda r: (-r.size, r.holder != sequencer, r.holder))
            self._references[ledger] = candidates[0] if candidates else None
        return self._references[ledger]

    def _sequencer(self, ledger: str) -> str:
        if ledger == NETWORK_LEDGER:
            return self.config.pdu.id
        try:
            return ChannelMembers.of(ledger).supplier
        except EndorsementRefused:
            return ""

    def network(self) -> list[SealedEntry]:
        """The network ledger's reference: its verified prefix, from seq 1."""
        reference = self.reference(NETWORK_LEDGER)
        return reference.entries() if reference else []

    def opened(self, ledger: str) -> OpenedChannel | None:
        """The reader's opening of channel ``ledger``'s reference (None: no reader or no channel)."""
        reference = self.reference(ledger)
        if reference is None:
            return None
        return self.opened_copy(reference.copy, reference.size)

    def opened_copy(self, copy: Copy, size: int | None = None) -> OpenedChannel | None:
        """The reader's opening of the first ``size`` entries of ``copy`` (default: all)."""
        if self.reader is None or self.config.channel(copy.ledger) is None:
            return None
        upto = copy.size if size is None else size
        key = (copy.holder, copy.ledger, upto)
        if key not in self._opened:
            self._opened[key] = open_channel(
                copy.ledger,
                copy.every_sealed()[:upto],
                recipient=self.reader.recipient,
                reader=self.reader.id,
                expected_readers=frozenset(self.config.channel_readers(copy.ledger)),
            )
        return self._opened[key]

    def config_hash(self) -> str:
        """Fingerprint of the network config the semantic checks judged by."""
        return sha256(self.config.to_json().encode()).hex()

    def checked_up_to(self) -> int:
        """Network entries up to this seq were judged by a valid checkpoint; 0 if none."""
        point, reference = self.checkpoint, self.reference(NETWORK_LEDGER)
        if point is None or reference is None or point.config_hash != self.config_hash():
            return 0
        if point.size > reference.size or reference.copy.root(point.size) != point.root_hash:
            return 0
        return point.size

    def next_checkpoint(self, findings: Sequence[Finding]) -> Checkpoint | None:
        """The checkpoint after this audit: the network reference and its entry findings."""
        reference = self.reference(NETWORK_LEDGER)
        if reference is None or reference.size == 0:
            return None
        root = reference.copy.root(reference.size)
        if root is None:
            return None
        own = tuple(
            f
            for f in findings
            if f.ledger == NETWORK_LEDGER and f.seq is not None and f.seq <= reference.size
        )
        return Checkpoint(reference.size, root, self.config_hash(), own)
