"""SPEC §8: lot quality declared by the ERP agrees with the DMS where readings exist.

The auditor cannot read a supplier's DMS. When a supplier reports production complete
for an order that has DMS readings, it also records on its channel with the buyer, as a
private (sealed) ``order.state`` entry, what its DMS derived for that order
(:func:`dms_record`): the distinct units measured and the defective units per class.
The auditor opens it with its channel key and compares it with every ``lot.quality``
entry of that order whose ``source`` is ``declared``: declaring fewer defects of a class
than the DMS found, or a produced quantity (for a sampled lot, a sample size) other than
the units the DMS measured, is a finding ``quality.declared_disagrees_with_dms``.
Nothing of it reaches the network ledger (SPEC §2); the finding names the classes, not
the counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from supplymesh.audit.pull import Pull, finding
from supplymesh.audit.semantics import UNINTERPRETABLE, malformed
from supplymesh.core.contracts.channel import QUALITY_KIND
from supplymesh.core.contracts.dms import DEFECT_CLASSES
from supplymesh.core.verify import Finding

DMS_RECORD_KIND = "order.state"
DISAGREES = "quality.declared_disagrees_with_dms"


def dms_record(order: str, units: int, defects: Mapping[str, int]) -> dict[str, Any]:
    """The private channel body with what the DMS derived for ``order`` at production complete."""
    return {
        "order": order,
        "dms_units": int(units),
        "dms_defects": {str(c): int(defects.get(str(c), 0)) for c in DEFECT_CLASSES},
    }


def check_declared_quality_matches_dms(pull: Pull) -> list[Finding]:
    """Declared lot quality reports no fewer defects, and no other quantity, than the DMS saw."""
    findings: list[Finding] = []
    for ledger in pull.channels():
        reference, opened = pull.reference(ledger), pull.opened(ledger)
        if reference is None or opened is None:
            continue
        seen: dict[str, Mapping[str, Any]] = {}
        for sealed in reference.entries():
            entry = sealed.entry
            try:
                body = opened.bodies.get(entry.seq) if entry.kind == DMS_RECORD_KIND else None
                if body is not None and "dms_units" in body:
                    seen[str(body.get("order"))] = body
                elif entry.kind == QUALITY_KIND and entry.body.get("source") == "declared":
                    dms = seen.get(str(entry.body.get("order")))
                    detail = _disagreement(entry.body, dms) if dms is not None else None
                    if detail is not None:
                        findings.append(finding(ledger, entry.seq, DISAGREES, detail))
            except UNINTERPRETABLE as exc:
                findings.append(malformed(ledger, entry.seq, "declared_quality_matches_dms", exc))
    return findings


def _disagreement(lot: Mapping[str, Any], dms: Mapping[str, Any]) -> str | None:
    """What a declared lot says against the DMS record of its order (None: they agree)."""
    declared, derived = _counts(lot.get("defects")), _counts(dms.get("dms_defects"))
    fewer = [str(c) for c in DEFECT_CLASSES if declared.get(str(c), -1) < derived.get(str(c), 0)]
    problems = []
    if fewer:
        problems.append(f"declares fewer {', '.join(fewer)} defects than the DMS found")
    counted = "sample_size" if "sample_size" in lot else "produced_quantity"
    units = dms.get("dms_units")
    if not _is_count(units) or lot.get(counted) != units:
        what = "sample size" if counted == "sample_size" else "produced quantity"
        problems.append(f"declares a {what} other than the units the DMS measured")
    if not problems:
        return None
    return f"order {str(lot.get('order'))[:64]}: " + "; ".join(problems)


def _counts(value: object) -> dict[str, int]:
    """Defect counts per class, keeping only exact non-negative integers."""
    if not isinstance(value, Mapping):
        return {}
    return {str(k): v for k, v in value.items() if _is_count(v)}


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
