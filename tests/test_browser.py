"""The Prefect UI as a reviewer sees it: a real server with its UI, Debian's Chromium, a screenshot."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.browser import (
    artifact_path,
    browser_fixture,  # noqa: F401  (provides the `browser` fixture)
    screenshot_flow_runs,
)
from tests.stack import free_port


@pytest.fixture(scope="module")
def prefect_ui(tmp_path_factory) -> Iterator[str]:
    """`prefect server start` on a free loopback port with a temporary home; yields the UI's root URL.

    `prefect_test_harness` is no use here: its server runs with the UI turned off.
    """
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        # the UI calls the API at this address; with only `--port` it would call port 4200
        "PREFECT_API_URL": f"{root}/api",
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
    }
    log = home / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                                 "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60  # s; healthy in ~10 s on 2 cores
        while True:
            try:
                if httpx.get(f"{root}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Prefect server did not start:\n{log.read_text()[-2000:]}", pytrace=False)
            time.sleep(0.5)
        yield root
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# a separate process: Prefect's sync calls misbehave beside an open sync Playwright (tests/browser.py)
_INTAKE = """
import sys
from prefect import flow

@flow(name="受付")
def intake(file_name: str) -> str:
    return file_name

for name in sys.argv[1:]:
    intake.with_options(flow_run_name=f"受付-{name}")(name)
"""


def _run_flows(api_url: str, file_names: list[str], home) -> None:
    """Run a tiny intake flow once per file name, named 受付-<file>, against the server at `api_url`."""
    env = {**os.environ, "PREFECT_API_URL": api_url, "PREFECT_HOME": str(home)}
    done = subprocess.run([sys.executable, "-c", _INTAKE, *file_names], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]


def test_flow_runs_page_lists_runs_by_their_japanese_names(prefect_ui, browser, tmp_path):
    """GIVEN a Prefect server with its UI WHEN two intake runs named 受付-<file> have finished THEN
    the V2 runs page lists both by name, rendered in a Japanese font, in a screenshot a person can open."""
    names = ["受付-kaigo.jpg", "受付-jidou-teate.pdf"]
    _run_flows(f"{prefect_ui}/api", [n.removeprefix("受付-") for n in names], tmp_path / "client-home")

    png = artifact_path("prefect-flow-runs.png")
    png.unlink(missing_ok=True)
    text = screenshot_flow_runs(browser, prefect_ui, png, names, timeout_s=60)

    assert all(n in text for n in names), text[-1500:]
    assert "2 Flow runs" in text, text[-1500:]
    assert png.stat().st_size > 20_000  # bytes; a blank 1400x900 page is ~5 kB
