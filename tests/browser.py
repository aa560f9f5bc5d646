"""Shared set-up for browser tests: Debian's Chromium driven by Playwright (no browser download).

A test module calls `sync_api = require_browser()` at import time (it skips the module, with
the reason, when Chromium or Playwright is missing) and opens pages with `open_page(sync_api)`.
"""
import contextlib
import os

import pytest

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]


def require_browser():
    # Playwright's sync API runs an event loop in the test thread; the tests' ORM calls are safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)
    return pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")


@contextlib.contextmanager
def open_page(sync_api, width=1280, height=900, timeout_ms=15000):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.set_default_timeout(timeout_ms)
        try:
            yield page
        finally:
            browser.close()


def screenshot_dir(tmp_path_factory):
    """Where browser tests save their screenshots: docs/screenshots/ when TCIA_SCREENSHOTS=1 (to
    refresh the README's pictures), else a temporary folder, so a test run leaves the tree clean."""
    from pathlib import Path

    if os.environ.get("TCIA_SCREENSHOTS") == "1":
        return Path(__file__).resolve().parents[1] / "docs" / "screenshots"
    return tmp_path_factory.mktemp("screenshots")


def overflow(page) -> int:
    """How many CSS pixels the document is wider than the window (0 when it fits)."""
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def login(page, live_server, user, path):
    """Log `user` (made by tests.conftest.make_user: password 'pw-<username>') in through the
    login form, landing on `path`."""
    page.goto(f"{live_server.url}/accounts/login/?next={path}")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("pw-" + user.username)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**{path}**")
