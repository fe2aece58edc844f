"""A party action of this node, signed, sequenced by the PDU and awaited in the replica.

The OEM's deposits and acceptances and the supplier's production reports all take this
path: the node signs the statement with its own key (SPEC §2: party actions are signed by
their party), the PDU admits and sequences it (or refuses it with a problem), and the
call returns once the node's own replica holds the entry, so what it answers is readable
at once.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

from supplymesh.core.actions import Action, sign_action
from supplymesh.errors import Conflict, NotFound, PeerError, PeerUnavailable, Unprocessable
from supplymesh.network.replica import NetworkReplica

ACTIONS_PATH = "/peer/v1/actions"
RESUBMIT_SECONDS = 30.0
"""How long an action with an id of its own is sent again while the PDU cannot be reached."""


async def _sequence(replica: NetworkReplica, statement: dict[str, Any], *, patient: bool) -> httpx.Response:
    """The PDU's answer to ``statement``; ``patient``: asked again while the PDU cannot be reached.

    A PDU that dropped the request may have sequenced the action before it went down; an
    action with an id of its own is answered where it stands when it is sent again, so it
    is sent again (for up to :data:`RESUBMIT_SECONDS`) rather than failing a request
    whose effect may stand.
    """
    node = replica.node
    deadline = time.monotonic() + (RESUBMIT_SECONDS if patient else 0.0)
    delay = 0.5
    while True:
        try:
            return await node.peers.request(node.config.pdu.id, "POST", ACTIONS_PATH, json=statement)
        except PeerUnavailable:
            if time.monotonic() + delay > deadline:
                raise
            await asyncio.sleep(delay)
            delay = min(2 * delay, 4.0)


async def submit_action(replica: NetworkReplica, kind: str, action_id: str, body: dict[str, Any]) -> int:
    """Sign a party action as this node, have the PDU sequence it, wait for it; return its seq.

    ``action_id`` names the action for the PDU (a repeated one answers where it stands);
    empty draws a fresh one.

    Raises:
        PeerUnavailable: the PDU cannot be reached (for an action with an id of its own, for
            :data:`RESUBMIT_SECONDS`): it may have sequenced the action before it went down.
        NotFound / Conflict / Unprocessable: the PDU refused it (404, 409, 400 or 422), with its reason.
        PeerError: any other answer.
    """
    node = replica.node
    action = Action(
        kind=kind, party=node.id, id=action_id or uuid.uuid4().hex, time=node.now_text(), body=body
    )
    statement = {"action": action.statement(), "signature": sign_action(action, node.signer)}
    response = await _sequence(replica, statement, patient=bool(action_id))
    if response.status_code == 200:
        seq = int(response.json()["seq"])
        while replica.state.size < seq:
            await replica.sync()
        return seq
    detail = response.json().get("detail", response.text) if response.content else ""
    if response.status_code == 404:
        raise NotFound(f"the PDU refused: {detail}")
    if response.status_code == 409:
        raise Conflict(f"the PDU refused: {detail}")
    if response.status_code in (400, 422):
        raise Unprocessable(f"the PDU refused: {detail}")
    raise PeerError(f"the PDU answered HTTP {response.status_code}: {detail}")
