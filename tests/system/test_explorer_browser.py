"""The explorer in a real headless browser, against a network of real node processes.

Debian's Chromium (``/usr/bin/chromium``, installed by ``scripts/install-test-tools``)
driven by Playwright: sign-in with the form (a session cookie, never the token), every
page kind (overview, entry, decision, demand, escrow, findings, audits), search, an
error page, a phone-width view checked for sideways overflow, an entry an insider edits
shown as a finding linked to that entry, and sign-out. A missing browser fails the
test: it never skips. With ``SUPPLYMESH_SCREENSHOTS=<dir>`` the pages are also saved
there as PNGs (the ones in ``docs/images/`` are made this way).
"""

from __future__ import annotations

import functools
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, ViewportSize, expect, sync_playwright

from tests.system.conftest import Up
from tests.system.payloads import DEMAND, PROFILE
from tests.system.test_crash import CHANNEL, wait_for

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
PHONE: ViewportSize = {"width": 390, "height": 844}
DESK: ViewportSize = {"width": 1280, "height": 900}


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[BrowserContext]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-test-tools (Debian's chromium package)")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh profile every run
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=DESK,
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


def fund_and_deliver(nodes: dict[str, Any], demand: dict[str, Any]) -> list[str]:
    """Every allocation funded and produced: the first lot passes, any other fails its AQL."""
    escrows = [a["escrow_id"] for a in demand["allocations"]]
    with erp(nodes, "oem-a") as oem:
        for allocation in demand["allocations"]:
            paid = oem.post(
                f"/v1/escrows/{allocation['escrow_id']}/deposit",
                json={"amount": allocation["escrow_amount"], "currency": "EUR", "payment_reference": "PAY-1"},
            )
            assert paid.status_code == 200, paid.text
        for number, allocation in enumerate(demand["allocations"]):
            with erp(nodes, allocation["supplier"]) as supplier:
                done = supplier.post(
                    f"/v1/orders/{allocation['escrow_id']}/production-complete",
                    json={
                        "produced_quantity": allocation["quantity"],
                        "defects": {
                            "critical": 0,
                            "major": 0 if number == 0 else allocation["quantity"] // 5,
                            "minor": 0,
                        },
                    },
                )
                assert done.status_code == 200, done.text
        for escrow in escrows:
            wait_for(functools.partial(decided, oem, escrow), f"the quality decision on {escrow}", timeout=90)
    return escrows


def decided(oem: httpx.Client, escrow: str) -> bool:
    return bool(oem.get(f"/v1/escrows/{escrow}").json()["state"] in ("released", "refunded"))


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


class Shots:
    """Screenshots of the pages, kept in the test's directory and, if asked, for the docs."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.docs = (
            Path(os.environ["SUPPLYMESH_SCREENSHOTS"]) if os.environ.get("SUPPLYMESH_SCREENSHOTS") else None
        )

    def take(self, page: Page, name: str) -> None:
        path = self.directory / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 5_000  # a rendered page, not an empty image
        if self.docs is not None:
            self.docs.mkdir(parents=True, exist_ok=True)
            (self.docs / f"{name}.png").write_bytes(path.read_bytes())


def no_sideways_overflow(page: Page) -> None:
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{page.url} is {width[0]} px wide in a {width[1]} px window"


def sign_in(page: Page, base: str, token: str) -> None:
    """The form, not a link: the token is typed in and posted, never put in a URL."""
    answer = page.goto(f"{base}/explorer/escrows")
    assert answer is not None and answer.status == 401
    expect(page.locator("h1")).to_have_text("Sign in")
    page.fill("#token", "not-a-token")
    page.click("button[type=submit]")
    expect(page.locator("#error")).to_contain_text("not an auditor token")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/explorer/escrows")  # back to the page asked for
    assert token not in page.url
    cookies = [c for c in page.context.cookies() if c["name"] == "supplymesh_explorer"]
    assert len(cookies) == 1 and cookies[0]["value"] != token, cookies
    assert cookies[0]["httpOnly"] and cookies[0]["sameSite"] == "Strict" and cookies[0]["path"] == "/explorer"
    assert cookies[0]["expires"] > 0  # Max-Age: it ends, unlike a browser-session cookie
    assert page.evaluate("() => document.cookie") == ""  # out of reach of scripts


def visit_objects(page: Page, base: str, shots: Shots, demand: dict[str, Any], escrows: list[str]) -> None:
    """Overview → decision → its base entry → its demand → an escrow, by the links."""
    page.get_by_role("link", name="Overview").click()
    expect(page.locator("table#ledgers")).to_contain_text("5/5 holders agree")
    expect(page.locator("table#ledgers")).to_contain_text(CHANNEL)
    expect(page.locator("#audit")).to_contain_text("ok — no findings")
    shots.take(page, "overview")

    page.get_by_role("link", name="Decisions").click()
    page.locator("table#decisions tr", has_text="decision.split").first.locator("td a").first.click()
    expect(page.locator("h1")).to_contain_text("decision.split")
    expect(page.locator("#quorum")).to_have_text(re.compile(r"^[34]/4 signed · threshold 3"))
    expect(page.locator("table#split")).to_contain_text(" EUR")
    shots.take(page, "decision")

    page.locator("#base a").click()
    expect(page.locator("#signatures")).to_contain_text("signature verifies")
    expect(page.locator("#hash button.copy")).to_be_visible()
    shots.take(page, "entry")
    page.go_back()

    page.locator("#subject a").click()
    page.wait_for_url("**/explorer/demands/**")
    timeline = page.locator("#timeline")
    for step in ("Submitted by oem-a", "Capacity attested by", "Split:", "Deposit", "Inspection", "Released"):
        expect(timeline).to_contain_text(step)
    shots.take(page, "demand")

    page.locator("table#escrows a").first.click()
    expect(page.locator("h1 .badge")).to_have_text(re.compile("released|refunded"))
    expect(page.locator("#timeline")).to_contain_text("Deposit")
    shots.take(page, "escrow")


def search_and_errors(page: Page, base: str, shots: Shots, escrows: list[str]) -> None:
    """The search box finds an escrow by the start of its id; a miss and an unknown object are pages."""
    page.fill("form.search input[name=q]", escrows[-1][:10])
    page.click("form.search button")
    page.wait_for_url(f"{base}/explorer/escrows/{escrows[-1]}")
    page.fill("form.search input[name=q]", "f00dfeed")
    with page.expect_response(re.compile(r"/explorer/search")) as answer:
        page.click("form.search button")
    assert answer.value.status == 404
    expect(page.locator("h1")).to_have_text("Nothing found")
    shots.take(page, "search")
    missing = page.goto(f"{base}/explorer/escrows/{'0' * 32}")
    assert missing is not None and missing.status == 404
    assert missing.headers["content-type"].startswith("text/html")
    expect(page.locator("#message")).to_contain_text("There is no escrow")


def on_a_phone(page: Page, base: str, shots: Shots, demand: dict[str, Any]) -> None:
    """390 × 844: every page kind fits the width; tables scroll inside their own box."""
    page.set_viewport_size(PHONE)
    for path in (
        "/explorer/decisions",
        "/explorer/ledgers/network",
        "/explorer/escrows",
        "/explorer/findings",
    ):
        page.goto(base + path)
        no_sideways_overflow(page)
    page.goto(f"{base}/explorer")
    no_sideways_overflow(page)
    shots.take(page, "phone")
    page.locator("form.search input[name=q]").fill(demand["decision_id"])
    page.click("form.search button")
    page.wait_for_url(re.compile(r"/explorer/(decisions/\d+|ledgers/network/entries/\d+)"))
    no_sideways_overflow(page)
    shots.take(page, "phone-decision")
    page.locator("#subject a").click()
    page.wait_for_url("**/explorer/demands/**")
    no_sideways_overflow(page)
    page.set_viewport_size(DESK)


def tampered_entry_is_a_finding(page: Page, base: str, state_dir: Path) -> None:
    """An insider edits seq 1 of the channel at supplier-a; an audit run from the explorer names it."""
    tamper_channel_entry(state_dir, "supplier-a", 1)
    page.goto(f"{base}/explorer/findings")
    page.get_by_role("button", name="Run a full audit now").click()
    page.wait_for_url(f"{base}/explorer/findings")
    findings = page.locator("table#findings tr.finding", has_text="bad_signature").filter(has_text=CHANNEL)
    expect(findings.first).to_be_visible()
    ledgers_named = page.locator("table#findings tr.finding td:first-child").all_inner_texts()
    assert set(ledgers_named) == {CHANNEL}, ledgers_named  # nothing else is blamed
    link = findings.first.get_by_role("link", name="1", exact=True)
    assert link.get_attribute("href") == f"/explorer/ledgers/{CHANNEL}/entries/1?holder=supplier-a"
    link.click()
    expect(page.locator("#findings")).to_contain_text("bad_signature")
    expect(page.locator("#signatures")).to_contain_text("does not verify")
    expect(page.locator("#body")).to_contain_text(
        '"queued_machine_hours": "1"'
    )  # the edited content, as served
    page.get_by_role("link", name="Audits").click()
    expect(page.locator("table#audits")).to_contain_text("findings")


def test_explorer_in_a_browser(browser: BrowserContext, network: dict[str, Any], tmp_path: Path) -> None:
    nodes, state_dir = network["nodes"], network["state_dir"]
    demand = split_a_demand(nodes)
    escrows = fund_and_deliver(nodes, demand)
    clean_audit(nodes)
    base = nodes["auditor"]["url"]
    shots = Shots(tmp_path)
    page = browser.new_page()

    sign_in(page, base, nodes["auditor"]["erp_token"])
    visit_objects(page, base, shots, demand, escrows)
    search_and_errors(page, base, shots, escrows)
    on_a_phone(page, base, shots, demand)
    tampered_entry_is_a_finding(page, base, state_dir)

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{base}/explorer/login")
    assert not [c for c in browser.cookies() if c["name"] == "supplymesh_explorer"]
    again = page.goto(f"{base}/explorer")
    assert again is not None and again.status == 401
