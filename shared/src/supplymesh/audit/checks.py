"""The audit as a named pipeline of checks over ledgers pulled from every holder.

Each check returns findings (ledger, seq, rule, detail); the report is ok exactly when
there are none. Input is plain data — what each holder served — so the pipeline does no
I/O and can be re-run on any saved pull.

A copy may be the part of a holder's ledger after a prefix an earlier audit verified
(incremental audits): then ``offset`` entries are known, by their leaves, and only the
served part is verified record by record, its chain continuing the prefix's last hash.
The semantic checks of the network ledger (party actions, quorum certificates,
re-execution, overbooking, money, private fields) replay the whole ledger's state but
judge only the entries after a :class:`Checkpoint`, whose earlier findings carry over:
they depend on nothing but the prefix's content, which the checkpoint's root pins.

Pipeline: check_tree_heads, check_hash_chain_and_signatures, check_countersignatures,
check_party_actions, check_quorum_certs, check_replicas_agree (with consistency against
every tree head seen before), check_reexecution (every decision re-executed from its
recorded inputs against the state at its base), check_no_overbooking,
check_money_conserved, check_channel_payloads, check_commitments,
check_no_private_fields.

The last three read channel payloads: the auditor is a reader of every channel key
(:mod:`supplymesh.audit.payloads`), given to the pipeline as :class:`Reader`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from supplymesh.audit.payloads import OpenedChannel, open_channel, private_strings
from supplymesh.config import NETWORK_LEDGER, NetworkConfig
from supplymesh.core import merkle
from supplymesh.core.actions import ACTION_FIELDS, ESCROW_DEPOSITED
from supplymesh.core.canonical import sha256
from supplymesh.core.contracts.channel import VIEW_KINDS, ChannelMembers
from supplymesh.core.contracts.network import (
    DECISION_KINDS,
    DEMAND_FAILED,
    SPLIT,
    NetworkState,
    apply,
    attested,
)
from supplymesh.core.contracts.split import limit
from supplymesh.core.entry import GENESIS_PREV, Entry, EntryFormatError, SealedEntry, parse_signatures
from supplymesh.core.sealing import Recipient, opens
from supplymesh.core.verify import Finding, Record, verify_ledger
from supplymesh.network.rules import RuleViolation, check_action_entry, quorum_of, recompute


@dataclass
class Copy:
    """One holder's copy of one ledger as served: entries with signatures and late signatures.

    ``items`` are the entries served in this audit, seq ``offset + 1`` onwards. The first
    ``offset`` entries were verified by an earlier audit and are known by their leaves
    (``known_leaves``: the canonical leaf bytes), ``prev_hash`` being the hash of entry
    ``offset``. ``recheck`` are earlier entries served again to re-check their late
    countersignatures. ``signed_size``/``signed_root`` are the holder's signed tree head
    for this copy, when it served a valid one.
    """

    holder: str
    ledger: str
    items: list[dict[str, Any]]
    offset: int = 0
    prev_hash: str = GENESIS_PREV
    known_leaves: list[bytes] = field(default_factory=list)
    recheck: list[dict[str, Any]] = field(default_factory=list)
    signed_size: int | None = None
    signed_root: str | None = None
    proof_failed: str | None = None
    problems: set[str] = field(default_factory=set)
    missing_countersignatures: set[int] = field(default_factory=set)
    _sealed: list[SealedEntry | None] | None = field(default=None, repr=False)
    _known: list[SealedEntry] | None = field(default=None, repr=False)
    _hashes: list[str] | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        """Entries in the copy: the known prefix and the served part."""
        return self.offset + len(self.items)

    def sealed(self) -> list[SealedEntry | None]:
        """Parsed served entries (None where an entry is malformed)."""
        if self._sealed is None:
            self._sealed = [_parse(item) for item in self.items]
        return self._sealed

    def known(self) -> list[SealedEntry]:
        """The verified prefix, parsed from its leaves."""
        if self._known is None:
            known = []
            for leaf in self.known_leaves:
                value = json.loads(leaf)
                known.append(
                    SealedEntry(Entry.from_json(value["entry"]), parse_signatures(value["signatures"]))
                )
            self._known = known
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
        hashes = self.leaf_hashes()[:size]
        if any(h.startswith("malformed") for h in hashes):
            return None
        return merkle.root_from_leaf_hashes([bytes.fromhex(h) for h in hashes]).hex()


def _parse(item: Mapping[str, Any]) -> SealedEntry | None:
    try:
        return SealedEntry(Entry.from_json(item["entry"]), parse_signatures(item["signatures"]))
    except (EntryFormatError, KeyError, TypeError):
        return None


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


@dataclass
class Pull:
    """Everything one audit looks at."""

    config: NetworkConfig
    copies: list[Copy]
    seen: list[SeenHead] = field(default_factory=list)
    checkpoint: Checkpoint | None = None
    reader: Reader | None = None
    _opened: dict[str, OpenedChannel] = field(default_factory=dict, repr=False)

    def channels(self) -> list[str]:
        """Channel ledgers among the copies."""
        return sorted({c.ledger for c in self.copies if c.ledger != NETWORK_LEDGER})

    def opened(self, ledger: str) -> OpenedChannel | None:
        """The reader's opening of the longest copy of channel ``ledger`` (None: no reader)."""
        if self.reader is None:
            return None
        if ledger not in self._opened:
            copy = self.longest(ledger)
            self._opened[ledger] = open_channel(
                ledger,
                copy.every_sealed() if copy else [],
                recipient=self.reader.recipient,
                reader=self.reader.id,
                expected_readers=frozenset(self.config.channel_readers(ledger)),
            )
        return self._opened[ledger]

    def network(self) -> list[SealedEntry]:
        """The longest copy of the network ledger, whole, well-formed entries only."""
        return _network(self)

    def of(self, ledger: str) -> list[Copy]:
        """Every holder's copy of ``ledger``."""
        return [c for c in self.copies if c.ledger == ledger]

    def longest(self, ledger: str) -> Copy | None:
        """The longest copy of ``ledger``."""
        copies = self.of(ledger)
        return max(copies, key=lambda c: c.size) if copies else None

    def config_hash(self) -> str:
        """Fingerprint of the network config the semantic checks judged by."""
        return sha256(self.config.to_json().encode()).hex()

    def checked_up_to(self) -> int:
        """Network entries up to this seq were judged by a valid checkpoint; 0 if none."""
        point, copy = self.checkpoint, self.longest(NETWORK_LEDGER)
        if point is None or copy is None or point.config_hash != self.config_hash():
            return 0
        if point.size > copy.size or copy.root(point.size) != point.root_hash:
            return 0
        return point.size

    def next_checkpoint(self, findings: Sequence[Finding]) -> Checkpoint | None:
        """The checkpoint after this audit: the longest network copy and its entry findings."""
        copy = self.longest(NETWORK_LEDGER)
        if copy is None or copy.size == 0:
            return None
        root = copy.root(copy.size)
        if root is None:
            return None
        own = tuple(f for f in findings if f.ledger == NETWORK_LEDGER and f.seq is not None)
        return Checkpoint(copy.size, root, self.config_hash(), own)


