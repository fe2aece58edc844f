"""Checks that the PDU did not steer a decision: its inputs and its clock.

* ``split.attestation_not_on_channel``: an attestation used as a split input is not the
  entry (same entry hash) that the channel's members hold at that seq, or no member's
  copy holds that seq at all. (A missing countersignature is reported by the channel
  checks.)
* ``split.attested_supplier_dropped``: a supplier is listed ``unavailable`` in a split
  while its channel with the buyer holds, in the prefix that verifies (so countersigned
  by the buyer), an attestation made for that demand (``demand`` = the demand's hash)
  dated no later than the split.
* ``time.not_monotonic``: a network entry dated before the entry before it.
* ``time.out_of_skew``: a network entry dated more than
  :data:`~supplymesh.network.rules.MAX_CLOCK_SKEW_SECONDS` before an input it uses: an
  attestation of a split, or the statement of a party action (dated by the party).

The first two read the channels and are judged on every split at every audit; the time
checks depend on the network ledger alone and are judged after the checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from supplymesh.audit.copies import parse_item
from supplymesh.audit.pull import Pull, finding
from supplymesh.audit.semantics import UNINTERPRETABLE, malformed
from supplymesh.config import NETWORK_LEDGER, channel_ledger
from supplymesh.core.actions import DEMAND_SUBMITTED
from supplymesh.core.contracts.capacity import made_for
from supplymesh.core.contracts.channel import CAPACITY_KIND, ChannelMembers
from supplymesh.core.contracts.network import SPLIT
from supplymesh.core.entry import Entry, SealedEntry, parse_time
from supplymesh.core.verify import Finding
from supplymesh.network.rules import MAX_CLOCK_SKEW_SECONDS

NOT_ON_CHANNEL = "split.attestation_not_on_channel"
DROPPED = "split.attested_supplier_dropped"
NOT_MONOTONIC = "time.not_monotonic"
OUT_OF_SKEW = "time.out_of_skew"
TIME_RULES = frozenset({NOT_MONOTONIC, OUT_OF_SKEW})
SKEW = timedelta(seconds=MAX_CLOCK_SKEW_SECONDS)


def instant(text: str) -> datetime:
    """An entry time (RFC 3339 UTC, as :class:`Entry` requires) as a datetime."""
    return parse_time(text)


def _splits(pull: Pull) -> list[Entry]:
    return [s.entry for s in pull.network() if s.entry.kind == SPLIT]


def _attestations(entry: Entry) -> list[SealedEntry]:
    inputs = _mapping(entry.body.get("inputs"))
    items = inputs.get("attestations")
    parsed = [parse_item(item) for item in (items if isinstance(items, list) else [])]
    return [s for s in parsed if s is not None]


def check_split_attestations_on_channel(pull: Pull) -> list[Finding]:
    """Every attestation a split used stands, byte-identical, on its channel as its members hold it."""
    findings = []
    for split in _splits(pull):
        for attestation in _attestations(split):
            try:
                detail = _not_standing(pull, attestation.entry)
            except UNINTERPRETABLE as exc:
                findings.append(malformed(NETWORK_LEDGER, split.seq, "attestations_on_channel", exc))
                continue
            if detail is not None:
                findings.append(finding(NETWORK_LEDGER, split.seq, NOT_ON_CHANNEL, detail))
    return findings


def _not_standing(pull: Pull, used: Entry) -> str | None:
    """Why ``used`` is not the entry its channel's members hold at its seq (None: it is)."""
    members = ChannelMembers.of(used.ledger)
    held = [c for c in pull.of(used.ledger) if c.holder in (members.oem, members.supplier)]
    where = f"the attestation of {used.author} at {used.ledger} seq {used.seq}"
    reaching = [c for c in held if c.size >= used.seq]
    if not reaching:
        return f"{where}: no copy held by the channel's members holds that seq"
    other = []
    for copy in reaching:
        sealed = copy.every_sealed()[used.seq - 1]
        if sealed is None or sealed.entry.hash != used.hash:
            other.append(copy.holder)
    if other:
        return f"{where} is not the entry held there by {', '.join(sorted(other))}"
    return None


