"""The ledger read API, served to the node's ERP clients (``/v1``) and to peers (``/peer/v1``).

Endpoints per ledger: entries (paginated by seq), head (with a tree head signed by this
node), RFC 9162 inclusion and consistency proofs. ERP clients of the node read every
ledger it holds; peers read what :func:`supplymesh.node.access.peer_may_read` allows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel

from supplymesh.core import merkle
from supplymesh.core.treehead import TreeHead, sign_tree_head
from supplymesh.errors import BadRequest, Forbidden, NotFound
from supplymesh.node.access import peer_may_read
from supplymesh.node.context import Node
from supplymesh.storage.entry_records import late_signatures_of
from supplymesh.storage.ledger_store import Head, StoredEntry
from supplymesh.web.deps import ErpReader, NodeDep, PeerSender
from supplymesh.web.pagination import DEFAULT_LIMIT, Limit, cursor_query, json_page_response

LedgerName = Annotated[
    str,
    Path(
        pattern=r"^[a-z0-9][a-z0-9._:-]{0,127}$",
        description="Ledger name, e.g. network or channel:oem-a:supplier-a",
    ),
]


class LedgerInfo(BaseModel):
    """A ledger this node holds."""

    ledger: str
    size: int
    head_hash: str


class SignatureOut(BaseModel):
    """A signature over an entry hash."""

    signer: str
    sig: str


class EntryOut(BaseModel):
    """An entry with its hash and signatures.

    ``signatures`` are those it was appended with (part of its Merkle leaf);
    ``late_signatures`` are countersignatures that arrived later (not part of the leaf).
    """

    entry: dict[str, Any]
    hash: str
    signatures: list[SignatureOut]
    late_signatures: list[SignatureOut] = []


class TreeHeadOut(BaseModel):
    """A tree head signed by the serving node."""

    type: str
    ledger: str
    tree_size: int
    root_hash: str
    head_hash: str
    timestamp: str
    signer: str
    signature: str


class HeadOut(BaseModel):
    """A ledger's head and the serving node's signed tree head."""

    ledger: str
    size: int
    head_hash: str
    root_hash: str
    tree_head: TreeHeadOut


class InclusionProofOut(BaseModel):
    """RFC 9162 inclusion proof of entry ``seq`` (leaf index seq - 1) in a tree of ``tree_size``."""

    ledger: str
    seq: int
    leaf_index: int
    tree_size: int
    leaf_hash: str
    root_hash: str
    audit_path: list[str]


class ConsistencyProofOut(BaseModel):
    """RFC 9162 consistency proof between tree sizes ``first`` and ``second``."""

    ledger: str
    first: int
    second: int
    first_root: str
    second_root: str
    proof: list[str]


def _head(node: Node, ledger: str) -> Head:
    head = node.store.head(ledger)
    if head is None:
        raise NotFound(f"this node holds no ledger {ledger!r}")
    return head


def _entry_json(row: StoredEntry) -> dict[str, Any]:
    return {"entry": json.loads(row.entry), "hash": row.hash, "signatures": json.loads(row.signatures)}


def _list_ledgers(node: Node, readable: Callable[[str], bool]) -> list[LedgerInfo]:
    return [
        LedgerInfo(ledger=h.ledger, size=h.size, head_hash=h.head_hash)
        for h in node.store.heads()
        if readable(h.ledger)
    ]


def _entries(request: Request, node: Node, ledger: str, after: int, limit: int) -> Response:
    head = _head(node, ledger)
    if after > head.size:
        raise BadRequest(f"after={after} is past the end of {ledger} (size {head.size})", size=head.size)
    rows = node.store.entries(ledger, after=after, limit=limit + 1)
    late = late_signatures_of(node.engine, ledger, [r.seq for r in rows[:limit]])

    def render(row: StoredEntry) -> dict[str, Any]:
        return {**_entry_json(row), "late_signatures": late.get(row.seq, [])}

    return json_page_response(request, rows, limit=limit, cursor=lambda r: r.seq, render=render)


def _head_out(node: Node, ledger: str) -> HeadOut:
    head = _head(node, ledger)
    root = node.trees.root(ledger, head.size).hex()
    sth = sign_tree_head(
        TreeHead(
            ledger=ledger,
            tree_size=head.size,
            root_hash=root,
            head_hash=head.head_hash,
            timestamp=node.now_text(),
            signer=node.id,
        ),
        node.signer,
    )
    return HeadOut(
        ledger=ledger,
        size=head.size,
        head_hash=head.head_hash,
        root_hash=root,
        tree_head=TreeHeadOut.model_validate(sth.as_json()),
    )


def _inclusion(node: Node, ledger: str, seq: int, size: int | None) -> InclusionProofOut:
    head = _head(node, ledger)
    tree_size = head.size if size is None else size
    if not 1 <= seq <= tree_size <= head.size:
        raise BadRequest(f"need 1 ≤ seq ≤ size ≤ {head.size}; got seq={seq}, size={tree_size}")
    leaves = node.trees.leaves(ledger, tree_size)
    path = merkle.inclusion_proof(leaves, seq - 1, tree_size)
    return InclusionProofOut(
        ledger=ledger,
        seq=seq,
        leaf_index=seq - 1,
        tree_size=tree_size,
        leaf_hash=leaves[seq - 1].hex(),
        root_hash=node.trees.root(ledger, tree_size).hex(),
        audit_path=[p.hex() for p in path],
    )


def _consistency(node: Node, ledger: str, first: int, second: int | None) -> ConsistencyProofOut:
    head = _head(node, ledger)
    second_size = head.size if second is None else second
    if not 1 <= first <= second_size <= head.size:
        raise BadRequest(f"need 1 ≤ first ≤ second ≤ {head.size}; got first={first}, second={second_size}")
    leaves = node.trees.leaves(ledger, second_size)
    proof = merkle.consistency_proof(leaves, first, second_size)
    return ConsistencyProofOut(
        ledger=ledger,
        first=first,
        second=second_size,
        first_root=node.trees.root(ledger, first).hex(),
        second_root=node.trees.root(ledger, second_size).hex(),
        proof=[p.hex() for p in proof],
    )


After = Annotated[int, cursor_query("Cursor: the `seq` of the last entry you have; entries after it")]
Seq = Annotated[int, cursor_query("Seq of an entry (from 1)", ge=1)]
OptSize = Annotated[int | None, cursor_query("Tree size (default: current)", ge=1)]


def erp_ledger_router() -> APIRouter:
    """``/v1/ledgers…`` for the node's own ERP clients."""
    router = APIRouter(prefix="/v1/ledgers", tags=["ledgers"])

    @router.get("", response_model=list[LedgerInfo], summary="Ledgers this node holds")
    def list_ledgers(node: NodeDep, _client: ErpReader) -> list[LedgerInfo]:
        return _list_ledgers(node, lambda _name: True)

    @router.get("/{ledger}/entries", response_model=list[EntryOut], summary="Entries, in seq order")
    def entries(
        request: Request,
        node: NodeDep,
        _client: ErpReader,
        ledger: LedgerName,
        after: After = 0,
        limit: Limit = DEFAULT_LIMIT,
    ) -> Response:
        return _entries(request, node, ledger, after, limit)

    @router.get("/{ledger}/head", summary="Head and signed tree head")
    def head(node: NodeDep, _client: ErpReader, ledger: LedgerName) -> HeadOut:
        return _head_out(node, ledger)

    @router.get("/{ledger}/proofs/inclusion", summary="RFC 9162 inclusion proof")
    def inclusion(
        node: NodeDep, _client: ErpReader, ledger: LedgerName, seq: Seq, size: OptSize = None
    ) -> InclusionProofOut:
        return _inclusion(node, ledger, seq, size)

    @router.get("/{ledger}/proofs/consistency", summary="RFC 9162 consistency proof")
    def consistency(
        node: NodeDep, _client: ErpReader, ledger: LedgerName, first: Seq, second: OptSize = None
    ) -> ConsistencyProofOut:
        return _consistency(node, ledger, first, second)

    return router


