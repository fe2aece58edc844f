"""cProfile one node process of a benchmark network, switched on and off by signals.

Put this directory on ``PYTHONPATH`` of the node processes (``LocalNetwork.env``) with
``SUPPLYMESH_BENCH_PROFILE_NODE`` (the node id to profile) and
``SUPPLYMESH_BENCH_PROFILE_OUT`` (the ``.prof`` file to write). In that node only,
SIGUSR1 starts profiling its main thread (the event loop, where the decision loop and the
async routes run) and SIGUSR2 stops it and writes the stats. Every other process ignores
this module. Nothing in the product imports it.
"""

from __future__ import annotations

import cProfile
import os
import signal
import sys
from types import FrameType

NODE_ENV = "SUPPLYMESH_BENCH_PROFILE_NODE"
OUT_ENV = "SUPPLYMESH_BENCH_PROFILE_OUT"


def _node_id(argv: list[str]) -> str | None:
    if "--node-id" in argv:
        index = argv.index("--node-id")
        return argv[index + 1] if index + 1 < len(argv) else None
    return None


def _install(out: str) -> None:
    profiler = cProfile.Profile()

    def start(_signum: int, _frame: FrameType | None) -> None:
        profiler.enable()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        profiler.disable()
        profiler.dump_stats(out)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)


_wanted = os.environ.get(NODE_ENV)
_out = os.environ.get(OUT_ENV)
if _wanted and _out and _node_id(sys.argv) == _wanted:
    _install(_out)
