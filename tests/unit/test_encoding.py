"""Tests for supplymesh.core.encoding: strict unpadded base64url and lowercase hex."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supplymesh.core.encoding import b64url_decode, b64url_encode, hex_decode

B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

# RFC 4648 §10 test vectors, without padding (identical in the URL-safe alphabet).
RFC4648_VECTORS = [
    (b"", ""),
    (b"f", "Zg"),
    (b"fo", "Zm8"),
    (b"foo", "Zm9v"),
    (b"foob", "Zm9vYg"),
    (b"fooba", "Zm9vYmE"),
    (b"foobar", "Zm9vYmFy"),
]


@pytest.mark.parametrize(("data", "text"), RFC4648_VECTORS)
def test_b64url_encode_matches_rfc4648_vectors_without_padding(data: bytes, text: str) -> None:
    assert b64url_encode(data) == text
    assert b64url_decode(text) == data


def test_b64url_uses_url_safe_alphabet_for_bytes_62_and_63() -> None:
    assert base64.b64encode(b"\xfb\xff") == b"+/8="
    assert b64url_encode(b"\xfb\xff") == "-_8"
    assert b64url_decode("-_8") == b"\xfb\xff"


@settings(max_examples=200)
@given(st.binary(max_size=100))
def test_b64url_round_trips_any_bytes(data: bytes) -> None:
    text = b64url_encode(data)
    assert set(text) <= set(B64URL_ALPHABET)
    assert len(text) == (4 * len(data) + 2) // 3
    assert b64url_decode(text) == data


@pytest.mark.parametrize(
    "text",
    [
        "Zg==",
        "Zg=",
        "Zm9v=",
        "Zm9vYg==",
        "+/8",
        "-_+",
        "ab/c",
        "Zm 9v",
        " Zm9v",
        "Zm9v ",
        "Zm9v\n",
        "Zm9vYg\n",
        "Zm9v\t",
        "Z",
        "Zm9vY",
        "Z\u00e9",
        "Zm9v.",
    ],
    ids=[
        "pad-2",
        "pad-1",
        "pad-on-full-quantum",
        "padded-foob",
        "plus-slash",
        "plus",
        "slash",
        "inner-space",
        "leading-space",
        "trailing-space",
        "trailing-newline-len5",
        "trailing-newline-len7",
        "tab",
        "one-char",
        "len-mod-4-is-1",
        "non-ascii",
        "dot",
    ],
)
def test_b64url_decode_refuses_padding_foreign_characters_and_whitespace(text: str) -> None:
    with pytest.raises(ValueError, match="base64url"):
        b64url_decode(text)


@pytest.mark.parametrize(
    ("text", "canonical", "data"),
    [
        ("AB", "AA", b"\x00"),
        ("Zh", "Zg", b"f"),
        ("Zm9", "Zm8", b"fo"),
        ("_-", "_w", b"\xff"),
        ("AAB", "AAA", b"\x00\x00"),
    ],
)
def test_b64url_decode_refuses_nonzero_trailing_bits(text: str, canonical: str, data: bytes) -> None:
    assert b64url_encode(data) == canonical
    assert b64url_decode(canonical) == data
    with pytest.raises(ValueError, match="non-canonical"):
        b64url_decode(text)


@settings(max_examples=300)
@given(st.text(alphabet=B64URL_ALPHABET + "=+/ \n\t.", max_size=12))
def test_b64url_decode_accepts_only_the_one_canonical_spelling(text: str) -> None:
    try:
        data = b64url_decode(text)
    except ValueError:
        return
    assert b64url_encode(data) == text


# --- hex ------------------------------------------------------------------------


def test_hex_decode_accepts_lowercase_hex() -> None:
    assert hex_decode("") == b""
    assert hex_decode("00ff7a") == b"\x00\xff\x7a"
    assert hex_decode("ab" * 32, length=32) == b"\xab" * 32


@settings(max_examples=100)
@given(st.binary(max_size=64))
def test_hex_decode_round_trips_bytes_hex(data: bytes) -> None:
    assert hex_decode(data.hex()) == data
    assert hex_decode(data.hex(), length=len(data)) == data


@pytest.mark.parametrize(
    "text",
    ["00FF", "aB", "0", "abc", "0g", "zz", "00 ff", "0x00", " 00", "00\n", "000\n", "\u0660\u0661"],
    ids=[
        "uppercase",
        "mixed-case",
        "one-digit",
        "odd-length",
        "foreign-g",
        "foreign-z",
        "inner-space",
        "prefix-0x",
        "leading-space",
        "trailing-newline-odd",
        "trailing-newline-even",
        "arabic-indic-digits",
    ],
)
def test_hex_decode_refuses_uppercase_odd_length_and_foreign_characters(text: str) -> None:
    with pytest.raises(ValueError, match="hex"):
        hex_decode(text)


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_hex_decode_refuses_wrong_length(size: int) -> None:
    with pytest.raises(ValueError, match="expected 32 bytes"):
        hex_decode("a" * (2 * size), length=32)