def _f(ledger: str, seq: int | None, rule: str, detail: str, holder: str = "") -> Finding:
    where = f"{holder}: " if holder else ""
    return Finding(ledger, seq, rule, where + detail)


def record_of(item: Mapping[str, Any]) -> Record:
    """A served ``{entry, hash, signatures}`` item as the verifier's record."""
    entry = item.get("entry")
    try:
        data = Entry.from_json(entry).canonical
    except (EntryFormatError, TypeError):
        data = json.dumps(entry, sort_keys=True).encode()
    return Record(
        seq=int(item.get("entry", {}).get("seq", 0) or 0),
        entry=data,
        signatures=item.get("signatures"),
        stored_hash=item.get("hash"),
    )


def _flag(copy: Copy, found: Finding) -> Finding:
    """Note that ``copy`` did not verify (so no audit builds on it), and return ``found``."""
    copy.problems.add(found.rule)
    return found


def check_tree_heads(pull: Pull) -> list[Finding]:
    """Every copy is exactly what its holder's signed tree head commits to."""
    findings: list[Finding] = []
    for copy in pull.copies:
        if copy.signed_size is None:
            continue
        if copy.size != copy.signed_size:
            found = f"served {copy.size} entries for its signed tree head of size {copy.signed_size}"
            findings.append(_flag(copy, _f(copy.ledger, None, "tree_head", found, copy.holder)))
            continue
        root = copy.root(copy.size)
        if root is not None and copy.size and root != copy.signed_root:
            detail = f"the served entries do not give the root of its signed tree head of size {copy.size}"
            findings.append(_flag(copy, _f(copy.ledger, None, "tree_head", detail, copy.holder)))
    return findings


