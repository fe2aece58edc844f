"""Node-to-node request signatures: a profile of RFC 9421 HTTP Message Signatures.

Every peer request carries

* ``Content-Digest: sha-256=:<base64>:`` (RFC 9530) over the body (empty body too);
* ``Signature-Input: sm=("@method" "@authority" "@path" "@query" "content-digest")``
  ``;created=<unix>;nonce="<random>";keyid="<member-id>";alg="ed25519"`` (one line);
* ``Signature: sm=:<base64 Ed25519 signature over the RFC 9421 signature base>:``.

``keyid`` is the sender's member id; the receiver takes the key from the network config.
Replay protection: ``created`` must be within the allowed clock skew of the receiver's
clock and each ``(keyid, nonce)`` is accepted once (the receiver remembers nonces for
the skew window). Binding ``@authority`` stops a request signed for one node being
replayed to another: the sender signs the authority of the receiver's URL in the
network config, and the receiver checks the signature against the authority of its
*own* URL there (:func:`url_authority`), never against the request's ``Host``. Only this
exact profile is accepted; anything else is refused.

The signature covers the ``Content-Digest`` header, not the body itself, so a receiver
verifies the signature from the headers alone (:func:`verify_signature`) before it reads
the body, and only then checks that the body matches the signed digest
(:func:`check_digest`); :func:`verify_request` does both.

Pure: no I/O, no clock (``now`` is passed in), no randomness (``nonce`` is passed in).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from supplymesh.core.crypto import PublicKey, SignatureError, Signer

LABEL = "sm"
COMPONENTS = ("@method", "@authority", "@path", "@query", "content-digest")
_COMPONENT_LIST = "(" + " ".join(f'"{c}"' for c in COMPONENTS) + ")"
_INPUT_RE = re.compile(
    rf"^{LABEL}="
    + re.escape(_COMPONENT_LIST)
    + r';created=(\d{1,12});nonce="([A-Za-z0-9_-]{16,128})";keyid="([a-z0-9-]{1,63})";alg="ed25519"$'
)
_SIG_RE = re.compile(rf"^{LABEL}=:([A-Za-z0-9+/]+={{0,2}}):$")
_DIGEST_RE = re.compile(r"^sha-256=:([A-Za-z0-9+/]+={0,2}):$")


class RequestSignatureError(ValueError):
    """A peer request's signature headers are missing, malformed, stale or invalid."""


class ClockSkewError(RequestSignatureError):
    """A peer request signed at a ``created`` time outside the allowed skew of the receiver's clock."""

    def __init__(self, created: int, now: int, max_skew: int) -> None:
        self.offset = created - now
        """Seconds the sender's clock is ahead of the receiver's (negative: behind)."""
        self.max_skew = max_skew
        direction = "ahead of" if self.offset > 0 else "behind"
        super().__init__(
            f"signature created {abs(self.offset)} s {direction} this node's clock: outside the "
            f"allowed clock skew of ±{max_skew} s (check the sender's clock)"
        )


def content_digest(body: bytes) -> str:
    """RFC 9530 ``Content-Digest`` value for ``body``."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


_DEFAULT_PORTS = {"http": 80, "https": 443}


def url_authority(url: str) -> str:
    """The RFC 9421 ``@authority`` of ``url``: lower-case host, port unless the default.

    Raises:
        ValueError: if ``url`` has no host or a malformed port.
    """
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        raise ValueError(f"no host in {url!r}")
    port = parts.port
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS.get(parts.scheme.lower()):
        return host
    return f"{host}:{port}"


def _params(created: int, nonce: str, keyid: str) -> str:
    return f'{_COMPONENT_LIST};created={created};nonce="{nonce}";keyid="{keyid}";alg="ed25519"'


@dataclass(frozen=True, slots=True)
class RequestTarget:
    """The parts of a request that the signature covers."""

    method: str
    authority: str
    path: str
    query: str

    def base(self, digest: str, params: str) -> bytes:
        """The RFC 9421 §2.5 signature base."""
        lines = [
            f'"@method": {self.method.upper()}',
            f'"@authority": {self.authority.lower()}',
            f'"@path": {self.path or "/"}',
            f'"@query": ?{self.query}',
            f'"content-digest": {digest}',
            f'"@signature-params": {params}',
        ]
        return "\n".join(lines).encode()


def sign_request(
    target: RequestTarget, body: bytes, *, keyid: str, signer: Signer, created: int, nonce: str
) -> dict[str, str]:
    """The three headers that sign ``target`` with ``body``."""
    digest = content_digest(body)
    params = _params(created, nonce, keyid)
    signature = signer.sign(target.base(digest, params))
    return {
        "Content-Digest": digest,
        "Signature-Input": f"{LABEL}={params}",
        "Signature": f"{LABEL}=:{base64.b64encode(signature).decode()}:",
    }


@dataclass(frozen=True, slots=True)
class VerifiedRequest:
    """Who sent a verified request, its replay-protection values and the signed digest."""

    sender: str
    nonce: str
    created: int
    digest: str


def check_digest(verified: VerifiedRequest, body: bytes) -> None:
    """Check that ``body`` is the body whose digest ``verified`` was signed over.

    Raises:
        RequestSignatureError: if it is not.
    """
    if verified.digest != content_digest(body):
        raise RequestSignatureError("Content-Digest does not match the body")


def verify_request(
    target: RequestTarget,
    body: bytes,
    headers: Mapping[str, str],
    *,
    keys: Mapping[str, PublicKey],
    now: int,
    max_skew: int,
) -> VerifiedRequest:
    """Verify a peer request's signature headers and its body.

    Raises:
        RequestSignatureError: naming what is wrong.
    """
    verified = verify_signature(target, headers, keys=keys, now=now, max_skew=max_skew)
    check_digest(verified, body)
    return verified


def verify_signature(
    target: RequestTarget,
    headers: Mapping[str, str],
    *,
    keys: Mapping[str, PublicKey],
    now: int,
    max_skew: int,
) -> VerifiedRequest:
    """Verify a peer request's signature from its headers alone (the body is not needed).

    The signature covers the ``Content-Digest`` header; call :func:`check_digest` with
    the body once it is read.

    Raises:
        RequestSignatureError: naming what is wrong.
    """
    sig_input, sig, digest = (headers.get(h) for h in ("signature-input", "signature", "content-digest"))
    if not sig_input or not sig or not digest:
        raise RequestSignatureError("missing Signature-Input, Signature or Content-Digest")
    match = _INPUT_RE.match(sig_input)
    if not match:
        raise RequestSignatureError("Signature-Input is not the SupplyMesh RFC 9421 profile")
    created, nonce, keyid = int(match[1]), match[2], match[3]
    if abs(now - created) > max_skew:
        raise ClockSkewError(created, now, max_skew)
    if not _DIGEST_RE.match(digest):
        raise RequestSignatureError("Content-Digest is not a sha-256 digest")
    key = keys.get(keyid)
    if key is None:
        raise RequestSignatureError(f"unknown key id {keyid!r}")
    sig_match = _SIG_RE.match(sig)
    if not sig_match:
        raise RequestSignatureError("Signature header is malformed")
    try:
        key.verify(
            base64.b64decode(sig_match[1], validate=True), target.base(digest, _params(created, nonce, keyid))
        )
    except (SignatureError, ValueError) as exc:
        raise RequestSignatureError(f"signature of {keyid} does not verify") from exc
    return VerifiedRequest(sender=keyid, nonce=nonce, created=created, digest=digest)
