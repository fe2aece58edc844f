"""Charts of a soak result: latency percentiles over time, RSS and open files per node over time.

Usage: ``python -m benchmarks.soak_charts benchmarks/results/soak-<name>.json`` writes
``soak-<name>-latency.png`` and ``soak-<name>-resources.png`` beside it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

SHOWN_OPS = ("split", "quality", "lifecycle", "deposit", "report", "reoffer_release")


def latency_chart(result: dict[str, Any], out: Path) -> Path:
    """p50 / p95 / p99 per latency window of the main operations, one panel per operation."""
    windows = result["latency"]["windows"]
    ops = [op for op in SHOWN_OPS if op in windows]
    fig, axes = plt.subplots(len(ops), 1, figsize=(9, 2.2 * len(ops)), sharex=True, squeeze=False)
    for ax, op in zip(axes[:, 0], ops, strict=True):
        rows = windows[op]
        minutes = [r["t_end_s"] / 60 for r in rows]
        for key, style in (("p50_ms", "-"), ("p95_ms", "--"), ("p99_ms", ":")):
            ax.plot(minutes, [r[key] for r in rows], style, label=key.removesuffix("_ms"))
        ax.set_ylabel(f"{op} (ms)")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper right", ncol=3, fontsize="small")
    axes[-1, 0].set_xlabel(f"minutes into the run (windows of {result['latency']['window_s']:.0f} s)")
    fig.suptitle(_title(result, "latency percentiles"))
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def resources_chart(result: dict[str, Any], out: Path) -> Path:
    """RSS (MiB) and open files of every node over time."""
    fig, (rss, files) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
    for node, rows in sorted(result["resources"].items()):
        minutes = [t / 60 for t in rows["t_s"]]
        rss.plot(minutes, rows["rss_mib"], label=node)
        files.plot(minutes, rows["open_files"], label=node)
    rss.set_ylabel("RSS (MiB)")
    files.set_ylabel("open files")
    files.set_xlabel("minutes into the run")
    for ax in (rss, files):
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    rss.legend(loc="lower right", ncol=3, fontsize="small")
    fig.suptitle(_title(result, "node processes"))
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def _title(result: dict[str, Any], what: str) -> str:
    minutes = result["settings"]["minutes"]
    return f"soak of {minutes:g} min, {result['lifecycles']} lifecycles ({result['when'][:16]} UTC): {what}"


def draw(path: Path) -> list[Path]:
    """Both charts of the result at ``path``, written beside it."""
    result = json.loads(path.read_text())
    stem = path.with_suffix("")
    return [
        latency_chart(result, stem.with_name(stem.name + "-latency.png")),
        resources_chart(result, stem.with_name(stem.name + "-resources.png")),
    ]


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("result", type=Path, help="a soak result JSON")
    for written in draw(parser.parse_args().result):
        print(written)


if __name__ == "__main__":
    main()