def check_hash_chain_and_signatures(pull: Pull) -> list[Finding]:
    """Every copy: well formed, chained, every signature valid, authors signed.

    Only the served part is verified; it must continue the verified prefix's last hash.
    """
    findings: list[Finding] = []
    keys = pull.config.keys()
    for copy in pull.copies:
        report = verify_ledger(
            copy.ledger,
            [record_of(i) for i in copy.items],
            keys,
            start=copy.offset + 1,
            prev=copy.prev_hash,
        )
        findings += [_flag(copy, _f(f.ledger, f.seq, f.rule, f.detail, copy.holder)) for f in report.findings]
    return findings


def check_countersignatures(pull: Pull) -> list[Finding]:
    """Channel entries carry the counterpart's signature, in the leaf or as a late signature."""
    findings: list[Finding] = []
    keys = pull.config.keys()
    for copy in pull.copies:
        if copy.ledger == NETWORK_LEDGER:
            continue
        members = ChannelMembers.of(copy.ledger)
        for item, sealed in [*_rechecked(copy), *zip(copy.items, copy.sealed(), strict=True)]:
            if sealed is None:
                continue
            counterpart = members.other(sealed.entry.author)
            if counterpart in sealed.signers():
                continue
            late = [s for s in item.get("late_signatures", []) if s.get("signer") == counterpart]
            valid = False
            for signature in late:
                try:
                    keys[counterpart].verify_text(str(signature.get("sig")), sealed.entry.digest)
                    valid = True
                except (ValueError, KeyError):
                    pass
            if not valid:
                copy.missing_countersignatures.add(sealed.entry.seq)
                findings.append(
                    _f(
                        copy.ledger,
                        sealed.entry.seq,
                        "missing_countersignature",
                        f"not countersigned by {counterpart}",
                        copy.holder,
                    )
                )
    return findings


def _rechecked(copy: Copy) -> list[tuple[dict[str, Any], SealedEntry | None]]:
    """Earlier entries served again, paired with the verified entry (not the served one)."""
    known = copy.known()
    pairs: list[tuple[dict[str, Any], SealedEntry | None]] = []
    for item in copy.recheck:
        seq = item.get("entry", {}).get("seq")
        if isinstance(seq, int) and 1 <= seq <= len(known):
            pairs.append((item, known[seq - 1]))
    return pairs


def _network(pull: Pull) -> list[SealedEntry]:
    """The longest copy of the network ledger, whole (state is replayed from seq 1)."""
    copy = pull.longest(NETWORK_LEDGER)
    return [s for s in (copy.every_sealed() if copy else []) if s is not None]


def _judged(pull: Pull) -> list[SealedEntry]:
    """Network entries not yet judged by a valid checkpoint (stateless checks need no more)."""
    done = pull.checked_up_to()
    return [s for s in _network(pull) if s.entry.seq > done]


def check_party_actions(pull: Pull) -> list[Finding]:
    """Every party action on the network ledger is signed by its party, in its role."""
    findings = []
    for sealed in _judged(pull):
        if "action" in sealed.entry.body:
            try:
                check_action_entry(pull.config, sealed.entry)
            except RuleViolation as exc:
                findings.append(_f(NETWORK_LEDGER, sealed.entry.seq, "party_signature", str(exc)))
    return findings


def check_quorum_certs(pull: Pull) -> list[Finding]:
    """Every decision carries a certificate satisfying its kind's policy."""
    findings = []
    for sealed in _judged(pull):
        if sealed.entry.kind in DECISION_KINDS:
            result = quorum_of(pull.config, sealed)
            if not result.ok:
                findings.append(_f(NETWORK_LEDGER, sealed.entry.seq, "quorum_certificate", result.describe()))
    return findings


