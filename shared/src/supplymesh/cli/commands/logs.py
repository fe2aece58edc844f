"""``supplymesh logs`` and ``supplymesh stop``: a local network's logs, and stopping its launcher.

Node logs live in ``DIR/<node-id>/node.log``. ``stop`` finds the launcher of ``up`` or
``demo`` by the pid it keeps in ``DIR/launcher.json``, sends it SIGTERM (it stops every
node, as Ctrl-C does) and waits for it to exit.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections import deque
from pathlib import Path
from typing import Annotated

import typer

from supplymesh.cli.commands.options import StateDir, console
from supplymesh.cli.launcher import LAUNCHER_FILE

LOG_FILE = "node.log"
NodeArg = Annotated[str | None, typer.Argument(help="Node id (default: every node)")]
Follow = Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines until Ctrl-C")]
Lines = Annotated[int, typer.Option("--lines", "-n", min=0, help="Lines of each log to print first")]
Wait = Annotated[float, typer.Option("--timeout", min=1, help="Seconds to wait for the network to stop")]


def logs(
    node: NodeArg = None, state_dir: StateDir = Path("state"), follow: Follow = False, lines: Lines = 50
) -> None:
    """Print a node's log (or every node's, each line prefixed with its node), optionally following it."""
    available = sorted(p.parent.name for p in state_dir.glob(f"*/{LOG_FILE}"))
    if node is not None and node not in available:
        known = ", ".join(available) or "none"
        console.print(f"[red]no log for {node} in {state_dir}[/red] (nodes with a log: {known})")
        raise typer.Exit(2)
    chosen = [node] if node is not None else available
    if not chosen:
        console.print(f"[red]no node logs in {state_dir}[/red]")
        raise typer.Exit(2)
    prefix = node is None
    positions = {}
    for name in chosen:
        path = state_dir / name / LOG_FILE
        for line in tail(path, lines):
            emit(name, line, prefix=prefix)
        positions[name] = path.stat().st_size
    if follow:
        with contextlib.suppress(KeyboardInterrupt):
            follow_logs(state_dir, positions, prefix=prefix)


def tail(path: Path, count: int) -> list[str]:
    """The last ``count`` lines of ``path``."""
    if count == 0:
        return []
    with path.open(encoding="utf-8", errors="replace") as handle:
        return list(deque((line.rstrip("\n") for line in handle), maxlen=count))


def emit(node: str, line: str, *, prefix: bool) -> None:
    """Print one log line as it is (markup and all), prefixed with its node when several are shown."""
    sys.stdout.write(f"{node} | {line}\n" if prefix else f"{line}\n")
    sys.stdout.flush()


def follow_logs(state_dir: Path, positions: dict[str, int], *, prefix: bool, poll: float = 0.3) -> None:
    """Print lines appended to each log from ``positions`` on, until interrupted."""
    partial = dict.fromkeys(positions, "")
    while True:
        for name, offset in positions.items():
            path = state_dir / name / LOG_FILE
            size = path.stat().st_size if path.exists() else 0
            if size < offset:  # truncated or replaced: start again from its beginning
                offset = 0
            if size == offset:
                continue
            with path.open("rb") as handle:
                handle.seek(offset)
                chunk = handle.read(size - offset).decode("utf-8", errors="replace")
            positions[name] = size
            *complete, partial[name] = (partial[name] + chunk).split("\n")
            for line in complete:
                emit(name, line, prefix=prefix)
        time.sleep(poll)


def stop(state_dir: StateDir = Path("state"), timeout: Wait = 60.0) -> None:
    """Stop the network that `supplymesh up` (or `demo`) runs from the state directory."""
    record = state_dir / LAUNCHER_FILE
    try:
        pid = int(json.loads(record.read_text(encoding="utf-8"))["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        console.print(f"no network is running from {state_dir} (no {record})")
        return
    if not is_launcher(pid):
        record.unlink(missing_ok=True)
        console.print(f"no network is running from {state_dir} (launcher {pid} is gone; removed {record})")
        return
    console.print(f"stopping the network of {state_dir} (launcher pid {pid})…")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while is_launcher(pid):
        if time.monotonic() > deadline:
            console.print(f"[red]the launcher {pid} is still running after {timeout:.0f} s[/red]")
            raise typer.Exit(1)
        time.sleep(0.2)
    console.print("[green]stopped[/green]: every node of the network has exited")


def is_launcher(pid: int) -> bool:
    """``pid`` is a live (not zombie) ``supplymesh`` process; where ``/proc`` is missing, any live pid."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process: the pid was reused
    proc = Path(f"/proc/{pid}")
    if not proc.exists():
        return True
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        command = (proc / "cmdline").read_bytes()
    except (OSError, IndexError):
        return False
    return state != "Z" and b"supplymesh" in command
