"""A real signed peer write, captured on the wire, then replayed and tampered with.

The OEM's outbox submits a demand to the PDU as an RFC 9421 signed ``POST
/peer/v1/actions``. The test captures that request as it travels and sends it again:
as it was after its delivery (a replay); intercepted before delivery and delivered with
its body changed (keeping or recomputing the digest); and re-signed too long ago or in
the future, by an unknown key, or by another member's key under the author's name.
Each is refused with 401 problem+json and the PDU's database (its ledger and every
other table) is exactly as before. The request-signature profile
itself is unit-tested in ``tests/unit/test_httpsig.py`` and the gate on reads in
``tests/service/test_peer_api.py``; here the target is a write, end to end.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from supplymesh.core.crypto import Signer
from supplymesh.node.httpsig import RequestTarget, content_digest, sign_request, url_authority
from tests.flows import demand
from tests.harness import Harness
from tests.hostile.fuzz_net import changed_tables, fingerprint

pytestmark = [pytest.mark.anyio, pytest.mark.db]
ACTIONS = "/peer/v1/actions"
SIGNED = ("content-digest", "signature-input", "signature", "content-type")

Captured = tuple[dict[str, str], bytes]
Tamper = Callable[[Harness, dict[str, str], bytes], Captured]


async def _capture_a_demand_submission(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, *, deliver: bool
) -> Captured:
    """Submit a demand through oem-a and keep the signed request its outbox sent the PDU.

    Delivered, the PDU accepts it; intercepted, it never reaches the PDU (the sender
    sees a connection error and keeps it for a retry).
    """
    harness.start_all()
    seen: list[httpx.Request] = []
    answers: list[int] = []
    forward = harness.router.handle_async_request

    async def spy(request: httpx.Request) -> httpx.Response:
        if request.url.path != ACTIONS:
            return await forward(request)
        seen.append(request)
        if not deliver:
            raise httpx.ConnectError("intercepted", request=request)
        response = await forward(request)
        answers.append(response.status_code)
        return response

    monkeypatch.setattr(harness.router, "handle_async_request", spy)
    assert (await harness.erp("oem-a").post("/v1/demands", json=demand())).status_code == 202
    await harness.drain(rounds=1)
    assert seen, "the outbox sent no action"
    if deliver:
        assert answers[0] < 300, answers  # the genuine request was accepted
    original = seen[0]
    return {k: original.headers[k] for k in SIGNED}, original.content


def _resigned(harness: Harness, body: bytes, *, keyid: str, signer: Signer, created: int) -> dict[str, str]:
    target = RequestTarget("POST", url_authority(harness.config.member("pdu").url), ACTIONS, "")
    headers = sign_request(
        target, body, keyid=keyid, signer=signer, created=created, nonce=secrets.token_urlsafe(18)
    )
    return {**headers, "content-type": "application/json"}


def _other_body(body: bytes) -> bytes:
    action = json.loads(body)
    text = json.dumps(action)
    changed = text.replace('"quantity": 390', '"quantity": 391')
    assert changed != text, "the captured action carries the demand's quantity"
    return changed.encode()


def _replay(harness: Harness, headers: dict[str, str], body: bytes) -> Captured:
    return headers, body


def _body_changed(harness: Harness, headers: dict[str, str], body: bytes) -> Captured:
    return headers, _other_body(body)


def _body_and_digest_changed(harness: Harness, headers: dict[str, str], body: bytes) -> Captured:
    other = _other_body(body)
    return {**headers, "content-digest": content_digest(other)}, other


def _skew(harness: Harness) -> int:
    skew: int = harness.node("pdu").settings.peer_clock_skew_seconds
    return skew


def _expired(harness: Harness, headers: dict[str, str], body: bytes) -> Captured:
    created = int(time.time()) - _skew(harness) - 60
    return _resigned(harness, body, keyid="oem-a", signer=harness.node("oem-a").signer, created=created), body


def _future(harness: Harness, headers: dict[str, str], body: bytes) -> Captured:
    created = int(time.time()) + _skew(harness) + 60
    return _resigned(harness, body, keyid="oem-a", signer=harness.node("oem-a").signer, created=created), body


def _unknown_key(harness: Harness, headers: dict[str, str], body: bytes) -> Captured:
    outsider = Signer(Ed25519PrivateKey.generate())
    return _resigned(harness, body, keyid="mallory", signer=outsider, created=int(time.time())), body


def _another_members_key(harness: Harness, headers: dict[str, str], body: bytes) -> Captured:
    signer = harness.node("oem-b").signer  # a genuine key, under oem-a's name
    return _resigned(harness, body, keyid="oem-a", signer=signer, created=int(time.time())), body


@pytest.mark.parametrize(
    ("tamper", "deliver", "why"),
    [
        (_replay, True, "replayed"),
        (_body_changed, False, "does not match the body"),
        (_body_and_digest_changed, False, "does not verify"),
        (_expired, True, "±"),
        (_future, True, "±"),
        (_unknown_key, True, "unknown key id"),
        (_another_members_key, True, "does not verify"),
    ],
)
async def test_a_tampered_or_replayed_signed_write_is_401_and_changes_nothing(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, tamper: Tamper, deliver: bool, why: str
) -> None:
    headers, body = await _capture_a_demand_submission(harness, monkeypatch, deliver=deliver)
    before = fingerprint(harness.node("pdu").engine)
    sent_headers, sent_body = tamper(harness, headers, body)
    answer = await harness.anonymous("pdu").post(ACTIONS, content=sent_body, headers=sent_headers)
    assert answer.status_code == 401, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert why in answer.json()["detail"]
    assert changed_tables(before, fingerprint(harness.node("pdu").engine)) == []
