"""`madoguchi server up|down`: a real Prefect server, deployments and a worker, started and stopped."""

from __future__ import annotations

import shutil
import socket
import time

from flows import cli, server
from tests.conftest import REPO, SAMPLES


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_up_reads_a_dropped_scan_and_down_stops_exactly_what_it_started(tmp_path, monkeypatch):
    """GIVEN `server up` WHEN a scan is dropped in the inbox THEN the watcher starts a reconcile run and
    the scan reaches done/ through the worker; `down` stops server, worker and watcher, nothing else."""
    monkeypatch.setenv("MADOGUCHI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MADOGUCHI_SERVER__PORT", str(_free_port()))
    monkeypatch.chdir(REPO)
    from schemas.settings import Settings

    settings = Settings()
    try:
        assert cli.main(["server", "up"]) == 0
        st = server.status(settings)
        assert st["healthy"] and st["server"] and st["worker"] and st["watcher"]
        inbox = settings.home / "inbox"
        inbox.mkdir(parents=True, exist_ok=True)
        shutil.copy(SAMPLES / "scans" / "long_term_care-400dpi.jpg", inbox / "kaigo.jpg")
        done = settings.home / "done" / "kaigo.jpg"
        deadline = time.monotonic() + 240  # worker poll, process start, model load, reading
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(1)
        logs = settings.home / "logs"
        assert done.exists(), (logs / "watcher.log").read_text()[-2000:] + (logs / "worker.log").read_text()[-3000:]
        pids = [st["server"], st["worker"], st["watcher"]]
    finally:
        assert cli.main(["server", "down"]) == 0
    assert not any(server._alive(pid) for pid in pids)
    assert not server.healthy(settings)
