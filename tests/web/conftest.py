"""The console in a real browser: Debian's Chromium driven by Playwright.

Playwright cannot download a browser here; it launches the system one
(``scripts/install-services.sh`` installs it). Each test gets a fresh browser context (no
cookies) and saves screenshots of its pages under ``tests/artifacts/<test>/``.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.servers import Server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
AXE = Path(__file__).with_name("vendor") / "axe.min.js"
# Without these Chromium keeps calling home, and this machine's closed network refuses it.
QUIET = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


# Module-scoped, not session: while Playwright's sync API runs, its event loop is the
# thread's running loop, and every later test calling asyncio.run() would fail.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=QUIET)
    yield launched
    launched.close()


class Shots:
    """Screenshots of one test's pages, numbered in the order taken."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.taken = 0
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)

    def __call__(self, page: Page, name: str) -> Path:
        self.taken += 1
        path = self.folder / f"{self.taken:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    return Shots(ARTIFACTS / name)


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    """Fresh browser contexts (another device, JavaScript off, …), closed after the test."""
    made: list[BrowserContext] = []

    def make(**options: Any) -> BrowserContext:
        options.setdefault("viewport", {"width": 1100, "height": 800})
        context = browser.new_context(**options)
        context.set_default_timeout(30_000)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()


def sign_in(page: Page, server: Server, key: str | None = None) -> None:
    """Sign in through the form; ends on the chat page."""
    page.goto(server.base_url + "/sign-in")
    page.get_by_label("API key").fill(key or server.api_key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/chat$"))


@pytest.fixture
def page(new_context: Callable[..., BrowserContext], server: Server) -> Page:
    """A signed-in page, JavaScript on."""
    signed = new_context().new_page()
    sign_in(signed, server)
    return signed


def send(page: Page, message: str, *, max_tokens: int | None = None) -> str:
    """Send ``message`` from the page's form; the id of the answer it started."""
    page.get_by_label("Message").fill(message)
    if max_tokens is not None:
        page.get_by_label("Max output tokens").fill(str(max_tokens))
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(re.compile(r".*/chat/conv_\w+#resp_\w+$"))
    return page.url.rsplit("#", 1)[1]


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """The serious and critical accessibility violations axe-core finds on the page.

    axe is evaluated through the DevTools protocol, which the page's CSP does not govern.
    """
    page.evaluate(AXE.read_text())
    found: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in found
        if v.get("impact") in ("serious", "critical")
    ]


def dump(value: object) -> str:
    return json.dumps(value, indent=1)
