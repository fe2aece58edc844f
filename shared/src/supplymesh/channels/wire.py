"""The wire form of a sealed channel entry, as members send it to each other."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from supplymesh.core.entry import Entry, EntryFormatError, SealedEntry, parse_signatures
from supplymesh.errors import Unprocessable


def sealed_json(sealed: SealedEntry) -> dict[str, Any]:
    """Wire form of a sealed entry."""
    return sealed.as_json()


def parse_sealed(value: object) -> SealedEntry:
    """Parse the wire form of a sealed entry.

    Raises:
        Unprocessable: if it is malformed.
    """
    try:
        if not isinstance(value, Mapping):
            raise EntryFormatError("expected an object")
        return SealedEntry(Entry.from_json(value.get("entry")), parse_signatures(value.get("signatures")))
    except EntryFormatError as exc:
        raise Unprocessable(f"malformed sealed entry: {exc}") from exc
