"""Every claim of docs/reliability.md names a test that exists."""

from __future__ import annotations

from pathlib import Path

from tests.unit.test_threat_model_doc import REFERENCE, defined_tests

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "reliability.md"


def test_every_test_the_reliability_document_names_exists() -> None:
    references = REFERENCE.findall(DOC.read_text(encoding="utf-8"))
    missing = [
        f"{path}::{name}"
        for path, name in references
        if not (ROOT / path).is_file() or name not in defined_tests(ROOT / path)
    ]
    assert missing == []


def test_every_claim_row_names_a_test() -> None:
    rows = [line for line in DOC.read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    claims = [r for r in rows if r.count("|") == 3 and not r.startswith("| claim")]
    assert [r for r in claims if not REFERENCE.search(r)] == []
