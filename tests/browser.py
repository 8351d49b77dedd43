"""Debian's Chromium headless shell driven by Playwright, for tests that look at a page as a person would.

`playwright install` cannot download a browser here; Debian's `chromium-headless-shell` (with
`fonts-noto-cjk` for Japanese) is used instead. A test module takes the `browser` fixture by importing it:

    from tests.browser import browser_fixture  # noqa: F401  (provides the `browser` fixture)

Screenshots go to `var/test-artifacts/` (gitignored), where a person can look at them afterwards.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import REPO

CHROMIUM_CANDIDATES = (
    Path("/usr/lib/chromium/chromium-headless-shell"),  # apt: chromium-headless-shell
    Path("/usr/lib/chromium/chromium"),  # apt: chromium (not the /usr/bin/chromium wrapper script)
)
ARTIFACTS = REPO / "var" / "test-artifacts"
VIEWPORT = {"width": 1400, "height": 900}  # CSS px


def chromium_path() -> Path | None:
    """The Chromium binary Playwright should launch, or None when neither Debian package is installed."""
    return next((p for p in CHROMIUM_CANDIDATES if p.is_file() and os.access(p, os.X_OK)), None)


def artifact_path(name: str) -> Path:
    """Where a test saves a file for a person to look at: `var/test-artifacts/<name>`, folder created."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module", name="browser")
def browser_fixture() -> Iterator:
    """A headless Chromium for one test module; skipped without one, failed without one under CI.

    Module, not session, scope: while Playwright's sync API is open, the main thread has a running
    event loop, so `asyncio.run()` fails and Prefect's sync calls act as if called from async code.
    Keep Prefect work in such a module in a subprocess. A launch costs ~0.7 s.
    """
    exe = chromium_path()
    if exe is None:
        msg = ("no Chromium: install Debian's `chromium-headless-shell` and `fonts-noto-cjk` "
               f"(looked for {', '.join(map(str, CHROMIUM_CANDIDATES))})")
        if _in_ci():
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(exe))  # as root Playwright adds --no-sandbox itself
        try:
            yield b
        finally:
            b.close()


def _same_origin_only(origin: str):
    """A route handler that lets the page reach `origin` only: no test talks to the internet
    (the Prefect V2 UI fetches an analytics config from a public host even with analytics off)."""

    def handle(route) -> None:
        u = urlsplit(route.request.url)
        if u.scheme in ("data", "blob") or f"{u.scheme}://{u.netloc}" == origin:
            route.continue_()
        else:
            route.abort("blockedbyclient")

    return handle


def screenshot_flow_runs(browser, ui_url: str, out_png: Path, expect_texts: Sequence[str], *,
                         timeout_s: float = 60.0) -> str:
    """Screenshot the Prefect V2 UI runs list once every text in `expect_texts` is visible on it.

    Args:
        browser: a Playwright `Browser` (the `browser` fixture).
        ui_url: the server's root, e.g. `http://127.0.0.1:4200` (the server must have been started
            with `PREFECT_API_URL` or `PREFECT_UI_API_URL` set, or the UI calls port 4200).
        out_png: where the full-page PNG goes; written also when a text never shows, for diagnosis.
        expect_texts: flow-run names such as `受付-kaigo.jpg`, each matched exactly.
        timeout_s: how long to wait for all of them, page reloads included.

    Returns:
        The page's visible text.

    Raises:
        TimeoutError: a text was not visible within `timeout_s`; the message names it.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    origin = "{0.scheme}://{0.netloc}".format(urlsplit(ui_url))
    deadline = time.monotonic() + timeout_s
    # the machine's time zone, not Asia/Tokyo: the V2 history chart buckets days in UTC and, in any
    # other zone, labels every tick with the hour ("9 AM") instead of the day
    context = browser.new_context(viewport=VIEWPORT, locale="ja-JP")
    try:
        context.route("**/*", _same_origin_only(origin))
        page = context.new_page()
        # V2 lives under /v2; the plain /runs is the V1 UI
        page.goto(f"{origin}/v2/runs", wait_until="domcontentloaded", timeout=timeout_s * 1000)
        missing = list(expect_texts)
        while missing:
            left_ms = (deadline - time.monotonic()) * 1000
            if left_ms <= 0:
                break
            try:
                # a run name is a link in its row; `exact` keeps 受付-kaigo.jpg from matching 受付-kaigo.jpg.bak
                page.get_by_text(missing[0], exact=True).first.wait_for(state="visible",
                                                                       timeout=min(left_ms, 10_000))
                missing.pop(0)
            except PlaywrightTimeout:
                # a run created after the page loaded may not be listed until the list is fetched again
                page.reload(wait_until="domcontentloaded", timeout=max(left_ms, 1000))
        try:
            page.wait_for_load_state("networkidle", timeout=5_000)  # the history chart is fetched last
        except PlaywrightTimeout:
            pass
        out_png.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out_png), full_page=True, animations="disabled")
        if missing:
            raise TimeoutError(f"not visible on {page.url} after {timeout_s:.0f} s: {missing}; see {out_png}")
        return page.inner_text("body")
    finally:
        context.close()
