"""``supplymesh openapi``: export every service's OpenAPI document, or check the export is current."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from supplymesh.cli.commands.options import console
from supplymesh.cli.openapi import export


def openapi(
    out: Annotated[Path, typer.Option(help="Directory for <role>.json")] = Path("docs/openapi"),
    check: Annotated[
        bool, typer.Option("--check", help="Fail if the files differ from the services")
    ] = False,
) -> None:
    """Export every service's OpenAPI document (or check the exported ones are current)."""
    stale = export(out, check=check)
    if stale:
        console.print(f"[red]stale OpenAPI export:[/red] {', '.join(stale)}; run `supplymesh openapi`")
        raise typer.Exit(1)
    console.print(f"OpenAPI documents {'are current' if check else 'written'} in {out}")
