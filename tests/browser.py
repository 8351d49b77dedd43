"""Debian's Chromium headless shell driven by Playwright, for tests that look at a page as a person would.

`playwright install` cannot download a browser here; Debian's `chromium-headless-shell` (with
`fonts-noto-cjk` for Japanese) is used instead. A test module takes the `browser` fixture by importing it:

    from tests.browser import browser_fixture  # noqa: F401  (provides the `browser` fixture)

Screenshots go to `var/test-artifacts/` (gitignored), where a person can look at them afterwards.
"""

from __future__ import annotations

import json
import math
import os
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from rpa.bot import CHROMIUM_CANDIDATES
from tests.conftest import REPO

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


def _api_json(url: str, timeout_s: float = 10.0, headers: dict[str, str] | None = None) -> dict:
    """GET a Prefect REST URL (urllib, not Prefect's client: asyncio.run() fails beside an open sync Playwright)."""
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=timeout_s) as r:
        return json.load(r)


def _fit_dialog(page, dialog, max_height: int = 8000) -> None:
    """Make the viewport tall enough that the dialog's scrolling body shows everything, for one screenshot:
    the dialog is capped at 80% of the viewport and a full-page screenshot does not unroll it."""
    for _ in range(3):
        overflow = dialog.locator("div.overflow-y-auto").first.evaluate("e => e.scrollHeight - e.clientHeight")
        size = page.viewport_size
        if overflow <= 1 or size["height"] >= max_height:
            return
        page.set_viewport_size({"width": size["width"],
                                "height": min(max_height, size["height"] + math.ceil(overflow / 0.8) + 40)})
        page.wait_for_timeout(100)  # ms; layout settles


