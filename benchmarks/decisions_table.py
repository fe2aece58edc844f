"""The markdown table of a decisions sweep, beside the figures of 2026-12-03.

Usage: ``python -m benchmarks.decisions_table [benchmarks/results/decisions-sweep.json]``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.bench_decisions import RESULTS

BEFORE = {  # partners: network start (s), split p50 (ms), split p90 (ms), burst decisions/s
    4: ("7.6", "184", "212", "4.2"),
    8: ("12.7", "885", "1,140", "1.6"),
    16: ("20.2", "1,117", "1,536", "1.3"),
    32: ("40.6", "2,641", "3,273", "0.7"),
}
HEADER = (
    "| partners | network start | split p50 | split p90 | burst decisions/s "
    "| CPU-s per decision, all nodes (PDU) | cores busy | rate the cores allow (the PDU allows) "
    "| floor: signed round p50 | split p50 ÷ floor | floor: durable commit p50 |"
)


def _ms(value: float) -> str:
    return f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


def row(size: dict[str, Any]) -> str:
    """One table row: 2026-12-03 → this run, for each figure measured then."""
    before = BEFORE.get(size["partners"], ("–", "–", "–", "–"))
    if "split_decision" not in size or "burst" not in size:
        return f"| {size['partners']} | {before[0]} s → {size.get('error', 'not measured')} |"
    split, burst = size["split_decision"], size["burst"]
    floors = size["floors"]
    signed = floors["signed_round_to_all_partners"]["p50_ms"]
    per_role = burst["cpu_seconds_per_decision_by_role"]
    cells = [
        str(size["partners"]),
        f"{before[0]} s → {size['network_start_s']:.1f} s",
        f"{before[1]} → {_ms(split['p50_ms'])}",
        f"{before[2]} → {_ms(split['p90_ms'])}",
        f"{before[3]} → {burst['decisions_per_s']:.1f}",
        f"{burst['cpu_seconds_per_decision']:.3f} ({per_role.get('pdu', 0):.3f})",
        f"{burst['cores_busy']:.2f}",
        f"{burst['cpu_bound_decisions_per_s']:.1f} ({burst['pdu_bound_decisions_per_s']:.1f})",
        _ms(signed),
        f"{split['p50_ms'] / signed:.0f}×",
        _ms(floors["raw_sqlite_durable_commit"]["p50_ms"]),
    ]
    return "| " + " | ".join(cells) + " |"


def table(results: dict[str, Any]) -> str:
    """The whole table, header first."""
    columns = HEADER.count("|") - 1
    lines = [HEADER, "|" + "---|" * columns]
    lines += [row(size) for size in results["sizes"]]
    return "\n".join(lines)


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS
    print(table(json.loads(path.read_text())))


if __name__ == "__main__":
    main()
