"""OpenAPI declarations of the routes every node shares (ledgers, events, channels, peers).

Examples follow the specification's worked example: oem-a's demand for 1000 × P-100
split between supplier-a (390 units) and supplier-b (400 units).
"""

from __future__ import annotations

from supplymesh.web.openapi_ops import Example, OperationDoc, Operations

CHANNEL = "channel:oem-a:supplier-a"

LIBRARY_TAGS: dict[str, str] = {
    "ledgers": "The signed, hash-chained ledgers this node holds (the network ledger, its channels), "
    "with RFC 9162 tree heads and inclusion and consistency proofs. Needs the `read` scope.",
    "events": "What happened on this node, as server-sent events (`demand.decided`, `order.allocated`, "
    "escrow and offer changes…): resume with `after` or `Last-Event-ID`. Needs the `read` scope.",
    "channels": "The private channel between one OEM and one supplier: entries endorsed by both, "
    "sealed under the channel key, readable in plaintext by its members only.",
    "peer": "Node-to-node routes: replication, quorum signatures, channel endorsement and the "
    "PDU's views. Called only by other members with RFC 9421 signed requests, never by an ERP "
    "system; listed so that an operator can see the whole surface of a node.",
    "health": "Liveness of the node, public (no token).",
}

_TERMS = Example(
    summary="Channel terms agreed between oem-a and supplier-a",
    value={
        "kind": "terms",
        "body": {"product": "P-100", "unit_price": {"amount": 1250, "currency": "EUR"}, "payment_days": 30},
    },
)
_MESSAGE = Example(
    summary="A message to the other member of the channel",
    value={"kind": "message", "body": {"text": "Lot of 390 × P-100 ships on Friday", "order": "o-1"}},
)

LIBRARY_OPERATIONS: Operations = {
    ("POST", "/v1/channels/{ledger}/entries"): OperationDoc(
        request={"terms": _TERMS, "message": _MESSAGE},
        responses={202: {"queued": Example(summary="The sequencer is away: queued", value={"queued": True})}},
        calls_peers=True,
    ),
    ("POST", "/v1/channels/{ledger}/keys"): OperationDoc(calls_peers=True),
    ("POST", "/peer/v1/network/proposals"): OperationDoc(calls_peers=True),
    ("POST", "/peer/v1/channels/{ledger}/proposals"): OperationDoc(calls_peers=True),
    ("POST", "/peer/v1/channels/{ledger}/countersign"): OperationDoc(calls_peers=True),
    # Reading past the end of a ledger (``after``, ``seq``, ``first`` or ``second`` over its size): 400.
    **{
        ("GET", f"{prefix}/ledgers/{{ledger}}/{route}"): OperationDoc(problems=frozenset({400}))
        for prefix in ("/v1", "/peer/v1")
        for route in ("entries", "proofs/inclusion", "proofs/consistency")
    },
}
