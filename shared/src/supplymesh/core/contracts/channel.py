"""Algorithm 2 of the paper, channel side: who authors which kind, when to countersign.

SPEC §2 and §4.

A channel ledger ``channel:<oem>:<supplier>`` is held by both members and sequenced by
the supplier. Endorsement is 2-of-2: the author signs, the other member countersigns.
A member countersigns an entry that is well formed, correctly sequenced (it continues
the member's own copy) and authored by the member allowed to author its kind, and it
never countersigns two different entries for the same seq.

Capacity attestations and lot quality are network-visible by design (the PDU's views)
and stay plaintext. Every other kind is private to the channel: its body is sealed
(:mod:`supplymesh.core.sealing`) under the channel's current data key, which a
``channel.key`` entry wraps for the two members and the auditor. A countersigner checks
the shape here; it also opens the body (see :mod:`supplymesh.channels.keyring`) before it
signs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from supplymesh.core.entry import Entry
from supplymesh.core.sealing import SealingError, check_key_entry_body, sealed_key_id
from supplymesh.core.vocabulary.bodies import CapacityAttestation, LotQuality, parse_body
from supplymesh.core.vocabulary.values import MessageError


class Side(StrEnum):
    """Which member of a channel may author a kind."""

    SUPPLIER = "supplier"
    OEM = "oem"
    EITHER = "either"


CAPACITY_KIND = "capacity.attestation"
QUALITY_KIND = "lot.quality"
KEY_KIND = "channel.key"

AUTHORS: Mapping[str, Side] = {
    CAPACITY_KIND: Side.SUPPLIER,
    QUALITY_KIND: Side.SUPPLIER,
    "order.allocated": Side.SUPPLIER,
    "order.state": Side.SUPPLIER,
    "escrow.event": Side.OEM,
    "terms": Side.EITHER,
    "message": Side.EITHER,
    KEY_KIND: Side.EITHER,
}
VIEW_KINDS = frozenset({CAPACITY_KIND, QUALITY_KIND})
PRIVATE_KINDS = frozenset(AUTHORS) - VIEW_KINDS - {KEY_KIND}
"""Kinds whose bodies are sealed under the channel key."""


def is_private(kind: str) -> bool:
    """True if entries of ``kind`` carry a sealed body."""
    return kind in PRIVATE_KINDS


class EndorsementRefused(ValueError):
    """The member will not countersign this entry; the message says why."""


@dataclass(frozen=True, slots=True)
class ChannelMembers:
    """The two members of a channel ledger."""

    oem: str
    supplier: str

    @classmethod
    def of(cls, ledger: str) -> ChannelMembers:
        """Members named by a ledger ``channel:<oem>:<supplier>``.

        Raises:
            EndorsementRefused: if the name is not a channel ledger name.
        """
        parts = ledger.split(":")
        if len(parts) != 3 or parts[0] != "channel" or not parts[1] or not parts[2]:
            raise EndorsementRefused(f"{ledger} is not a channel ledger")
        return cls(oem=parts[1], supplier=parts[2])

    def other(self, member: str) -> str:
        """The counterpart of ``member``."""
        return self.supplier if member == self.oem else self.oem


def may_author(members: ChannelMembers, author: str, kind: str) -> bool:
    """True if ``author`` may author entries of ``kind`` on this channel."""
    side = AUTHORS.get(kind)
    if side is None or author not in (members.oem, members.supplier):
        return False
    if side == Side.EITHER:
        return True
    return author == (members.supplier if side == Side.SUPPLIER else members.oem)


def check_body(kind: str, body: Mapping[str, object]) -> None:
    """Shape checks of an entry body by kind.

    Exact numbers and known fields for the network-visible kinds; a sealed body for the
    private kinds; wrapped keys for a key entry.

    Raises:
        EndorsementRefused: if the body is not well formed.
    """
    try:
        if kind in PRIVATE_KINDS:
            sealed_key_id(body)
        elif kind == KEY_KIND:
            check_key_entry_body(body, expected_readers=None)
        elif kind == CAPACITY_KIND:
            parse_body(CapacityAttestation, dict(body))
        elif kind == QUALITY_KIND:
            parse_body(LotQuality, dict(body))
    except (MessageError, SealingError) as exc:
        raise EndorsementRefused(str(exc)) from exc


def check_countersign(
    entry: Entry,
    *,
    me: str,
    head: tuple[int, str],
    already_countersigned: str | None,
) -> None:
    """May member ``me`` countersign ``entry`` given its own copy's ``head``?

    ``already_countersigned`` is the hash this member countersigned for the same seq
    before, if any.

    Raises:
        EndorsementRefused: naming the rule that fails.
    """
    members = ChannelMembers.of(entry.ledger)
    if me not in (members.oem, members.supplier):
        raise EndorsementRefused(f"{me} is not a member of {entry.ledger}")
    if entry.author == me:
        raise EndorsementRefused("a member does not countersign its own entry")
    if not may_author(members, entry.author, entry.kind):
        raise EndorsementRefused(f"{entry.author} may not author {entry.kind!r} on {entry.ledger}")
    check_body(entry.kind, entry.body)
    if already_countersigned is not None and already_countersigned != entry.hash:
        raise EndorsementRefused(f"already countersigned a different entry for seq {entry.seq}")
    size, head_hash = head
    if entry.seq != size + 1 or entry.prev != head_hash:
        raise EndorsementRefused(f"entry seq {entry.seq} does not continue this member's copy (size {size})")
