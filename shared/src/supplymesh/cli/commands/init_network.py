"""``supplymesh init``: keys, ERP tokens and the network config of a new network.

With ``--exist-ok`` an existing network is checked and kept; a config written before
channel encryption gets its members' encryption keys added.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from supplymesh.cli.commands.options import BasePort, StateDir, console
from supplymesh.cli.netgen import CONFIG_FILE, ensure_node_files, prepare, seats_from_file
from supplymesh.config import NetworkConfig
from supplymesh.node.erp_clients import write_private_file
from supplymesh.node.keys import KeyFileError

UrlTemplate = Annotated[
    str | None,
    typer.Option(
        "--url-template",
        help="Members' URLs, e.g. 'http://{id}:8000' in a container network "
        "(default: http://127.0.0.1:<base port + n>)",
    ),
]
ExistOk = Annotated[
    bool,
    typer.Option("--exist-ok", help="If the network exists, check its files and keep them (exit 0)"),
]


def init(
    state_dir: StateDir = Path("state"),
    suppliers: Annotated[int, typer.Option(min=1, help="Number of supplier nodes")] = 2,
    oems: Annotated[int, typer.Option(min=1, help="Number of OEM nodes")] = 2,
    base_port: BasePort = 8100,
    url_template: UrlTemplate = None,
    exist_ok: ExistOk = False,
) -> None:
    """Generate keys, ERP tokens and the network config for a new network."""
    if (state_dir / CONFIG_FILE).exists():
        if not exist_ok:
            console.print(f"[red]{state_dir / CONFIG_FILE} exists[/red]; use `supplymesh up` to resume it")
            raise typer.Exit(2)
        keep_network(state_dir)
        return
    try:
        config = prepare(
            state_dir, None, base_port, suppliers=suppliers, oems=oems, url_template=url_template
        )
    except ValueError as exc:
        console.print(f"[red]cannot create the network:[/red] {exc}")
        raise typer.Exit(2) from exc
    console.print(f"wrote {state_dir / CONFIG_FILE} with {len(config.members)} members")


def keep_network(state_dir: Path) -> None:
    """Check the existing network's files, add missing encryption keys, keep the rest (exit 2 if unusable)."""
    try:
        seats, _ = seats_from_file(state_dir / CONFIG_FILE)
        config = NetworkConfig.load(state_dir / CONFIG_FILE)
        keys = {seat.id: ensure_node_files(state_dir, seat) for seat in seats}
    except (ValueError, KeyFileError) as exc:
        console.print(f"[red]the existing network in {state_dir} is not usable:[/red] {exc}")
        raise typer.Exit(2) from exc
    if any(m.encryption_key is None for m in config.members):
        config = add_encryption_keys(state_dir, config, {node: pair[1] for node, pair in keys.items()})
    console.print(f"kept {state_dir / CONFIG_FILE} with {len(config.members)} members")


def add_encryption_keys(state_dir: Path, config: NetworkConfig, public_keys: dict[str, str]) -> NetworkConfig:
    """Rewrite a config from before channel encryption with its members' encryption keys, nothing else."""
    config = NetworkConfig.model_validate(
        {
            **config.model_dump(mode="json"),
            "members": [
                {**m.model_dump(mode="json"), "encryption_key": public_keys[m.id]} for m in config.members
            ],
        }
    )
    write_private_file(state_dir / CONFIG_FILE, config.to_json())
    (state_dir / CONFIG_FILE).chmod(0o644)
    console.print(f"added encryption keys to {state_dir / CONFIG_FILE}")
    return config
