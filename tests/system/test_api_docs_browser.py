"""The API docs in a real headless browser that cannot reach anything but the node.

Debian's Chromium driven by Playwright opens ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc)
of every role's node in a network of real processes. Every request to a host other than
127.0.0.1 is aborted, and recorded: the pages must render all the same, and nothing
external may even be asked for (no CDN, no fonts, no validator badge). A missing browser
fails the test: it never skips.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, Route, expect, sync_playwright

from tests.system.conftest import Up
from tests.system.test_explorer_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.system, pytest.mark.browser]
NODES = {"oem-a": "Submit a demand", "supplier-a": "Set the plant profile", "pdu": None, "auditor": None}
LOCAL_SCHEMES = ("data", "blob", "about")


@pytest.fixture
def offline_browser(tmp_path: Path) -> Iterator[tuple[BrowserContext, list[str]]]:
    """A fresh Chromium whose context aborts, and lists, every request not to 127.0.0.1."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-test-tools (Debian's chromium package)")
    external: list[str] = []

    def only_local(route: Route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in LOCAL_SCHEMES or parts.hostname == "127.0.0.1":
            route.continue_()
        else:
            external.append(url)
            route.abort("internetdisconnected")

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
        )
        context.set_default_timeout(30_000)
        context.route("**/*", only_local)
        context.on("request", lambda r: _note_external(r.url, external))
        try:
            yield context, external
        finally:
            context.close()


def _note_external(url: str, external: list[str]) -> None:
    parts = urlsplit(url)
    if parts.scheme not in LOCAL_SCHEMES and parts.hostname != "127.0.0.1" and url not in external:
        external.append(url)


@pytest.fixture
def nodes(tmp_path: Path, up_factory: Callable[..., Up]) -> Iterator[dict[str, Any]]:
    up = up_factory(tmp_path / "state")
    found: dict[str, Any] = up.wait_runtime()["nodes"]
    yield found
    assert up.stop() == 0, up.output()


def test_swagger_ui_and_redoc_render_every_role_with_the_network_unreachable(
    offline_browser: tuple[BrowserContext, list[str]], nodes: dict[str, Any]
) -> None:
    context, external = offline_browser
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    for node_id, summary in NODES.items():
        url = nodes[node_id]["url"]
        spec = httpx.get(url + "/openapi.json", timeout=30).json()
        operations = sum(len(item) for item in spec["paths"].values())
        _swagger_ui(page, url, operations, summary)
        _redoc(page, url, summary)
    assert external == [], f"the docs asked for other hosts: {external}"
    assert errors == [], errors


def _swagger_ui(page: Page, url: str, operations: int, summary: str | None) -> None:
    page.goto(url + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("SupplyMesh")
    expect(page.locator(".opblock").first).to_be_visible()
    assert page.locator(".opblock").count() == operations
    expect(page.locator(".opblock-tag", has_text="peer")).to_be_visible()
    if summary is not None:
        block = page.locator(".opblock", has_text=summary).first
        block.locator(".opblock-summary").click()
        responses = block.locator(".responses-table")
        expect(responses).to_contain_text("401")
        expect(responses).to_contain_text("application/problem+json")


def _redoc(page: Page, url: str, summary: str | None) -> None:
    page.goto(url + "/redoc")
    menu = page.locator("[role=navigation], .menu-content").first
    expect(menu).to_contain_text("ERP API")
    expect(menu).to_contain_text("Node to node (internal)")
    expect(page.locator("h1").first).to_contain_text("SupplyMesh")
    if summary is not None:
        section = page.locator("h2", has_text=summary).first
        expect(section).to_be_visible()
        expect(page.get_by_text("No credentials, or unknown ones").first).to_be_attached()
