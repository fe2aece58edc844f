"""HTTP client for node-to-node calls, signing every request (see :mod:`supplymesh.node.httpsig`).

One ``httpx.AsyncClient`` per node, with keep-alive connections reused across peers,
as the performance notes advise. Transport failures become :class:`PeerUnavailable`;
problem responses from the peer become :class:`PeerError` carrying the peer's status
and detail.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Generator, Mapping
from typing import Any

import httpx

from supplymesh.config import NetworkConfig
from supplymesh.core.crypto import Signer
from supplymesh.errors import PeerError, PeerUnavailable
from supplymesh.node.httpsig import RequestTarget, sign_request, url_authority


class PeerSignatureAuth(httpx.Auth):
    """httpx auth flow that adds the RFC 9421 headers to each request."""

    requires_request_body = True

    def __init__(self, member_id: str, signer: Signer) -> None:
        self.member_id = member_id
        self.signer = signer

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign ``request`` for the authority of the peer's URL and send it once."""
        target = RequestTarget(
            method=request.method,
            authority=url_authority(str(request.url)),
            path=request.url.path,
            query=request.url.query.decode("ascii"),
        )
        request.headers.update(
            sign_request(
                target,
                request.content,
                keyid=self.member_id,
                signer=self.signer,
                created=int(time.time()),
                nonce=secrets.token_urlsafe(18),
            )
        )
        yield request


class PeerClient:
    """Signed calls from this node to other members."""

    def __init__(
        self,
        *,
        member_id: str,
        signer: Signer,
        config: NetworkConfig,
        timeout: float,
        mounts: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    ) -> None:
        self.member_id = member_id
        self.config = config
        self._client = httpx.AsyncClient(
            auth=PeerSignatureAuth(member_id, signer),
            timeout=timeout,
            mounts=dict(mounts) if mounts else None,
        )

    async def request(
        self,
        peer: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
    ) -> httpx.Response:
        """Send a signed request to member ``peer``.

        Raises:
            PeerUnavailable: if the peer cannot be reached or times out.
            PeerError: if the peer answers with a server error.
        """
        url = self.config.member(peer).url + path
        try:
            response = await self._client.request(method, url, json=json, params=params)
        except httpx.TransportError as exc:
            raise PeerUnavailable(f"{peer} did not answer: {type(exc).__name__}", peer=peer) from exc
        if response.status_code >= 500:
            raise PeerError(f"{peer} failed: HTTP {response.status_code}", peer=peer)
        return response

    async def get_json(self, peer: str, path: str, **params: str | int) -> Any:
        """GET a JSON document from ``peer``; 4xx answers raise :class:`PeerError`."""
        response = await self.request(peer, "GET", path, params=params or None)
        if response.status_code >= 400:
            raise PeerError(
                f"{peer} refused GET {path}: HTTP {response.status_code} {response.text[:200]}",
                peer=peer,
                peer_status=response.status_code,
            )
        return response.json()

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._client.aclose()
