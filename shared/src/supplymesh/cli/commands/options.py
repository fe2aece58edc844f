"""What several ``supplymesh`` subcommands share: their options and the console they print to."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()

StateDir = Annotated[
    Path, typer.Option("--state-dir", help="Directory for every node's key, database and logs")
]
BasePort = Annotated[
    int, typer.Option("--base-port", min=1, max=65000, help="Port of the first node; the others follow")
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", exists=True, dir_okay=False, help="Network config (members, channels, quorum)"),
]
ResumePort = Annotated[
    int | None,
    typer.Option(
        "--base-port",
        min=1,
        max=65000,
        help="Port of the first node of a new network (default 8100); a network resumed keeps its ports",
    ),
]
