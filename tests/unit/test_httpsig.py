"""Tests for supplymesh.node.httpsig: the RFC 9421 request-signature profile."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace

import pytest

from supplymesh.node.httpsig import (
    RequestSignatureError,
    RequestTarget,
    VerifiedRequest,
    check_digest,
    content_digest,
    sign_request,
    url_authority,
    verify_request,
    verify_signature,
)
from tests.unit.ledger_fixtures import OEM, OUTSIDER, SUPPLIER, keys_for, signer_for

TARGET = RequestTarget(
    method="POST",
    authority="oem-b.example:8443",
    path="/v1/channels/channel:oem-b:supplier-a/entries",
    query="since=3&limit=10",
)
BODY = b'{"kind":"order","qty":5}'
NOW = 1_800_000_000
NONCE = "nonce_0123456789-abcdef"
MAX_SKEW = 300
KEYS = keys_for(SUPPLIER, OEM)


def signed_headers(
    target: RequestTarget = TARGET,
    body: bytes = BODY,
    *,
    keyid: str = SUPPLIER,
    signer_name: str = SUPPLIER,
    created: int = NOW,
    nonce: str = NONCE,
) -> dict[str, str]:
    """Headers as sign_request makes them, with lowercase names as a server looks them up."""
    headers = sign_request(
        target, body, keyid=keyid, signer=signer_for(signer_name), created=created, nonce=nonce
    )
    return {name.lower(): value for name, value in headers.items()}


def verify(
    headers: dict[str, str],
    target: RequestTarget = TARGET,
    body: bytes = BODY,
    *,
    now: int = NOW,
) -> VerifiedRequest:
    return verify_request(target, body, headers, keys=KEYS, now=now, max_skew=MAX_SKEW)


# --- accepted -------------------------------------------------------------------


def test_signed_request_verifies_and_names_the_sender() -> None:
    result = verify(signed_headers())
    assert result == VerifiedRequest(sender=SUPPLIER, nonce=NONCE, created=NOW, digest=content_digest(BODY))


def test_sign_request_produces_the_three_profile_headers() -> None:
    headers = sign_request(
        TARGET, BODY, keyid=SUPPLIER, signer=signer_for(SUPPLIER), created=NOW, nonce=NONCE
    )
    assert set(headers) == {"Content-Digest", "Signature-Input", "Signature"}
    assert (
        headers["Content-Digest"]
        == "sha-256=:" + base64.b64encode(hashlib.sha256(BODY).digest()).decode() + ":"
    )
    assert headers["Signature-Input"] == (
        'sm=("@method" "@authority" "@path" "@query" "content-digest");'
        f'created={NOW};nonce="{NONCE}";keyid="{SUPPLIER}";alg="ed25519"'
    )
    assert headers["Signature"].startswith("sm=:")
    assert headers["Signature"].endswith(":")


def test_content_digest_of_empty_body_is_sha256_of_nothing() -> None:
    empty_sha256 = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert base64.b64encode(empty_sha256) == b"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    assert content_digest(b"") == "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"


def test_signed_get_with_empty_body_and_no_query_verifies() -> None:
    target = RequestTarget(method="GET", authority="supplier-a.example", path="/v1/ledgers", query="")
    result = verify(signed_headers(target, b"", keyid=OEM, signer_name=OEM), target, b"")
    assert result.sender == OEM


def test_authority_is_compared_case_insensitively() -> None:
    upper = replace(TARGET, authority="OEM-B.Example:8443")
    assert verify(signed_headers(upper), TARGET).sender == SUPPLIER


@pytest.mark.parametrize("offset", [-MAX_SKEW, -1, 0, 1, MAX_SKEW])
def test_created_within_max_skew_is_accepted(offset: int) -> None:
    assert verify(signed_headers(created=NOW + offset)).created == NOW + offset


# --- refused: what the signature covers -----------------------------------------


@pytest.mark.parametrize(
    "changed",
    [
        replace(TARGET, method="PUT"),
        replace(TARGET, method="GET"),
        replace(TARGET, authority="supplier-c.example:8443"),
        replace(TARGET, authority="oem-b.example:8444"),
        replace(TARGET, path="/v1/channels/channel:oem-b:supplier-c/entries"),
        replace(TARGET, path="/v1/channels/channel:oem-b:supplier-a/entries/"),
        replace(TARGET, query="since=4&limit=10"),
        replace(TARGET, query=""),
        replace(TARGET, query="since=3&limit=10&x=1"),
    ],
    ids=[
        "method-put",
        "method-get",
        "authority-host",
        "authority-port",
        "path",
        "path-trailing-slash",
        "query-value",
        "query-dropped",
        "query-added",
    ],
)
def test_verify_refuses_request_with_changed_target(changed: RequestTarget) -> None:
    with pytest.raises(RequestSignatureError):
        verify(signed_headers(), changed)


@pytest.mark.parametrize("body", [b"", b'{"kind":"order","qty":6}', BODY + b" ", BODY[:-1]])
def test_verify_refuses_changed_body(body: bytes) -> None:
    with pytest.raises(RequestSignatureError, match="Content-Digest"):
        verify(signed_headers(), body=body)


def test_verify_refuses_changed_body_with_recomputed_content_digest() -> None:
    forged_body = b'{"kind":"order","qty":500}'
    headers = signed_headers()
    headers["content-digest"] = content_digest(forged_body)
    with pytest.raises(RequestSignatureError, match="does not verify"):
        verify(headers, body=forged_body)


@pytest.mark.parametrize(
    "digest",
    [
        content_digest(b"something else"),
        content_digest(BODY).replace("sha-256", "sha-512"),
        content_digest(BODY)[:-1],
        "sha-256=:" + base64.b64encode(hashlib.sha256(BODY).digest()).decode().rstrip("=") + ":",
    ],
    ids=["other-body", "other-algorithm", "no-closing-colon", "unpadded"],
)
def test_verify_refuses_content_digest_not_matching_body(digest: str) -> None:
    headers = signed_headers()
    headers["content-digest"] = digest
    with pytest.raises(RequestSignatureError):
        verify(headers)


def test_verify_refuses_signature_created_too_long_ago() -> None:
    headers = signed_headers(created=NOW - MAX_SKEW - 1)
    with pytest.raises(RequestSignatureError, match="outside"):
        verify(headers)


def test_verify_refuses_signature_created_too_far_in_the_future() -> None:
    headers = signed_headers(created=NOW + MAX_SKEW + 1)
    with pytest.raises(RequestSignatureError, match="outside"):
        verify(headers)


@pytest.mark.parametrize(
    ("old", "new"),
    [(f"created={NOW}", f"created={NOW + 1}"), (NONCE, NONCE[::-1])],
    ids=["created", "nonce"],
)
def test_verify_refuses_signature_params_changed_after_signing(old: str, new: str) -> None:
    headers = signed_headers()
    headers["signature-input"] = headers["signature-input"].replace(old, new)
    with pytest.raises(RequestSignatureError, match="does not verify"):
        verify(headers)


# --- refused: who signed --------------------------------------------------------


def test_verify_refuses_unknown_keyid_even_if_self_consistent() -> None:
    headers = signed_headers(keyid=OUTSIDER, signer_name=OUTSIDER)
    with pytest.raises(RequestSignatureError, match="unknown key id"):
        verify(headers)


def test_verify_refuses_signature_by_another_key_under_claimed_keyid() -> None:
    headers = signed_headers(keyid=SUPPLIER, signer_name=OEM)
    with pytest.raises(RequestSignatureError, match="does not verify"):
        verify(headers)


def test_verify_refuses_keyid_swapped_after_signing() -> None:
    headers = signed_headers(keyid=SUPPLIER, signer_name=SUPPLIER)
    headers["signature-input"] = headers["signature-input"].replace(f'keyid="{SUPPLIER}"', f'keyid="{OEM}"')
    with pytest.raises(RequestSignatureError):
        verify(headers)


# --- refused: malformed headers --------------------------------------------------


@pytest.mark.parametrize("missing", ["signature-input", "signature", "content-digest"])
def test_verify_refuses_missing_header(missing: str) -> None:
    headers = signed_headers()
    del headers[missing]
    with pytest.raises(RequestSignatureError, match="missing"):
        verify(headers)


@pytest.mark.parametrize("emptied", ["signature-input", "signature", "content-digest"])
def test_verify_refuses_empty_header(emptied: str) -> None:
    headers = signed_headers()
    headers[emptied] = ""
    with pytest.raises(RequestSignatureError):
        verify(headers)


def test_verify_refuses_when_no_headers_at_all() -> None:
    with pytest.raises(RequestSignatureError):
        verify({})


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"@query" ', ""),
        ('"@method" "@authority"', '"@authority" "@method"'),
        (' "content-digest"', ""),
        ('"content-digest")', '"content-digest" "content-type")'),
        ("sm=(", "sig1=("),
        ('alg="ed25519"', 'alg="rsa-pss-sha512"'),
        (';alg="ed25519"', ""),
        ('nonce="', 'nonce="short";x="'),
    ],
    ids=[
        "query-dropped",
        "reordered",
        "digest-dropped",
        "extra-component",
        "other-label",
        "other-alg",
        "no-alg",
        "extra-param",
    ],
)
def test_verify_refuses_signature_input_outside_the_profile(old: str, new: str) -> None:
    headers = signed_headers()
    assert old in headers["signature-input"]
    headers["signature-input"] = headers["signature-input"].replace(old, new, 1)
    with pytest.raises(RequestSignatureError, match="profile"):
        verify(headers)


def _signature_b64() -> str:
    return signed_headers()["signature"].removeprefix("sm=:").removesuffix(":")


@pytest.mark.parametrize(
    "signature",
    [
        "sm=:not base64!:",
        "sm=abc",
        f"sm={_signature_b64()}",
        f"sig1=:{_signature_b64()}:",
        f"sm=:{_signature_b64()}",
        f"sm=:{base64.urlsafe_b64encode(base64.b64decode(_signature_b64())).decode()}:x",
        f"sm=:{_signature_b64()}:, other=:AAAA:",
        "sm=::",
        f"sm=:{base64.b64encode(base64.b64decode(_signature_b64())[:63]).decode()}:",
        f"sm=:{base64.b64encode(b'0' * 64).decode()}:",
        f"sm=:{_signature_b64()[:-4]}A===:",
    ],
    ids=[
        "not-base64",
        "no-colons",
        "no-byte-sequence",
        "other-label",
        "unterminated",
        "trailing-junk",
        "two-signatures",
        "empty",
        "63-bytes",
        "garbage-64-bytes",
        "bad-padding",
    ],
)
def test_verify_refuses_malformed_signature_header(signature: str) -> None:
    headers = signed_headers()
    headers["signature"] = signature
    with pytest.raises(RequestSignatureError):
        verify(headers)


def test_verify_refuses_signature_from_another_request() -> None:
    other = signed_headers(replace(TARGET, path="/v1/other"))
    headers = signed_headers()
    headers["signature"] = other["signature"]
    with pytest.raises(RequestSignatureError, match="does not verify"):
        verify(headers)


# --- headers first, body second; the receiver's own authority -------------------


def test_signature_verifies_from_headers_alone_and_the_body_is_checked_after() -> None:
    verified = verify_signature(TARGET, signed_headers(), keys=KEYS, now=NOW, max_skew=MAX_SKEW)
    assert verified.sender == SUPPLIER and verified.digest == content_digest(BODY)
    check_digest(verified, BODY)
    with pytest.raises(RequestSignatureError, match="does not match the body"):
        check_digest(verified, BODY + b" ")


def test_signature_check_without_body_refuses_a_forged_signature() -> None:
    headers = signed_headers(signer_name=OUTSIDER)
    with pytest.raises(RequestSignatureError, match="does not verify"):
        verify_signature(TARGET, headers, keys=KEYS, now=NOW, max_skew=MAX_SKEW)


def test_signature_check_without_body_refuses_a_content_digest_outside_the_profile() -> None:
    headers = {**signed_headers(), "content-digest": "md5=:AAAA:"}
    with pytest.raises(RequestSignatureError, match="not a sha-256 digest"):
        verify_signature(TARGET, headers, keys=KEYS, now=NOW, max_skew=MAX_SKEW)


def test_request_signed_for_one_authority_does_not_verify_for_another() -> None:
    headers = signed_headers(replace(TARGET, authority="supplier-a.example:8443"))
    verify(headers, replace(TARGET, authority="supplier-a.example:8443"))
    with pytest.raises(RequestSignatureError, match="does not verify"):
        verify(headers, replace(TARGET, authority="supplier-b.example:8443"))


@pytest.mark.parametrize(
    ("url", "authority"),
    [
        ("http://supplier-a:18101", "supplier-a:18101"),
        ("http://Supplier-A.Example", "supplier-a.example"),
        ("http://node.example:80", "node.example"),
        ("https://node.example:443", "node.example"),
        ("https://node.example:80", "node.example:80"),
        ("http://[::1]:8080", "[::1]:8080"),
    ],
)
def test_url_authority_is_lower_case_host_with_non_default_port(url: str, authority: str) -> None:
    assert url_authority(url) == authority


@pytest.mark.parametrize("url", ["http://", "not a url", "http://host:port"])
def test_url_authority_refuses_a_url_without_host_or_with_a_bad_port(url: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        url_authority(url)
