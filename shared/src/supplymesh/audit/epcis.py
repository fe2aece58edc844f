"""Traceability events of the network ledger as a GS1 EPCIS 2.0 document (JSON-LD).

The events are those of :mod:`supplymesh.audit.epcis_events` (the network ledger folded
entry by entry, identifiers from :mod:`supplymesh.audit.epcis_ids`), in ledger order,
each given its EPCIS Event Hash ID as ``eventID`` (:mod:`supplymesh.audit.epcis_hash`).
The ``@context`` names the EPCIS 2.0 context by URL (never fetched) and declares the
``supplymesh`` prefix inline.

Pure and deterministic: the same entries give the same document, byte for byte
(``creationDate`` is the time of the last entry, not the clock).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from supplymesh.audit.epcis_events import EventMapper
from supplymesh.audit.epcis_hash import context_namespaces, event_hash_id
from supplymesh.core.entry import Entry

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
NAMESPACE = "https://supplymesh.dev/epcis/"
CONTEXT: list[Any] = [EPCIS_CONTEXT, {"supplymesh": NAMESPACE}]
MEDIA_TYPE = "application/ld+json"


def export_events(
    entries: Iterable[Entry], *, demand: str | None = None, buyer: str | None = None
) -> list[dict[str, Any]]:
    """The EPCIS events of a network ledger (entries in seq order), each with its eventID.

    With ``demand`` (a buyer's demand id, optionally narrowed to ``buyer``) only the events
    about that demand: its allocations, lots, decisions and re-offers, and re-offers made
    to it.
    """
    mapper = EventMapper()
    for entry in entries:
        mapper.step(entry)
    wanted: set[str] | None = None
    if demand is not None:
        wanted = {
            d.hash
            for d in mapper.state.demands.values()
            if d.id == demand and (buyer is None or d.buyer == buyer)
        }
    namespaces = context_namespaces(CONTEXT)
    events = []
    for mapped in mapper.out:
        if wanted is not None and not mapped.demands & wanted:
            continue
        event = {"type": mapped.event["type"], "eventID": event_hash_id(mapped.event, namespaces)}
        event.update((k, v) for k, v in mapped.event.items() if k != "type")
        events.append(event)
    return events


def export_document(
    entries: Sequence[Entry], *, demand: str | None = None, buyer: str | None = None
) -> dict[str, Any]:
    """An ``EPCISDocument`` of the network ledger's traceability events."""
    created = entries[-1].time if entries else "1970-01-01T00:00:00.000000Z"
    return {
        "@context": CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": created,
        "epcisBody": {"eventList": export_events(entries, demand=demand, buyer=buyer)},
    }


def render(document: Mapping[str, Any]) -> bytes:
    """The document's JSON bytes (compact, UTF-8, key order as built: deterministic)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def mismatched_event_ids(document: Mapping[str, Any]) -> list[str]:
    """Event IDs of ``document`` that do not equal the hash of their event's content."""
    namespaces = context_namespaces(document.get("@context"))
    return [
        str(event.get("eventID"))
        for event in document.get("epcisBody", {}).get("eventList", [])
        if event.get("eventID") != event_hash_id(event, namespaces)
    ]
