"""The standard-library fast path of canonicalize() is byte-identical to RFC 8785."""

from __future__ import annotations

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from supplymesh.core.canonical import CanonicalizationError, _fast_dumps, canonicalize

SAFE_INT = st.integers(-(2**53 - 1), 2**53 - 1)
LEAF = st.none() | st.booleans() | SAFE_INT | st.text()
ASCII_KEY = st.text(alphabet=st.characters(max_codepoint=127), max_size=8)
ANY_KEY = st.text(max_size=4)


def values(keys: st.SearchStrategy[str]) -> st.SearchStrategy[object]:
    return st.recursive(
        LEAF,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=25,
    )


def _rfc8785(value: object) -> bytes | None:
    try:
        return rfc8785.dumps(value)  # type: ignore[arg-type]
    except rfc8785.CanonicalizationError:
        return None


@settings(max_examples=1500)
@given(values(ASCII_KEY))
def test_fast_path_matches_rfc8785_for_ascii_keys(value: object) -> None:
    expected = _rfc8785(value)
    if expected is None:  # lone surrogates: both refuse
        try:
            canonicalize(value)
        except CanonicalizationError:
            return
        raise AssertionError("canonicalize accepted what rfc8785 refuses")
    assert _fast_dumps(value) == expected
    assert canonicalize(value) == expected


@settings(max_examples=500)
@given(values(ANY_KEY))
def test_canonicalize_matches_rfc8785_for_any_keys(value: object) -> None:
    expected = _rfc8785(value)
    if expected is not None:
        assert canonicalize(value) == expected


def test_non_bmp_key_order_follows_utf16_not_code_points() -> None:
    value = {"\U0001f600": 1, "\ufb33": 2}
    # UTF-16: U+D83D (high surrogate) sorts before U+FB33; code-point order is the reverse.
    assert canonicalize(value) == '{"\U0001f600":1,"\ufb33":2}'.encode()


def test_subclasses_of_json_types_canonicalise_as_their_values() -> None:
    import enum

    class Role(enum.StrEnum):
        OEM = "oem"

    class Count(int):
        pass

    value = {Role.OEM: [Count(3), Role.OEM], "b": {"c": Count(-1)}}
    assert canonicalize(value) == b'{"b":{"c":-1},"oem":[3,"oem"]}'
    assert canonicalize({"k": Role.OEM}) == b'{"k":"oem"}'


def test_errors_name_the_path_of_the_offending_value() -> None:
    import pytest

    with pytest.raises(CanonicalizationError, match=r"\$\.body\.lots\[1\]\.qty: integer"):
        canonicalize({"body": {"lots": [{"qty": 1}, {"qty": 2**60}]}})
    with pytest.raises(CanonicalizationError, match=r"\$\.a\[0\]: binary floats"):
        canonicalize({"a": [0.5]})
    with pytest.raises(CanonicalizationError, match=r"\$\.a: object key 1"):
        canonicalize({"a": {1: "x"}})
    with pytest.raises(CanonicalizationError, match=r"\$\.s: set is not a JSON value"):
        canonicalize({"s": {1}})
