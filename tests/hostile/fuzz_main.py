"""The longer fuzzing run behind ``scripts/fuzz``: the CI checks, with many random examples.

Seeds the six-node network once (SQLite files in a temporary directory, or schemas of
the PostgreSQL database given with ``--database-url``), then repeats rounds until the
time is up (``--minutes``; one round without it). A round, on every node: up to
``--examples`` positive and as many negative requests per operation of its role's
OpenAPI document, then ``--scenarios`` linked sequences of up to ``--steps`` calls.
Prints what it did per node and every failure; exits 1 if there was any.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.conftest import DatabaseFactory
from tests.hostile.fuzz_net import NODES, FuzzNetwork
from tests.hostile.fuzz_run import Tally, fuzz_links, fuzz_operations


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=25, help="requests per operation and mode (25)")
    parser.add_argument("--scenarios", type=int, default=25, help="linked sequences per node and round (25)")
    parser.add_argument("--steps", type=int, default=8, help="calls per linked sequence at most (8)")
    parser.add_argument("--minutes", type=float, default=0.0, help="repeat rounds this long (0: one round)")
    parser.add_argument("--nodes", nargs="+", default=list(NODES), choices=NODES, help="nodes (all six)")
    parser.add_argument("--database-url", default="", help="PostgreSQL URL (default: SQLite files)")
    return parser.parse_args(argv)


def _databases(state: Path, url: str) -> DatabaseFactory:
    """A database factory: SQLite files in ``state``, or fresh schemas of ``url``."""
    if not url:
        return lambda name: f"sqlite:///{state / (name + '.db')}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")

    def make(name: str) -> str:
        schema = f"fuzz_{name.replace('-', '_')}_{uuid.uuid4().hex[:8]}"  # left for inspection
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"

    return make


def _report(node_id: str, tally: Tally, seconds: float) -> None:
    print(
        f"{node_id:11} {len(tally.operations):3} operations  {tally.requests:6} requests"
        f"  {tally.refused:6} refused  {tally.scenarios:4} linked sequences  {seconds:7.1f} s",
        flush=True,
    )


def main(argv: list[str]) -> int:
    """Run the fuzzing rounds; 0 if nothing failed."""
    args = _arguments(argv)
    with tempfile.TemporaryDirectory(prefix="supplymesh-fuzz-") as tmp:
        net = FuzzNetwork(Path(tmp) / "state", _databases(Path(tmp), args.database_url))
        tallies = {node_id: Tally() for node_id in args.nodes}
        ends = time.monotonic() + args.minutes * 60
        rounds = 0
        try:
            while rounds == 0 or time.monotonic() < ends:
                rounds += 1
                for node_id in args.nodes:
                    started = time.monotonic()
                    tally = tallies[node_id]
                    fuzz_operations(net, node_id, args.examples, randomize=True, tally=tally)
                    fuzz_links(net, node_id, args.scenarios, steps=args.steps, randomize=True, tally=tally)
                    _report(node_id, tally, time.monotonic() - started)
        finally:
            net.close()
    failures = [failure for tally in tallies.values() for failure in tally.failures]
    total = sum(t.requests for t in tallies.values())
    print(f"{rounds} round(s), {total} requests, {len(failures)} failure(s)")
    for failure in failures:
        print("\nFAILED " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
