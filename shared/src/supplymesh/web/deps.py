"""FastAPI dependencies shared by every node: the node, ERP clients, peer senders.

``ErpReader`` / ``ErpWriter`` / ``ErpAuditor`` authenticate ``Authorization: Bearer``
tokens of this node's ERP clients (401 with ``WWW-Authenticate`` when missing or unknown,
403 without the scope). ``PeerSender`` verifies an RFC 9421 signed peer request and
returns the sender's member id, refusing replays (see :mod:`supplymesh.web.nonces`).
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from supplymesh.erp_clients import ErpClient, Scope
from supplymesh.errors import Forbidden, Unauthenticated
from supplymesh.httpsig import RequestSignatureError, RequestTarget, verify_request
from supplymesh.web.node import Node

_bearer = HTTPBearer(auto_error=False, description="Bearer token of an ERP client of this node")


def get_node(request: Request) -> Node:
    """The node serving this request."""
    node: Node = request.app.state.node
    return node


NodeDep = Annotated[Node, Depends(get_node)]


def _erp_client(
    node: NodeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ErpClient:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("this endpoint needs an ERP bearer token")
    client = node.erp.authenticate(credentials.credentials)
    if client is None:
        raise Unauthenticated("unknown bearer token")
    return client


def require_scope(scope: Scope) -> object:
    """A dependency that requires an ERP client holding ``scope``."""

    def dependency(client: Annotated[ErpClient, Depends(_erp_client)]) -> ErpClient:
        if scope not in client.scopes:
            raise Forbidden(f"ERP client {client.name!r} lacks the {scope!r} scope")
        return client

    return Depends(dependency)


ErpReader = Annotated[ErpClient, require_scope("read")]
ErpWriter = Annotated[ErpClient, require_scope("write")]
ErpAuditor = Annotated[ErpClient, require_scope("audit")]


async def _peer_sender(request: Request, node: NodeDep) -> str:
    body = await request.body()
    target = RequestTarget(
        method=request.method,
        authority=request.headers.get("host", ""),
        path=request.scope["path"],
        query=request.scope.get("query_string", b"").decode("latin-1"),
    )
    now = int(time.time())
    skew = node.settings.peer_clock_skew_seconds
    try:
        verified = verify_request(
            target, body, request.headers, keys=node.config.keys(), now=now, max_skew=skew
        )
    except RequestSignatureError as exc:
        raise Unauthenticated(f"peer request refused: {exc}") from exc
    if verified.sender == node.id:
        raise Forbidden("a node does not call itself")
    node.nonces.remember(verified.sender, verified.nonce, verified.created, now, skew)
    return verified.sender


PeerSender = Annotated[str, Depends(_peer_sender)]
