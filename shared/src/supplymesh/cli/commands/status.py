"""``supplymesh status``: every node's ``/health`` at a glance, as a table or as JSON.

The nodes come from a nodes file (``--nodes``, like ``DIR/network.json``) or a state
directory (its ``network.json``, else its ``network-config.json``). ``/health`` needs no
token. Exit status 1 if any node does not answer, 2 if there is nothing to ask.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.table import Table

from supplymesh.cli.commands.options import StateDir, console
from supplymesh.cli.launcher import LAUNCHER_FILE
from supplymesh.cli.netgen import CONFIG_FILE, RUNTIME_FILE

StatusNodes = Annotated[
    Path | None,
    typer.Option(
        "--nodes",
        exists=True,
        dir_okay=False,
        help="Nodes file (DIR/network.json of `up`) instead of a state dir",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table")]
Timeout = Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait for each node")]


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """One node's answer to ``/health``, or why there was none."""

    node: str
    role: str
    url: str
    health: dict[str, Any] | None
    error: str | None
    restarts: int | None

    @property
    def up(self) -> bool:
        """The node answered ``/health`` with 200."""
        return self.health is not None

    def as_json(self) -> dict[str, Any]:
        """The JSON form ``--json`` prints."""
        return {
            "node": self.node,
            "role": self.role,
            "url": self.url,
            "up": self.up,
            "error": self.error,
            "restarts": self.restarts,
            "health": self.health,
        }


def status(
    state_dir: StateDir = Path("state"),
    nodes_file: StatusNodes = None,
    as_json: AsJson = False,
    timeout: Timeout = 3.0,
) -> None:
    """Every node's health, role, version, ledger sizes, peers, outbox backlog and last audit."""
    try:
        nodes = load_nodes(state_dir, nodes_file)
    except ValueError as exc:
        console.print(f"[red]no nodes to ask:[/red] {exc}")
        raise typer.Exit(2) from exc
    restarts = None if nodes_file is not None else launcher_restarts(state_dir)
    found = asyncio.run(ask_all(nodes, timeout, restarts))
    if as_json:
        typer.echo(json.dumps([s.as_json() for s in found], indent=2))
    else:
        console.print(status_table(found))
        down = [s.node for s in found if not s.up]
        console.print(f"[red]down: {', '.join(down)}[/red]" if down else "[green]every node is up[/green]")
    raise typer.Exit(0 if all(s.up for s in found) else 1)


def load_nodes(state_dir: Path, nodes_file: Path | None) -> dict[str, dict[str, Any]]:
    """``{node: {role, url, …}}`` from the nodes file or the state directory.

    Raises:
        ValueError: if neither holds a network.
    """
    path = nodes_file or state_dir / RUNTIME_FILE
    try:
        if path.exists():
            nodes: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["nodes"]
            return {n: {"role": str(v["role"]), "url": str(v["url"])} for n, v in nodes.items()}
        members = json.loads((state_dir / CONFIG_FILE).read_text(encoding="utf-8"))["members"]
        return {str(m["id"]): {"role": str(m["role"]), "url": str(m["url"])} for m in members}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{path} (or {state_dir / CONFIG_FILE}) does not list the network's nodes: {exc}"
        ) from exc


