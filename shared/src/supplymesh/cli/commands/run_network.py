"""``supplymesh up``: every node of the network as a local process until interrupted.

SPEC appendix A: nodes on 127.0.0.1 from a base port, files under ``DIR/<node-id>/``,
``DIR/network.json`` written atomically once all are healthy, resume on an existing
directory (on the ports it was first given), every node stopped on Ctrl-C or SIGTERM
(``supplymesh stop``). A node that dies is restarted with back-off
(:mod:`supplymesh.cli.supervisor`) while the others keep running. ``supplymesh demo``
starts its network the same way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.table import Table

from supplymesh.cli.commands.options import ConfigOpt, ResumePort, StateDir, console
from supplymesh.cli.launcher import LaunchError, LaunchStopped, LocalNetwork
from supplymesh.cli.netgen import TOKEN_FILE, prepare, write_runtime_file
from supplymesh.cli.stop_signals import stop_signals
from supplymesh.cli.supervisor import Supervisor
from supplymesh.config import NetworkConfig, Role
from supplymesh.node.keys import KeyFileError


def up(state_dir: StateDir = Path("state"), config: ConfigOpt = None, base_port: ResumePort = None) -> None:
    """Start every node of the network as local processes until interrupted (or `supplymesh stop`)."""
    with stop_signals() as stop:
        network, net_config = start(state_dir, config, base_port, stop)
        with running(network):
            print_nodes(net_config, write_runtime_file(state_dir, net_config))
            print_explorer(net_config, state_dir)
            console.print("network is up; press Ctrl-C (or run `supplymesh stop`) to stop every node")
            supervise(network, stop)


def print_explorer(config: NetworkConfig, state_dir: Path) -> None:
    """Where the auditor's explorer is, and which token signs in to it (never in the URL)."""
    auditor = next((m for m in config.members if m.role == Role.AUDITOR), None)
    if auditor is not None:
        print_explorer_hint(auditor.url, str(state_dir / auditor.id / TOKEN_FILE))


def print_explorer_hint(auditor_url: str, token_place: str) -> None:
    """The explorer's link and where the auditor's ERP token to sign in with is kept."""
    console.print(
        f"explorer: [bold]{auditor_url}/explorer[/bold] — "
        f"sign in with the auditor's ERP token ({token_place})",
        soft_wrap=True,
    )


def print_nodes(config: NetworkConfig, runtime: Path) -> None:
    """A table of the running nodes."""
    table = Table(title=f"SupplyMesh network {config.network}")
    for column in ("node", "role", "url", "API docs"):
        table.add_column(column)
    for m in config.members:
        table.add_row(m.id, str(m.role), m.url, m.url + "/docs")
    console.print(table)
    console.print(f"ERP tokens and URLs: [bold]{runtime}[/bold]")


def start(
    state_dir: Path, config_file: Path | None, base_port: int | None, stop: threading.Event
) -> tuple[LocalNetwork, NetworkConfig]:
    """Prepare the directory, start every node and wait until all are healthy.

    A stop (``stop`` set) before every node is healthy stops the nodes started so far
    and exits 0.
    """
    try:
        config = prepare(state_dir, config_file, base_port)
    except (ValueError, KeyFileError) as exc:
        console.print(f"[red]cannot prepare {state_dir}:[/red] {exc}")
        raise typer.Exit(2) from exc
    network = LocalNetwork(state_dir=state_dir, config=config)
    try:
        with console.status(f"starting {len(config.members)} nodes…"):
            network.start()
            network.wait_healthy(stopped=stop.is_set)
    except LaunchStopped:
        network.stop()
        console.print("stopped before every node was healthy")
        raise typer.Exit(0) from None
    except LaunchError as exc:
        network.stop()
        console.print(f"[red]network did not start:[/red] {exc}")
        raise typer.Exit(1) from exc
    return network, config


@contextmanager
def running(network: LocalNetwork) -> Iterator[None]:
    """Stop every node when the block ends, however it ends."""
    try:
        yield
    finally:
        console.print("stopping every node…")
        network.stop()


def supervise(network: LocalNetwork, stop: threading.Event) -> None:
    """Restart nodes that die, with back-off, until a stop is asked for."""
    supervisor = Supervisor(network, report=lambda text: console.print(f"[yellow]{text}[/yellow]"))
    while not stop.wait(0.5):
        supervisor.check(time.monotonic())
