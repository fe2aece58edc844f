"""Tests for supplymesh.core.canonical: RFC 8785 known answers and SupplyMesh's refusals."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from types import MappingProxyType
from typing import Any, cast

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from supplymesh.core.canonical import (
    MAX_SAFE_INTEGER,
    CanonicalizationError,
    canonical_hash,
    canonicalize,
    parse_canonical,
    sha256,
)

# RFC 8785 §3.2.3 sorting example (string values instead of the RFC's numbers).
RFC8785_SORTING_INPUT = {
    "\u20ac": "Euro Sign",
    "\r": "Carriage Return",
    "\ufb33": "Hebrew Letter Dalet With Dagesh",
    "1": "One",
    "\U0001f600": "Emoji: Grinning Face",
    "\u0080": "Control",
    "\u00f6": "Latin Small Letter O With Diaeresis",
}
RFC8785_SORTED_KEYS = ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def utf16_order(key: str) -> bytes:
    """Sort key comparing UTF-16 code units (big-endian bytes compare the same way)."""
    return key.encode("utf-16-be")


def test_rfc8785_sorting_example_outputs_keys_in_utf16_code_unit_order() -> None:
    out = canonicalize(RFC8785_SORTING_INPUT)
    expected = (
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
        '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    ).encode()
    assert out == expected
    assert list(json.loads(out)) == RFC8785_SORTED_KEYS


def test_rfc8785_sorting_example_differs_from_code_point_order() -> None:
    # The emoji (surrogates D83D DE00) sorts before U+FB33 in UTF-16, after it by code point.
    assert sorted(RFC8785_SORTING_INPUT, key=utf16_order) == RFC8785_SORTED_KEYS
    assert sorted(RFC8785_SORTING_INPUT) != RFC8785_SORTED_KEYS
    assert list(json.loads(canonicalize(RFC8785_SORTING_INPUT))) != sorted(RFC8785_SORTING_INPUT)


ESCAPES = [
    ("\x00", '"\\u0000"'),
    ("\x01", '"\\u0001"'),
    ("\x08", '"\\b"'),
    ("\t", '"\\t"'),
    ("\n", '"\\n"'),
    ("\x0b", '"\\u000b"'),
    ("\x0c", '"\\f"'),
    ("\r", '"\\r"'),
    ("\x1f", '"\\u001f"'),
    ('"', '"\\""'),
    ("\\", '"\\\\"'),
    ("/", '"/"'),
    ("\x7f", '"\x7f"'),
    ("\u00e9", '"\u00e9"'),
    ("\u2028", '"\u2028"'),
    ("\U0001f600", '"\U0001f600"'),
    ('a"b\\c\nd\u20ac', '"a\\"b\\\\c\\nd\u20ac"'),
]


@pytest.mark.parametrize(("text", "expected"), ESCAPES)
def test_canonicalize_escapes_strings_as_rfc8785(text: str, expected: str) -> None:
    assert canonicalize(text) == expected.encode("utf-8")
    assert canonicalize({"k": [text]}) == b'{"k":[' + expected.encode("utf-8") + b"]}"


@pytest.mark.parametrize(("text", "expected"), ESCAPES)
def test_canonicalize_escapes_strings_identically_in_objects_with_non_ascii_keys(
    text: str, expected: str
) -> None:
    assert canonicalize({"\u00e9": text}) == b'{"\xc3\xa9":' + expected.encode("utf-8") + b"}"


def test_canonicalize_serialises_read_only_mapping_like_dict_or_refuses_it_cleanly() -> None:
    # _check admits any Mapping (and Entry.body is typed Mapping), so a non-dict mapping
    # must either serialise like the dict or be refused with CanonicalizationError, as
    # documented; any other exception type breaks callers that catch the documented one.
    value = {"b": [1], "a": "x"}
    for wrapped in (MappingProxyType(value), {"outer": MappingProxyType(value)}):
        try:
            out = canonicalize(wrapped)
        except CanonicalizationError:
            continue
        assert out in (b'{"a":"x","b":[1]}', b'{"outer":{"a":"x","b":[1]}}')


def test_canonicalize_keeps_non_ascii_as_raw_utf8_bytes() -> None:
    assert canonicalize({"\u00e9": "\u20ac"}) == b'{"\xc3\xa9":"\xe2\x82\xac"}'


def test_canonicalize_sorts_nested_objects_and_keeps_array_order() -> None:
    value = {"b": [3, {"z": None, "a": True}, "x"], "a": {"d": False, "c": "y"}, "": []}
    assert canonicalize(value) == b'{"":[],"a":{"c":"y","d":false},"b":[3,{"a":true,"z":null},"x"]}'


def test_canonicalize_writes_tuples_as_arrays_and_empty_containers() -> None:
    assert canonicalize((1, "a", None)) == b'[1,"a",null]'
    assert canonicalize({}) == b"{}"
    assert canonicalize([]) == b"[]"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, b"0"),
        (-1, b"-1"),
        (MAX_SAFE_INTEGER, b"9007199254740991"),
        (-MAX_SAFE_INTEGER, b"-9007199254740991"),
        ({"n": [MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER]}, b'{"n":[9007199254740991,-9007199254740991]}'),
        (True, b"true"),
        (False, b"false"),
        (None, b"null"),
    ],
)
def test_canonicalize_writes_safe_integers_and_literals_exactly(value: object, expected: bytes) -> None:
    assert canonicalize(value) == expected


def test_max_safe_integer_is_two_to_the_53_minus_one() -> None:
    assert MAX_SAFE_INTEGER == 9007199254740991


@pytest.mark.parametrize(
    "value",
    [
        1.0,
        0.5,
        -0.0,
        float("nan"),
        float("inf"),
        [1, 2.5],
        [[[0.1]]],
        {"a": 1.0},
        {"a": {"b": [{"c": 2.0}]}},
    ],
    ids=["one", "half", "neg-zero", "nan", "inf", "in-list", "deep-list", "in-dict", "deep-dict"],
)
def test_canonicalize_refuses_any_float(value: object) -> None:
    with pytest.raises(CanonicalizationError, match="float"):
        canonicalize(value)


@pytest.mark.parametrize(
    "value",
    [2**53, -(2**53), 2**64, {"a": [2**53]}, [-(2**63)]],
    ids=["2^53", "-2^53", "2^64", "nested-dict", "nested-list"],
)
def test_canonicalize_refuses_integers_beyond_safe_range(value: object) -> None:
    with pytest.raises(CanonicalizationError, match="integer"):
        canonicalize(value)


@pytest.mark.parametrize(
    "value",
    [{1: "a"}, {None: 1}, {True: 1}, {("a",): 1}, {"ok": {2: "nested"}}],
    ids=["int", "none", "bool", "tuple", "nested"],
)
def test_canonicalize_refuses_non_string_keys(value: object) -> None:
    with pytest.raises(CanonicalizationError, match="key"):
        canonicalize(value)


@pytest.mark.parametrize(
    "value",
    [
        Decimal("1.5"),
        Decimal(1),
        b"bytes",
        bytearray(b"x"),
        {1, 2},
        frozenset(),
        object(),
        {"a": [Decimal(2)]},
    ],
    ids=["decimal", "decimal-int", "bytes", "bytearray", "set", "frozenset", "object", "nested-decimal"],
)
def test_canonicalize_refuses_non_json_types(value: object) -> None:
    with pytest.raises(CanonicalizationError, match="not a JSON value"):
        canonicalize(value)


def test_canonicalize_refuses_lone_surrogate() -> None:
    with pytest.raises(CanonicalizationError):
        canonicalize({"a": "\ud800"})


def test_canonical_hash_is_sha256_of_canonical_bytes() -> None:
    assert canonical_hash({"b": 1, "a": 2}) == hashlib.sha256(b'{"a":2,"b":1}').digest()
    assert sha256(b"abc").hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


# --- parse_canonical ------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"a":[1,true,null,"x"],"b":{}}', {"a": [1, True, None, "x"], "b": {}}),
        (b'"\xc3\xa9"', "\u00e9"),
        (b'"\\u001f\\n"', "\x1f\n"),
        (b"-9007199254740991", -MAX_SAFE_INTEGER),
        (b"[]", []),
        (canonicalize(RFC8785_SORTING_INPUT), RFC8785_SORTING_INPUT),
    ],
)
def test_parse_canonical_accepts_canonical_bytes(data: bytes, expected: object) -> None:
    assert parse_canonical(data) == expected


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": 1}',
        b'{ "a":1}',
        b'{"a":1}\n',
        b' {"a":1}',
        b"[1, 2]",
        b'{"b":1,"a":2}',
        b'{"a":1,"a":1}',
        b'"\\u00e9"',
        b'"\\/"',
        b'"\\u0041"',
        b"1.0",
        b'{"a":1.0}',
        b"1e3",
        b"-0",
        b"NaN",
        b"\xef\xbb\xbf{}",
        '{"a":1}'.encode("utf-16-le"),
        canonicalize(RFC8785_SORTING_INPUT).replace(b"\xc2\x80", b"\\u0080"),
        canonicalize(RFC8785_SORTING_INPUT).replace(b"\\r", b"\\u000d"),
    ],
    ids=[
        "space-after-colon",
        "space-after-brace",
        "trailing-newline",
        "leading-space",
        "space-in-array",
        "unsorted-keys",
        "duplicate-keys",
        "escaped-non-ascii",
        "escaped-solidus",
        "escaped-ascii",
        "float-one",
        "float-in-object",
        "exponent",
        "negative-zero",
        "nan",
        "utf8-bom",
        "utf16",
        "rfc-example-escaped-u0080",
        "rfc-example-cr-as-u000d",
    ],
)
def test_parse_canonical_refuses_non_canonical_spellings(data: bytes) -> None:
    with pytest.raises(CanonicalizationError):
        parse_canonical(data)


@pytest.mark.parametrize(
    "data",
    [b"", b"{", b'{"a":', b"{a:1}", b"[1,]", b"'a'", b'"unterminated', b"tru", b"{}{}"],
)
def test_parse_canonical_refuses_invalid_json(data: bytes) -> None:
    with pytest.raises(CanonicalizationError, match="not valid JSON"):
        parse_canonical(data)


@pytest.mark.parametrize(
    "data",
    [b'"\xff"', b'"\xc3"', b'"\xc0\xaf"', b'"\xed\xa0\x80"', b'{"a\x80":1}'],
    ids=["ff", "truncated", "overlong", "encoded-surrogate", "stray-continuation"],
)
def test_parse_canonical_refuses_invalid_utf8(data: bytes) -> None:
    with pytest.raises(CanonicalizationError):
        parse_canonical(data)


# --- property: round trip and idempotence ----------------------------------------

SAFE_INTS = st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | SAFE_INTS | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=200)
@given(JSON_VALUES)
def test_parse_canonical_inverts_canonicalize_and_canonicalize_is_idempotent(value: object) -> None:
    data = canonicalize(value)
    parsed = parse_canonical(data)
    assert parsed == value
    assert canonicalize(parsed) == data
    assert canonicalize(json.loads(data)) == data


@settings(max_examples=100)
@given(st.dictionaries(st.text(max_size=6), st.integers(0, 9), max_size=8))
def test_canonicalize_orders_keys_by_utf16_code_units(value: dict[str, int]) -> None:
    assert list(json.loads(canonicalize(value))) == sorted(value, key=utf16_order)


ASCII_KEYS = st.text(alphabet=st.characters(max_codepoint=127), max_size=8)
ASCII_KEYED_VALUES = st.recursive(
    st.none() | st.booleans() | SAFE_INTS | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(ASCII_KEYS, children, max_size=5),
    max_leaves=25,
)


@settings(max_examples=200)
@given(JSON_VALUES)
def test_canonicalize_matches_rfc8785_reference_on_any_keys(value: object) -> None:
    assert canonicalize(value) == rfc8785.dumps(cast(Any, value))


@settings(max_examples=200)
@given(ASCII_KEYED_VALUES)
def test_canonicalize_matches_rfc8785_reference_on_ascii_keys_and_any_strings(value: object) -> None:
    assert canonicalize(value) == rfc8785.dumps(cast(Any, value))
