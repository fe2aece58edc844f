"""The auditor's reading of channel payloads: unwrap its channel keys, open sealed bodies.

Pure and total over served data (no I/O, and no exception from anything a holder serves):
a channel copy as a list of sealed entries, the auditor's encryption key and the readers
the config requires. Problems are returned as
(seq, rule, detail) for the audit to report:

* ``channel_key``: a key entry that does not wrap for exactly the members and the
  auditor, or whose wrap for the auditor does not unwrap to the key its id names;
* ``unencrypted_payload``: a private kind whose body is not sealed;
* ``unreadable_payload``: a sealed body that names no earlier key, or does not open;
* ``stale_key``: a private entry sealed under a key other than the channel's current
  one at its position (the countersigner should have refused it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from supplymesh.core.contracts.channel import KEY_KIND, is_private
from supplymesh.core.entry import Entry, SealedEntry
from supplymesh.core.recipients import Recipient
from supplymesh.core.sealing import (
    SealingError,
    check_key_entry_body,
    open_body,
    sealed_key_id,
    unwrap_key,
)

_UNREADABLE = (SealingError, KeyError, TypeError, ValueError, RecursionError)
"""What hostile key entries and sealed bodies can raise: reported, never raised."""


@dataclass
class OpenedChannel:
    """What a reader could open of one channel copy."""

    ledger: str
    bodies: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Plaintext of every private entry that opened, by seq."""
    problems: list[tuple[int, str, str]] = field(default_factory=list)


def open_channel(
    ledger: str,
    entries: Iterable[SealedEntry | None],
    *,
    recipient: Recipient,
    reader: str,
    expected_readers: frozenset[str],
) -> OpenedChannel:
    """Unwrap ``reader``'s keys from the key entries and open every private body."""
    channel = _ChannelReader(ledger, recipient, reader, expected_readers, OpenedChannel(ledger))
    for sealed in entries:
        if sealed is None:
            continue
        if sealed.entry.kind == KEY_KIND:
            channel.read_key(sealed.entry)
        elif is_private(sealed.entry.kind):
            channel.open_private(sealed.entry)
    return channel.opened


@dataclass
class _ChannelReader:
    """One pass over a channel: key entries change the key the next bodies open with."""

    ledger: str
    recipient: Recipient
    reader: str
    expected_readers: frozenset[str]
    opened: OpenedChannel
    keys: dict[str, bytes] = field(default_factory=dict)
    current: str | None = None

    def read_key(self, entry: Entry) -> None:
        """Unwrap the reader's copy of a key entry's key; it is the current key from now on."""
        try:
            key_id = check_key_entry_body(entry.body, expected_readers=self.expected_readers)
            self.keys[key_id] = unwrap_key(
                entry.body["readers"][self.reader],
                recipient=self.recipient,
                ledger=self.ledger,
                reader=self.reader,
                key_id=key_id,
            )
            self.current = key_id
        except _UNREADABLE as exc:
            self.opened.problems.append((entry.seq, "channel_key", str(exc)))
            if isinstance(entry.body.get("key_id"), str):
                self.current = entry.body["key_id"]

    def open_private(self, entry: Entry) -> None:
        """Open a private entry's sealed body, noting a body that is not sealed, stale or unreadable."""
        try:
            key_id = sealed_key_id(entry.body)
        except SealingError as exc:
            self.opened.problems.append((entry.seq, "unencrypted_payload", f"{entry.kind}: {exc}"))
            return
        if key_id != self.current:
            self.opened.problems.append(
                (
                    entry.seq,
                    "stale_key",
                    f"sealed under {key_id[:12]}…, the current key is {str(self.current)[:12]}…",
                )
            )
        key = self.keys.get(key_id)
        if key is None:
            self.opened.problems.append(
                (entry.seq, "unreadable_payload", f"no readable key {key_id[:12]}… before it")
            )
            return
        try:
            self.opened.bodies[entry.seq] = open_body(
                entry.body, key=key, ledger=self.ledger, seq=entry.seq, kind=entry.kind, author=entry.author
            )
        except _UNREADABLE as exc:
            self.opened.problems.append((entry.seq, "unreadable_payload", str(exc)))


def private_strings(bodies: Iterable[Mapping[str, Any]], *, exclude: frozenset[str]) -> set[str]:
    """Distinctive string values of private bodies (what must never reach the network ledger).

    Strings shorter than 6 characters, hex identifiers and hashes (32 or 64 hex digits:
    references to network objects such as escrow ids and demand hashes) and the values
    in ``exclude`` (member ids, products: network-visible names) are left out: they
    cannot be told apart from coincidence. Numbers are guarded structurally instead
    (only the network-visible fields may appear on the network ledger).
    """
    found: set[str] = set()
    stack: list[Any] = list(bodies)
    while stack:  # iterative: a hostile body may nest deeper than the recursion limit
        value = stack.pop()
        if isinstance(value, str):
            if len(value) >= 6 and value not in exclude and not _is_hex_id(value):
                found.add(value)
        elif isinstance(value, Mapping):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return found


def _is_hex_id(value: str) -> bool:
    return len(value) in (32, 64) and all(c in "0123456789abcdef" for c in value)
