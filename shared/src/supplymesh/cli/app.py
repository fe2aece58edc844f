"""The ``supplymesh`` command: the Typer app, its subcommands in help order, and the entry point.

Each subcommand lives in :mod:`supplymesh.cli.commands` by concern: ``init``
(:mod:`~supplymesh.cli.commands.init_network`), ``up``
(:mod:`~supplymesh.cli.commands.run_network`), ``demo`` and ``scenarios``
(:mod:`~supplymesh.cli.commands.scenarios`), ``audit``
(:mod:`~supplymesh.cli.commands.audit`) and ``openapi``
(:mod:`~supplymesh.cli.commands.openapi`).
"""

from __future__ import annotations

import typer

from supplymesh.cli.commands.audit import audit
from supplymesh.cli.commands.init_network import init
from supplymesh.cli.commands.openapi import openapi
from supplymesh.cli.commands.run_network import up
from supplymesh.cli.commands.scenarios import demo, scenarios

__all__ = ["app", "main"]

app = typer.Typer(
    help="SupplyMesh: multi-party supply-network nodes.", no_args_is_help=True, add_completion=False
)
for command in (init, up, demo, scenarios, audit, openapi):
    app.command()(command)


def main() -> None:
    """Console-script entry point."""
    app()
