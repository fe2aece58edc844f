"""The node's event feed for its ERP: allocations, escrow changes, offers, channel entries.

Events are stored in the ``events`` table (append-only) inside the transaction that
causes them, numbered by an increasing id that serves as the resume cursor
(``?after=`` or ``Last-Event-ID``).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from supplymesh.storage.engine import read_transaction
from supplymesh.storage.tables import events


@dataclass(frozen=True, slots=True)
class Event:
    """One event."""

    id: int
    type: str
    subject: str
    data: dict[str, Any]
    created: str

    def as_json(self) -> dict[str, Any]:
        """Wire form."""
        return {
            "id": self.id,
            "type": self.type,
            "subject": self.subject,
            "data": self.data,
            "created": self.created,
        }


def publish(conn: Connection, *, type_: str, subject: str, data: Mapping[str, Any], now_text: str) -> None:
    """Record an event inside the caller's transaction."""
    conn.execute(insert(events).values(type=type_, subject=subject, data=json.dumps(data), created=now_text))


def read_events(engine: Engine, *, after: int, limit: int = 100, types: Collection[str] = ()) -> list[Event]:
    """Events with id > ``after`` (of one of ``types``, if any are given), oldest first."""
    query = select(events).where(events.c.id > after)
    if types:
        query = query.where(events.c.type.in_(sorted(types)))
    with read_transaction(engine) as conn:
        rows = conn.execute(query.order_by(events.c.id).limit(limit)).all()
    return [Event(r.id, r.type, r.subject, json.loads(r.data), r.created) for r in rows]