def launcher_restarts(state_dir: Path) -> dict[str, int] | None:
    """How often the running launcher restarted each node (None if no launcher runs)."""
    try:
        restarts = json.loads((state_dir / LAUNCHER_FILE).read_text(encoding="utf-8"))["restarts"]
        return {str(k): int(v) for k, v in restarts.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


async def ask_all(
    nodes: dict[str, dict[str, Any]], timeout: float, restarts: dict[str, int] | None
) -> list[NodeStatus]:
    """Every node's ``/health``, asked at the same time."""
    async with httpx.AsyncClient(timeout=timeout) as client:
        return list(
            await asyncio.gather(
                *(
                    ask(client, node, info, None if restarts is None else restarts.get(node, 0))
                    for node, info in nodes.items()
                )
            )
        )


async def ask(client: httpx.AsyncClient, node: str, info: dict[str, Any], restarts: int | None) -> NodeStatus:
    """One node's ``/health``."""
    role, url = info["role"], info["url"]
    try:
        answer = await client.get(url.rstrip("/") + "/health")
    except httpx.ConnectError:
        return NodeStatus(node, role, url, None, "not listening", restarts)
    except httpx.TimeoutException:
        return NodeStatus(node, role, url, None, "no answer in time", restarts)
    except httpx.HTTPError as exc:
        return NodeStatus(node, role, url, None, f"no answer ({type(exc).__name__})", restarts)
    if answer.status_code != 200:
        return NodeStatus(node, role, url, None, f"HTTP {answer.status_code}", restarts)
    try:
        health: dict[str, Any] = answer.json()
    except ValueError:
        return NodeStatus(node, role, url, None, "not a health answer", restarts)
    if health.get("node") != node:
        return NodeStatus(
            node, role, url, None, f"another node answers there ({health.get('node')!r})", restarts
        )
    return NodeStatus(node, role, url, health, None, restarts)


def status_table(found: list[NodeStatus]) -> Table:
    """The table ``status`` prints: one row per node, narrow enough for an 80-column terminal.

    The version is in the title when every answering node runs the same one (a column
    when they differ); restarts are a column once a node has been restarted.
    """
    versions = {str(s.health.get("version", "?")) for s in found if s.health is not None}
    title = "SupplyMesh network status"
    if len(versions) == 1:
        title += f" · version {next(iter(versions))}"
    table = Table(title=title, caption="peers: answering/known; idle = not called since the node started")
    columns = ["node", "role", "state", "version", "ledgers", "peers", "outbox", "last audit", "restarts"]
    shown = [
        c
        for c in columns
        if (c != "version" or len(versions) > 1) and (c != "restarts" or any(s.restarts for s in found))
    ]
    for column in shown:  # names and counts never wrap; a narrow terminal wraps the rest
        table.add_column(column, no_wrap=column in ("node", "role", "outbox", "restarts"))
    for s in found:
        cells = dict(zip(columns, [s.node, s.role, *health_cells(s), str(s.restarts or 0)], strict=True))
        table.add_row(*(cells[c] for c in shown))
    return table


def health_cells(s: NodeStatus) -> list[str]:
    """State, version, ledgers, peers, outbox and last audit of one node."""
    h = s.health
    if h is None:
        return [f"[red]down[/red]: {s.error}", "", "", "", "", ""]
    ledgers = "\n".join(f"{name} {size}" for name, size in sorted(h.get("ledgers", {}).items())) or "-"
    state = "[green]up[/green]"
    if h.get("status") == "degraded":  # the node's own database fails
        state = f"[yellow]degraded[/yellow]: database {h.get('database', {}).get('last_error')}"
    return [
        state,
        str(h.get("version", "?")),
        ledgers,
        peers_cell(h.get("peers", {})),
        str(h.get("outbox", {}).get("pending", "?")),
        audit_cell(h.get("last_audit")),
    ]


def peers_cell(peers: dict[str, dict[str, Any]]) -> str:
    """``4/5`` answering, the peers last seen not answering, and how many are idle (not called yet)."""
    answering = sum(1 for v in peers.values() if v.get("reachable") is True)
    away = sorted(p for p, v in peers.items() if v.get("reachable") is False)
    unknown = sum(1 for v in peers.values() if v.get("reachable") is None)
    text = f"{answering}/{len(peers)}"
    if away:
        text += f" [red]unreachable: {', '.join(away)}[/red]"
    if unknown:
        text += f" ({unknown} idle)"
    return text


def audit_cell(audit: dict[str, Any] | None) -> str:
    """``ok, full, <time>`` or the finding count; ``-`` without an audit."""
    if not audit:
        return "-"
    verdict = "[green]ok[/green]" if audit.get("ok") else f"[red]{audit.get('findings')} finding(s)[/red]"
    return f"{verdict}, {audit.get('mode')}, {audit.get('time')}"
