"""Insiders of the in-process network, holding only their own keys.

* :class:`Insider` — a member that signs whatever action it likes with its own key and
  sends it straight to the PDU's peer API, bypassing its own node's ERP validation;
* :class:`FaultyPdu` — the PDU's key used to sequence what the honest sequencer would
  refuse, pushed to every partner through the normal replication path.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.actions import ACTION_TYPE, Action, sign_action
from supplymesh.core.canonical import canonical_hash
from supplymesh.core.contracts.network import NetworkState
from supplymesh.core.entry import SealedEntry, format_time
from supplymesh.network.replica import NetworkReplica
from supplymesh.node.keys import KEY_FILE, load_key_file
from supplymesh_pdu.sequencer import Sequencer
from tests.harness import Harness

ACTIONS = "/peer/v1/actions"
PARTNERS = ("oem-a", "oem-b", "supplier-a", "supplier-b")


class Insider:
    """A member signing arbitrary actions with its own key."""

    def __init__(self, harness: Harness, member: str) -> None:
        self.harness = harness
        self.member = member
        self.signer = load_key_file(harness.state_dir / member / KEY_FILE)

    def action(self, kind: str, body: Any, action_id: str | None = None) -> Action:
        return Action(
            kind=kind,
            party=self.member,
            id=action_id or uuid.uuid4().hex,
            time=format_time(datetime.now(UTC)),
            body=body,
        )

    def envelope(self, action: Action) -> dict[str, Any]:
        return {"action": action.statement(), "signature": sign_action(action, self.signer)}

    def raw_envelope(self, kind: str, body: Any, action_id: str | None = None) -> dict[str, Any]:
        """A signed statement whose body may be anything JSON (not only an object)."""
        statement = {
            "type": ACTION_TYPE,
            "kind": kind,
            "party": self.member,
            "id": action_id or uuid.uuid4().hex,
            "time": format_time(datetime.now(UTC)),
            "body": body,
        }
        return {"action": statement, "signature": self.signer.sign_text(canonical_hash(statement))}

    async def submit(self, kind: str, body: Any, action_id: str | None = None) -> httpx.Response:
        """Sign and send an action straight to the PDU."""
        envelope = self.raw_envelope(kind, body, action_id)
        return await self.harness.peer(self.member).request("pdu", "POST", ACTIONS, json=envelope)


class FaultyPdu:
    """The PDU's key sequencing an action that the honest admission would refuse."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness

    @property
    def sequencer(self) -> Sequencer:
        sequencer: Sequencer = self.harness.app("pdu").state.sequencer
        return sequencer

    async def sequence(self, insider: Insider, kind: str, body: Any) -> int:
        """Append the insider's signed action without admission, push it to every partner."""
        action = insider.action(kind, body)
        envelope = insider.envelope(action)
        sequencer = self.sequencer
        async with sequencer.replica.lock:
            entry = sequencer._entry(kind, {"action": action.statement(), "signature": envelope["signature"]})
            sequencer._append(SealedEntry(entry, (sequencer._own(entry),)))
        await self.harness.drain()
        return entry.seq


def replica(harness: Harness, node: str) -> NetworkReplica:
    held: NetworkReplica = harness.app(node).state.replica
    return held


def state_of(harness: Harness, node: str) -> NetworkState:
    return replica(harness, node).state


def heads(harness: Harness) -> set[tuple[int, str]]:
    """(size, head) of the network ledger at the PDU and every partner: one value when converged."""
    result = set()
    for node in ("pdu", *PARTNERS):
        head = harness.node(node).store.head(NETWORK_LEDGER)
        assert head is not None, node
        result.add((head.size, head.head_hash))
    return result
