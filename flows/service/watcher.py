"""`madoguchi watch`: watch the inbox and start the reconcile deployment when files arrive.

The watcher only says "look now"; reconcile decides what has settled and reads it, so a file
dropped while the watcher was down is still read by reconcile's schedule. A polling observer
(`MADOGUCHI_INTAKE__POLLING=true`) works on network shares, where change events do not arrive.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from flows.intake import Folders, ignorable
from schemas.settings import Settings

log = logging.getLogger("madoguchi.watcher")
DEPLOYMENT = "reconcile/reconcile"


class _Arrivals(FileSystemEventHandler):
    def __init__(self, pending: threading.Event):
        self.pending = pending

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type not in ("created", "modified", "moved", "closed"):
            return
        path = Path(getattr(event, "dest_path", "") or event.src_path)
        if not ignorable(path):
            self.pending.set()


def watch(settings: Settings, trigger: Callable[[], None], stop: threading.Event) -> None:
    """Call `trigger` once files stop arriving for the settle time, until `stop` is set."""
    inbox = Folders.from_settings(settings).ensure().inbox
    pending = threading.Event()
    observer = PollingObserver(timeout=2) if settings.intake.polling else Observer()
    observer.schedule(_Arrivals(pending), str(inbox), recursive=True)
    observer.start()
    log.info("watching %s", inbox)
    try:
        while not stop.is_set():
            if not pending.wait(timeout=1.0):
                continue
            # let a burst of drops (a scanner writing several pages) finish before looking
            while pending.is_set() and not stop.is_set():
                pending.clear()
                stop.wait(settings.intake.settle_seconds + 0.5)
            if not stop.is_set():
                trigger()
    finally:
        observer.stop()
        observer.join()


def _queued(client, deployment_id) -> int:
    """Reconcile runs due now but not started (waiting for the running one, or for a worker)."""
    from datetime import UTC, datetime, timedelta

    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    runs = client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED, StateType.PENDING])),
            expected_start_time=FlowRunFilterExpectedStartTime(before_=datetime.now(UTC) + timedelta(seconds=5)),
        ),
    )
    return len(runs)


def run_reconcile() -> None:
    """Ask the Prefect server for a reconcile run now, without waiting for it, unless one is already
    due: it will see the new files (a running one, lingering, sees them too)."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    with get_client(sync_client=True) as client:
        if _queued(client, client.read_deployment_by_name(DEPLOYMENT).id):
            log.info("a reconcile run is already due; not starting another")
            return
    run = run_deployment(DEPLOYMENT, timeout=0, tags=["watcher"])
    log.info("started %s (%s)", DEPLOYMENT, run.id)


def main(settings: Settings) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()
    import signal

    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        watch(settings, run_reconcile, stop)
    except KeyboardInterrupt:
        stop.set()
