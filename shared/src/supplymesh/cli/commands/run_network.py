"""``supplymesh up``: every node of the network as a local process until interrupted.

SPEC appendix A: nodes on 127.0.0.1 from a base port, files under ``DIR/<node-id>/``,
``DIR/network.json`` written atomically once all are healthy, resume on an existing
directory, every node stopped on Ctrl-C or SIGTERM. ``supplymesh demo`` starts its
network the same way.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import typer
from rich.table import Table

from supplymesh.cli.commands.options import BasePort, ConfigOpt, StateDir, console
from supplymesh.cli.launcher import LaunchError, LocalNetwork
from supplymesh.cli.netgen import prepare, write_runtime_file
from supplymesh.config import NetworkConfig
from supplymesh.node.keys import KeyFileError


def up(state_dir: StateDir = Path("state"), config: ConfigOpt = None, base_port: BasePort = 8100) -> None:
    """Start every node of the network as local processes until interrupted."""
    network, net_config = start(state_dir, config, base_port)
    print_nodes(net_config, write_runtime_file(state_dir, net_config))
    console.print("network is up; press Ctrl-C to stop every node")
    raise typer.Exit(serve_until_stopped(network))


def print_nodes(config: NetworkConfig, runtime: Path) -> None:
    """A table of the running nodes."""
    table = Table(title=f"SupplyMesh network {config.network}")
    for column in ("node", "role", "url", "API docs"):
        table.add_column(column)
    for m in config.members:
        table.add_row(m.id, str(m.role), m.url, m.url + "/docs")
    console.print(table)
    console.print(f"ERP tokens and URLs: [bold]{runtime}[/bold]")


def start(state_dir: Path, config_file: Path | None, base_port: int) -> tuple[LocalNetwork, NetworkConfig]:
    """Prepare the directory, start every node and wait until all are healthy."""
    try:
        config = prepare(state_dir, config_file, base_port)
    except (ValueError, KeyFileError) as exc:
        console.print(f"[red]cannot prepare {state_dir}:[/red] {exc}")
        raise typer.Exit(2) from exc
    network = LocalNetwork(state_dir=state_dir, config=config)
    try:
        with console.status(f"starting {len(config.members)} nodes…"):
            network.start()
            network.wait_healthy()
    except LaunchError as exc:
        network.stop()
        console.print(f"[red]network did not start:[/red] {exc}")
        raise typer.Exit(1) from exc
    return network, config


def serve_until_stopped(network: LocalNetwork) -> int:
    """Block until Ctrl-C, SIGTERM or a node dies; stop every node; exit status."""
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            if dead := network.exited():
                console.print(f"[red]node(s) stopped unexpectedly:[/red] {dead}")
                return 1
        return 0
    finally:
        console.print("stopping every node…")
        network.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