def check_replicas_agree(pull: Pull) -> list[Finding]:
    """Copies agree: a shorter one is a prefix of the longest; old heads are consistent.

    Heads seen before within a copy's verified prefix were checked when it was verified,
    and a consistency proof showed the prefix unchanged since; later ones are checked here.
    """
    findings: list[Finding] = []
    ledgers = {c.ledger for c in pull.copies}
    for ledger in sorted(ledgers):
        longest = pull.longest(ledger)
        assert longest is not None
        reference = longest.leaf_hashes()
        for copy in pull.of(ledger):
            hashes = copy.leaf_hashes()
            for index, (mine, theirs) in enumerate(zip(hashes, reference, strict=False)):
                if mine != theirs:
                    findings.append(
                        _f(
                            ledger,
                            index + 1,
                            "replicas_diverge",
                            f"entry differs from {longest.holder}'s copy",
                            copy.holder,
                        )
                    )
                    break
        for copy in pull.of(ledger):
            history = _history(copy, [s for s in pull.seen if s.ledger == ledger and s.holder == copy.holder])
            findings += [_flag(copy, f) for f in history]
            if copy.proof_failed and not history:
                detail = f"served an invalid consistency proof: {copy.proof_failed}"
                findings.append(_flag(copy, _f(ledger, None, "consistency_proof", detail, copy.holder)))
    return findings


def _history(copy: Copy, seen: Iterable[SeenHead]) -> list[Finding]:
    """``copy`` against every head of its holder seen before (beyond its verified prefix)."""
    findings = []
    for head in seen:
        if head.size <= copy.offset:
            continue
        if copy.size < head.size:
            findings.append(
                _f(
                    copy.ledger,
                    head.size,
                    "history_truncated",
                    f"served {copy.size} entries after a tree head of size {head.size}",
                    copy.holder,
                )
            )
            continue
        root = copy.root(head.size)
        if root is not None and root != head.root_hash:
            findings.append(
                _f(
                    copy.ledger,
                    None,
                    "history_rewritten",
                    f"the first {head.size} entries no longer match the tree head seen before",
                    copy.holder,
                )
            )
    return findings


def check_reexecution(pull: Pull) -> list[Finding]:
    """Every decision re-executes to the same result against the state at its base."""
    findings = []
    state = NetworkState()
    done = pull.checked_up_to()
    for sealed in _network(pull):
        entry = sealed.entry
        if entry.kind in DECISION_KINDS and entry.seq > done:
            try:
                expected = recompute(pull.config, state, entry)
                if entry.body.get("result") != expected:
                    findings.append(
                        _f(
                            NETWORK_LEDGER,
                            entry.seq,
                            "reexecution",
                            "the recorded result differs from re-execution",
                        )
                    )
            except RuleViolation as exc:
                findings.append(_f(NETWORK_LEDGER, entry.seq, "reexecution", str(exc)))
        apply(state, entry)
    return findings


def check_no_overbooking(pull: Pull) -> list[Finding]:
    """At every split, open hours plus new hours stay within MHCp × Ld − external queue."""
    findings = []
    state = NetworkState()
    done = pull.checked_up_to()
    for sealed in _network(pull):
        entry = sealed.entry
        if entry.kind == SPLIT and entry.seq > done:
            demand = state.demands.get(str(entry.body.get("inputs", {}).get("demand")))
            open_hours = state.open_hours()
            capacities = {}
            for item in entry.body.get("inputs", {}).get("attestations", []):
                try:
                    author = item["entry"]["author"]
                    capacities[author] = attested(item["entry"]["body"], author)
                except (KeyError, TypeError, ValueError):
                    continue
            for allocation in entry.body.get("result", {}).get("allocations", []):
                supplier = allocation.get("supplier")
                if supplier not in capacities or demand is None:
                    findings.append(
                        _f(
                            NETWORK_LEDGER,
                            entry.seq,
                            "no_overbooking",
                            f"allocation to {supplier} without an attestation",
                        )
                    )
                    continue
                total = open_hours.get(supplier, Decimal(0)) + Decimal(str(allocation.get("machine_hours")))
                if total > limit(capacities[supplier], int(demand.terms["lead_time_days"])):
                    findings.append(
                        _f(
                            NETWORK_LEDGER,
                            entry.seq,
                            "no_overbooking",
                            f"{supplier} booked {total} machine-hours beyond its attested capacity",
                        )
                    )
        apply(state, entry)
    return findings


