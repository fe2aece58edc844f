"""Sections of a node's OpenAPI document: the ERP API apart from the node-to-node API.

Both live in one document per node (what ``/docs`` shows is the node's whole surface),
in separate, described tags and two tag groups (``x-tagGroups``, ReDoc's sidebar
sections): *ERP API* for the partners' ERP systems, *Node to node (internal)* for the
``/peer/v1/`` routes, which only other members call, signed under RFC 9421
(:mod:`supplymesh.node.httpsig`), never an ERP system with a bearer token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PEER_TAG = "peer"
HEALTH_TAG = "health"
PEER_SCHEME = "peerSignature"
ERP_GROUP = "ERP API"
PEER_GROUP = "Node to node (internal)"
OPERATIONS_GROUP = "Operations"

PEER_NOTE = (
    "**Node to node — not for ERP systems.** Called only by another member of the network, "
    "with an RFC 9421 HTTP Message Signature by that member's Ed25519 key "
    '(`Signature-Input: sm=("@method" "@authority" "@path" "@query" "content-digest")'
    ';created=…;nonce=…;keyid="<member-id>";alg="ed25519"`, `Signature`, and an RFC 9530 '
    "`Content-Digest` of the body). Stale, replayed or unsigned requests are refused with 401."
)

PEER_SECURITY: dict[str, Any] = {
    PEER_SCHEME: {
        "type": "apiKey",
        "in": "header",
        "name": "Signature",
        "description": "RFC 9421 HTTP Message Signature of a network member (with `Signature-Input` "
        "and `Content-Digest`); see the description of the peer routes. Not an ERP credential.",
    }
}


def mark_peer_operation(operation: dict[str, Any]) -> None:
    """Say on a ``/peer/v1/`` operation that it is node to node and how it is signed."""
    description = operation.get("description", "")
    operation["description"] = f"{PEER_NOTE}\n\n{description}".rstrip()
    operation["security"] = [{PEER_SCHEME: []}]
    operation["tags"] = [PEER_TAG]


def finish_tags(schema: dict[str, Any], descriptions: Mapping[str, str]) -> None:
    """Describe every tag used in ``schema`` and group the tags into sections."""
    used: list[str] = []
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            used += [t for t in operation.get("tags", []) if t not in used]
    erp = [t for t in descriptions if t in used and t not in (PEER_TAG, HEALTH_TAG)]
    erp += sorted(t for t in used if t not in erp and t not in (PEER_TAG, HEALTH_TAG))
    groups = [(ERP_GROUP, erp), (PEER_GROUP, [PEER_TAG]), (OPERATIONS_GROUP, [HEALTH_TAG])]
    groups = [(name, [t for t in tags if t in used]) for name, tags in groups]
    schema["tags"] = [
        {"name": tag, "description": descriptions.get(tag, ""), "x-displayName": _display(tag)}
        for _, tags in groups
        for tag in tags
    ]
    schema["x-tagGroups"] = [{"name": name, "tags": tags} for name, tags in groups if tags]


def _display(tag: str) -> str:
    return "Node to node" if tag == PEER_TAG else tag.replace("-", " ").capitalize()
