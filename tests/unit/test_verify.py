"""Tests for supplymesh.core.verify (and parallel_verify): locate each tampering exactly."""

from __future__ import annotations

from collections.abc import Collection

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supplymesh.audit.parallel_verify import verify_ledger_parallel
from supplymesh.core.canonical import parse_canonical
from supplymesh.core.entry import GENESIS_PREV, Entry, SealedEntry, sign_entry
from supplymesh.core.merkle import root_from_leaf_hashes
from supplymesh.core.verify import LedgerReport, Record, verify_ledger
from tests.unit.ledger_fixtures import (
    LEDGER,
    OEM,
    OTHER_LEDGER,
    OUTSIDER,
    SUPPLIER,
    build_ledger,
    record_of,
    replace_at,
    signer_for,
    with_entry_bytes,
    with_signatures,
)

SIZE = 20
BIG_SIZE = 5000


def located(report: LedgerReport) -> set[tuple[int | None, str]]:
    """The (seq, rule) pairs of a report's findings."""
    return {(f.seq, f.rule) for f in report.findings}


def verify(records: list[Record]) -> LedgerReport:
    ledger = build_ledger(SIZE)
    return verify_ledger(LEDGER, records, ledger.keys)


def flip_value_byte(data: bytes) -> bytes:
    """Change ``"bolt-m8"`` to ``"colt-m8"``: JSON stays valid and canonical."""
    position = data.index(b'"bolt-m8"') + 1
    return data[:position] + b"c" + data[position + 1 :]


# --- the clean ledger -------------------------------------------------------------


def test_verify_ledger_accepts_untampered_two_member_ledger() -> None:
    ledger = build_ledger(SIZE)
    assert ledger.countersigned(), "fixture should countersign some entries"
    report = verify(ledger.records())
    assert report.ok
    assert report.findings == ()
    assert report.ledger == LEDGER
    assert report.size == SIZE
    assert report.head_hash == ledger.entry(SIZE).hash


def test_verify_ledger_root_hash_is_merkle_root_of_sealed_leaves() -> None:
    ledger = build_ledger(SIZE)
    report = verify(ledger.records())
    expected = root_from_leaf_hashes([s.leaf_hash for s in ledger.sealed])
    assert report.root_hash == expected.hex()


def test_verify_ledger_root_hash_changes_when_a_countersignature_is_dropped() -> None:
    ledger = build_ledger(SIZE)
    seq = min(ledger.countersigned())
    records = ledger.records()
    author = ledger.entry(seq).author
    kept = [s for s in ledger.sealed[seq - 1].signatures_json() if s["signer"] == author]
    tampered = replace_at(records, seq, with_signatures(records[seq - 1], kept))
    report = verify(tampered)
    assert report.ok  # the author's signature alone satisfies author_only ...
    assert report.root_hash != verify(records).root_hash  # ... but the Merkle root notices


def test_verify_ledger_of_no_records_is_empty_tree() -> None:
    report = verify([])
    assert report.ok
    assert report.size == 0
    assert report.head_hash == GENESIS_PREV
    assert report.root_hash == root_from_leaf_hashes([]).hex()


# --- single tamperings, each located at its seq -------------------------------------


def test_verifier_locates_flipped_value_byte_in_body_as_bad_signature_and_broken_chain() -> None:
    ledger = build_ledger(SIZE)
    seq = 7
    records = ledger.records()
    tampered_bytes = flip_value_byte(records[seq - 1].entry)
    parse_canonical(tampered_bytes)  # still valid, canonical JSON
    report = verify(replace_at(records, seq, with_entry_bytes(records[seq - 1], tampered_bytes)))
    assert located(report) == {
        (seq, "bad_signature"),
        (seq, "stored_hash"),
        (seq + 1, "hash_chain"),
    }
    assert min(f.seq or 0 for f in report.findings) == seq


def test_verifier_flags_every_signature_of_countersigned_entry_with_flipped_body_byte() -> None:
    ledger = build_ledger(SIZE)
    seq = min(ledger.countersigned())
    records = ledger.records()
    tampered = with_entry_bytes(records[seq - 1], flip_value_byte(records[seq - 1].entry))
    report = verify(replace_at(records, seq, tampered))
    bad = [f for f in report.findings if f.rule == "bad_signature"]
    assert len(bad) == 2
    assert {f.seq for f in bad} == {seq}


