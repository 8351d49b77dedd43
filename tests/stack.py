"""The whole local stack (`server up`: Prefect server, deployments, worker, watcher) on a fresh data
root and a free port, for the test modules that need it; stopped exactly afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from flows.service import server
from flows.service.server import free_port  # noqa: F401 (the tests import it from here)
from tests.conftest import REPO


@contextmanager
def running_stack(tmp_path_factory, name: str, start: Callable | None = None) -> Iterator:
    """Settings of a started stack; `start(settings)` starts it (default `server.up`)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("MADOGUCHI_HOME", str(tmp_path_factory.mktemp(name) / "home"))
    mp.setenv("MADOGUCHI_SERVER__PORT", str(free_port()))
    mp.chdir(REPO)
    from schemas.settings import Settings

    settings = Settings()
    try:
        (start or (lambda s: server.up(s, REPO)))(settings)
        yield settings
    finally:
        _drain_prefect_clients()  # while the server still answers
        server.down(settings)  # a no-op when a test already stopped everything
        mp.undo()


def _drain_prefect_clients(timeout: float = 30.0) -> None:
    """Send what this process's Prefect clients still hold (events, logs) and stop them. Left running
    after their server is gone, they keep retrying, and the next module's Prefect test harness waits
    for them at its end without a timeout: the whole suite hung there once."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (EventsWorker, APILogWorker):
        worker.drain_all(timeout=timeout)
