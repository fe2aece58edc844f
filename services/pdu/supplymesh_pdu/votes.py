"""One partner's vote on a proposal, and whether a decision can be proposed at all.

A vote is a signature, or a :class:`Refused` that says whether the partner answered:
only a proposal every partner refused outright may be dropped, since a partner that did
not answer in time may hold a signature of it (see
:meth:`supplymesh_pdu.rounds.QuorumRounds._round`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from supplymesh.core.canonical import CanonicalizationError, canonicalize
from supplymesh.core.entry import Entry, Signature
from supplymesh.core.vocabulary.decisions import check_result
from supplymesh.core.vocabulary.values import MessageError
from supplymesh.errors import PeerError
from supplymesh.node import crashpoints
from supplymesh.node.context import Node

PROPOSALS_PATH = "/peer/v1/network/proposals"
BLOCKS_PATH = "/peer/v1/network/blocks"


@dataclass(frozen=True, slots=True)
class Refused:
    """A partner's answer that is not a signature; ``answered`` if it refused outright.

    ``index`` names the entry of a block that broke a rule, when the partner said which.
    """

    reason: str
    answered: bool
    index: int | None = None


async def ask_partner(
    node: Node,
    partner: str,
    entry: Entry,
    own: Signature,
    *,
    timeout: float,
    before: Sequence[dict[str, Any]] = (),
) -> Signature | Refused:
    """Offer ``entry`` (signed by the PDU) to ``partner``; its signature or why not."""
    body: dict[str, Any] = {"entry": entry.as_json(), "signatures": [own.as_json()]}
    answer = await _offer(node, partner, PROPOSALS_PATH, body, before, timeout=timeout)
    return answer if isinstance(answer, Refused) else Signature(partner, str(answer.get("sig", "")))


async def ask_block(
    node: Node,
    partner: str,
    block: Sequence[tuple[Entry, Signature]],
    *,
    timeout: float,
    before: Sequence[dict[str, Any]] = (),
) -> list[Signature] | Refused:
    """Offer ``block`` (entries signed by the PDU) to ``partner``: its signature of each, or why not.

    A block of one is offered as a single proposal. ``before``: committed entries the
    partner lacks before the block, carried so that it need not pull them.
    """
    if len(block) == 1:
        vote = await ask_partner(node, partner, block[0][0], block[0][1], timeout=timeout, before=before)
        if isinstance(vote, Signature):
            crashpoints.reached("pdu.vote.received", block[0][0].kind)
        return [vote] if isinstance(vote, Signature) else Refused(vote.reason, vote.answered, 0)
    body = {"entries": [{"entry": e.as_json(), "signatures": [own.as_json()]} for e, own in block]}
    answer = await _offer(node, partner, BLOCKS_PATH, body, before, timeout=timeout)
    if isinstance(answer, Refused):
        return answer
    sigs = answer.get("sigs")
    if not isinstance(sigs, list) or len(sigs) != len(block):
        return Refused(f"{partner}: not one signature per entry", answered=False)
    crashpoints.reached("pdu.vote.received", *(e.kind for e, _ in block))
    return [Signature(partner, str(sig)) for sig in sigs]


async def _offer(
    node: Node,
    partner: str,
    path: str,
    body: dict[str, Any],
    before: Sequence[dict[str, Any]],
    *,
    timeout: float,
) -> dict[str, Any] | Refused:
    """Post a proposal (with the entries carried ``before`` it); the partner's answer or why not.

    A refusal says whether the partner answered, and which entry of a block it named.
    """
    if before:
        body = {**body, "before": list(before)}
    try:
        response = await asyncio.wait_for(
            node.peers.request(partner, "POST", path, json=body), timeout=timeout
        )
    except (PeerError, TimeoutError) as exc:
        return Refused(f"{partner}: no answer ({type(exc).__name__})", answered=False)
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code != 200 or not isinstance(answer, dict):
        detail = answer.get("detail", "") if isinstance(answer, dict) else response.text[:300]
        index = answer.get("index") if isinstance(answer, dict) else None
        answered = 400 <= response.status_code < 500
        return Refused(f"{partner}: {detail}", answered, index if isinstance(index, int) else None)
    return answer


def unbuildable(kind: str, inputs: dict[str, Any], result: dict[str, Any]) -> str | None:
    """Why a decision with these inputs and result cannot be a network entry (None: it can)."""
    try:
        check_result(kind, result)
        canonicalize({"inputs": inputs, "result": result})
    except (MessageError, CanonicalizationError) as exc:
        return str(exc)[:1000]
    return None
