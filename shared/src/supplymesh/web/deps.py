"""FastAPI dependencies shared by every node: the node, ERP clients, peer senders.

``ErpReader`` / ``ErpWriter`` / ``ErpAuditor`` authenticate ``Authorization: Bearer``
tokens of this node's ERP clients (401 with ``WWW-Authenticate`` when missing or unknown,
403 without the scope). ``PeerSender`` verifies an RFC 9421 signed peer request and
returns the sender's member id, refusing replays (see :mod:`supplymesh.node.nonces`).

Both take what :class:`~supplymesh.web.gate.AuthGateMiddleware` established from the
headers before the body was read; ``PeerSender`` then checks the body against the
signed ``Content-Digest``. Without the gate (an app not built by ``build_app``) they
authenticate the request themselves.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from supplymesh.errors import Forbidden, Unauthenticated
from supplymesh.node.context import Node
from supplymesh.node.erp_clients import ErpClient, Scope
from supplymesh.node.httpsig import RequestSignatureError, VerifiedRequest, check_digest
from supplymesh.web.gate import ERP_SCOPE_KEY, PEER_SCOPE_KEY, authenticate_erp, authenticate_peer

_bearer = HTTPBearer(auto_error=False, description="Bearer token of an ERP client of this node")


def get_node(request: Request) -> Node:
    """The node serving this request."""
    node: Node = request.app.state.node
    return node


NodeDep = Annotated[Node, Depends(get_node)]


def _erp_client(
    request: Request,
    node: NodeDep,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ErpClient:
    client = request.scope.get(ERP_SCOPE_KEY)
    if isinstance(client, ErpClient):
        return client
    return authenticate_erp(node, request.headers.get("authorization"))


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
    verified = request.scope.get(PEER_SCOPE_KEY)
    if not isinstance(verified, VerifiedRequest):
        verified = authenticate_peer(node, request.scope)
    try:
        check_digest(verified, await request.body())
    except RequestSignatureError as exc:
        raise Unauthenticated(f"peer request refused: {exc}") from exc
    return verified.sender


PeerSender = Annotated[str, Depends(_peer_sender)]
