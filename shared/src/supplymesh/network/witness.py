"""What a partner checks before signing a decision, as a witness of its own records.

Re-execution (:func:`supplymesh.network.rules.validate_proposal`) proves that a decision
follows from its inputs. It cannot prove that the inputs are the ones the parties gave:
the PDU chooses which attestations to carry, which suppliers to call unavailable and
which time to write. These checks use what only the signing partner knows — its own
clock and its own copies of its channels — so a PDU that steers is refused by the very
partners it wrongs (SPEC §11: "checked by the partners whom it concerns"):

* **times**, every partner: :mod:`supplymesh.network.clocks` (the proposal's time
  within the skew of the partner's own clock, never before its base or the attestations
  it uses; a cancellation due by the partner's clock).
* **the supplier** of a split: if its channel with the buyer holds an attestation made
  for the demand, the split must use it — not call the supplier unavailable, not leave it
  out while it is on the priority list, and not carry another entry in its place: the
  attestation used is the entry at that seq of the supplier's own copy, and the latest
  one it made for this demand.
* **the buyer** of a split: every attestation used from one of its channels is the entry
  its own records hold at that seq (its copy, or what it countersigned there). When it
  holds nothing at that seq it catches up from the supplier first; when the supplier
  served its copy and still has no entry there, the attestation stands on no channel and
  is refused; when the supplier cannot be reached it signs, and the audit reports the
  attestation's missing countersignature. And no supplier of its priority list whose
  attestation for this demand stands on the buyer's channel is left out or called
  unavailable: a PDU that drops an attested supplier is refused by both members of that
  channel, so it cannot reach the default quorum by dropping one (the PDU asks again
  before a retry, so an attestation that arrived late is used then).

The functions are pure over the entry, the replica state at the base and a
:class:`ChannelRecords` view of the node's own channel copies.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from supplymesh.config import NetworkConfig, channel_ledger
from supplymesh.core.contracts.channel import ChannelMembers, EndorsementRefused
from supplymesh.core.contracts.network import (
    SPLIT,
    DemandRecord,
    NetworkState,
    demand_terms,
)
from supplymesh.core.entry import Entry, EntryFormatError
from supplymesh.network.rules import RuleViolation


class ChannelRecords(Protocol):
    """What this node's own channel copies say (read-only)."""

    def hash_at(self, ledger: str, seq: int) -> str | None:
        """Hash of the entry this node holds (or countersigned) at ``seq``, if any."""

    def attestation_for(self, ledger: str, demand: str) -> tuple[int, str] | None:
        """(seq, hash) of the latest capacity attestation made for ``demand`` on ``ledger``."""

    def behind(self, ledger: str) -> bool:
        """True if this node countersigned an entry of ``ledger`` its copy does not hold yet."""


@dataclass(frozen=True)
class AttestationUse:
    """An attestation input of a split: whose, on which channel, at which seq."""

    supplier: str
    ledger: str
    seq: int
    hash: str
    time: str


# -- attestations -------------------------------------------------------------------------------


def inputs_of(entry: Entry) -> Mapping[str, Any]:
    """The inputs of a decision entry ({} when it carries none or a malformed one)."""
    inputs = entry.body.get("inputs")
    return inputs if isinstance(inputs, Mapping) else {}


def split_demand(state: NetworkState, entry: Entry) -> DemandRecord | None:
    """The demand a split decides (None if the entry is no split or names none)."""
    if entry.kind != SPLIT:
        return None
    return state.demands.get(str(inputs_of(entry).get("demand")))


def uses(entry: Entry) -> list[AttestationUse]:
    """The attestations a split carries.

    Raises:
        RuleViolation: if an input is malformed.
    """
    found: list[AttestationUse] = []
    items = inputs_of(entry).get("attestations", [])
    if not isinstance(items, list):
        raise RuleViolation("attestations must be a list")
    for item in items:
        try:
            used = Entry.from_json(item["entry"])
            members = ChannelMembers.of(used.ledger)
        except (EntryFormatError, EndorsementRefused, KeyError, TypeError) as exc:
            raise RuleViolation(f"malformed attestation: {exc}") from exc
        found.append(AttestationUse(members.supplier, used.ledger, used.seq, used.hash, used.time))
    return found


def _priority(demand: DemandRecord) -> tuple[str, ...]:
    try:
        return tuple(demand_terms(demand).priority)
    except (KeyError, TypeError, ValueError, ArithmeticError):  # malformed terms: refused by re-execution
        return ()


