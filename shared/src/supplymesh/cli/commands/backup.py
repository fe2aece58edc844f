"""``supplymesh backup`` and ``supplymesh restore``: a node's database copied and put back.

``backup`` takes an online-consistent copy of a running node's database: SQLite's backup
API (one snapshot, WAL included, then ``PRAGMA integrity_check``), or ``pg_dump
--format=custom`` for PostgreSQL (``--database-url``; one snapshot too, of the node's
schema only when its URL sets ``search_path``). Beside the copy it writes
``<file>.json``: the node and when the copy was taken.

``restore`` puts a backup back in place of a stopped node's database (SQLite: the file,
its WAL files removed; PostgreSQL: ``pg_restore --clean --if-exists --no-owner``), or with
``--empty`` removes the SQLite database to rebuild the node from nothing but its keys,
or with ``--database-restored`` only marks a node whose database was put back otherwise.
It leaves the file ``restored`` in the node directory: on its next start the node learns
from its peers what it signed after the backup before it appends anything
(:mod:`supplymesh.node.recovery`).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from sqlalchemy.engine import make_url

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
    bool, typer.Option("--database-restored", help="Put back otherwise: only mark the node restored")
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="The node's PostgreSQL database (default: its SQLite node.db)"),
]


def backup(
    node: NodeArg, to: To, state_dir: StateDir = Path("state"), database_url: DatabaseUrl = None
) -> None:
    """Copy a node's database while it runs (consistent), with a description beside it."""
    if to.exists():
        console.print(f"[red]{to} exists[/red]: choose a new file")
        raise typer.Exit(2)
    taken = format_time(datetime.now(UTC))  # before the snapshot: nothing later is in it
    partial = to.with_name(to.name + ".partial")
    if database_url is not None:
        _run(
            [
                "pg_dump",
                "--format=custom",
                *_schema_option(database_url),
                f"--file={partial}",
                _libpq(database_url),
            ]
        )
        sizes: dict[str, int] | None = None
    else:
        database = state_dir / node / DEFAULT_DB_FILE
        if not database.exists():
            console.print(f"[red]no database {database}[/red] (PostgreSQL: give --database-url)")
            raise typer.Exit(2)
        copy_database(database, partial)
        sizes = check_copy(partial)
    os.replace(partial, to)
    description = {"node": node, "taken": taken, "ledgers": sizes}
    to.with_name(to.name + ".json").write_text(json.dumps(description, indent=2) + "\n")
    console.print(f"backup of {node} taken at {taken}: {to}")


def copy_database(source: Path, target: Path) -> None:
    """An online copy of ``source`` in ``target`` (one snapshot; the node may keep writing)."""
    with closing(sqlite3.connect(source, timeout=30)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    with target.open("rb") as written:
        os.fsync(written.fileno())


def check_copy(path: Path) -> dict[str, int]:
    """The ledger sizes of an SQLite copy after SQLite's integrity check.

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
    database_url: DatabaseUrl = None,
) -> None:
    """Put a backup back in place of a stopped node's database (or rebuild it from its keys)."""
    if [source is not None, empty, external].count(True) != 1 or (empty and database_url):
        console.print(
            "[red]give one of --from FILE, --empty (SQLite), --database-restored[/red] "
            "(PostgreSQL, rebuilt from the keys: create an empty database, then --database-restored)"
        )
        raise typer.Exit(2)
    node_dir = state_dir / node
    role = refuse_unless_restorable(state_dir, node)
    since = None if source is None else _taken(source)
    if source is not None and database_url is not None:
        pg_restore = [
            "pg_restore",
            "--clean",
            "--if-exists",
            "--no-owner",
            f"--dbname={_libpq(database_url)}",
        ]
        _run([*pg_restore, str(source)])
    elif source is not None:
        check_copy(source)
        _replace_database(node_dir, source)
    elif empty:
        _replace_database(node_dir, None)
    if role == "auditor":  # it signs no ledger: its next audit fetches whatever it lacks
        console.print(f"{node} put back; as the auditor it needs no recovery")
        return
    marker = {"since": since, "restored": format_time(datetime.now(UTC))}
    (node_dir / MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n")
    what = f"the backup taken at {since}" if since else "an empty database" if empty else "its database"
    console.print(f"{node} will start from {what} and learn from its peers what it signed before it appends")


def refuse_unless_restorable(state_dir: StateDir, node: str) -> str | None:
    """The node's role, if it has its keys and is stopped (under ``up``: with its network).

    Raises:
        typer.Exit: if a key file is missing or the node answers at its URL.
    """
    missing = [name for name in (KEY_FILE, ENC_KEY_FILE) if not (state_dir / node / name).exists()]
    if missing:
        console.print(
            f"[red]{state_dir / node} lacks {', '.join(missing)}[/red]: a node restores with its keys"
        )
        raise typer.Exit(2)
    config_path = state_dir / CONFIG_FILE
    if not config_path.exists():
        return None
    member = NetworkConfig.load(config_path).member(node)
    try:
        answer: Any = httpx.get(f"{member.url}/health", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return str(member.role)
    if isinstance(answer, dict) and answer.get("node") == node:
        console.print(f"[red]{node} is running at {member.url}[/red]: stop it first")
        raise typer.Exit(2)
    return str(member.role)


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


def _libpq(database_url: str) -> str:
    """The libpq form of a node's database URL (``postgresql://``, no SQLAlchemy driver)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        console.print("[red]--database-url is for PostgreSQL[/red]: an SQLite node's database is its node.db")
        raise typer.Exit(2)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _schema_option(database_url: str) -> list[str]:
    """``--schema=S`` when the URL puts the node in its own schema (``options=-csearch_path=S``)."""
    options = str(make_url(database_url).query.get("options", ""))
    prefix = "-csearch_path="
    return [f"--schema={options.removeprefix(prefix)}"] if options.startswith(prefix) else []


def _run(command: list[str]) -> None:
    """Run a PostgreSQL client tool; exit 1 with its message if it fails."""
    try:
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=3600)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        console.print(f"[red]{command[0]} failed:[/red] {detail.strip()[:500]}")
        raise typer.Exit(1) from exc