def check_money_conserved(pull: Pull) -> list[Finding]:
    """Deposits = released + refunded + held; nothing released twice or without a deposit."""
    findings = []
    state = NetworkState()
    deposited = 0
    released_once: set[str] = set()
    done = pull.checked_up_to()
    for sealed in _network(pull):
        entry = sealed.entry
        before = {e.id: e.state for e in state.escrows.values()}
        apply(state, entry)
        for escrow in state.escrows.values():
            was = before.get(escrow.id)
            if was == "awaiting_deposit" and escrow.state == "funded":
                deposited += escrow.amount
            if escrow.state == "released" and was != "released":
                if (escrow.id in released_once or was != "funded") and entry.seq > done:
                    findings.append(
                        _f(
                            NETWORK_LEDGER,
                            entry.seq,
                            "money_conserved",
                            f"escrow {escrow.id} released without being funded, or twice",
                        )
                    )
                released_once.add(escrow.id)
    escrows = state.escrows.values()
    accounted = sum(e.amount for e in escrows if e.state in ("released", "refunded", "funded"))
    if deposited != accounted:
        findings.append(
            _f(
                NETWORK_LEDGER,
                None,
                "money_conserved",
                f"deposits {deposited} ≠ released + refunded + held {accounted}",
            )
        )
    return findings


def check_channel_payloads(pull: Pull) -> list[Finding]:
    """Private channel bodies are sealed under the current key, and the auditor can open them."""
    findings = []
    for ledger in pull.channels():
        if pull.config.channel(ledger) is None:
            continue
        opened = pull.opened(ledger)
        if opened is None:
            continue
        findings += [_f(ledger, seq, rule, detail) for seq, rule, detail in opened.problems]
    return findings


def check_commitments(pull: Pull) -> list[Finding]:
    """Every payment-reference opening on a channel opens the commitment on the network ledger."""
    committed: dict[str, tuple[int, str]] = {}
    for sealed in _network(pull):
        action = sealed.entry.body.get("action", {})
        if sealed.entry.kind == ESCROW_DEPOSITED and isinstance(action, Mapping):
            body = action.get("body", {})
            committed[str(body.get("escrow"))] = (
                sealed.entry.seq,
                str(body.get("payment_reference_commitment")),
            )
    findings = []
    for ledger in pull.channels():
        opened = pull.opened(ledger) if pull.config.channel(ledger) is not None else None
        for seq, body in sorted(opened.bodies.items()) if opened else []:
            if body.get("event") != "deposit" or "commitment" not in body:
                continue
            network = committed.get(str(body.get("escrow")))
            if network is None:
                continue  # the deposit never reached the network ledger
            value, salt = body.get("payment_reference"), body.get("salt")
            if not (
                isinstance(value, str)
                and isinstance(salt, str)
                and opens(network[1], value=value, salt_text=salt)
            ):
                findings.append(
                    _f(
                        ledger,
                        seq,
                        "commitment",
                        f"this payment reference does not open the commitment at network seq {network[0]}",
                    )
                )
    return findings


ALLOWED_DECISION_BODY = frozenset({"decision", "base", "inputs", "result"})


def _visible_names(pull: Pull, network: list[SealedEntry]) -> frozenset[str]:
    """Names the network ledger shows by design: member ids, products, channel ledger names."""
    names = {m.id for m in pull.config.members} | set(pull.channels())
    for sealed in network:
        action = sealed.entry.body.get("action", {})
        if isinstance(action, Mapping) and isinstance(action.get("body"), Mapping):
            product = action["body"].get("product")
            if isinstance(product, str):
                names.add(product)
    return frozenset(names)


