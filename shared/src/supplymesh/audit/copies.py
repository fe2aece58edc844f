"""One holder's copy of one ledger, as served, and how far it verifies.

A copy is plain data: whatever the holder answered, which may be anything JSON can
hold. Nothing here raises on served content: an item that is not an entry parses to
None, and :func:`verification` says, position by position, where the copy stops
verifying (the hash chain, every signature, the author's signature, the counterpart's
countersignature on a channel, and on the network ledger the PDU as author and the
quorum certificate of every decision). The audit judges the meaning of a ledger only on
the longest prefix that verifies (:mod:`supplymesh.audit.pull`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from supplymesh.audit.entry_checks import Parser, Shared, parse_item, record_of, served_seq
from supplymesh.audit.signatures import Outcome, Verifier, verify_one
from supplymesh.config import NETWORK_LEDGER, NetworkConfig
from supplymesh.core import merkle
from supplymesh.core.contracts.channel import ChannelMembers, EndorsementRefused
from supplymesh.core.contracts.network import DECISION_KINDS
from supplymesh.core.entry import GENESIS_PREV, SealedEntry
from supplymesh.core.verify import Finding, LedgerReport, RecordCheck, summarise
from supplymesh.network.rules import quorum_of

PARSE_CHUNK = 500
"""Served items parsed between two hand-overs of their signatures to the workers."""

__all__ = [
    "Copy",
    "CopyVerification",
    "parse_item",
    "record_of",
    "served_seq",
    "verification",
    "verify_copies",
]


@dataclass
class Copy:
    """One holder's copy of one ledger as served: entries with signatures and late signatures.

    ``items`` are the entries served in this audit, seq ``offset + 1`` onwards. The first
    ``offset`` entries were verified by an earlier audit and are known by their leaves
    (``known_leaves``: the canonical leaf bytes), ``prev_hash`` being the hash of entry
    ``offset``; ``known_missing`` are the seqs among them that still lacked a
    countersignature. ``recheck`` are those entries served again to re-check their late
    countersignatures. ``signed_size``/``signed_root`` are the holder's signed tree head
    for this copy, when it served a valid one.
    """

    holder: str
    ledger: str
    items: list[Any]
    offset: int = 0
    prev_hash: str = GENESIS_PREV
    known_leaves: list[bytes] = field(default_factory=list)
    known_missing: set[int] = field(default_factory=set)
    recheck: list[Any] = field(default_factory=list)
    signed_size: int | None = None
    signed_root: str | None = None
    proof_failed: str | None = None
    problems: set[str] = field(default_factory=set)
    missing_countersignatures: set[int] = field(default_factory=set)
    _sealed: list[SealedEntry | None] | None = field(default=None, repr=False)
    _known: list[SealedEntry | None] | None = field(default=None, repr=False)
    _hashes: list[str] | None = field(default=None, repr=False)
    _roots: dict[int, str | None] = field(default_factory=dict, repr=False)
    _verified: CopyVerification | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        """Entries in the copy: the known prefix and the served part."""
        return self.offset + len(self.items)

    def sealed(self) -> list[SealedEntry | None]:
        """Parsed served entries (None where an entry is malformed)."""
        if self._sealed is None:
            self._sealed = [parse_item(item) for item in self.items]
        return self._sealed

    def known(self) -> list[SealedEntry | None]:
        """The verified prefix, parsed from its leaves."""
        if self._known is None:
            self._known = [_parse_leaf(leaf) for leaf in self.known_leaves]
        return self._known

    def every_sealed(self) -> list[SealedEntry | None]:
        """The whole copy: the verified prefix and the served part."""
        return [*self.known(), *self.sealed()]

    def leaf_hashes(self) -> list[str]:
        """Leaf hashes of the whole copy (recomputed from content; a placeholder where malformed)."""
        if self._hashes is None:
            hashes = [merkle.leaf_hash(leaf).hex() for leaf in self.known_leaves]
            hashes += [
                s.leaf_hash.hex() if s is not None else f"malformed-{self.offset + i}"
                for i, s in enumerate(self.sealed())
            ]
            self._hashes = hashes
        return self._hashes

    def root(self, size: int) -> str | None:
        """Merkle root of the first ``size`` entries (None if one of them is malformed)."""
        if size not in self._roots:
            hashes = self.leaf_hashes()[:size]
            malformed = any(h.startswith("malformed") for h in hashes)
            root = (
                None if malformed else merkle.root_from_leaf_hashes([bytes.fromhex(h) for h in hashes]).hex()
            )
            self._roots[size] = root
        return self._roots[size]

    def share_hashes(self, other: Copy) -> bool:
        """Take ``other``'s leaf hashes and roots if both copies hold the very same parsed entries."""
        same = (
            (self.ledger, self.offset, len(self.items)) == (other.ledger, other.offset, len(other.items))
            and self._sealed is not None
            and other._sealed is not None
            and all(a is b for a, b in zip(self._sealed, other._sealed, strict=True))
            and self.known_leaves == other.known_leaves
        )
        if same:
            self._hashes, self._roots = other.leaf_hashes(), other._roots
        return same