def _allow(node: Node, sender: str, ledger: str) -> None:
    """Refuse a member that may not read ``ledger`` (403)."""
    if not peer_may_read(node.config, sender, ledger):
        raise Forbidden(f"{sender} may not read {ledger}")


def peer_ledger_router() -> APIRouter:
    """``/peer/v1/ledgers…`` for other members, by signed request."""
    router = APIRouter(prefix="/peer/v1/ledgers", tags=["peer"])

    @router.get("", response_model=list[LedgerInfo], summary="Ledgers the calling member may read here")
    def list_ledgers(node: NodeDep, sender: PeerSender) -> list[LedgerInfo]:
        return _list_ledgers(node, lambda name: peer_may_read(node.config, sender, name))

    @router.get("/{ledger}/entries", response_model=list[EntryOut])
    def entries(
        request: Request,
        node: NodeDep,
        sender: PeerSender,
        ledger: LedgerName,
        after: After = 0,
        limit: Limit = DEFAULT_LIMIT,
    ) -> Response:
        _allow(node, sender, ledger)
        return _entries(request, node, ledger, after, limit)

    @router.get("/{ledger}/head")
    def head(node: NodeDep, sender: PeerSender, ledger: LedgerName) -> HeadOut:
        _allow(node, sender, ledger)
        return _head_out(node, ledger)

    @router.get("/{ledger}/proofs/inclusion")
    def inclusion(
        node: NodeDep, sender: PeerSender, ledger: LedgerName, seq: Seq, size: OptSize = None
    ) -> InclusionProofOut:
        _allow(node, sender, ledger)
        return _inclusion(node, ledger, seq, size)

    @router.get("/{ledger}/proofs/consistency")
    def consistency(
        node: NodeDep, sender: PeerSender, ledger: LedgerName, first: Seq, second: OptSize = None
    ) -> ConsistencyProofOut:
        _allow(node, sender, ledger)
        return _consistency(node, ledger, first, second)

    return router