def resume_in_ui(browser, ui_url: str, flow_run_id: str, changes: dict[str, str | bool], out_png: Path, *,
                 filled_png: Path | None = None, timeout_s: float = 60.0, context=None, api_root: str | None = None,
                 api_headers: dict[str, str] | None = None) -> dict:
    """Answer a suspended (or paused) flow run's input form in the Prefect V2 UI as a reviewer would.

    Opens `/v2/runs/flow-run/<id>`, ⋮ ("Open menu") → "Resume", waits for the form (and for the
    Markdown description when the run has one), checks that every image in the dialog has loaded,
    screenshots the whole dialog to `out_png`, changes the fields named in `changes`, presses
    "Resume" and waits until the dialog closes and the run has left Paused.

    Args:
        browser: a Playwright `Browser` (the `browser` fixture).
        ui_url: the server's root, e.g. `http://127.0.0.1:4200`; its API must be at `<ui_url>/api`.
        flow_run_id: a run in a PAUSED state (Suspended or Paused) waiting for input.
        changes: field title as the form shows it (without the UI's " (Optional)") → new value: a
            str for a text field or a select (a `Literal` renders as a select), a bool for a switch
            (a `bool` renders as a switch). Fields not named keep the value the form shows. A text
            field filled with "" is left out of the answer, so the model's default (the prefill) applies.
        out_png: the screenshot before submitting; written also when images fail to load.
        filled_png: if given, a second screenshot after filling in, just before submitting.
        timeout_s: for each wait (the page, the form, the run leaving Paused).
        context: a Playwright `BrowserContext` to use (e.g. one already logged in); default: a new one,
            closed afterwards. A given one is left open.
        api_root: where the test reads the run's state (default `<ui_url>/api`), with `api_headers`.

    Returns:
        {"images": loaded, "images_total": all <img> in the dialog, "labels": the field titles in
        form order, "state": the run's state name after resuming}.

    Raises:
        ValueError: the run is not paused, an image did not load, a value does not suit its field,
            or the server rejected the input (the message has the UI's toast, e.g. "Reason:
            Validation failed. Failure reason: 'note' is a required property").
        KeyError: a title in `changes` is not in the form; the message lists the titles there are.
        TimeoutError: the form never showed, the dialog did not close, or the run stayed Paused.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    origin = "{0.scheme}://{0.netloc}".format(urlsplit(ui_url))
    run_url = f"{api_root or origin + '/api'}/flow_runs/{flow_run_id}"
    run = _api_json(run_url, headers=api_headers)
    if run["state_type"] != "PAUSED":
        raise ValueError(f"flow run {flow_run_id} is {run['state_name']}, not waiting for input")
    keyset = (run["state"]["state_details"] or {}).get("run_input_keyset") or {}
    ms = timeout_s * 1000
    own = context is None
    if own:
        context = browser.new_context(viewport=VIEWPORT, locale="ja-JP")
    try:
        if own:
            context.route("**/*", _same_origin_only(origin))
        page = context.new_page()
        page.goto(f"{origin}/v2/runs/flow-run/{flow_run_id}", wait_until="domcontentloaded", timeout=ms)
        # the run page's ⋮ (its header's "Open menu", the first on the page; each form field has one too)
        page.get_by_role("button", name="Open menu", exact=True).first.click(timeout=ms)
        page.get_by_role("menuitem", name="Resume", exact=True).click(timeout=ms)
        dialog = page.get_by_role("dialog").filter(has_text="Resume Flow Run")
        # a skeleton until the schema is fetched; the description is fetched separately and may come later
        try:
            dialog.locator('label[data-slot="label"]').first.wait_for(state="visible", timeout=ms)
            if keyset.get("description"):
                dialog.locator("div.prose").first.wait_for(state="visible", timeout=ms)
        except PlaywrightTimeout:
            out_png.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out_png), animations="disabled")
            raise TimeoutError(f"no Resume form on {page.url} after {timeout_s:.0f} s; see {out_png}") from None
        imgs = dialog.locator("img")
        try:  # a data: URI decodes at once; an http image may take a moment
            page.wait_for_function(
                "d => [...d.querySelectorAll('img')].every(i => i.complete)", arg=dialog.element_handle(),
                timeout=min(ms, 15_000))
        except PlaywrightTimeout:
            pass
        states = imgs.evaluate_all(
            "l => l.map(i => [i.alt || i.src.slice(0, 60), i.complete && i.naturalWidth > 0])")
        _fit_dialog(page, dialog)
        out_png.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out_png), animations="disabled")
        broken = [alt for alt, ok in states if not ok]
        if broken:
            raise ValueError(f"{len(broken)} of {len(states)} images in the Resume dialog did not load: "
                             f"{broken}; see {out_png}")

        # each field: <label for=ID>title[ (Optional)]</label> ... and the control with that id
        controls: dict[str, str] = {}
        for label in dialog.locator('label[data-slot="label"]').all():
            controls[label.inner_text().strip().removesuffix(" (Optional)")] = label.get_attribute("for") or ""
        missing = [t for t in changes if t not in controls]
        if missing:
            raise KeyError(f"not in the Resume form: {missing}; the form has {list(controls)}")
        for title, value in changes.items():
            control = dialog.locator(f'[id="{controls[title]}"]')
            tag, role, popup = control.evaluate(
                "e => [e.tagName.toLowerCase(), e.getAttribute('role'), e.getAttribute('aria-haspopup')]")
            if role in ("switch", "checkbox"):  # a bool: <button role=switch aria-checked=...>
                if not isinstance(value, bool):
                    raise ValueError(f"{title}: a switch takes a bool, not {value!r}")
                if (control.get_attribute("aria-checked") == "true") != value:
                    control.click()
                if (control.get_attribute("aria-checked") == "true") != value:
                    raise ValueError(f"{title}: the switch did not turn {'on' if value else 'off'}")
            elif popup == "listbox":  # a Literal: a button opening a searchable list, in a popover outside the dialog
                control.click()
                options = page.get_by_role("listbox").get_by_role("option")
                options.first.wait_for(timeout=10_000)
                if str(value) not in (names := [o.strip() for o in options.all_inner_texts()]):
                    raise ValueError(f"{title}: {value!r} is not one of its options {names}")
                page.get_by_role("listbox").get_by_role("option", name=str(value), exact=True).click()
                if control.inner_text().strip() != str(value):
                    raise ValueError(f"{title}: the select shows {control.inner_text()!r}, not {value!r}")
            elif tag in ("textarea", "input"):  # str: a one-row <textarea>; int: <input type=number>
                if isinstance(value, bool):
                    raise ValueError(f"{title}: a text field takes a str, not {value!r}")
                control.fill(str(value))
            else:
                raise ValueError(f"{title}: no way to fill a <{tag} role={role}> yet")
        if filled_png is not None:
            filled_png.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(filled_png), animations="disabled")

        # what the server answered to Resume: a rejected input (the server validates it against the
        # schema) is a 4xx and fails the test; a 5xx (SQLite busy under load) is what a reviewer
        # meets by pressing Resume again, which the test does, twice at most
        answers: list[tuple[int, str]] = []
        page.on("response", lambda r: answers.append((r.status, r.url)) if "/resume" in r.url else None)
        errors = page.locator('[data-sonner-toast][data-type="error"]')
        for attempt in range(3):
            dialog.get_by_role("button", name="Resume", exact=True).click()
            deadline = time.monotonic() + timeout_s
            while dialog.count() and not errors.count():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the Resume dialog stayed open {timeout_s:.0f} s after pressing Resume")
                page.wait_for_timeout(100)
            if not dialog.count():
                break
            refused = [a for a in answers if 400 <= a[0] < 500]
            if refused or attempt == 2:
                raise ValueError(f"the UI did not resume the run: {errors.all_inner_texts()}; server: {answers}")
            page.wait_for_timeout(2000)
            for toast in errors.all():  # out of the way before pressing again
                toast.evaluate("t => t.remove()")
        deadline = time.monotonic() + timeout_s
        while (run := _api_json(run_url, headers=api_headers))["state_type"] == "PAUSED":
            if time.monotonic() > deadline:
                raise TimeoutError(f"flow run {flow_run_id} still {run['state_name']} {timeout_s:.0f} s after Resume")
            time.sleep(0.25)
        return {"images": len(states) - len(broken), "images_total": len(states), "labels": list(controls),
                "state": run["state_name"]}
    finally:
        if own:
            context.close()