def _parse_leaf(leaf: bytes) -> SealedEntry | None:
    try:
        return parse_item(json.loads(leaf))
    except (ValueError, RecursionError):
        return None


@dataclass(frozen=True)
class CopyVerification:
    """How far one copy verifies, and the findings of its served part.

    ``valid_size`` is the length of the longest prefix of the copy in which every entry
    verifies; ``records`` are the chain and signature findings, ``network`` those of
    the network ledger's own rules (PDU authorship, quorum certificates), ``missing``
    the seqs lacking the counterpart's countersignature (channels).
    """

    valid_size: int
    records: tuple[Finding, ...]
    network: tuple[Finding, ...]
    missing: frozenset[int]


def verification(copy: Copy, config: NetworkConfig) -> CopyVerification:
    """Verify ``copy`` once (cached on the copy): chain, signatures, endorsement, quorum."""
    if copy._verified is None:
        keys = config.keys()
        copy._verified = _verify(copy, config, lambda job: verify_one(keys, job), Shared())
    return copy._verified


def verify_copies(copies: Sequence[Copy], config: NetworkConfig, workers: int = 1) -> None:
    """Verify every copy not yet verified, signatures on ``workers`` processes.

    Each copy's :func:`verification` is then what it would be verified alone: items served
    alike by several holders are parsed once, and each distinct signature is verified
    once, on the workers while the parsing goes on (see :mod:`supplymesh.audit.entry_checks`).
    """
    pending = [c for c in copies if c._verified is None]
    parsed_before = [c for c in pending if c._sealed is not None]
    keys = config.keys()
    verifier = Verifier(keys, workers)
    try:
        for ledger in sorted({c.ledger for c in pending}):
            parser = Parser()
            for copy in (c for c in pending if c.ledger == ledger and c._sealed is None):
                parsed: list[SealedEntry | None] = []
                for start in range(0, len(copy.items), PARSE_CHUNK):
                    parsed += parser.parse(copy.items[start : start + PARSE_CHUNK])
                    verifier.add(parser.fresh)  # items shared with an earlier one add no job
                copy._sealed = parsed
        for copy in parsed_before:
            verifier.add(copy.sealed())
        failed = verifier.failures()
    finally:
        verifier.close()
    shared, owners = Shared(), list[Copy]()
    for copy in pending:
        copy._verified = _verify(copy, config, failed.get, shared)
        if not any(copy.share_hashes(owner) for owner in owners):
            owners.append(copy)


