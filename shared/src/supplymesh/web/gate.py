"""Authentication from the headers alone, before any request body is read or parsed.

FastAPI reads and parses a route's body before it runs the route's dependencies, so
checking credentials in a dependency would let anyone make a node buffer and parse up
to the body limit (16 MiB by default, ``SUPPLYMESH_MAX_BODY_BYTES``) first.
:class:`AuthGateMiddleware` sits in front of the application instead:

* ``/v1/…`` needs ``Authorization: Bearer`` with a token of one of this node's ERP
  clients; the scope (read, write, audit) is checked later by the route's dependency.
* ``/peer/v1/…`` needs an RFC 9421 signature (:mod:`supplymesh.node.httpsig`) by another
  member, for this node's own authority, fresh, with an unused nonce. The signature
  covers the ``Content-Digest`` header, so it is checked here without the body; the
  route's dependency then checks the body against that digest.

A request that fails is answered 401 (403 for a node calling itself) as problem+json
without a byte of its body being read. What the gate learnt is kept in the ASGI scope
for the dependencies of :mod:`supplymesh.web.deps`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from fastapi.security.utils import get_authorization_scheme_param
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from supplymesh.errors import Forbidden, SupplyMeshError, Unauthenticated
from supplymesh.node.context import Node
from supplymesh.node.erp_clients import ErpClient
from supplymesh.node.httpsig import (
    ClockSkewError,
    RequestSignatureError,
    RequestTarget,
    VerifiedRequest,
    url_authority,
    verify_signature,
)
from supplymesh.web.problems import error_response

PEER_PREFIX = "/peer/v1/"
ERP_PREFIX = "/v1/"
PEER_SCOPE_KEY = "supplymesh.peer"
"""ASGI scope key of the :class:`~supplymesh.node.httpsig.VerifiedRequest` of a peer request."""
ERP_SCOPE_KEY = "supplymesh.erp_client"
"""ASGI scope key of the authenticated :class:`~supplymesh.node.erp_clients.ErpClient`."""
log = logging.getLogger("supplymesh.peers")


class SkewedPeers:
    """Members whose genuine requests this node refuses for their clock: warned once, noted when back."""

    def __init__(self) -> None:
        self._refused: set[tuple[str, str]] = set()

    def refused(self, me: str, sender: str, exc: ClockSkewError) -> None:
        """Warn (once, until it is accepted again) that ``sender``'s clock is out of bounds."""
        if (me, sender) not in self._refused:
            self._refused.add((me, sender))
            log.warning("refusing %s's requests: clock skew, %s", sender, exc)

    def accepted(self, me: str, sender: str) -> None:
        """``sender``'s request was fresh: if it was refused for its clock, say it is back."""
        if (me, sender) in self._refused:
            self._refused.discard((me, sender))
            log.info("%s's clock is within the allowed skew again", sender)


SKEWED_PEERS = SkewedPeers()


def authenticate_erp(node: Node, authorization: str | None) -> ErpClient:
    """The ERP client of this node whose bearer token is in ``authorization``.

    Raises:
        Unauthenticated: if there is no bearer token or it is unknown.
    """
    scheme, token = get_authorization_scheme_param(authorization)
    if not authorization or scheme.lower() != "bearer" or not token:
        raise Unauthenticated("this endpoint needs an ERP bearer token")
    client = node.erp.authenticate(token)
    if client is None:
        raise Unauthenticated("unknown bearer token")
    return client


def authenticate_peer(node: Node, scope: Scope) -> VerifiedRequest:
    """Verify a peer request's signature headers (not yet its body) and use its nonce.

    The signed ``@authority`` must be this node's own, from its URL in the network
    config: whatever ``Host`` the request carries, a request signed for another node
    does not verify here.

    A request refused for its ``created`` time says by how much
    (``clock_skew_seconds``, ``allowed_clock_skew_seconds``); if its signature is genuine,
    the node also logs a warning naming the sender.

    Raises:
        Unauthenticated: a missing, malformed, stale, replayed or invalid signature.
        Forbidden: a request signed by this node itself.
    """
    target = RequestTarget(
        method=scope["method"],
        authority=url_authority(node.member.url),
        path=scope["path"],
        query=scope.get("query_string", b"").decode("latin-1"),
    )
    headers: Mapping[str, str] = Headers(scope=scope)
    now = int(time.time())
    skew = node.settings.peer_clock_skew_seconds
    try:
        verified = verify_signature(target, headers, keys=node.config.keys(), now=now, max_skew=skew)
    except ClockSkewError as exc:
        _note_skew(node, target, headers, exc)
        raise Unauthenticated(
            f"peer request refused: {exc}", clock_skew_seconds=exc.offset, allowed_clock_skew_seconds=skew
        ) from exc
    except RequestSignatureError as exc:
        raise Unauthenticated(f"peer request refused: {exc}") from exc
    if verified.sender == node.id:
        raise Forbidden("a node does not call itself")
    SKEWED_PEERS.accepted(node.id, verified.sender)
    node.nonces.remember(verified.sender, verified.nonce, verified.created, now, skew)
    return verified


def _note_skew(node: Node, target: RequestTarget, headers: Mapping[str, str], exc: ClockSkewError) -> None:
    """Log a skew refusal if the request is genuinely signed by a member (not anyone's forgery)."""
    try:
        genuine = verify_signature(target, headers, keys=node.config.keys(), now=0, max_skew=2**62)
    except RequestSignatureError:
        return
    SKEWED_PEERS.refused(node.id, genuine.sender, exc)


class AuthGateMiddleware:
    """Refuse unauthenticated ``/v1`` and ``/peer/v1`` requests before their body is read."""

    def __init__(self, app: ASGIApp, node: Node) -> None:
        self.app = app
        self.node = node

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Authenticate, then pass the request on; or answer the problem."""
        if scope["type"] == "http":
            path: str = scope["path"]
            try:
                if path.startswith(PEER_PREFIX):
                    scope[PEER_SCOPE_KEY] = authenticate_peer(self.node, scope)
                elif path.startswith(ERP_PREFIX):
                    authorization = Headers(scope=scope).get("authorization")
                    scope[ERP_SCOPE_KEY] = authenticate_erp(self.node, authorization)
            except SupplyMeshError as exc:
                await error_response(exc, path)(scope, receive, send)
                return
        await self.app(scope, receive, send)