def test_verifier_locates_byte_flip_that_breaks_json_as_malformed() -> None:
    ledger = build_ledger(SIZE)
    seq = 11
    records = ledger.records()
    data = records[seq - 1].entry
    broken = data[:-1] + b" "  # the closing brace becomes a space
    report = verify(replace_at(records, seq, with_entry_bytes(records[seq - 1], broken)))
    assert located(report) == {(seq, "malformed")}
    assert not report.ok


def test_verifier_locates_forged_entry_resigned_by_unknown_member() -> None:
    ledger = build_ledger(SIZE)
    seq = 9
    original = ledger.entry(seq)
    forged = Entry(
        ledger=LEDGER,
        seq=seq,
        prev=original.prev,
        time=original.time,
        kind=original.kind,
        author=OUTSIDER,
        body={**original.body, "qty": 999_999},
    )
    sealed = SealedEntry(forged, (sign_entry(forged, signer_id=OUTSIDER, signer=signer_for(OUTSIDER)),))
    report = verify(replace_at(ledger.records(), seq, record_of(sealed)))
    assert located(report) == {(seq, "unknown_signer"), (seq + 1, "hash_chain")}


def test_verifier_locates_signature_copied_from_another_entry_as_bad_signature() -> None:
    ledger = build_ledger(SIZE)
    seq = 5
    author = ledger.entry(seq).author
    donor = next(s for s in ledger.sealed if s.entry.seq != seq and s.entry.author == author)
    copied = [s for s in donor.signatures_json() if s["signer"] == author]
    records = ledger.records()
    report = verify(replace_at(records, seq, with_signatures(records[seq - 1], copied)))
    assert located(report) == {(seq, "bad_signature")}


def test_verifier_locates_missing_author_signature_even_with_valid_countersignature() -> None:
    ledger = build_ledger(SIZE)
    seq = min(ledger.countersigned())
    author = ledger.entry(seq).author
    records = ledger.records()
    remaining = [s for s in ledger.sealed[seq - 1].signatures_json() if s["signer"] != author]
    assert remaining, "the countersignature should remain"
    report = verify(replace_at(records, seq, with_signatures(records[seq - 1], remaining)))
    assert located(report) == {(seq, "missing_signature")}
    assert author in report.findings[0].detail


def test_verifier_locates_entry_with_no_signatures_as_missing_signature() -> None:
    ledger = build_ledger(SIZE)
    seq = 4
    records = ledger.records()
    report = verify(replace_at(records, seq, with_signatures(records[seq - 1], [])))
    assert located(report) == {(seq, "missing_signature")}


def require_both_parties(entry: Entry) -> Collection[str]:
    """Custom signing rule: author and counterparty must both sign."""
    return {entry.author, OEM if entry.author == SUPPLIER else SUPPLIER}


def test_verifier_with_countersigner_rule_flags_exactly_the_entries_signed_by_author_alone() -> None:
    ledger = build_ledger(SIZE)
    report = verify_ledger(LEDGER, ledger.records(), ledger.keys, require_both_parties)
    unsigned = set(range(1, SIZE + 1)) - ledger.countersigned()
    assert unsigned
    assert located(report) == {(seq, "missing_signature") for seq in unsigned}


def test_verifier_locates_removed_entry_at_the_record_that_follows_the_gap() -> None:
    ledger = build_ledger(SIZE)
    seq = 6
    records = ledger.records()
    del records[seq - 1]
    report = verify(records)
    first = min(f.seq or 0 for f in report.findings)
    assert first == seq + 1
    assert {f.rule for f in report.findings if f.seq == seq + 1} == {"sequence", "hash_chain"}
    assert all(f.rule == "sequence" for f in report.findings if (f.seq or 0) > seq + 1)


def test_verifier_locates_swapped_adjacent_entries() -> None:
    ledger = build_ledger(SIZE)
    seq = 12
    records = ledger.records()
    records[seq - 1], records[seq] = records[seq], records[seq - 1]
    report = verify(records)
    assert located(report) == {
        (seq, "sequence"),
        (seq, "hash_chain"),
        (seq + 1, "sequence"),
        (seq + 1, "hash_chain"),
        (seq + 2, "hash_chain"),
    }


