"""``supplymesh backup`` and ``supplymesh restore``: a node's SQLite database copied and put back.

``backup`` takes an online-consistent copy of a running node's SQLite database with
SQLite's backup API (a snapshot in one read transaction, WAL included), checks it and
writes it next to a small description (``<file>.json``: node, time, ledger sizes).
``restore`` puts a backup back in place of a stopped node's database (or, with
``--empty``, removes the database to rebuild the node from nothing but its keys; with
``--database-restored``, only marks a node whose PostgreSQL database was restored with
``pg_restore``) and leaves the file ``restored`` in the node directory: on its next
start the node learns from its peers what it signed after the backup before it appends
anything (:mod:`supplymesh.node.recovery`).
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from supplymesh.cli.commands.options import StateDir, console
from supplymesh.cli.netgen import CONFIG_FILE
from supplymesh.config import NetworkConfig
from supplymesh.core.entry import format_time
from supplymesh.node.keys import ENC_KEY_FILE, KEY_FILE
from supplymesh.node.recovery import MARKER_FILE
from supplymesh.node.settings import DEFAULT_DB_FILE

NodeArg = Annotated[str, typer.Argument(help="Node id (its directory in the state directory)")]
To = Annotated[Path, typer.Option("--to", dir_okay=False, help="File to write the copy to (must not exist)")]
From = Annotated[
    Path | None, typer.Option("--from", exists=True, dir_okay=False, help="Backup file made by `backup`")
]
Empty = Annotated[bool, typer.Option("--empty", help="No backup: rebuild the node from its keys and peers")]
External = Annotated[
    bool,
    typer.Option("--database-restored", help="Restored otherwise (pg_restore): only mark the node"),
]


def backup(node: NodeArg, to: To, state_dir: StateDir = Path("state")) -> None:
    """Copy a node's SQLite database while it runs (consistent), with a description beside it."""
    database = state_dir / node / DEFAULT_DB_FILE
    if not database.exists():
        console.print(f"[red]no database {database}[/red] (a PostgreSQL node is backed up with pg_dump)")
        raise typer.Exit(2)
    if to.exists():
        console.print(f"[red]{to} exists[/red]: choose a new file")
        raise typer.Exit(2)
    taken = format_time(datetime.now(UTC))
    partial = to.with_name(to.name + ".partial")
    copy_database(database, partial)
    sizes = check_copy(partial)
    os.replace(partial, to)
    description = {"node": node, "taken": taken, "ledgers": sizes}
    to.with_name(to.name + ".json").write_text(json.dumps(description, indent=2) + "\n")
    console.print(f"backup of {node} at {taken}: {to} ({', '.join(f'{k} {v}' for k, v in sizes.items())})")


def copy_database(source: Path, target: Path) -> None:
    """An online copy of ``source`` in ``target`` (one snapshot; the node may keep writing)."""
    with closing(sqlite3.connect(source, timeout=30)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    with target.open("rb") as written:
        os.fsync(written.fileno())


def check_copy(path: Path) -> dict[str, int]:
    """The ledger sizes of a copy after SQLite's integrity check.

    Raises:
        typer.Exit: if the file is not a sound node database.
    """
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            verdict = db.execute("PRAGMA integrity_check").fetchone()[0]
            rows = db.execute("SELECT ledger, MAX(seq) FROM ledger_entries GROUP BY ledger").fetchall()
    except sqlite3.DatabaseError as exc:
        console.print(f"[red]{path} is not a node database:[/red] {exc}")
        raise typer.Exit(1) from exc
    if verdict != "ok":
        console.print(f"[red]{path} fails SQLite's integrity check:[/red] {verdict}")
        raise typer.Exit(1)
    return {str(ledger): int(size) for ledger, size in rows}


def restore(
    node: NodeArg,
    state_dir: StateDir = Path("state"),
    source: From = None,
    empty: Empty = False,
    external: External = False,
) -> None:
    """Put a backup back in place of a stopped node's database (or rebuild it from its keys)."""
    if [source is not None, empty, external].count(True) != 1:
        console.print("[red]give exactly one of --from FILE, --empty, --database-restored[/red]")
        raise typer.Exit(2)
    node_dir = state_dir / node
    refuse_unless_stopped(state_dir, node)
    missing = [name for name in (KEY_FILE, ENC_KEY_FILE) if not (node_dir / name).exists()]
    if missing:
        console.print(f"[red]{node_dir} lacks {', '.join(missing)}[/red]: a node restores with its own keys")
        raise typer.Exit(2)
    since: str | None = None
    if source is not None:
        check_copy(source)
        since = _taken(source)
        _replace_database(node_dir, source)
    elif empty:
        _replace_database(node_dir, None)
    marker = {"since": since, "restored": format_time(datetime.now(UTC))}
    (node_dir / MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n")
    what = f"the backup of {since}" if since else "an empty database" if empty else "its restored database"
    console.print(f"{node} will start from {what} and catch up from its peers before it appends")


def refuse_unless_stopped(state_dir: StateDir, node: str) -> None:
    """Exit if ``node`` answers at its URL (a node under ``supplymesh up`` is stopped with the network).

    Raises:
        typer.Exit: if the node is running.
    """
    config_path = state_dir / CONFIG_FILE
    if not config_path.exists():
        return
    url = NetworkConfig.load(config_path).member(node).url
    try:
        answer: Any = httpx.get(f"{url}/health", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return
    if isinstance(answer, dict) and answer.get("node") == node:
        console.print(f"[red]{node} is running at {url}[/red]: stop it first")
        raise typer.Exit(2)


def _taken(source: Path) -> str | None:
    """When the backup was taken, from its description (None if it has none)."""
    description = source.with_name(source.name + ".json")
    try:
        return str(json.loads(description.read_text())["taken"])
    except (OSError, ValueError, KeyError):
        return None


def _replace_database(node_dir: Path, source: Path | None) -> None:
    """Put ``source`` (or nothing) in place of the node's database; its WAL files go with the old one."""
    database = node_dir / DEFAULT_DB_FILE
    staged = node_dir / (DEFAULT_DB_FILE + ".restoring")
    if source is not None:
        staged.write_bytes(source.read_bytes())
        with staged.open("rb") as written:
            os.fsync(written.fileno())
    for suffix in ("-wal", "-shm", ""):  # a WAL left beside the restored file would be replayed onto it
        (node_dir / (DEFAULT_DB_FILE + suffix)).unlink(missing_ok=True)
    if source is not None:
        os.replace(staged, database)
