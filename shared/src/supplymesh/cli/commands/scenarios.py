"""``supplymesh demo`` and ``supplymesh scenarios``: the paper's two scenarios through the ERP API.

``demo`` starts a fresh four-partner network first (as ``up`` does) and keeps it running
afterwards unless told to exit; ``scenarios`` drives a network that is already running.
Both finish with a full audit (``scenarios`` unless ``--no-audit``); exit status 1 if a
step fails or the audit finds anything.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from supplymesh.cli.commands.audit import print_report
from supplymesh.cli.commands.options import BasePort, console
from supplymesh.cli.commands.run_network import print_explorer_hint, print_nodes, running, start, supervise
from supplymesh.cli.netgen import RUNTIME_FILE, write_runtime_file
from supplymesh.cli.scenario_client import ScenarioFailed
from supplymesh.cli.scenarios import Demo
from supplymesh.cli.stop_signals import stop_signals

DemoStateDir = Annotated[
    Path | None,
    typer.Option("--state-dir", help="Directory for the demo network (default: a new one under ./state)"),
]
ExitAfter = Annotated[bool, typer.Option("--exit", help="Stop the network and exit when done")]
NodesFile = Annotated[
    Path,
    typer.Option(
        "--nodes",
        exists=True,
        dir_okay=False,
        help='JSON file {"nodes": {id: {role, url, erp_token}}}, like DIR/network.json of `up`',
    ),
]
StopAfter = Annotated[
    int, typer.Option("--stop-after", min=1, max=2, help="Last scenario to run (2 builds on 1)")
]
RunAudit = Annotated[bool, typer.Option("--audit/--no-audit", help="Finish with a full audit")]


def demo(state_dir: DemoStateDir = None, base_port: BasePort = 8100, exit_after: ExitAfter = False) -> None:
    """Start the four-partner network and run the paper's two scenarios through its API."""
    if state_dir is None:
        state_dir = Path("state") / time.strftime("demo-%Y%m%d-%H%M%S")
    if (state_dir / RUNTIME_FILE).exists() or (state_dir / "pdu" / "node.db").exists():
        console.print(
            f"[red]{state_dir} already holds a network[/red]; the demo needs a fresh one "
            "(omit --state-dir, or use `supplymesh up` to resume it)"
        )
        raise typer.Exit(2)
    with stop_signals() as stop:
        network, net_config = start(state_dir, None, base_port, stop)
        with running(network):
            runtime = write_runtime_file(state_dir, net_config)
            print_nodes(net_config, runtime)
            nodes = json.loads(runtime.read_text())["nodes"]
            status = run_scenarios(
                nodes,
                stop_after=2,
                run_audit=True,
                succeeded="[bold green]both scenarios succeeded[/bold green]",
                then=lambda: print_explorer_link(nodes, runtime),
            )
            if exit_after or status or stop.is_set():  # a stop during the scenarios ends here
                raise typer.Exit(status)
            console.print(f"network is up (state in {state_dir}); press Ctrl-C to stop every node")
            supervise(network, stop)


def scenarios(nodes_file: NodesFile, stop_after: StopAfter = 2, run_audit: RunAudit = True) -> None:
    """Run the paper's scenarios against a network that is already running (e.g. docker compose).

    The network must be fresh: scenario 1 sets the suppliers' plant profiles and checks
    the split of the worked example. Exit status 1 if a step fails or the audit finds
    anything.
    """
    try:
        nodes = json.loads(nodes_file.read_text(encoding="utf-8"))["nodes"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        console.print(f"[red]{nodes_file} is not a nodes file:[/red] {exc}")
        raise typer.Exit(2) from exc
    status = run_scenarios(
        nodes,
        stop_after=stop_after,
        run_audit=run_audit,
        succeeded="[bold green]scenario(s) succeeded[/bold green]",
    )
    raise typer.Exit(status)


def run_scenarios(
    nodes: dict[str, Any],
    *,
    stop_after: int,
    run_audit: bool,
    succeeded: str,
    then: Callable[[], None] = lambda: None,
) -> int:
    """Scenario 1 (and 2), the ledger heads, the audit, then ``then``; 1 if a step fails or audit finds."""
    demo_run = Demo(nodes, console)
    status = 0
    try:
        demand = demo_run.scenario_1()
        if stop_after == 2:
            demo_run.scenario_2(demand)
        demo_run.ledger_heads()
        console.print(succeeded)
        if run_audit:
            console.rule("Audit — every ledger from every holder, re-verified and re-executed")
            status = print_report(demo_run.audit())
        then()
    except (ScenarioFailed, httpx.HTTPError) as exc:
        console.print(f"[bold red]scenario failed:[/bold red] {exc}")
        status = 1
    finally:
        demo_run.close()
    return status


def print_explorer_link(nodes: dict[str, Any], nodes_file: Path) -> None:
    """The auditor's explorer URL and where its ERP token is; never the token in a URL."""
    auditor = next(info for info in nodes.values() if info["role"] == "auditor")
    print_explorer_hint(auditor["url"], f"its erp_token in {nodes_file}")
