"""Fetching the holders' copies through the auditor's read-only peer access.

A pull never fails: whatever a holder answers, an unreachable holder or an answer of the
wrong shape is a finding naming it, and the copies pulled so far are kept. Given a copy
an earlier audit verified, only what follows it is fetched, once the holder's current
signed head is proven consistent with the verified one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from supplymesh.audit.checks import Copy
from supplymesh.core.crypto import SignatureError
from supplymesh.core.entry import EntryFormatError, check_name
from supplymesh.core.treehead import SignedTreeHead, verify_tree_head
from supplymesh.core.verify import Finding
from supplymesh.errors import PeerError
from supplymesh.node.context import Node
from supplymesh_auditor.proofs import Verified, consistent

log = logging.getLogger("supplymesh.auditor")
PAGE = 1000
MAX_TREE_SIZE = 2**53 - 1
"""A signed tree head beyond this size is malformed (no ledger reaches it; it fits every database)."""


class MalformedAnswer(ValueError):
    """A holder answered a read with something other than what the peer API serves."""


@dataclass
class HolderPull:
    """What one holder served."""

    copies: list[Copy] = field(default_factory=list)
    heads: list[tuple[str, SignedTreeHead]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    fetched: int = 0


async def pull_holder(node: Node, holder: str, verified: dict[str, Verified] | None = None) -> HolderPull:
    """Every ledger ``holder`` serves to the auditor, with its signed tree heads.

    With ``verified`` copies (incremental), only what follows them is fetched. Whatever the
    holder answers, this returns: an unreachable holder, or an answer of the wrong shape,
    is a finding, and the copies pulled so far are kept.
    """
    result = HolderPull()
    try:
        for ledger in _ledger_names(await node.peers.get_json(holder, "/peer/v1/ledgers")):
            result.copies.append(await _pull_copy(node, holder, ledger, (verified or {}).get(ledger), result))
    except PeerError as exc:
        result.findings.append(Finding("*", None, "unreachable", f"{holder}: {exc}"))
    except Exception as exc:  # anything a hostile holder can make a read raise becomes its finding
        log.info("audit: %s answered a read with something malformed: %r", holder, exc)
        detail = f"{holder}: its answer to a read was malformed ({type(exc).__name__})"
        result.findings.append(Finding("*", None, "malformed_answer", detail))
    for copy in result.copies:
        result.fetched += len(copy.items) + len(copy.recheck)
    return result


def _ledger_names(answer: object) -> list[str]:
    """Ledger names from a ``/peer/v1/ledgers`` answer.

    Raises:
        MalformedAnswer: if it is not a list of ``{"ledger": name}`` objects.
    """
    if not isinstance(answer, list):
        raise MalformedAnswer("the ledger list is not a list")
    names = []
    for info in answer:
        name = info.get("ledger") if isinstance(info, dict) else None
        try:
            names.append(check_name(name, "ledger") if isinstance(name, str) else "")
        except EntryFormatError:
            names.append("")
        if not names[-1]:
            raise MalformedAnswer("the ledger list names something that is not a ledger")
    return names


async def _pull_copy(
    node: Node, holder: str, ledger: str, known: Verified | None, result: HolderPull
) -> Copy:
    """One ledger of ``holder``: its signed head, and the entries after what ``known`` verified."""
    head = await node.peers.get_json(holder, f"/peer/v1/ledgers/{ledger}/head")
    copy = Copy(holder=holder, ledger=ledger, items=[])
    sth = _signed_head(node, holder, ledger, head, copy, result)
    if known is not None and sth is not None:
        await _continue_from(node, known, sth, copy)
    upto = sth.head.tree_size if sth else None
    copy.items = await _entries(node, holder, ledger, after=copy.offset, upto=upto)
    return copy


def _signed_head(
    node: Node, holder: str, ledger: str, head: object, copy: Copy, result: HolderPull
) -> SignedTreeHead | None:
    """The tree head ``holder`` signed for ``ledger`` from its answer ``head``; None (a finding) if not."""
    try:
        if not isinstance(head, dict):
            raise MalformedAnswer("the head answer is not an object")
        sth = SignedTreeHead.from_json(head["tree_head"])
        verify_tree_head(sth, node.config.member(holder).key)
        if sth.head.signer != holder or sth.head.ledger != ledger:
            raise SignatureError("tree head names another holder or ledger")
        if sth.head.tree_size > MAX_TREE_SIZE:
            raise MalformedAnswer(f"a tree head of size {sth.head.tree_size} is beyond any ledger")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        result.findings.append(Finding(ledger, None, "tree_head", f"{holder}: {type(exc).__name__}: {exc}"))
        return None
    result.heads.append((ledger, sth))
    copy.signed_size, copy.signed_root = sth.head.tree_size, sth.head.root_hash
    return sth


async def _continue_from(node: Node, known: Verified, sth: SignedTreeHead, copy: Copy) -> None:
    """Build ``copy`` on ``known`` if ``sth`` proves consistent with it, fetching what to re-check."""
    copy.proof_failed = await consistent(node, copy.holder, copy.ledger, known, sth)
    if copy.proof_failed is not None:
        return
    copy.offset = known.size
    copy.prev_hash = known.tree_head.head.head_hash
    copy.known_leaves = known.leaves
    copy.known_missing = set(known.missing_countersignatures)
    for first, count in _runs(known.missing_countersignatures):
        copy.recheck += await _entries(
            node, copy.holder, copy.ledger, after=first - 1, upto=first - 1 + count
        )


def _runs(seqs: Iterable[int]) -> list[tuple[int, int]]:
    """Contiguous runs ``(first, count)`` of sorted seqs, none longer than a page."""
    runs: list[tuple[int, int]] = []
    for seq in sorted(seqs):
        if runs and runs[-1][0] + runs[-1][1] == seq and runs[-1][1] < PAGE:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((seq, 1))
    return runs


async def _entries(node: Node, holder: str, ledger: str, *, after: int, upto: int | None) -> list[Any]:
    """Entries after seq ``after`` (up to seq ``upto`` when given), as served.

    Raises:
        MalformedAnswer: if a page is not a list.
    """
    items: list[Any] = []
    while upto is None or after + len(items) < upto:
        limit = PAGE if upto is None else min(PAGE, upto - after - len(items))
        page = await node.peers.get_json(
            holder, f"/peer/v1/ledgers/{ledger}/entries", after=after + len(items), limit=limit
        )
        if not isinstance(page, list):
            raise MalformedAnswer("a page of entries is not a list")
        items += page[:limit]
        if len(page) < limit:
            break
    return items
