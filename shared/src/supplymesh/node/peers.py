"""HTTP client for node-to-node calls, signing every request (see :mod:`supplymesh.node.httpsig`).

One ``httpx.AsyncClient`` per node, with keep-alive connections reused across peers,
as the performance notes advise. httpx's ``timeout`` bounds each connect, read and write,
not a whole call: a peer that answers a byte every few seconds would hold a call (and
whatever waits on it, such as an audit or a replica pull that holds the replica's lock)
for as long as it likes. So every call also has a deadline, :data:`DEADLINE_FACTOR` times
the timeout (30 s for the default 5 s). Transport failures and a missed deadline become
:class:`PeerUnavailable`;
problem responses from the peer become :class:`PeerError` carrying the peer's status
and detail.

The client remembers, per peer, whether its last request got an answer and when one
last did (:class:`PeerReach`), so ``/health`` can report reachability without calling
anyone. Each request is logged at DEBUG; a peer that stops answering is logged once as
a WARNING, and once at INFO when it answers again. Once the node itself is stopping
(:meth:`PeerClient.stopping`), peers that stop with it are noted at DEBUG only: a whole
network being stopped is not a peer failing.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from supplymesh.config import NetworkConfig
from supplymesh.core.crypto import Signer
from supplymesh.core.entry import format_time
from supplymesh.errors import PeerError, PeerUnavailable
from supplymesh.node.httpsig import RequestTarget, sign_request, url_authority

log = logging.getLogger("supplymesh.peers")
DEADLINE_FACTOR = 6
"""A whole peer call (connect, send, every read of the answer) ends within this many timeouts."""


@dataclass(frozen=True, slots=True)
class PeerReach:
    """What this node last saw of one peer: answering or not, and when it last answered."""

    reachable: bool
    last_seen: str | None
    """UTC time of the peer's last answer (ledger time format), None if it never answered."""


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
        self.deadline = DEADLINE_FACTOR * timeout
        self._client = httpx.AsyncClient(
            auth=PeerSignatureAuth(member_id, signer),
            timeout=timeout,
            mounts=dict(mounts) if mounts else None,
        )
        self._reach: dict[str, PeerReach] = {}
        self._answered_at: dict[str, float] = {}
        self._stopping = False

    def stopping(self) -> None:
        """This node is shutting down: from now on a peer that does not answer is not a warning."""
        self._stopping = True

    def reachability(self) -> dict[str, PeerReach]:
        """Per peer called so far: whether its last request got an answer, and its last answer's time."""
        return dict(self._reach)

    def _answered(self, peer: str) -> None:
        before = self._reach.get(peer)
        if before is not None and not before.reachable:
            log.info("%s answers again", peer)
        self._reach[peer] = PeerReach(reachable=True, last_seen=format_time(datetime.now(UTC)))
        self._answered_at[peer] = time.monotonic()

    def _failed(self, peer: str, exc: Exception, sent: float) -> None:
        if self._answered_at.get(peer, float("-inf")) > sent:
            return  # sent before its latest answer: it answers now, this call was only overtaken
        before = self._reach.get(peer)
        if (before is None or before.reachable) and not self._stopping:
            log.warning("%s is not answering (%s)", peer, type(exc).__name__)
        self._reach[peer] = PeerReach(reachable=False, last_seen=before.last_seen if before else None)

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
            PeerUnavailable: if the peer cannot be reached, times out or misses the deadline.
            PeerError: if the peer answers with a server error.
        """
        url = self.config.member(peer).url + path
        sent = time.monotonic()
        try:
            async with asyncio.timeout(self.deadline):
                response = await self._client.request(method, url, json=json, params=params)
        except (httpx.TransportError, TimeoutError) as exc:
            log.debug("%s %s %s: no answer (%s)", peer, method, path, type(exc).__name__)
            self._failed(peer, exc, sent)
            raise PeerUnavailable(f"{peer} did not answer: {type(exc).__name__}", peer=peer) from exc
        log.debug("%s %s %s: %d", peer, method, path, response.status_code)
        self._answered(peer)
        if response.status_code == 503:  # e.g. its database is down: nothing done there, retry later
            raise PeerUnavailable(f"{peer} is unavailable: HTTP 503", peer=peer)
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
