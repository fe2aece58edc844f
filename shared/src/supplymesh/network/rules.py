"""Checks every holder of the network ledger applies to an entry before accepting it.

* party actions: the party's signature over its statement, its role, visible fields;
* decisions: a quorum certificate over the entry hash by the policy of the decision
  kind (default: more than two thirds of the partners);
* everything: the PDU's signature as author.

And the check a partner makes before *signing* a proposed decision: every input's
signature, the attestations made for this demand, then re-execution to the identical
result against its own state at the base.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from supplymesh.config import NetworkConfig, QuorumPolicy
from supplymesh.core.actions import Action, ActionError, check_action
from supplymesh.core.contracts.capacity import made_for
from supplymesh.core.contracts.channel import CAPACITY_KIND, ChannelMembers, EndorsementRefused, check_body
from supplymesh.core.contracts.network import (
    CANCEL,
    DECISION_KINDS,
    NetworkState,
    attested,
    decide_cancel,
    decide_quality,
    decide_split,
    deposit_overdue,
)
from supplymesh.core.contracts.sampling import SamplingError
from supplymesh.core.crypto import SignatureError
from supplymesh.core.entry import Entry, EntryFormatError, SealedEntry, parse_signatures, parse_time
from supplymesh.core.quorum import Policy, QuorumResult, check, policy_of
from supplymesh.core.vocabulary.decisions import SplitInputs, parse_decision_inputs
from supplymesh.core.vocabulary.values import MessageError

MAX_CLOCK_SKEW_SECONDS = 300


class RuleViolation(ValueError):
    """An entry or proposal breaks a network rule; the message names it."""


def policy_for(config: NetworkConfig, kind: str) -> Policy:
    """The quorum policy in force for decision ``kind``."""
    configured: QuorumPolicy = config.quorum.kinds.get(kind, config.quorum.default)
    members = [m.id for m in config.partners()] if configured.of == "partners" else list(configured.of)
    return policy_of(members, more_than=configured.more_than, at_least=configured.at_least)


def quorum_of(config: NetworkConfig, sealed: SealedEntry) -> QuorumResult:
    """The certificate check of a decision entry."""
    return check(policy_for(config, sealed.entry.kind), sealed.signatures, sealed.entry.digest, config.keys())


def check_entry(config: NetworkConfig, sealed: SealedEntry) -> None:
    """Rules for accepting a network-ledger entry into a replica.

    Raises:
        RuleViolation: naming the rule.
    """
    entry = sealed.entry
    pdu = config.pdu.id
    if entry.author != pdu:
        raise RuleViolation(f"network entries are authored by {pdu}, not {entry.author}")
    keys = config.keys()
    author_sig = next((s for s in sealed.signatures if s.signer == pdu), None)
    if author_sig is None:
        raise RuleViolation("the PDU's signature is missing")
    try:
        keys[pdu].verify_text(author_sig.sig, entry.digest)
    except SignatureError as exc:
        raise RuleViolation("the PDU's signature does not verify") from exc
    if entry.kind in DECISION_KINDS:
        result = quorum_of(config, sealed)
        if not result.ok:
            raise RuleViolation(f"quorum certificate insufficient: {result.describe()}")
    elif "action" in entry.body:
        check_action_entry(config, entry)


def check_action_entry(config: NetworkConfig, entry: Entry) -> Action:
    """The party signature and shape of an action entry.

    Raises:
        RuleViolation: if the action is not valid.
    """
    try:
        action = Action.from_statement(entry.body["action"])
        if action.kind != entry.kind:
            raise ActionError(f"entry kind {entry.kind} carries a {action.kind} action")
        member = config.member(action.party)
        check_action(action, str(entry.body.get("signature", "")), role=str(member.role), key=member.key)
    except (ActionError, KeyError) as exc:
        raise RuleViolation(f"invalid party action: {exc}") from exc
    return action


def check_attestation(
    config: NetworkConfig, item: Mapping[str, Any], *, buyer: str, demand_hash: str
) -> tuple[str, Mapping[str, Any]]:
    """Verify an attestation input: (supplier, body).

    Raises:
        RuleViolation: forged, stale (not made for this demand) or malformed.
    """
    try:
        sealed = SealedEntry(Entry.from_json(item["entry"]), parse_signatures(item["signatures"]))
    except (EntryFormatError, KeyError, TypeError) as exc:
        raise RuleViolation(f"malformed attestation: {exc}") from exc
    entry = sealed.entry
    try:
        members = ChannelMembers.of(entry.ledger)
        check_body(entry.kind, entry.body)
    except EndorsementRefused as exc:
        raise RuleViolation(f"attestation: {exc}") from exc
    if entry.kind != CAPACITY_KIND or members.oem != buyer or entry.author != members.supplier:
        raise RuleViolation(f"{entry.ledger} seq {entry.seq} is not the supplier's attestation for {buyer}")
    if not made_for(entry.body, demand_hash):
        raise RuleViolation(f"attestation of {entry.author} was not made for this demand (stale)")
    signature = next((s for s in sealed.signatures if s.signer == entry.author), None)
    try:
        if signature is None:
            raise SignatureError("missing")
        config.member(entry.author).key.verify_text(signature.sig, entry.digest)
    except (SignatureError, KeyError) as exc:
        raise RuleViolation(f"attestation signature of {entry.author} does not verify") from exc
    return entry.author, entry.body


def recompute(
    config: NetworkConfig, state: NetworkState, entry: Entry, now: datetime | None = None
) -> dict[str, Any]:
    """Re-execute a proposed decision against ``state``; return the expected result.

    Raises:
        RuleViolation: if the inputs do not verify or the decision is not due.
    """
    body = entry.body
    try:
        _decision, typed_inputs = parse_decision_inputs(entry.kind, body)
    except MessageError as exc:
        raise RuleViolation(f"malformed decision: {exc}") from exc
    inputs = body["inputs"]
    if isinstance(typed_inputs, SplitInputs):
        return _recompute_split(config, state, typed_inputs)
    escrow_id = str(inputs.get("escrow"))
    escrow = state.escrows.get(escrow_id)
    if entry.kind == CANCEL:
        if escrow is None or not deposit_overdue(escrow, entry.time, config.deposit_window_seconds):
            raise RuleViolation("no allocation awaiting its deposit beyond the window at the base")
        if now is not None and parse_time(entry.time) > now + timedelta(seconds=MAX_CLOCK_SKEW_SECONDS):
            raise RuleViolation("the cancellation is dated in the future")
        return decide_cancel(state, escrow_id)
    if escrow is None or escrow.state != "funded" or escrow.lot is None:
        raise RuleViolation("no funded escrow with a reported lot at the base")
    try:
        kind, result = decide_quality(state, escrow_id)
    except SamplingError as exc:
        raise RuleViolation(f"the lot's sample inspection does not fit the buyer's plans: {exc}") from exc
    if kind != entry.kind:
        raise RuleViolation(f"the rule gives {kind}, not {entry.kind}")
    return result


def _recompute_split(config: NetworkConfig, state: NetworkState, inputs: SplitInputs) -> dict[str, Any]:
    """Re-execute a split from its recorded inputs.

    Every priority supplier is accounted for exactly once: attested, or unavailable with a
    reason; nobody off the priority list appears.
    """
    demand = state.demands.get(inputs.demand)
    if demand is None or demand.status != "pending":
        raise RuleViolation("no undecided demand with that hash at the base")
    capacities = {}
    for item in inputs.attestations:
        supplier, attestation = check_attestation(
            config, item.model_dump(), buyer=demand.buyer, demand_hash=inputs.demand
        )
        if supplier in capacities:
            raise RuleViolation(f"two attestations of {supplier}")
        try:
            capacities[supplier] = attested(attestation, supplier)
        except MessageError as exc:
            raise RuleViolation(f"attestation of {supplier} breaks a rule: {exc}") from exc
    unavailable = dict(inputs.unavailable)
    if set(unavailable) & set(capacities):
        raise RuleViolation("a supplier is both attested and unavailable")
    priority = set(demand.terms.priority_suppliers)
    if set(unavailable) | set(capacities) != priority:
        raise RuleViolation("the inputs must account for every priority supplier, and only for those")
    return decide_split(state, inputs.demand, capacities, unavailable)


def validate_proposal(
    config: NetworkConfig, state: NetworkState, entry: Entry, now: datetime | None = None
) -> None:
    """May a partner sign this proposed decision entry?

    Raises:
        RuleViolation: naming what does not hold.
    """
    if entry.kind not in DECISION_KINDS:
        raise RuleViolation(f"{entry.kind} is not a decision")
    if entry.author != config.pdu.id:
        raise RuleViolation("only the PDU proposes decisions")
    base = entry.body.get("base", {})
    if base.get("seq") != state.size or base.get("hash") != state.head:
        raise RuleViolation(f"stale base: proposal at {base.get('seq')}, this replica at {state.size}")
    if entry.seq != state.size + 1 or entry.prev != state.head:
        raise RuleViolation("a decision commits only at base + 1")
    expected = recompute(config, state, entry, now)
    if entry.body.get("result") != expected:
        raise RuleViolation(f"re-execution gives a different result: {expected}")
