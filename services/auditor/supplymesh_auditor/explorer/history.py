"""The network ledger folded entry by entry, with the timeline of every demand and escrow.

The fold is the core's own (:func:`supplymesh.core.contracts.network.apply`), so the
explorer's states are the ones every partner's replica has; an entry the fold refused
appears in the timelines it touches, in red, with the fold's reason.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from supplymesh.core.contracts.network import CANCEL, DEMAND_FAILED, REFUND, RELEASE, SPLIT, apply
from supplymesh.core.entry import Entry, EntryFormatError, parse_time
from supplymesh.core.vocabulary.bodies import (
    DEMAND_SUBMITTED,
    ESCROW_DEPOSITED,
    OFFER_ACCEPTED,
    PRODUCTION_COMPLETED,
)
from supplymesh_auditor.explorer import events
from supplymesh_auditor.explorer.events import Event, Timeline
from supplymesh_auditor.explorer.fetch import Item

Describer = Callable[[Timeline, Entry, str | None], None]
DESCRIBERS: dict[str, Describer] = {
    DEMAND_SUBMITTED: events.submitted,
    SPLIT: events.split,
    DEMAND_FAILED: events.failed,
    ESCROW_DEPOSITED: events.deposited,
    PRODUCTION_COMPLETED: events.produced,
    RELEASE: events.quality,
    REFUND: events.quality,
    CANCEL: events.quality,
    OFFER_ACCEPTED: events.accepted,
}


def fold(items: list[Item]) -> Timeline:
    """Fold the served network ledger; entries that do not parse are left out of the fold."""
    line = Timeline()
    for item in items:
        try:
            entry = Entry.from_json(item.get("entry"))
        except (EntryFormatError, TypeError, KeyError):
            continue
        reason = apply(line.state, entry)
        describe = DESCRIBERS.get(entry.kind)
        if describe is not None:
            try:
                describe(line, entry, reason)
            except (AttributeError, KeyError, TypeError, ValueError):  # a body no fold accepts
                line.state.refused.setdefault(entry.seq, f"unreadable {entry.kind} entry")
    return line


def _moment(event: Event) -> datetime:
    try:
        return parse_time(event.time)
    except ValueError:
        return datetime.min.replace(tzinfo=parse_time("2000-01-01T00:00:00Z").tzinfo)


def in_order(found: list[Event]) -> list[Event]:
    """Events oldest first (attestations, made before the split, come before it)."""
    return sorted(found, key=_moment)
