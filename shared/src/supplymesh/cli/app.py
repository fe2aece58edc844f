"""``supplymesh`` commands: ``init``, ``up``, ``demo``.

``up`` and ``demo`` follow SPEC appendix A: nodes on 127.0.0.1 from a base port, files
under ``DIR/<node-id>/``, ``DIR/network.json`` written atomically once all are healthy,
resume on an existing directory, every node stopped on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from supplymesh.cli.launcher import LaunchError, LocalNetwork
from supplymesh.cli.netgen import (
    CONFIG_FILE,
    RUNTIME_FILE,
    build_network,
    default_seats,
    ensure_node_files,
    read_token,
    seats_from_file,
)
from supplymesh.cli.openapi import export
from supplymesh.cli.scenarios import Demo, ScenarioFailed
from supplymesh.config import NetworkConfig
from supplymesh.node.erp_clients import write_private_file
from supplymesh.node.keys import KeyFileError

app = typer.Typer(
    help="SupplyMesh: multi-party supply-network nodes.", no_args_is_help=True, add_completion=False
)
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


def prepare(
    state_dir: Path,
    config_file: Path | None,
    base_port: int,
    suppliers: int = 2,
    oems: int = 2,
    url_template: str | None = None,
) -> NetworkConfig:
    """Keys, tokens and the public config in ``state_dir`` (reused when present)."""
    existing = state_dir / CONFIG_FILE
    if config_file is not None:
        seats, extra = seats_from_file(config_file)
    elif existing.exists():
        seats, extra = seats_from_file(existing)
    else:
        seats, extra = default_seats(suppliers=suppliers, oems=oems), {}
    return build_network(state_dir, seats, base_port=base_port, url_template=url_template, extra=extra)


def write_runtime_file(state_dir: Path, config: NetworkConfig) -> Path:
    """Write ``DIR/network.json`` (URLs and ERP tokens) atomically."""
    nodes = {
        m.id: {"role": str(m.role), "url": m.url, "erp_token": read_token(state_dir, m.id)}
        for m in config.members
    }
    path = state_dir / RUNTIME_FILE
    write_private_file(path, json.dumps({"nodes": nodes}, indent=2) + "\n")
    return path


def print_nodes(config: NetworkConfig, runtime: Path) -> None:
    """A table of the running nodes."""
    table = Table(title=f"SupplyMesh network {config.network}")
    for column in ("node", "role", "url", "API docs"):
        table.add_column(column)
    for m in config.members:
        table.add_row(m.id, str(m.role), m.url, m.url + "/docs")
    console.print(table)
    console.print(f"ERP tokens and URLs: [bold]{runtime}[/bold]")


def start(state_dir: Path, config_file: Path | None, base_port: int) -> tuple[LocalNetwork, NetworkConfig]:
    """Prepare the directory, start every node and wait until all are healthy."""
    try:
        config = prepare(state_dir, config_file, base_port)
    except (ValueError, KeyFileError) as exc:
        console.print(f"[red]cannot prepare {state_dir}:[/red] {exc}")
        raise typer.Exit(2) from exc
    network = LocalNetwork(state_dir=state_dir, config=config)
    try:
        with console.status(f"starting {len(config.members)} nodes…"):
            network.start()
            network.wait_healthy()
    except LaunchError as exc:
        network.stop()
        console.print(f"[red]network did not start:[/red] {exc}")
        raise typer.Exit(1) from exc
    return network, config


def serve_until_stopped(network: LocalNetwork) -> int:
    """Block until Ctrl-C, SIGTERM or a node dies; stop every node; exit status."""
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            if dead := network.exited():
                console.print(f"[red]node(s) stopped unexpectedly:[/red] {dead}")
                return 1
        return 0
    finally:
        console.print("stopping every node…")
        network.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@app.command()
def init(
    state_dir: StateDir = Path("state"),
    suppliers: Annotated[int, typer.Option(min=1, help="Number of supplier nodes")] = 2,
    oems: Annotated[int, typer.Option(min=1, help="Number of OEM nodes")] = 2,
    base_port: BasePort = 8100,
    url_template: Annotated[
        str | None,
        typer.Option(
            "--url-template",
            help="Members' URLs, e.g. 'http://{id}:8000' in a container network "
            "(default: http://127.0.0.1:<base port + n>)",
        ),
    ] = None,
    exist_ok: Annotated[
        bool,
        typer.Option("--exist-ok", help="If the network exists, check its files and keep them (exit 0)"),
    ] = False,
) -> None:
    """Generate keys, ERP tokens and the network config for a new network."""
    if (state_dir / CONFIG_FILE).exists():
        if not exist_ok:
            console.print(f"[red]{state_dir / CONFIG_FILE} exists[/red]; use `supplymesh up` to resume it")
            raise typer.Exit(2)
        try:
            seats, _ = seats_from_file(state_dir / CONFIG_FILE)
            config = NetworkConfig.load(state_dir / CONFIG_FILE)
            keys = {seat.id: ensure_node_files(state_dir, seat) for seat in seats}
        except (ValueError, KeyFileError) as exc:
            console.print(f"[red]the existing network in {state_dir} is not usable:[/red] {exc}")
            raise typer.Exit(2) from exc
        if any(m.encryption_key is None for m in config.members):
            # a config from before channel encryption: add the keys, keep everything else
            config = NetworkConfig.model_validate(
                {
                    **config.model_dump(mode="json"),
                    "members": [
                        {**m.model_dump(mode="json"), "encryption_key": keys[m.id][1]} for m in config.members
                    ],
                }
            )
            write_private_file(state_dir / CONFIG_FILE, config.to_json())
            (state_dir / CONFIG_FILE).chmod(0o644)
            console.print(f"added encryption keys to {state_dir / CONFIG_FILE}")
        console.print(f"kept {state_dir / CONFIG_FILE} with {len(config.members)} members")
        return
    try:
        config = prepare(
            state_dir, None, base_port, suppliers=suppliers, oems=oems, url_template=url_template
        )
    except ValueError as exc:
        console.print(f"[red]cannot create the network:[/red] {exc}")
        raise typer.Exit(2) from exc
    console.print(f"wrote {state_dir / CONFIG_FILE} with {len(config.members)} members")


@app.command()
def up(state_dir: StateDir = Path("state"), config: ConfigOpt = None, base_port: BasePort = 8100) -> None:
    """Start every node of the network as local processes until interrupted."""
    network, net_config = start(state_dir, config, base_port)
    print_nodes(net_config, write_runtime_file(state_dir, net_config))
    console.print("network is up; press Ctrl-C to stop every node")
    raise typer.Exit(serve_until_stopped(network))


@app.command()
def demo(
    state_dir: Annotated[
        Path | None,
        typer.Option("--state-dir", help="Directory for the demo network (default: a new one under ./state)"),
    ] = None,
    base_port: BasePort = 8100,
    exit_after: Annotated[bool, typer.Option("--exit", help="Stop the network and exit when done")] = False,
) -> None:
    """Start the four-partner network and run the paper's two scenarios through its API."""
    if state_dir is None:
        state_dir = Path("state") / time.strftime("demo-%Y%m%d-%H%M%S")
    if (state_dir / RUNTIME_FILE).exists() or (state_dir / "pdu" / "node.db").exists():
        console.print(
            f"[red]{state_dir} already holds a network[/red]; the demo needs a fresh one "
            "(omit --state-dir, or use `supplymesh up` to resume it)"
        )
        raise typer.Exit(2)
    network, net_config = start(state_dir, None, base_port)
    runtime = write_runtime_file(state_dir, net_config)
    print_nodes(net_config, runtime)
    demo_run = Demo(json.loads(runtime.read_text())["nodes"], console)
    status = 0
    try:
        demand = demo_run.scenario_1()
        demo_run.scenario_2(demand)
        demo_run.ledger_heads()
        console.print("[bold green]both scenarios succeeded[/bold green]")
        console.rule("Audit — every ledger from every holder, re-verified and re-executed")
        if print_report(demo_run.audit()) != 0:
            status = 1
        auditor = next(
            info for info in json.loads(runtime.read_text())["nodes"].values() if info["role"] == "auditor"
        )
        console.print(
            f"explorer: [bold]{auditor['url']}/explorer/login?token={auditor['erp_token']}[/bold]",
            soft_wrap=True,
        )
    except (ScenarioFailed, httpx.HTTPError) as exc:
        console.print(f"[bold red]scenario failed:[/bold red] {exc}")
        status = 1
    finally:
        demo_run.close()
    if exit_after or status:
        network.stop()
        raise typer.Exit(status)
    console.print(f"network is up (state in {state_dir}); press Ctrl-C to stop every node")
    raise typer.Exit(serve_until_stopped(network))