def check_no_private_fields(pull: Pull) -> list[Finding]:
    """Only network-visible data on the network ledger (SPEC §2).

    Structurally (known kinds, only the visible fields of actions and decisions, only
    attestation kinds copied from channels) and, with a reader, by value: no distinctive
    string of any private channel body appears anywhere in a network entry.
    """
    findings = []
    network = _network(pull)
    judged = _judged(pull)
    if pull.reader is not None:
        exclude = _visible_names(pull, network)
        secrets: set[str] = set()
        for ledger in pull.channels():
            opened = pull.opened(ledger) if pull.config.channel(ledger) is not None else None
            if opened is not None:
                secrets |= private_strings(opened.bodies.values(), exclude=exclude)
        quoted = {value: json.dumps(value, ensure_ascii=False).encode() for value in secrets}
        for sealed in judged:
            text = sealed.leaf
            leaked = sorted(v for v, q in quoted.items() if q in text)
            if leaked:
                findings.append(
                    _f(
                        NETWORK_LEDGER,
                        sealed.entry.seq,
                        "private_value",
                        f"{len(leaked)} value(s) of private channel entries appear in this entry",
                    )
                )
    for sealed in judged:
        entry = sealed.entry
        body = entry.body
        if entry.kind in DECISION_KINDS:
            if set(body) - ALLOWED_DECISION_BODY:
                findings.append(
                    _f(
                        NETWORK_LEDGER,
                        entry.seq,
                        "private_field",
                        f"unexpected fields {sorted(set(body) - ALLOWED_DECISION_BODY)}",
                    )
                )
            for item in body.get("inputs", {}).get("attestations", []):
                kind = item.get("entry", {}).get("kind")
                if kind not in VIEW_KINDS:
                    findings.append(
                        _f(
                            NETWORK_LEDGER,
                            entry.seq,
                            "private_field",
                            f"a channel entry of kind {kind!r} was copied onto the network ledger",
                        )
                    )
        elif "action" in body:
            action = body.get("action", {})
            extra = set(action.get("body", {})) - ACTION_FIELDS.get(str(action.get("kind")), frozenset())
            if extra:
                findings.append(_f(NETWORK_LEDGER, entry.seq, "private_field", f"fields {sorted(extra)}"))
        elif entry.kind not in ("network.genesis", DEMAND_FAILED):
            findings.append(
                _f(NETWORK_LEDGER, entry.seq, "private_field", f"unknown entry kind {entry.kind!r}")
            )
    return findings


PIPELINE = (
    check_tree_heads,
    check_hash_chain_and_signatures,
    check_countersignatures,
    check_party_actions,
    check_quorum_certs,
    check_replicas_agree,
    check_reexecution,
    check_no_overbooking,
    check_money_conserved,
    check_channel_payloads,
    check_commitments,
    check_no_private_fields,
)


SEMANTIC = frozenset(
    {
        check_party_actions,
        check_quorum_certs,
        check_reexecution,
        check_no_overbooking,
        check_money_conserved,
        check_no_private_fields,
    }
)


def run_pipeline(pull: Pull, checks: Sequence[Any] = PIPELINE) -> list[Finding]:
    """Every check in order; the findings of all."""
    return run_checks(pull, checks)[0]


def run_checks(pull: Pull, checks: Sequence[Any] = PIPELINE) -> tuple[list[Finding], Checkpoint | None]:
    """Every check in order: the findings of all, and the checkpoint to build on next time.

    The semantic checks judge only network entries after a valid checkpoint; that
    checkpoint's findings are carried over (in seq order, before the new ones).
    """
    done = pull.checked_up_to()
    point = pull.checkpoint
    carried = [f for f in point.findings if f.seq is not None and f.seq <= done] if point and done else []
    findings: list[Finding] = []
    semantic: list[Finding] = list(carried)
    for check in checks:
        found = check(pull)
        findings += found
        if check in SEMANTIC:
            semantic += found
    findings = [*carried, *findings]
    return findings, pull.next_checkpoint(semantic)


def findings_json(findings: Iterable[Finding]) -> list[dict[str, object]]:
    """Wire form."""
    return [f.as_json() for f in findings]
