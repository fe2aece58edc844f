"""The explorer in a real headless browser, against a network of real node processes.

Debian's Chromium (``/usr/bin/chromium``, installed by ``scripts/install-browser``)
driven by Playwright: the explorer loads after the token login, a decision shows its
quorum signers, and an entry an insider edits in a node's database shows as a finding
that links to that very entry. A missing browser fails the test: it never skips.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

from tests.system.conftest import Up
from tests.system.test_crash import CHANNEL, DEMAND, PROFILE, wait_for

pytestmark = [pytest.mark.system, pytest.mark.browser]
CHROMIUM = Path(os.environ.get("SUPPLYMESH_TEST_CHROMIUM", "/usr/bin/chromium"))
# Headless, and nothing that would make the browser call home (updates, sync, QUIC probes).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PARTNERS = ("oem-a", "oem-b", "supplier-a", "supplier-b")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[BrowserContext]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-browser (Debian's chromium package)")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh profile every run
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
        )
        context.set_default_timeout(20_000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def network(tmp_path: Path, up_factory: Callable[..., Up]) -> Iterator[dict[str, Any]]:
    up = up_factory(tmp_path / "state")
    nodes: dict[str, Any] = up.wait_runtime()["nodes"]
    yield {"nodes": nodes, "state_dir": up.state_dir}
    assert up.stop() == 0, up.output()


def erp(nodes: dict[str, Any], node_id: str) -> httpx.Client:
    info = nodes[node_id]
    return httpx.Client(
        base_url=info["url"], timeout=30, headers={"Authorization": f"Bearer {info['erp_token']}"}
    )


def split_a_demand(nodes: dict[str, Any]) -> dict[str, Any]:
    """Both suppliers attest capacity, oem-a places a demand, the PDU splits it by quorum."""
    for supplier in ("supplier-a", "supplier-b"):
        with erp(nodes, supplier) as client:
            assert client.put("/v1/dms/profile", json=PROFILE).status_code == 200
    with erp(nodes, "oem-a") as oem:
        created = oem.post("/v1/demands", json={**DEMAND, "quantity": 1000, "required_machine_hours": "400"})
        assert created.status_code in (201, 202), created.text
        demand: dict[str, Any] = wait_for(
            lambda: (d := oem.get(f"/v1/demands/{created.json()['id']}").json())["status"] != "pending" and d,
            "the split decision",
            timeout=90,
        )
    assert demand["status"] in ("allocated", "partially_allocated") and demand["decision_id"], demand
    return demand


def clean_audit(nodes: dict[str, Any]) -> dict[str, Any]:
    """A full audit without findings (retried while replicas are still catching up)."""
    with erp(nodes, "auditor") as auditor:

        def audit() -> dict[str, Any] | None:
            report: dict[str, Any] = auditor.post("/v1/audits", json={"mode": "full"}).json()
            return report if report["ok"] else None

        result: dict[str, Any] = wait_for(audit, "a clean audit", timeout=60)
        return result


def tamper_channel_entry(state_dir: Path, holder: str, seq: int) -> None:
    """What an insider with access to the node's database does: drop the guard, edit an entry."""
    with sqlite3.connect(state_dir / holder / "node.db") as db:
        db.execute("DROP TRIGGER ledger_entries_no_update")
        changed = db.execute(
            "UPDATE ledger_entries SET entry = replace(entry, ?, ?) WHERE ledger = ? AND seq = ?",
            ('"queued_machine_hours":"100"', '"queued_machine_hours":"1"', CHANNEL, seq),
        ).rowcount
    assert changed == 1


def screenshot(page: Page, path: Path) -> None:
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5_000  # a rendered page, not an empty image


def test_explorer_in_a_browser_shows_signers_and_a_tampered_entry(
    browser: BrowserContext, network: dict[str, Any], tmp_path: Path
) -> None:
    nodes, state_dir = network["nodes"], network["state_dir"]
    demand = split_a_demand(nodes)
    clean_audit(nodes)
    with erp(nodes, "pdu") as pdu:
        decision = next(d for d in pdu.get("/v1/decisions").json() if d["id"] == demand["decision_id"])
    base = nodes["auditor"]["url"]
    page = browser.new_page()

    # Without a session the explorer asks for an auditor token; the demo's link logs in.
    page.goto(f"{base}/explorer")
    expect(page.locator("body")).to_contain_text("Auditor ERP token")
    page.goto(f"{base}/explorer/login?token={nodes['auditor']['erp_token']}")
    assert page.url == f"{base}/explorer"
    expect(page.locator("h1")).to_have_text("SupplyMesh explorer")
    expect(page.locator("h2").first).to_contain_text("ok — no findings")
    ledgers = page.locator("table#ledgers")
    expect(ledgers).to_contain_text("network")
    expect(ledgers).to_contain_text(CHANNEL)
    screenshot(page, tmp_path / "overview.png")

    # The decision page names the quorum that signed the split.
    page.get_by_role("link", name="Decisions").click()
    page.wait_for_url(f"{base}/explorer/decisions")
    row = page.locator(f"tr#decision-{decision['seq']}")
    expect(row).to_contain_text("decision.split")
    signers = row.locator("td.signers")
    certified = sorted(s["signer"] for s in decision["certificate"])
    assert len(certified) >= 3 and set(certified) <= set(PARTNERS)
    for signer in certified:
        expect(signers).to_contain_text(signer)
    expect(signers).to_contain_text(f"({len(certified)} of 3 needed)")
    screenshot(page, tmp_path / "decisions.png")

    # An insider edits seq 1 of the channel at supplier-a; a full audit run from the
    # explorer names it, and the finding links to the entry in that holder's copy.
    tamper_channel_entry(state_dir, "supplier-a", 1)
    page.get_by_role("link", name="Overview").click()
    page.get_by_role("button", name="Run a full audit now").click()
    page.wait_for_url(f"{base}/explorer")
    expect(page.locator("h2").first).to_contain_text("findings")
    findings = page.locator("table#findings tr.finding", has_text="bad_signature").filter(has_text=CHANNEL)
    expect(findings.first).to_be_visible()
    finding = findings.first  # one per signature over the edited entry
    expect(finding).to_contain_text("supplier-a")
    ledgers_named = page.locator("table#findings tr.finding td:first-child").all_inner_texts()
    assert set(ledgers_named) == {CHANNEL}, ledgers_named  # nothing else is blamed
    link = finding.get_by_role("link", name="1", exact=True)
    href = link.get_attribute("href")
    assert href is not None and href.endswith(f"/explorer/ledgers/{CHANNEL}?holder=supplier-a#seq-1"), href
    screenshot(page, tmp_path / "findings.png")
    link.click()
    page.wait_for_url(f"**/explorer/ledgers/{CHANNEL}?holder=supplier-a#seq-1")
    expect(page.locator("h1")).to_contain_text("as held by supplier-a")
    entry = page.locator("tr#seq-1")
    expect(entry).to_have_class("finding")
    expect(entry).to_contain_text('"queued_machine_hours":"1"')  # the edited content, as served
    screenshot(page, tmp_path / "tampered-entry.png")
    if directory := os.environ.get("SUPPLYMESH_TEST_SCREENSHOTS"):
        for name in ("overview", "decisions", "findings", "tampered-entry"):
            (Path(directory) / f"{name}.png").write_bytes((tmp_path / f"{name}.png").read_bytes())
