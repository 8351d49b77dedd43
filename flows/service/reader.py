"""`madoguchi reader`: a warm reader. A long-lived process that loads the reading models once and
runs the reading deployments' flow runs (the work pool's `reading` queue: reconcile,
process-document, batch, nightly-report) and the review runs (`review` queue) in itself, a few at a
time in threads, where Prefect's process worker starts a new process per run that imports
everything and, for reading, loads the models again (10-13 s of a 2-core PC's time per run; 3-4 s
for a review run, which only shows a form and suspends: one per document that needs review).

Any number of readers, on any machine that shares the data root and both databases (README, "More
than one machine"), take runs from the same queue: the server grants a run's Scheduled -> Pending
transition to one of them only, so each run is read once and another reader adds throughput.
Documents are read one at a time per reader (flows/orchestrate.py `_READING`), as each engine
already uses every core.

A reader killed mid-run loses nothing: its runs stop sending heartbeats and the server's automation
marks them Crashed (flows/service/server.py), a run it had taken but not started is marked Crashed
by the watcher's sweep, and the next reconcile puts their files back in the inbox
(flows/intake.py `recover`); a review run waiting for a reviewer is suspended and holds no thread,
and a crashed one is opened again by `reconcile` (flows/review.py `reopen_reviews`). Prefect's own
worker runs the rest (entry, purge).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from schemas.settings import Settings

log = logging.getLogger("madoguchi.reader")
POOL = "madoguchi"
QUEUES = ("reading", "review")  # the work queues of the deployments a reader runs (prefect.yaml)
# runs at once: a lingering reconcile, a document being read, the next one waiting to read, and a
# review run showing its form (about 2 s) without holding a document back
RUNS = 4
POLL_SECONDS = 1.0  # between two looks at the queue; a run that ends wakes the reader at once


def name() -> str:
    """This reader in logs and in its runs' tags: which machine read a document."""
    return f"reader-{socket.gethostname()}-{os.getpid()}"


def _flows() -> dict:
    """The flows a reader runs, by flow name; the module's own objects, so their runs share its loaded models."""
    from flows import orchestrate, review

    return {f.name: f for f in (orchestrate.reconcile, orchestrate.process_document, orchestrate.batch,
                                review.review_document)}


def take(client, flow_run) -> bool:
    """Ask the server for this run (Scheduled -> Pending); False when another reader has it, or its
    deployment's concurrency slots are taken (reconcile runs one at a time). A review run another
    reader took and suspended meanwhile is refused with Pause: with two readers, that stopped one
    (the scale run of 2026-12-05)."""
    from prefect.exceptions import Abort, Pause
    from prefect.states import Pending
    from prefect.utilities.engine import propose_state_sync

    try:
        state = propose_state_sync(client, Pending(), flow_run_id=flow_run.id)
    except (Abort, Pause):
        return False
    return state.is_pending()


def execute(flow_run_id: UUID, flows: dict) -> None:
    """Run one taken flow run here, to its end (Running, heartbeats, a final state). A run that cannot
    start (the server went away) stays Pending and the watcher's sweep marks it Crashed."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import Abort, Pause
    from prefect.flow_engine import flow_run_logger, run_flow
    from prefect.states import Failed

    what = str(flow_run_id)
    try:
        with get_client(sync_client=True) as client:
            flow_run = client.read_flow_run(flow_run_id)
            flow_name = client.read_flow(flow_run.flow_id).name
            if flow_name not in flows:
                client.set_flow_run_state(flow_run_id, Failed(message=f"a reader does not run flow {flow_name!r}"),
                                          force=True)
                log.error("flow run %s is of flow %r, which a reader does not run: failed", flow_run.name, flow_name)
                return
        path = flow_run.parameters.get("path")
        what = f"{flow_name}{f' of {Path(path).name}' if path else ''} ({flow_run_id})"  # its name is given as it starts
        log.info("running %s", what)
        run_flow(flows[flow_name], flow_run=flow_run, error_logger=flow_run_logger(flow_run))
    except Pause:  # a review waiting for its reviewer: resumed, it is scheduled again and runs from the top
        log.info("suspended %s", what)
    except Abort as e:  # the server stopped it (cancelled meanwhile)
        log.info("aborted %s: %s", what, e)
    except BaseException:  # the run's state says what happened; the reader goes on
        log.exception("%s ended with an error", what)
    else:
        log.info("finished %s", what)


def serve(stop: threading.Event, runs: int = RUNS, poll: float = POLL_SECONDS, warm: bool = True) -> None:
    """Take and run reading runs until `stop` is set. `warm`: load the models before taking any."""
    from prefect.client.orchestration import get_client

    from flows.orchestrate import _reader

    if warm:
        t0 = time.perf_counter()
        _reader()
        log.info("models loaded in %.1f s", time.perf_counter() - t0)
    flows = _flows()
    active: dict[UUID, Future] = {}
    freed = threading.Event()  # a run ended: look for the next one now, not at the next poll
    with ThreadPoolExecutor(runs, thread_name_prefix="run") as pool, get_client(sync_client=True) as client:
        while not stop.is_set():
            for run_id in [k for k, f in active.items() if f.done()]:
                del active[run_id]
            if len(active) < runs:
                try:
                    due = client.get_scheduled_flow_runs_for_work_pool(POOL, work_queue_names=list(QUEUES),
                                                                       scheduled_before=datetime.now(UTC))
                    for response in due:
                        run = response.flow_run
                        if len(active) >= runs:
                            break
                        if run.id not in active and take(client, run):
                            active[run.id] = pool.submit(execute, run.id, flows)
                            active[run.id].add_done_callback(lambda _: freed.set())
                except Exception as e:  # noqa: BLE001 (the server is restarting: try again)
                    log.info("could not ask the server for runs (%s); trying again", type(e).__name__)
                    stop.wait(5)
            freed.wait(poll)
            freed.clear()
        log.info("stopping; %d run(s) in progress are left to recovery", len(active))
        # leaving the pool waits for them; main() ends the process 2 s after the stop instead


def main(settings: Settings, runs: int = RUNS) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line a second for every poll otherwise
    from flows import orchestrate
    from flows.home import owner_only

    owner_only()
    orchestrate.READER_NAME = name()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    log.info("%s taking runs of queues %s of pool %r", name(), ", ".join(QUEUES), POOL)
    waiter = threading.Thread(target=lambda: (stop.wait(), time.sleep(2), os._exit(0)), daemon=True)
    waiter.start()  # a stop does not wait for a lingering reconcile: its runs are recovered
    try:
        serve(stop, runs)
    except KeyboardInterrupt:
        stop.set()
