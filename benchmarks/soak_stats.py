"""Latency percentiles over time windows, resource series per node, and the flatness rule.

Flatness is judged per node after a warm-up, on the samples of the run's second quarter
(the reference) against its last quarter:

* **RSS flat**: the median RSS of the last quarter is at most :data:`RSS_GROWTH` (10 %)
  above the median RSS of the second quarter;
* **open files flat**: the most open files seen in the second half is at most
  :data:`FILES_SLACK` (8) above the most seen between the warm-up and the half-way point.

The first quarter is the warm-up (connection pools, caches and the first ledger pages
fill). The RSS slope over the second half (MiB per minute, least squares) is recorded
beside it.
"""

from __future__ import annotations

import statistics
from typing import Any

SERIES = ("rss_mib", "open_files", "threads", "children", "children_rss_mib")
RSS_GROWTH = 0.10
FILES_SLACK = 8


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile ``q`` (0–1) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(seconds: list[float]) -> dict[str, float]:
    """Count, p50, p95, p99 and max of durations in seconds, in milliseconds."""
    return {
        "n": len(seconds),
        "p50_ms": round(percentile(seconds, 0.50) * 1000, 1),
        "p95_ms": round(percentile(seconds, 0.95) * 1000, 1),
        "p99_ms": round(percentile(seconds, 0.99) * 1000, 1),
        "max_ms": round(max(seconds) * 1000, 1),
    }


def latency(ops: list[tuple[float, str, float]], window: float) -> dict[str, Any]:
    """Per operation: the whole run's percentiles, and percentiles per window of ``window`` seconds."""
    by_op: dict[str, list[tuple[float, float]]] = {}
    for end, op, seconds in ops:
        by_op.setdefault(op, []).append((end, seconds))
    overall = {op: summary([s for _, s in rows]) for op, rows in sorted(by_op.items())}
    windows: dict[str, list[dict[str, Any]]] = {}
    for op, rows in sorted(by_op.items()):
        buckets: dict[int, list[float]] = {}
        for end, seconds in rows:
            buckets.setdefault(int(end // window), []).append(seconds)
        windows[op] = [{"t_end_s": (k + 1) * window, **summary(v)} for k, v in sorted(buckets.items())]
    return {"window_s": window, "overall": overall, "windows": windows}


def series(samples: list[dict[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """Per node: sample times, RSS (MiB), open files, threads, child processes and their RSS."""
    out: dict[str, dict[str, list[float]]] = {}
    for row in samples:
        for node, figures in row["nodes"].items():
            if "rss_mib" not in figures:
                continue
            rows = out.setdefault(node, {"t_s": [], **{key: [] for key in SERIES}})
            rows["t_s"].append(row["t"])
            for key in SERIES:
                rows[key].append(figures[key])
    return out


def _slope_per_minute(times: list[float], values: list[float]) -> float:
    if len(times) < 2:
        return 0.0
    mean_t, mean_v = statistics.fmean(times), statistics.fmean(values)
    spread = sum((t - mean_t) ** 2 for t in times)
    if spread == 0:
        return 0.0
    return 60 * sum((t - mean_t) * (v - mean_v) for t, v in zip(times, values, strict=True)) / spread


def flatness(node_series: dict[str, dict[str, list[float]]], duration: float) -> dict[str, Any]:
    """The flatness rule (module docstring) applied to every node."""
    judged: dict[str, Any] = {}
    for node, rows in node_series.items():

        def pick(key: str, low: float, high: float, rows: dict[str, list[float]] = rows) -> list[float]:
            return [
                v
                for t, v in zip(rows["t_s"], rows[key], strict=True)
                if low * duration <= t <= high * duration
            ]

        second_q, last_q = pick("rss_mib", 0.25, 0.5), pick("rss_mib", 0.75, 1.0)
        files_before, files_after = pick("open_files", 0.25, 0.5), pick("open_files", 0.5, 1.0)
        if not (second_q and last_q and files_before and files_after):
            judged[node] = {"judged": False, "why": "too few samples"}
            continue
        reference, last = statistics.median(second_q), statistics.median(last_q)
        late = [(t, v) for t, v in zip(rows["t_s"], rows["rss_mib"], strict=True) if t >= duration / 2]
        judged[node] = {
            "judged": True,
            "rss_mib_second_quarter_median": round(reference, 1),
            "rss_mib_last_quarter_median": round(last, 1),
            "rss_growth_pct": round(100 * (last - reference) / reference, 1),
            "rss_slope_mib_per_min_second_half": round(
                _slope_per_minute(*map(list, zip(*late, strict=True))), 3
            ),
            "rss_flat": last <= reference * (1 + RSS_GROWTH),
            "open_files_max_before_half": max(files_before),
            "open_files_max_after_half": max(files_after),
            "open_files_flat": max(files_after) <= max(files_before) + FILES_SLACK,
        }
    return judged