@app.command()
def scenarios(
    nodes_file: Annotated[
        Path,
        typer.Option(
            "--nodes",
            exists=True,
            dir_okay=False,
            help='JSON file {"nodes": {id: {role, url, erp_token}}}, like DIR/network.json of `up`',
        ),
    ],
    stop_after: Annotated[
        int, typer.Option("--stop-after", min=1, max=2, help="Last scenario to run (2 builds on 1)")
    ] = 2,
    run_audit: Annotated[bool, typer.Option("--audit/--no-audit", help="Finish with a full audit")] = True,
) -> None:
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
    demo_run = Demo(nodes, console)
    status = 0
    try:
        demand = demo_run.scenario_1()
        if stop_after == 2:
            demo_run.scenario_2(demand)
        demo_run.ledger_heads()
        console.print("[bold green]scenario(s) succeeded[/bold green]")
        if run_audit:
            console.rule("Audit — every ledger from every holder, re-verified and re-executed")
            status = print_report(demo_run.audit())
    except (ScenarioFailed, httpx.HTTPError) as exc:
        console.print(f"[bold red]scenario failed:[/bold red] {exc}")
        status = 1
    finally:
        demo_run.close()
    raise typer.Exit(status)


@app.command()
def audit(
    state_dir: StateDir = Path("state"),
    mode: Annotated[str, typer.Option(help="full (default) or incremental")] = "full",
) -> None:
    """Run an audit on the auditor node of a running network; exit 1 if there are findings."""
    runtime = state_dir / RUNTIME_FILE
    if not runtime.exists():
        console.print(f"[red]no running network in {state_dir}[/red] (start one with `supplymesh up`)")
        raise typer.Exit(2)
    nodes = json.loads(runtime.read_text())["nodes"]
    auditor = next(info for info in nodes.values() if info["role"] == "auditor")
    with console.status("pulling and verifying every ledger from every holder…"):
        try:
            response = httpx.post(
                auditor["url"] + "/v1/audits",
                json={"mode": mode},
                timeout=600,
                headers={"Authorization": f"Bearer {auditor['erp_token']}"},
            )
        except httpx.HTTPError as exc:
            console.print(f"[red]the auditor did not answer:[/red] {exc}")
            raise typer.Exit(2) from exc
    if response.status_code != 200:
        console.print(f"[red]audit refused:[/red] HTTP {response.status_code} {response.text[:300]}")
        raise typer.Exit(2)
    raise typer.Exit(print_report(response.json()))


