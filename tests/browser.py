"""What the browser tests share: Debian's Chromium through Playwright, a page of a given size,
signing in, and screenshots under ``var/screenshots/`` (git-ignored; ``MAHNWERK_SCREENSHOTS``
names another folder).

The ``browser`` fixture itself lives in ``tests/conftest.py``; it skips, with the reason, where
Playwright or Chromium is not installed.
"""

from __future__ import annotations

import os
from pathlib import Path

# Playwright's sync API runs an event loop in this thread; Django refuses ORM calls from a
# thread with a running loop unless told that this is intended (only the test's own set-up).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("MAHNWERK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(os.environ.get("MAHNWERK_SCREENSHOTS", ROOT / "var" / "screenshots"))
DESKTOP = {"width": 1400, "height": 1000}
PHONE = {"width": 390, "height": 844}


def open_page(browser, width: int = DESKTOP["width"], height: int = DESKTOP["height"],
              locale: str = "de-DE"):
    """A new page of the given size, in German unless told, waiting at most 30 s per step (a
    busy two-core machine runs a live server, Chromium and another test worker at once)."""
    page = browser.new_page(viewport={"width": width, "height": height}, locale=locale)
    page.set_default_timeout(30000)
    return page


def log_in(page, base_url: str, username: str, password: str = "demo") -> None:
    """Sign in on the login page as a person would and wait for the page it leads to."""
    page.goto(f"{base_url}/anmelden/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("button[type=submit]")


def screenshot(page, name: str) -> Path:
    """The whole page as ``<SCREENSHOTS>/<name>.png``, a test artifact."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