def check_attested_supplier_dropped(pull: Pull) -> list[Finding]:
    """No supplier was called unavailable in a split while its channel held its attestation for the demand."""
    buyers = {
        s.entry.hash: _mapping(s.entry.body.get("action")).get("party")
        for s in pull.network()
        if s.entry.kind == DEMAND_SUBMITTED
    }
    findings = []
    for split in _splits(pull):
        try:
            findings += _dropped(pull, split, buyers)
        except UNINTERPRETABLE as exc:
            findings.append(malformed(NETWORK_LEDGER, split.seq, "attested_supplier_dropped", exc))
    return findings


def _dropped(pull: Pull, split: Entry, buyers: Mapping[str, Any]) -> list[Finding]:
    inputs = _mapping(split.body.get("inputs"))
    demand = inputs.get("demand")
    buyer = buyers.get(demand) if isinstance(demand, str) else None
    if not isinstance(buyer, str):
        return []  # no such demand: re-execution reports the split
    decided = instant(split.time)
    findings = []
    for supplier, reason in sorted(_mapping(inputs.get("unavailable")).items()):
        reference = pull.reference(channel_ledger(buyer, str(supplier)))
        for sealed in reference.entries() if reference else []:
            entry = sealed.entry
            if (
                entry.kind == CAPACITY_KIND
                and entry.author == supplier
                and made_for(entry.body, str(demand))
                and instant(entry.time) <= decided
            ):
                detail = (
                    f"{supplier} was listed unavailable ({str(reason)[:80]}) although {entry.ledger} "
                    f"seq {entry.seq} holds its attestation for this demand, dated {entry.time}"
                )
                findings.append(finding(NETWORK_LEDGER, split.seq, DROPPED, detail))
                break
    return findings


def check_times(pull: Pull) -> list[Finding]:
    """Network entry times are monotonic along seq and within the skew of the inputs they use."""
    findings = []
    done = pull.checked_up_to()
    previous: Entry | None = None
    for sealed in pull.network():
        entry = sealed.entry
        if entry.seq > done:
            try:
                findings += _time_findings(entry, previous)
            except UNINTERPRETABLE as exc:
                findings.append(malformed(NETWORK_LEDGER, entry.seq, "times", exc))
        previous = entry
    return findings


def _time_findings(entry: Entry, previous: Entry | None) -> list[Finding]:
    at = instant(entry.time)
    findings = []
    if previous is not None and at < instant(previous.time):
        detail = f"dated {entry.time}, before entry {previous.seq} ({previous.time})"
        findings.append(finding(NETWORK_LEDGER, entry.seq, NOT_MONOTONIC, detail))
    inputs: list[tuple[str, str]] = []
    if entry.kind == SPLIT:
        inputs = [(f"{a.entry.ledger} seq {a.entry.seq}", a.entry.time) for a in _attestations(entry)]
    elif "action" in entry.body:
        stated = _mapping(entry.body.get("action")).get("time")
        if isinstance(stated, str) and _is_instant(stated):
            inputs = [("the party's statement", stated)]
    late = [(what, when) for what, when in inputs if at < instant(when) - SKEW]
    for what, when in late:
        detail = f"dated {entry.time}, more than {MAX_CLOCK_SKEW_SECONDS} s before {what} ({when})"
        findings.append(finding(NETWORK_LEDGER, entry.seq, OUT_OF_SKEW, detail))
    return findings


def _is_instant(text: str) -> bool:
    try:
        moment = instant(text)
    except ValueError:
        return False
    return moment.tzinfo is not None


def untrusted_times(findings: list[Finding]) -> frozenset[int]:
    """Network seqs whose time failed a time check (their waits are not computed)."""
    return frozenset(
        f.seq for f in findings if f.ledger == NETWORK_LEDGER and f.rule in TIME_RULES and f.seq is not None
    )


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
