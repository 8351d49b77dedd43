"""`madoguchi watch`: watch the inbox and start the reconcile deployment when files arrive.

The watcher only says "look now"; reconcile decides what has settled and reads it, so a file
dropped while the watcher was down is still read by reconcile's schedule. A polling observer
(`MADOGUCHI_INTAKE__POLLING=true`) works on network shares, where change events do not arrive.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from flows.intake import Folders, ignorable
from schemas.settings import Settings

log = logging.getLogger("madoguchi.watcher")
DEPLOYMENT = "reconcile/reconcile"
START_SECONDS = 120  # Pending to Running takes 5-20 s (pull step, imports), under a minute on a loaded PC
SWEEP_SECONDS = 60  # how often the watcher looks for runs left Pending


class _Arrivals(FileSystemEventHandler):
    def __init__(self, pending: threading.Event):
        self.pending = pending

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type not in ("created", "modified", "moved", "closed"):
            return
        path = Path(getattr(event, "dest_path", "") or event.src_path)
        if not ignorable(path):
            self.pending.set()


def watch(settings: Settings, trigger: Callable[[], None], stop: threading.Event,
          chore: Callable[[], None] | None = None, every: float = SWEEP_SECONDS) -> None:
    """Call `trigger` once files stop arriving for the settle time, until `stop` is set; and `chore`
    every `every` seconds, files or not."""
    inbox = Folders.from_settings(settings).ensure().inbox
    pending = threading.Event()
    observer = PollingObserver(timeout=2) if settings.intake.polling else Observer()
    observer.schedule(_Arrivals(pending), str(inbox), recursive=True)
    observer.start()
    log.info("watching %s", inbox)
    next_chore = time.monotonic()
    try:
        while not stop.is_set():
            if chore is not None and time.monotonic() >= next_chore:
                chore()
                next_chore = time.monotonic() + every
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


def crash_stuck(client, older_than: float = START_SECONDS) -> list:
    """Mark Crashed every run left Pending for more than `older_than` seconds: its worker died while
    starting it, and it holds its deployment's concurrency slot (reconcile has one) until then. The
    server's automation does the same from the run's Pending event (`server.STUCK`), but a server
    killed between the state change and its event loses the event: a 1,000-file chaos run found
    intake stopped for good after 0 files, two such runs holding the slots. Returns the runs crashed."""
    from datetime import UTC, datetime, timedelta

    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    since = datetime.now(UTC) - timedelta(seconds=older_than)
    runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PENDING]))))
    stuck = [r for r in runs if r.state is not None and r.state.timestamp < since]
    for r in stuck:
        client.set_flow_run_state(r.id, Crashed(message="never started running: the worker starting it was lost"),
                                  force=True)
        log.warning("flow run %s (%s) was Pending since %s with no worker starting it: marked Crashed",
                    r.name, r.id, r.state.timestamp)
    return stuck


def sweep() -> None:
    """`crash_stuck` through this process's Prefect client; a server that does not answer is left for
    the next sweep (it is being restarted)."""
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            crash_stuck(client)
    except Exception as e:  # noqa: BLE001 (the watcher must outlive the server's restarts)
        log.info("could not look for stuck runs (%s); trying again later", type(e).__name__)


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
        watch(settings, run_reconcile, stop, chore=sweep)
    except KeyboardInterrupt:
        stop.set()
