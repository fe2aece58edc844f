"""The ``supplymesh`` command: the Typer app, its subcommands in help order, and the entry point.

Each subcommand lives in :mod:`supplymesh.cli.commands` by concern: ``init``
(:mod:`~supplymesh.cli.commands.init_network`), ``up``
(:mod:`~supplymesh.cli.commands.run_network`), ``demo`` and ``scenarios``
(:mod:`~supplymesh.cli.commands.scenarios`), ``status``
(:mod:`~supplymesh.cli.commands.status`), ``logs`` and ``stop``
(:mod:`~supplymesh.cli.commands.logs`), ``audit``
(:mod:`~supplymesh.cli.commands.audit`), ``backup`` and ``restore``
(:mod:`~supplymesh.cli.commands.backup`) and ``openapi``
(:mod:`~supplymesh.cli.commands.openapi`); ``--version`` prints the version.
"""

from __future__ import annotations

from typing import Annotated

import typer

from supplymesh import __version__
from supplymesh.cli.commands.audit import audit
from supplymesh.cli.commands.backup import backup, restore
from supplymesh.cli.commands.init_network import init
from supplymesh.cli.commands.logs import logs, stop
from supplymesh.cli.commands.openapi import openapi
from supplymesh.cli.commands.run_network import up
from supplymesh.cli.commands.scenarios import demo, scenarios
from supplymesh.cli.commands.status import status

__all__ = ["app", "main"]

app = typer.Typer(
    help="SupplyMesh: multi-party supply-network nodes.", no_args_is_help=True, add_completion=False
)
for command in (init, up, status, logs, stop, demo, scenarios, audit, backup, restore, openapi):
    app.command()(command)


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"supplymesh {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit"),
    ] = False,
) -> None:
    """SupplyMesh: multi-party supply-network nodes."""


def main() -> None:
    """Console-script entry point."""
    app()