def _verify(copy: Copy, config: NetworkConfig, outcome: Outcome, shared: Shared) -> CopyVerification:
    keys = config.keys()
    served = enumerate(zip(copy.items, copy.sealed(), strict=True), copy.offset + 1)
    checks = [shared.check(copy.ledger, item, at, sealed, keys, outcome) for at, (item, sealed) in served]
    start, prev = copy.offset + 1, copy.prev_hash

    def summary() -> tuple[LedgerReport, set[int]]:
        return summarise(copy.ledger, checks, start=start, prev=prev), _broken_links(copy, checks)

    report, broken = shared.summary(copy.ledger, checks, start, prev, summary)
    failing = set(copy.known_missing)
    failing |= broken
    missing: frozenset[int] = frozenset()
    network: list[Finding] = []
    if copy.ledger == NETWORK_LEDGER:
        network = _network_rules(copy, config)
        failing |= {f.seq for f in network if f.seq is not None}
    else:
        missing = _missing_countersignatures(copy, config)
        failing |= missing
    valid = min((p for p in failing if 1 <= p <= copy.size), default=copy.size + 1) - 1
    return CopyVerification(valid, report.findings, tuple(network), missing)


def _broken_links(copy: Copy, checks: list[RecordCheck]) -> set[int]:
    """Positions (seqs) of served entries that are malformed, badly signed or off the chain."""
    failing: set[int] = set()
    expected = copy.prev_hash
    for position, check in enumerate(checks, start=copy.offset + 1):
        link = check.link
        if check.findings or link is None or check.seq != position or link.prev != expected:
            failing.add(position)
        expected = link.hash if link is not None else ""
    return failing


def _network_rules(copy: Copy, config: NetworkConfig) -> list[Finding]:
    """Served network entries not authored by the PDU, or decisions without a quorum."""
    pdu = config.pdu.id
    found: list[Finding] = []
    for position, sealed in enumerate(copy.sealed(), start=copy.offset + 1):
        if sealed is None:
            continue
        entry = sealed.entry
        if entry.author != pdu:
            detail = f"{copy.holder}: network entries are authored by {pdu}, not {entry.author}"
            found.append(Finding(NETWORK_LEDGER, position, "network_author", detail))
        elif entry.kind in DECISION_KINDS:
            result = quorum_of(config, sealed)
            if not result.ok:
                detail = f"{copy.holder}: {result.describe()}"
                found.append(Finding(NETWORK_LEDGER, position, "quorum_certificate", detail))
    return found


def _missing_countersignatures(copy: Copy, config: NetworkConfig) -> frozenset[int]:
    """Seqs of channel entries without a valid countersignature, in the leaf or served late."""
    try:
        members = ChannelMembers.of(copy.ledger)
    except EndorsementRefused:
        return frozenset(range(1, copy.size + 1))
    keys = config.keys()
    missing: set[int] = set()
    late = {served_seq(item): item for item in copy.recheck}
    known = copy.known()
    for seq in copy.known_missing:
        sealed = known[seq - 1] if 1 <= seq <= len(known) else None
        if sealed is None or not _late_signed(late.get(seq), sealed, members, keys):
            missing.add(seq)
    for position, (item, sealed) in enumerate(zip(copy.items, copy.sealed(), strict=True), copy.offset + 1):
        if sealed is None:
            continue
        if members.other(sealed.entry.author) not in sealed.signers() and not _late_signed(
            item, sealed, members, keys
        ):
            missing.add(position)
    return frozenset(missing)


def _late_signed(item: object, sealed: SealedEntry, members: ChannelMembers, keys: Mapping[str, Any]) -> bool:
    """Does ``item`` carry a valid late signature of the counterpart over ``sealed``?"""
    if not isinstance(item, Mapping) or not isinstance(item.get("late_signatures"), list):
        return False
    counterpart = members.other(sealed.entry.author)
    key = keys.get(counterpart)
    for signature in item["late_signatures"]:
        if not isinstance(signature, Mapping) or signature.get("signer") != counterpart or key is None:
            continue
        try:
            key.verify_text(str(signature.get("sig")), sealed.entry.digest)
        except ValueError:
            continue
        return True
    return False