def print_report(report: dict[str, Any]) -> int:
    """Print an audit report; 0 if ok, 1 if there are findings."""
    ledgers = {(item["ledger"]) for item in report["ledgers"]}
    fetched = report.get("fetched_entries")
    mode = report.get("mode", "full")
    suffix = f" ({mode} audit, {fetched} entries fetched)" if fetched is not None else ""
    console.print(f"audited {len(report['ledgers'])} copies of {len(ledgers)} ledgers{suffix}")
    waits = report.get("demand_waits") or []
    decided = [w for w in waits if w.get("seconds") is not None]
    if waits:
        longest = max(decided, key=lambda w: w["seconds"], default=None)
        detail = (
            f", longest wait {longest['seconds']} s (network seq {longest['submitted_seq']})"
            if longest
            else ""
        )
        console.print(
            f"demands: {len(decided)} decided, {len(waits) - len(decided)} waiting for a decision{detail}"
        )
    if report["ok"]:
        console.print("[bold green]audit ok: no findings[/bold green]")
        return 0
    table = Table("ledger", "seq", "rule", "detail", title=f"{len(report['findings'])} findings")
    for finding in report["findings"]:
        table.add_row(finding["ledger"], str(finding["seq"] or ""), finding["rule"], finding["detail"])
    console.print(table)
    return 1


@app.command()
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


def main() -> None:
    """Console-script entry point."""
    app()
