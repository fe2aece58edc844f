"""The one exception tree of SupplyMesh, grouped by whose fault it is.

::

    SupplyMeshError                       (500, server's fault unless below)
    ├── ClientError                       (4xx: the caller's request is wrong)
    │   ├── BadRequest                    400  malformed input, read past the end
    │   ├── Unauthenticated               401  no or unknown credentials
    │   ├── Forbidden                     403  known caller, not allowed
    │   ├── NotFound                      404
    │   ├── Conflict                      409  state does not allow it now
    │   ├── PayloadTooLarge               413
    │   └── Unprocessable                 422  well formed but invalid; idempotency-key reuse
    ├── PeerError                         (5xx: another node failed us)
    │   └── PeerUnavailable               503  a peer did not answer in time
    └── DatabaseUnavailable               503  the node's database cannot be written or reached now

Each class knows its problem type (a URI under ``https://supplymesh.dev/problems/``)
and its HTTP status; :mod:`supplymesh.web.problems` renders them as RFC 9457
``application/problem+json``. Adapters wrap foreign exceptions with ``raise … from``.
"""

from __future__ import annotations

from typing import ClassVar

PROBLEM_BASE = "https://supplymesh.dev/problems/"


class SupplyMeshError(Exception):
    """Base of every SupplyMesh error."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str, **extensions: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions

    @property
    def type_uri(self) -> str:
        """The problem type URI."""
        return PROBLEM_BASE + self.slug


class ClientError(SupplyMeshError):
    """The request is wrong; repeating it unchanged will fail again."""

    status = 400
    slug = "bad-request"
    title = "Bad request"


class BadRequest(ClientError):
    """Malformed input."""


class Unauthenticated(ClientError):
    """Missing or unknown credentials."""

    status = 401
    slug = "unauthenticated"
    title = "Authentication required"


class Forbidden(ClientError):
    """The caller is known but may not do this."""

    status = 403
    slug = "forbidden"
    title = "Forbidden"


class NotFound(ClientError):
    """No such resource."""

    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(ClientError):
    """The resource's state does not allow this now."""

    status = 409
    slug = "conflict"
    title = "Conflict"


class PayloadTooLarge(ClientError):
    """The body is over the node's limit."""

    status = 413
    slug = "payload-too-large"
    title = "Payload too large"


class Unprocessable(ClientError):
    """Well-formed input that fails validation, or an idempotency key reused."""

    status = 422
    slug = "unprocessable"
    title = "Unprocessable content"


class PeerError(SupplyMeshError):
    """Another node failed or answered wrongly."""

    status = 502
    slug = "peer-error"
    title = "Peer error"


class PeerUnavailable(PeerError):
    """A peer did not answer in time."""

    status = 503
    slug = "peer-unavailable"
    title = "Peer unavailable"


class DatabaseUnavailable(SupplyMeshError):
    """The node's own database refuses writes or cannot be reached now (full disk, dropped connection).

    Nothing of the request was stored: its transaction rolled back. Retrying later
    succeeds once the database is back; the node recovers by itself.
    """

    status = 503
    slug = "database-unavailable"
    title = "Database unavailable"