def _unavailable(entry: Entry) -> Mapping[str, Any]:
    listed = inputs_of(entry).get("unavailable", {})
    return listed if isinstance(listed, Mapping) else {}


def check_as_supplier(
    config: NetworkConfig, state: NetworkState, entry: Entry, me: str, records: ChannelRecords
) -> None:
    """The supplier's refusals of a split that misuses or drops its attestation.

    Raises:
        RuleViolation: naming the rule.
    """
    demand = split_demand(state, entry)
    if demand is None:
        return
    ledger = channel_ledger(demand.buyer, me)
    if config.channel(ledger) is None:
        return
    own = records.attestation_for(ledger, demand.hash)
    mine = [u for u in uses(entry) if u.supplier == me]
    for used in mine:
        held = records.hash_at(used.ledger, used.seq)
        if used.ledger != ledger or held is None:
            raise RuleViolation(
                f"the attestation of {me} used is not on its channel ({used.ledger} seq {used.seq})"
            )
        if held != used.hash:
            raise RuleViolation(
                f"the attestation of {me} used is not the entry at {used.ledger} seq {used.seq} of its copy"
            )
        if own is not None and own[1] != used.hash:
            raise RuleViolation(
                f"the attestation of {me} used is not its latest for this demand ({ledger} seq {own[0]})"
            )
    if mine or own is None:
        return
    if me in _unavailable(entry):
        raise RuleViolation(
            f"{me} is called unavailable although it attested for this demand ({ledger} seq {own[0]})"
        )
    if me in _priority(demand):
        raise RuleViolation(f"the attestation {me} made for this demand is left out ({ledger} seq {own[0]})")


def buyer_uses(state: NetworkState, entry: Entry, me: str) -> list[AttestationUse]:
    """Attestations of a split that come from channels of ``me`` as the buyer."""
    demand = split_demand(state, entry)
    if demand is None or demand.buyer != me:
        return []
    return [u for u in uses(entry) if ChannelMembers.of(u.ledger).oem == me]


def unheld(state: NetworkState, entry: Entry, me: str, records: ChannelRecords) -> set[str]:
    """Channels of the buyer ``me`` to catch up before judging a split.

    Those that hold nothing at the seq of an attestation used, and those of priority
    suppliers left out whose copy lacks an entry ``me`` countersigned (an attestation
    for this demand may be that entry).
    """
    found = {u.ledger for u in buyer_uses(state, entry, me) if records.hash_at(u.ledger, u.seq) is None}
    demand = split_demand(state, entry)
    if demand is not None and demand.buyer == me:
        used = {u.supplier for u in uses(entry)}
        left_out = (channel_ledger(me, s) for s in _priority(demand) if s not in used)
        found.update(ledger for ledger in left_out if records.behind(ledger))
    return found


def check_as_buyer(
    state: NetworkState, entry: Entry, me: str, records: ChannelRecords, *, served: Collection[str]
) -> None:
    """The buyer's refusal of a split whose attestation is not the entry on its channel.

    Args:
        state: the replica at the proposal's base.
        entry: the proposed split.
        me: this node, the buyer.
        records: this node's channel records, after any catch-up.
        served: channels whose supplier served its copy in the catch-up just made; an
            attestation beyond what the supplier itself holds stands on no channel.

    Raises:
        RuleViolation: naming the rule.
    """
    _check_none_dropped(state, entry, me, records)
    for used in buyer_uses(state, entry, me):
        held = records.hash_at(used.ledger, used.seq)
        if held is None and used.ledger in served:
            raise RuleViolation(
                f"the attestation of {used.supplier} used is not on {used.ledger}: "
                f"{me}'s copy, caught up, has no seq {used.seq}"
            )
        if held is not None and held != used.hash:
            raise RuleViolation(
                f"the attestation of {used.supplier} used is not the entry at {used.ledger} "
                f"seq {used.seq} of {me}'s copy"
            )


def _check_none_dropped(state: NetworkState, entry: Entry, me: str, records: ChannelRecords) -> None:
    """The buyer's refusal of a split that leaves out a supplier attested on its channel.

    Raises:
        RuleViolation: naming the supplier and the attestation.
    """
    demand = split_demand(state, entry)
    if demand is None or demand.buyer != me:
        return
    used = {u.supplier for u in uses(entry)}
    for supplier in _priority(demand):
        if supplier in used:
            continue
        ledger = channel_ledger(me, supplier)
        own = records.attestation_for(ledger, demand.hash)
        if own is not None:
            raise RuleViolation(
                f"{supplier} attested for this demand on {me}'s channel ({ledger} seq {own[0]}) "
                "but the split leaves it out"
            )
