"""Tests for supplymesh.core.entry: hashing, chaining, validation, sealed signatures."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType

import pytest

from supplymesh.core.canonical import canonicalize
from supplymesh.core.entry import (
    ENTRY_FIELDS,
    GENESIS_PREV,
    Entry,
    EntryFormatError,
    SealedEntry,
    Signature,
    format_time,
    next_entry,
    parse_signatures,
    sign_entry,
)
from supplymesh.core.merkle import leaf_hash
from tests.unit.ledger_fixtures import LEDGER, OEM, SUPPLIER, signer_for

TIME = "2026-01-02T03:04:05.000006Z"
PREV = "ab" * 32


def make_entry(**overrides: object) -> Entry:
    fields: dict[str, object] = {
        "ledger": LEDGER,
        "seq": 1,
        "prev": GENESIS_PREV,
        "time": TIME,
        "kind": "order",
        "author": SUPPLIER,
        "body": {"qty": 5, "part": "bolt"},
    }
    fields.update(overrides)
    return Entry(**fields)  # type: ignore[arg-type]


def entry_json(**overrides: object) -> dict[str, object]:
    value = make_entry().as_json()
    value.update(overrides)
    return value


# --- hash and chain ---------------------------------------------------------------


def test_entry_canonical_bytes_and_hash_known_answer() -> None:
    entry = make_entry()
    expected = (
        b'{"author":"supplier-a","body":{"part":"bolt","qty":5},"kind":"order",'
        b'"ledger":"channel:oem-b:supplier-a","prev":"' + b"0" * 64 + b'","seq":1,'
        b'"time":"2026-01-02T03:04:05.000006Z"}'
    )
    assert entry.canonical == expected
    assert entry.hash == hashlib.sha256(expected).hexdigest()
    assert entry.digest == hashlib.sha256(expected).digest()


def test_entry_hash_is_sha256_of_canonical_json_of_exactly_the_seven_fields() -> None:
    entry = make_entry(seq=4, prev=PREV, body={"nested": {"b": [1, "x"], "a": None}})
    fields = {name: getattr(entry, name) for name in ENTRY_FIELDS}
    assert len(fields) == 7
    assert entry.as_json() == fields
    assert entry.hash == hashlib.sha256(canonicalize(fields)).hexdigest()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ledger", "channel:oem-b:supplier-c"),
        ("seq", 2),
        ("prev", PREV),
        ("time", "2026-01-02T03:04:05.000007Z"),
        ("kind", "order-ack"),
        ("author", OEM),
        ("body", {"qty": 6, "part": "bolt"}),
    ],
)
def test_entry_hash_changes_with_every_field(field: str, value: object) -> None:
    assert make_entry(**{field: value}).hash != make_entry().hash


def test_genesis_prev_is_64_zeros_and_first_entry_uses_it() -> None:
    assert GENESIS_PREV == "0" * 64
    first = next_entry(
        ledger=LEDGER, head=(0, GENESIS_PREV), time=TIME, kind="order", author=SUPPLIER, body={}
    )
    assert first.seq == 1
    assert first.prev == GENESIS_PREV


def test_next_entry_chains_seq_and_prev_to_the_head() -> None:
    first = make_entry()
    second = next_entry(
        ledger=LEDGER,
        head=(first.seq, first.hash),
        time=TIME,
        kind="order-ack",
        author=OEM,
        body={"ok": True},
    )
    third = next_entry(
        ledger=LEDGER, head=(second.seq, second.hash), time=TIME, kind="note", author=OEM, body={}
    )
    assert (second.seq, second.prev) == (2, first.hash)
    assert (third.seq, third.prev) == (3, second.hash)
    assert second.ledger == LEDGER
    assert second.author == OEM
    assert second.body == {"ok": True}


# --- validation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seq", 0),
        ("seq", -1),
        ("seq", True),
        ("seq", False),
        ("seq", "1"),
        ("seq", 1.0),
        ("seq", None),
        ("seq", 2**53),
        ("prev", "0" * 63),
        ("prev", "0" * 65),
        ("prev", "AB" * 32),
        ("prev", "g" * 64),
        ("prev", ""),
        ("time", "2026-01-02 03:04:05Z"),
        ("time", "2026-01-02T03:04:05+00:00"),
        ("time", "2026-01-02T03:04:05.000006"),
        ("time", "2026-01-02T03:04:05.1234567Z"),
        ("time", "2026-01-02T03:04:05.Z"),
        ("time", "2026-1-02T03:04:05Z"),
        ("time", "2026-01-02t03:04:05z"),
        ("ledger", "Channel:oem-b:supplier-a"),
        ("kind", "Order"),
        ("author", "Supplier-A"),
        ("author", ""),
        ("author", "-supplier"),
        ("author", "supplier a"),
        ("kind", "a" * 129),
        ("body", []),
        ("body", "text"),
        ("body", None),
        ("body", {"qty": 1.5}),
        ("body", {"lines": [{"qty": 0.5}]}),
        ("body", {"qty": 2**60}),
        ("body", {1: "non-string key"}),
        ("body", {"when": datetime(2026, 1, 1, tzinfo=UTC)}),
    ],
)
def test_entry_refuses_invalid_field(field: str, value: object) -> None:
    with pytest.raises(EntryFormatError):
        make_entry(**{field: value})


def test_entry_accepts_time_without_fraction_and_longest_name() -> None:
    entry = make_entry(time="2026-01-02T03:04:05Z", kind="a" * 128)
    assert entry.kind == "a" * 128


@pytest.mark.parametrize(
    "time",
    ["2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-01-02T24:00:00Z", "2026-01-02T03:61:05Z"],
    ids=["month-13", "feb-30", "hour-24", "minute-61"],
)
def test_entry_refuses_impossible_calendar_time(time: str) -> None:
    # The docstring promises RFC 3339 UTC; these match the shape but are not valid dates.
    with pytest.raises(EntryFormatError):
        make_entry(time=time)


def test_entry_with_read_only_mapping_body_hashes_like_dict_or_refuses_with_entry_format_error() -> None:
    # body is typed Mapping[str, object]; the documented failure is EntryFormatError.
    body = {"qty": 5, "part": "bolt"}
    try:
        entry = make_entry(body=MappingProxyType(body))
    except EntryFormatError:
        return
    assert entry.hash == make_entry(body=body).hash


def test_entry_is_immutable() -> None:
    entry = make_entry()
    with pytest.raises(AttributeError):
        entry.seq = 2  # type: ignore[misc]


# --- from_json / from_canonical -------------------------------------------------


def test_entry_from_json_round_trips_as_json() -> None:
    entry = make_entry(seq=3, prev=PREV)
    again = Entry.from_json(entry.as_json())
    assert again == entry
    assert again.hash == entry.hash


@pytest.mark.parametrize("missing", ENTRY_FIELDS)
def test_entry_from_json_refuses_missing_field(missing: str) -> None:
    value = entry_json()
    del value[missing]
    with pytest.raises(EntryFormatError):
        Entry.from_json(value)


@pytest.mark.parametrize("extra", ["signatures", "hash", "id", "Seq"])
def test_entry_from_json_refuses_extra_field(extra: str) -> None:
    with pytest.raises(EntryFormatError):
        Entry.from_json(entry_json(**{extra: "x"}))


@pytest.mark.parametrize("value", [None, [], "entry", 1, [["ledger", LEDGER]]])
def test_entry_from_json_refuses_non_object(value: object) -> None:
    with pytest.raises(EntryFormatError):
        Entry.from_json(value)


@pytest.mark.parametrize("field", ["ledger", "prev", "time", "kind", "author"])
def test_entry_from_json_refuses_non_string_text_field(field: str) -> None:
    with pytest.raises(EntryFormatError):
        Entry.from_json(entry_json(**{field: 12}))


def test_entry_from_canonical_round_trips_canonical_bytes() -> None:
    entry = make_entry(seq=9, prev=PREV, body={"\u00e9": ["\u20ac", 1, None, True], "a": {}})
    again = Entry.from_canonical(entry.canonical)
    assert again == entry
    assert again.canonical == entry.canonical
    assert again.hash == entry.hash


@pytest.mark.parametrize(
    "transform",
    [
        lambda b: b.replace(b":", b": "),
        lambda b: b + b"\n",
        lambda b: b.replace(b'"qty":5', b'"qty":5.0'),
        lambda b: b.replace(b"{", b"{ ", 1),
        lambda b: b[:-1],
        lambda b: b.replace(b'"bolt"', b'"\\u0062olt"'),
        lambda b: (
            b'{"time":"' + TIME.encode() + b'",' + b[1:].replace(b',"time":"' + TIME.encode() + b'"', b"")
        ),
    ],
    ids=["spaces", "newline", "float", "brace-space", "truncated", "escaped-ascii", "unsorted"],
)
def test_entry_from_canonical_refuses_non_canonical_bytes(transform: Callable[[bytes], bytes]) -> None:
    data = make_entry().canonical
    changed = transform(data)
    assert changed != data
    with pytest.raises(EntryFormatError):
        Entry.from_canonical(changed)


def test_entry_from_canonical_refuses_canonical_json_that_is_not_an_entry() -> None:
    with pytest.raises(EntryFormatError):
        Entry.from_canonical(b'{"ledger":"x"}')
    with pytest.raises(EntryFormatError):
        Entry.from_canonical(b"[]")


# --- signatures and sealed entries ----------------------------------------------


def test_sign_entry_signs_the_entry_digest() -> None:
    entry = make_entry()
    signature = sign_entry(entry, signer_id=SUPPLIER, signer=signer_for(SUPPLIER))
    assert signature.signer == SUPPLIER
    signer_for(SUPPLIER).public_key.verify_text(signature.sig, entry.digest)
    assert signature.as_json() == {"signer": SUPPLIER, "sig": signature.sig}


def sealed_pair() -> tuple[Entry, Signature, Signature]:
    entry = make_entry()
    by_supplier = sign_entry(entry, signer_id=SUPPLIER, signer=signer_for(SUPPLIER))
    by_oem = sign_entry(entry, signer_id=OEM, signer=signer_for(OEM))
    return entry, by_supplier, by_oem


def test_sealed_entry_sorts_signatures_by_signer() -> None:
    entry, by_supplier, by_oem = sealed_pair()
    assert OEM < SUPPLIER
    sealed = SealedEntry(entry, (by_supplier, by_oem))
    assert sealed.signatures == (by_oem, by_supplier)
    assert sealed.signatures_json() == [by_oem.as_json(), by_supplier.as_json()]
    assert sealed.signers() == frozenset({OEM, SUPPLIER})


def test_sealed_entry_leaf_does_not_depend_on_signature_input_order() -> None:
    entry, by_supplier, by_oem = sealed_pair()
    assert SealedEntry(entry, (by_supplier, by_oem)).leaf == SealedEntry(entry, (by_oem, by_supplier)).leaf


def test_sealed_entry_refuses_two_signatures_by_one_signer() -> None:
    entry, by_supplier, _ = sealed_pair()
    other = sign_entry(make_entry(seq=2, prev=PREV), signer_id=SUPPLIER, signer=signer_for(SUPPLIER))
    duplicate = Signature(signer=SUPPLIER, sig=other.sig)
    with pytest.raises(EntryFormatError):
        SealedEntry(entry, (by_supplier, duplicate))
    with pytest.raises(EntryFormatError):
        SealedEntry(entry, (by_supplier, by_supplier))


def test_sealed_entry_with_signatures_adds_countersignature_and_refuses_a_second_by_same_signer() -> None:
    entry, by_supplier, by_oem = sealed_pair()
    sealed = SealedEntry(entry, (by_supplier,))
    both = sealed.with_signatures([by_oem])
    assert both.signers() == frozenset({SUPPLIER, OEM})
    assert sealed.signers() == frozenset({SUPPLIER})
    with pytest.raises(EntryFormatError):
        both.with_signatures([by_oem])


def test_sealed_entry_leaf_is_canonical_json_of_entry_and_signatures() -> None:
    entry, by_supplier, by_oem = sealed_pair()
    sealed = SealedEntry(entry, (by_supplier, by_oem))
    expected = canonicalize(
        {"entry": entry.as_json(), "signatures": [by_oem.as_json(), by_supplier.as_json()]}
    )
    assert sealed.leaf == expected
    assert sealed.leaf_hash == leaf_hash(expected)
    assert sealed.leaf_hash == hashlib.sha256(b"\x00" + expected).digest()
    assert sealed.as_json() == {
        "entry": entry.as_json(),
        "hash": entry.hash,
        "signatures": [by_oem.as_json(), by_supplier.as_json()],
    }


def test_sealed_entry_leaf_changes_when_a_signature_is_removed() -> None:
    entry, by_supplier, by_oem = sealed_pair()
    full = SealedEntry(entry, (by_supplier, by_oem))
    for kept in [(by_supplier,), (by_oem,), ()]:
        stripped = SealedEntry(entry, kept)
        assert stripped.leaf != full.leaf
        assert stripped.leaf_hash != full.leaf_hash


def test_sealed_entry_leaf_changes_when_signatures_are_swapped_between_signers() -> None:
    entry, by_supplier, by_oem = sealed_pair()
    full = SealedEntry(entry, (by_supplier, by_oem))
    swapped = SealedEntry(
        entry, (Signature(signer=SUPPLIER, sig=by_oem.sig), Signature(signer=OEM, sig=by_supplier.sig))
    )
    assert swapped.leaf != full.leaf
    assert swapped.leaf_hash != full.leaf_hash


def test_sealed_entry_leaf_changes_when_a_signature_is_replaced_by_another_entrys() -> None:
    entry, by_supplier, _ = sealed_pair()
    other_entry = replace(entry, body={"qty": 6})
    foreign = sign_entry(other_entry, signer_id=SUPPLIER, signer=signer_for(SUPPLIER))
    assert foreign.sig != by_supplier.sig
    assert SealedEntry(entry, (foreign,)).leaf_hash != SealedEntry(entry, (by_supplier,)).leaf_hash


def test_sealed_entry_leaf_changes_with_the_entry() -> None:
    entry, by_supplier, _ = sealed_pair()
    other = make_entry(body={"qty": 6, "part": "bolt"})
    assert SealedEntry(other, (by_supplier,)).leaf != SealedEntry(entry, (by_supplier,)).leaf


# --- parse_signatures -----------------------------------------------------------


def test_parse_signatures_parses_list_in_given_order() -> None:
    parsed = parse_signatures([{"signer": "b", "sig": "x"}, {"signer": "a", "sig": "y"}])
    assert parsed == (Signature(signer="b", sig="x"), Signature(signer="a", sig="y"))
    assert parse_signatures([]) == ()


@pytest.mark.parametrize(
    "value",
    [
        None,
        {"signer": "a", "sig": "x"},
        ({"signer": "a", "sig": "x"},),
        "[]",
        ["a"],
        [None],
        [[("signer", "a"), ("sig", "x")]],
        [{"signer": "a"}],
        [{"sig": "x"}],
        [{}],
        [{"signer": "a", "sig": "x", "alg": "ed25519"}],
        [{"signer": 1, "sig": "x"}],
        [{"signer": "a", "sig": None}],
        [{"signer": "a", "sig": b"x"}],
        [{"signer": "a", "sig": "x"}, {"signer": "b"}],
    ],
    ids=[
        "none",
        "dict",
        "tuple",
        "string",
        "list-of-string",
        "list-of-none",
        "list-of-pairs",
        "no-sig",
        "no-signer",
        "empty-object",
        "extra-key",
        "int-signer",
        "none-sig",
        "bytes-sig",
        "second-bad",
    ],
)
def test_parse_signatures_refuses_malformed_list(value: object) -> None:
    with pytest.raises(EntryFormatError):
        parse_signatures(value)


# --- format_time ----------------------------------------------------------------


def test_format_time_gives_utc_with_six_fraction_digits_and_z() -> None:
    assert format_time(datetime(2026, 11, 23, 2, 7, 30, 123456, tzinfo=UTC)) == "2026-11-23T02:07:30.123456Z"
    assert format_time(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000000Z"


def test_format_time_converts_other_offsets_to_utc() -> None:
    plus_one = timezone(timedelta(hours=1))
    assert (
        format_time(datetime(2026, 11, 23, 3, 7, 30, 123456, tzinfo=plus_one))
        == "2026-11-23T02:07:30.123456Z"
    )
    minus_five_thirty = timezone(-timedelta(hours=5, minutes=30))
    assert format_time(datetime(2026, 12, 31, 20, 0, 0, 1, tzinfo=minus_five_thirty)) == (
        "2027-01-01T01:30:00.000001Z"
    )


def test_format_time_output_is_accepted_as_entry_time() -> None:
    text = format_time(datetime(2026, 5, 6, 7, 8, 9, 10, tzinfo=UTC))
    assert make_entry(time=text).time == text


def test_format_time_refuses_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        format_time(datetime(2026, 11, 23, 2, 7, 30))
