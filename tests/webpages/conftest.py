"""A real browser for the dashboard's journeys: Playwright driving Debian's Chromium.

Chromium comes from the system (``/usr/bin/chromium``; ``.ci/run`` installs the package when it
is missing), never from Playwright's own download. Without it the browser tests skip with the
reason, unless ``METERSTACK_REQUIRE_SERVICES=1``, where they fail. Every browser starts from a
fresh user-data directory.

Screenshots are always taken; with ``METERSTACK_UPDATE_SCREENSHOTS=1`` they are written into
``docs/dashboard/`` (the pictures ``docs/dashboard.md`` shows), otherwise into the test's
temporary directory.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

REQUIRE_SERVICES = os.environ.get("METERSTACK_REQUIRE_SERVICES") == "1"
CHROMIUM = Path(os.environ.get("METERSTACK_CHROMIUM", "/usr/bin/chromium"))
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "dashboard"
UPDATE_SCREENSHOTS = os.environ.get("METERSTACK_UPDATE_SCREENSHOTS") == "1"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    if not CHROMIUM.exists():
        message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if REQUIRE_SERVICES:
            pytest.fail(f"{message} and METERSTACK_REQUIRE_SERVICES=1")
        pytest.skip(message)
    with sync_playwright() as running:
        yield running


Browser = Callable[..., Any]


@pytest.fixture
def browser(playwright: Any, tmp_path: Path) -> Iterator[Browser]:
    """Open browser contexts, each with its own fresh profile: ``browser(phone=False)``."""
    opened: list[Any] = []

    def open_context(*, phone: bool = False) -> Any:
        profile = tmp_path / f"profile-{len(opened)}"
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=ARGS,
            viewport=PHONE if phone else DESKTOP,
            locale="en-GB",
            timezone_id="UTC",
            accept_downloads=True,
        )
        context.set_default_timeout(20_000)
        opened.append(context)
        return context

    yield open_context
    for context in opened:
        context.close()


@pytest.fixture
def screenshot(tmp_path: Path) -> Callable[[Any, str], Path]:
    """Save a full-page screenshot of ``page`` as ``name``.png; the path it was written to."""

    def take(page: Any, name: str) -> Path:
        folder = DOCS if UPDATE_SCREENSHOTS else tmp_path / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{name}.png"
        page.screenshot(path=str(target), full_page=True)
        assert target.stat().st_size > 10_000, "a screenshot of a rendered page"
        return target

    return take
