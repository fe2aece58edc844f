"""Party actions arriving at the PDU: checked, then sequenced onto the network ledger.

A retried submission (same party, same action id) returns the entry appended the
first time instead of appending again.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.actions import Action, ActionError, check_action
from supplymesh.core.entry import SealedEntry, next_entry, sign_entry
from supplymesh.errors import Conflict, Forbidden, Unprocessable
from supplymesh.storage.engine import read_transaction
from supplymesh.storage.ledger_store import Head
from supplymesh.storage.tables import ledger_entries
from supplymesh.web.node import Node


def find_action(node: Node, kind: str, party: str, action_id: str) -> dict[str, Any] | None:
    """The network entry that carries ``party``'s action ``action_id``, if any."""
    with read_transaction(node.engine) as conn:
        rows = conn.execute(
            select(ledger_entries.c.seq, ledger_entries.c.hash, ledger_entries.c.entry).where(
                ledger_entries.c.ledger == NETWORK_LEDGER, ledger_entries.c.kind == kind
            )
        ).all()
    for row in rows:
        action = json.loads(row.entry)["body"]["action"]
        if action["party"] == party and action["id"] == action_id:
            return {"ledger": NETWORK_LEDGER, "seq": int(row.seq), "hash": row.hash}
    return None


def submit(node: Node, sender: str, statement: object, signature: str) -> dict[str, Any]:
    """Check and sequence a party action.

    Raises:
        Forbidden: if the sender is not the acting party.
        Unprocessable: if the action is malformed or badly signed.
    """
    try:
        action = Action.from_statement(statement)
    except ActionError as exc:
        raise Unprocessable(str(exc)) from exc
    if action.party != sender:
        raise Forbidden(f"{sender} may not submit an action of {action.party}")
    member = node.config.member(sender)
    try:
        check_action(action, signature, role=str(member.role), key=member.key)
    except ActionError as exc:
        raise Unprocessable(str(exc)) from exc
    existing = find_action(node, action.kind, action.party, action.id)
    if existing is not None:
        return existing

    def build(head: Head) -> SealedEntry:
        entry = next_entry(
            ledger=NETWORK_LEDGER,
            head=(head.size, head.head_hash),
            time=node.now_text(),
            kind=action.kind,
            author=node.id,
            body={"action": action.statement(), "signature": signature},
        )
        return SealedEntry(entry, (sign_entry(entry, signer_id=node.id, signer=node.signer),))

    with node.store.writer(NETWORK_LEDGER) as writer:
        if find_action(node, action.kind, action.party, action.id) is not None:
            raise Conflict("the same action is being appended concurrently; retry")
        sealed = writer.append(build(writer.head))
    return {"ledger": NETWORK_LEDGER, "seq": sealed.entry.seq, "hash": sealed.entry.hash}
