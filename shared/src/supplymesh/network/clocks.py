"""What every partner checks of a proposal's time, by its own clock, before signing.

The PDU writes an entry's time; partners bound it (SPEC §11, "a time it picks … is
checked"): within :data:`MAX_CLOCK_SKEW` of the partner's own clock, in either
direction; not earlier than the entry at its base (times never go back along the
ledger); a split not more than the skew before an attestation it uses; and a
cancellation due by the partner's own clock. Deadlines that run from a decision's time
(the deposit window runs from the split's) therefore run from a time every signer
checked.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from supplymesh.config import NetworkConfig
from supplymesh.core.contracts.network import CANCEL, SPLIT, NetworkState, deposit_overdue
from supplymesh.core.entry import Entry, format_time, parse_time
from supplymesh.network.rules import MAX_CLOCK_SKEW_SECONDS, RuleViolation
from supplymesh.network.witness import inputs_of, uses

MAX_CLOCK_SKEW = timedelta(seconds=MAX_CLOCK_SKEW_SECONDS)


def instant(text: str) -> datetime:
    """The moment of a ledger time text.

    Raises:
        RuleViolation: if it is not a valid time.
    """
    try:
        moment = parse_time(text)
    except ValueError as exc:
        raise RuleViolation(f"time {text!r} is not RFC 3339") from exc
    if moment.tzinfo is None:
        raise RuleViolation(f"time {text!r} has no offset")
    return moment


def check_clock(entry: Entry, now: datetime, *, me: str) -> None:
    """The proposal's time is within the skew of this partner's clock, either way.

    Raises:
        RuleViolation: naming the rule and both times.
    """
    moment = instant(entry.time)
    if abs(moment - now) > MAX_CLOCK_SKEW:
        direction = "ahead of" if moment > now else "behind"
        raise RuleViolation(
            f"entry time {entry.time} is more than {MAX_CLOCK_SKEW_SECONDS} s {direction} "
            f"{me}'s clock ({format_time(now)})"
        )


def check_after_base(entry: Entry, base_time: str) -> None:
    """Times never go back along the ledger: the proposal is not earlier than its base.

    Raises:
        RuleViolation: if the entry is dated before the entry at its base.
    """
    if base_time and instant(entry.time) < instant(base_time):
        raise RuleViolation(f"entry time {entry.time} is earlier than its base's ({base_time})")


def check_after_inputs(entry: Entry) -> None:
    """A split is not dated more than the skew before an attestation it uses.

    Raises:
        RuleViolation: naming the attestation.
    """
    if entry.kind != SPLIT:
        return
    moment = instant(entry.time)
    for used in uses(entry):
        if moment < instant(used.time) - MAX_CLOCK_SKEW:
            raise RuleViolation(
                f"entry time {entry.time} is more than {MAX_CLOCK_SKEW_SECONDS} s before the "
                f"attestation of {used.supplier} it uses ({used.time})"
            )


def check_cancel_due(config: NetworkConfig, state: NetworkState, entry: Entry, now: datetime) -> None:
    """A cancellation is due by this partner's own clock, not only by the PDU's.

    Raises:
        RuleViolation: if the deposit window has not elapsed by ``now``.
    """
    if entry.kind != CANCEL:
        return
    escrow = state.escrows.get(str(inputs_of(entry).get("escrow")))
    if escrow is None or not deposit_overdue(escrow, format_time(now), config.deposit_window_seconds):
        raise RuleViolation("the deposit window has not elapsed by this partner's clock")
