"""``supplymesh audit``: an audit on the auditor node of a running network, and its report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.table import Table

from supplymesh.cli.commands.options import StateDir, console
from supplymesh.cli.netgen import RUNTIME_FILE


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