def test_verifier_locates_validly_signed_entry_from_another_ledger_as_wrong_ledger() -> None:
    ledger = build_ledger(SIZE)
    other = build_ledger(SIZE, name=OTHER_LEDGER)
    seq = 8
    report = verify(replace_at(ledger.records(), seq, record_of(other.sealed[seq - 1])))
    assert located(report) == {(seq, "wrong_ledger"), (seq, "hash_chain"), (seq + 1, "hash_chain")}


def test_verifier_locates_entry_claiming_a_different_seq_than_its_position() -> None:
    ledger = build_ledger(SIZE)
    seq = 3
    records = ledger.records()
    moved = Record(seq=seq, entry=records[seq].entry, signatures=records[seq].signatures)
    report = verify(replace_at(records, seq, moved))
    assert located(report) == {(seq, "wrong_ledger"), (seq, "hash_chain"), (seq + 1, "hash_chain")}


def test_verifier_locates_stored_hash_that_does_not_match_the_entry() -> None:
    ledger = build_ledger(SIZE)
    seq = 15
    records = ledger.records()
    wrong = Record(
        seq=seq,
        entry=records[seq - 1].entry,
        signatures=records[seq - 1].signatures,
        stored_hash=ledger.entry(seq - 1).hash,
    )
    report = verify(replace_at(records, seq, wrong))
    assert located(report) == {(seq, "stored_hash")}


def test_verifier_locates_malformed_signature_list_as_malformed() -> None:
    ledger = build_ledger(SIZE)
    seq = 2
    records = ledger.records()
    bad = Record(seq=seq, entry=records[seq - 1].entry, signatures={"signer": SUPPLIER})
    report = verify(replace_at(records, seq, bad))
    assert located(report) == {(seq, "malformed")}


# --- property: any single-byte change is found at its entry -----------------------


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_single_byte_change_in_any_entry_is_found_at_that_seq(data: st.DataObject) -> None:
    ledger = build_ledger(SIZE)
    records = ledger.records()
    seq = data.draw(st.integers(1, SIZE), label="seq")
    original = records[seq - 1].entry
    position = data.draw(st.integers(0, len(original) - 1), label="position")
    replacement = data.draw(st.integers(0, 255).filter(lambda b: b != original[position]), label="byte")
    changed = original[:position] + bytes([replacement]) + original[position + 1 :]
    report = verify(replace_at(records, seq, with_entry_bytes(records[seq - 1], changed)))
    assert any(f.seq == seq for f in report.findings), report.findings


# --- parallel verification gives the same report ----------------------------------


@pytest.fixture(scope="module")
def big_records() -> list[Record]:
    return build_ledger(BIG_SIZE, countersign_every=50).records()


def test_parallel_verify_with_two_workers_matches_serial_report_on_clean_ledger(
    big_records: list[Record],
) -> None:
    keys = build_ledger(BIG_SIZE, countersign_every=50).keys
    serial = verify_ledger(LEDGER, big_records, keys)
    parallel = verify_ledger_parallel(LEDGER, big_records, keys, workers=2)
    assert serial.ok
    assert serial.size == BIG_SIZE
    assert parallel == serial


def test_parallel_verify_with_two_workers_matches_serial_report_on_tampered_ledger(
    big_records: list[Record],
) -> None:
    keys = build_ledger(BIG_SIZE, countersign_every=50).keys
    seq = 3333  # in the second of three chunks
    tampered = replace_at(
        big_records, seq, with_entry_bytes(big_records[seq - 1], flip_value_byte(big_records[seq - 1].entry))
    )
    serial = verify_ledger(LEDGER, tampered, keys)
    parallel = verify_ledger_parallel(LEDGER, tampered, keys, workers=2)
    assert located(serial) == {(seq, "bad_signature"), (seq, "stored_hash"), (seq + 1, "hash_chain")}
    assert parallel == serial


def test_parallel_verify_through_a_given_pool_matches_serial_report(big_records: list[Record]) -> None:
    from concurrent.futures import ProcessPoolExecutor

    keys = build_ledger(BIG_SIZE, countersign_every=50).keys
    tampered = replace_at(
        big_records, 10, with_entry_bytes(big_records[9], flip_value_byte(big_records[9].entry))
    )
    with ProcessPoolExecutor(max_workers=2) as pool:  # records are pickled to it, not inherited
        parallel = verify_ledger_parallel(LEDGER, tampered, keys, workers=2, pool=pool)
    assert parallel == verify_ledger(LEDGER, tampered, keys)
    assert (10, "bad_signature") in located(parallel)
