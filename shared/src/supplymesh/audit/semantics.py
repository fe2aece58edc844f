"""Semantic checks of the network ledger, judged on its reference (the prefix that verifies).

Party actions, re-execution of every decision, overbooking, money, and the entries the
fold refused. Each check is total: an entry it cannot interpret (a wrong type, a bad
decimal, a missing field) is a finding ``entry.malformed`` naming the check, never an
exception. Findings name no holder: the reference verified, so what it says was
sequenced by the PDU and, for decisions, certified by a quorum.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from supplymesh.audit.pull import Pull, finding
from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.contracts.network import DECISION_KINDS, SPLIT, NetworkState, apply, attested
from supplymesh.core.contracts.split import limit
from supplymesh.core.entry import Entry, SealedEntry
from supplymesh.core.verify import Finding
from supplymesh.network.rules import RuleViolation, check_action_entry, recompute

UNINTERPRETABLE = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    ArithmeticError,
    RecursionError,
)
"""What interpreting hostile content can raise (``decimal.InvalidOperation`` is an ArithmeticError)."""

MALFORMED = "entry.malformed"
INADMISSIBLE = "network.inadmissible_entry"


def malformed(ledger: str, seq: int | None, check: str, exc: BaseException) -> Finding:
    """The finding for an entry ``check`` cannot interpret (the exception type only: no values)."""
    return finding(ledger, seq, MALFORMED, f"{check}: cannot interpret this entry ({type(exc).__name__})")


def judged(pull: Pull) -> list[SealedEntry]:
    """Network entries of the reference not yet judged by a valid checkpoint."""
    done = pull.checked_up_to()
    return [s for s in pull.network() if s.entry.seq > done]


def fold(state: NetworkState, entry: Entry) -> str | None:
    """Apply ``entry``; the reason if the fold raised (then only size and head move on)."""
    try:
        apply(state, entry)
    except UNINTERPRETABLE as exc:
        state.size, state.head = entry.seq, entry.hash
        return f"the fold cannot apply it ({type(exc).__name__})"
    return None


def replay(pull: Pull) -> Iterator[tuple[Entry, NetworkState]]:
    """Every reference entry with the state before it; the state is folded after each step."""
    state = NetworkState()
    for sealed in pull.network():
        yield sealed.entry, state
        fold(state, sealed.entry)


def check_party_actions(pull: Pull) -> list[Finding]:
    """Every party action on the network ledger is signed by its party, in its role."""
    findings = []
    for sealed in judged(pull):
        entry = sealed.entry
        try:
            if "action" in entry.body:
                check_action_entry(pull.config, entry)
        except RuleViolation as exc:
            findings.append(finding(NETWORK_LEDGER, entry.seq, "party_signature", str(exc)))
        except UNINTERPRETABLE as exc:
            findings.append(malformed(NETWORK_LEDGER, entry.seq, "party_actions", exc))
    return findings


def check_reexecution(pull: Pull) -> list[Finding]:
    """Every decision re-executes to the same result against the state at its base."""
    findings = []
    done = pull.checked_up_to()
    for entry, state in replay(pull):
        if entry.kind not in DECISION_KINDS or entry.seq <= done:
            continue
        try:
            if entry.body.get("result") != recompute(pull.config, state, entry):
                detail = "the recorded result differs from re-execution"
                findings.append(finding(NETWORK_LEDGER, entry.seq, "reexecution", detail))
        except RuleViolation as exc:
            findings.append(finding(NETWORK_LEDGER, entry.seq, "reexecution", str(exc)))
        except UNINTERPRETABLE as exc:
            findings.append(malformed(NETWORK_LEDGER, entry.seq, "reexecution", exc))
    return findings


def check_no_overbooking(pull: Pull) -> list[Finding]:
    """At every split, open hours plus new hours stay within MHCp × Ld − external queue."""
    findings = []
    done = pull.checked_up_to()
    for entry, state in replay(pull):
        if entry.kind != SPLIT or entry.seq <= done:
            continue
        try:
            findings += _overbooked(state, entry)
        except UNINTERPRETABLE as exc:
            findings.append(malformed(NETWORK_LEDGER, entry.seq, "no_overbooking", exc))
    return findings


def _overbooked(state: NetworkState, entry: Entry) -> list[Finding]:
    inputs = _mapping(entry.body.get("inputs"))
    demand = state.demands.get(str(inputs.get("demand")))
    open_hours = state.open_hours()
    capacities = {}
    for item in _list(inputs.get("attestations")):
        try:
            author = item["entry"]["author"]
            capacities[author] = attested(item["entry"]["body"], author)
        except UNINTERPRETABLE:
            continue  # an unreadable attestation books nobody; re-execution reports it
    findings = []
    for allocation in _list(_mapping(entry.body.get("result")).get("allocations")):
        supplier = _mapping(allocation).get("supplier")
        if not isinstance(supplier, str) or supplier not in capacities or demand is None:
            detail = f"allocation to {supplier} without an attestation"
            findings.append(finding(NETWORK_LEDGER, entry.seq, "no_overbooking", detail))
            continue
        hours = Decimal(str(allocation.get("machine_hours")))
        total = open_hours.get(supplier, Decimal(0)) + hours
        if not total.is_finite() or total > limit(capacities[supplier], _lead_time(demand.terms)):
            detail = f"{supplier} booked {total} machine-hours beyond its attested capacity"
            findings.append(finding(NETWORK_LEDGER, entry.seq, "no_overbooking", detail))
    return findings


def check_money_conserved(pull: Pull) -> list[Finding]:
    """Deposits = released + refunded + held; nothing released twice or without a deposit."""
    findings = []
    state = NetworkState()
    deposited = 0
    released_once: set[str] = set()
    done = pull.checked_up_to()
    for sealed in pull.network():
        entry = sealed.entry
        before = {e.id: e.state for e in state.escrows.values()}
        fold(state, entry)
        try:
            for escrow in state.escrows.values():
                was = before.get(escrow.id)
                if was == "awaiting_deposit" and escrow.state == "funded":
                    deposited += int(escrow.amount)
                if escrow.state == "released" and was != "released":
                    if (escrow.id in released_once or was != "funded") and entry.seq > done:
                        detail = f"escrow {escrow.id} released without being funded, or twice"
                        findings.append(finding(NETWORK_LEDGER, entry.seq, "money_conserved", detail))
                    released_once.add(escrow.id)
        except UNINTERPRETABLE as exc:
            findings.append(malformed(NETWORK_LEDGER, entry.seq, "money_conserved", exc))
    try:
        escrows = state.escrows.values()
        accounted = sum(int(e.amount) for e in escrows if e.state in ("released", "refunded", "funded"))
    except UNINTERPRETABLE as exc:
        return [*findings, malformed(NETWORK_LEDGER, None, "money_conserved", exc)]
    if deposited != accounted:
        detail = f"deposits {deposited} ≠ released + refunded + held {accounted}"
        findings.append(finding(NETWORK_LEDGER, None, "money_conserved", detail))
    return findings


def check_fold_refusals(pull: Pull) -> list[Finding]:
    """Entries the PDU sequenced that the fold refused (an inadmissible action, a malformed decision).

    Read from the state's ``refused`` (seq → reason) where the fold records refusals,
    and from any entry the fold could not apply at all. Reported against the PDU.
    """
    state = NetworkState()
    done = pull.checked_up_to()
    refused: dict[int, str] = {}
    for sealed in pull.network():
        reason = fold(state, sealed.entry)
        if reason is not None:
            refused[sealed.entry.seq] = reason
    recorded = getattr(state, "refused", {})
    if isinstance(recorded, Mapping):
        for seq, reason in recorded.items():
            if isinstance(seq, int):
                refused.setdefault(seq, str(reason))
    pdu = pull.config.pdu.id
    return [
        finding(NETWORK_LEDGER, seq, INADMISSIBLE, f"sequenced an entry the fold refused: {reason}", pdu)
        for seq, reason in sorted(refused.items())
        if seq > done
    ]


def _lead_time(terms: Any) -> int:
    """A demand's lead time, from its terms as a mapping or as a typed model."""
    value = terms["lead_time_days"] if isinstance(terms, Mapping) else terms.lead_time_days
    return int(value)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []
