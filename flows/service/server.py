"""`madoguchi server up|down|status`: the Prefect server (embedded SQLite, or PostgreSQL by setting;
loopback only), the work pool and deployments, a worker and the inbox watcher, each with a log and
a pid file under the data root.
`down` stops exactly the processes `up` started (by the pid files), nothing else."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

from flows.home import UMASK, close_home, owner_only
from schemas.settings import Settings

POOL = "madoguchi"
SERVICES = ("server", "core_system", "worker", "watcher")  # started in this order, stopped in reverse
HEARTBEAT_SECONDS = 30  # Prefect's minimum
REVIEW_QUEUE, REVIEW_STARTS = "review", 1
ZOMBIES = "停止した実行をクラッシュ扱いにする"  # automation name, as the UI lists it


def ensure_zombie_automation(settings: Settings) -> None:
    """A run whose process died (a killed worker, a machine switched off) stops sending heartbeats;
    mark it Crashed after three missed beats, so it frees reconcile's concurrency slot and the
    next reconcile puts its file back in the inbox. Paused and suspended runs (reviews) send no
    heartbeat and are left alone."""
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url(settings)}):
        try:
            Automation.read(name=ZOMBIES)
            return
        except ValueError:
            pass
        ends = ("Completed", "Failed", "Cancelled", "Cancelling", "Crashed", "Paused", "Suspended")
        Automation(
            name=ZOMBIES,
            description="ハートビートが途絶えた実行(ワーカー停止など)をクラッシュ扱いにし、ファイルを受付箱に戻せるようにします。",
            trigger=EventTrigger(
                after={"prefect.flow-run.heartbeat"},
                expect={"prefect.flow-run.heartbeat", *(f"prefect.flow-run.{s}" for s in ends)},
                match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
                for_each={"prefect.resource.id"},
                posture=Posture.Proactive,
                threshold=1,
                within=timedelta(seconds=3 * HEARTBEAT_SECONDS),
            ),
            actions=[ChangeFlowRunState(state=StateType.CRASHED, message="heartbeats stopped: the process was lost")],
        ).create()


def _paths(settings: Settings) -> tuple[Path, Path, Path]:
    close_home(settings.home)
    run, logs, prefect_home = settings.home / "run", settings.home / "logs", settings.home / "prefect"
    for p in (run, logs, prefect_home):
        p.mkdir(parents=True, exist_ok=True)
    return run, logs, prefect_home


def api_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.server.port}/api"


def environment(settings: Settings, repo: Path) -> dict[str, str]:
    """What every Prefect process of ours runs with."""
    _, _, prefect_home = _paths(settings)
    env = dict(os.environ)
    env.update({
        "PREFECT_HOME": str(prefect_home.resolve()),
        "PREFECT_API_URL": api_url(settings),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "2",
        "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
        # runs say they are alive; a run whose process was killed is marked Crashed (see ZOMBIES)
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_SECONDS),
        "MADOGUCHI_HOME": str(settings.home.resolve()),
        "MADOGUCHI_REPO": str(repo.resolve()),
    })
    if settings.server.database_url:  # PostgreSQL for many concurrent (paused) runs; SQLite locks
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = settings.server.database_url
    return env


def _prefect() -> str:
    return str(Path(sys.executable).with_name("prefect"))


def _alive(pid: int) -> bool:
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child that exited: reap it
            return False
    except ChildProcessError:
        pass  # not our child (started by an earlier `up`)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _pid(run: Path, name: str) -> int | None:
    f = run / f"{name}.pid"
    if not f.exists():
        return None
    pid = int(f.read_text().strip() or 0)
    return pid if pid and _alive(pid) else None


def healthy(settings: Settings) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url(settings)}/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _start(name: str, args: list[str], env: dict[str, str], run: Path, logs: Path) -> int:
    with open(logs / f"{name}.log", "ab") as log:
        # its own process group (`down` stops its children too); owner-only files in it and in the
        # processes it starts (the worker's flow runs, Prefect's database and logs)
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, umask=UMASK)
    (run / f"{name}.pid").write_text(str(proc.pid))
    return proc.pid


def up(settings: Settings, repo: Path, *, timeout: float = 90.0) -> dict[str, int]:
    """Start what is not running yet; return the pids."""
    from flows.entry import fix_enter_since
    from flows.intake import Folders

    owner_only()  # our own logs and pid files, and `prefect deploy` below
    run, logs, _ = _paths(settings)
    fix_enter_since(settings)
    Folders.from_settings(settings).ensure()  # the inbox is there for the clerk before anything watches it
    env = environment(settings, repo)
    pids = {}
    if (pid := _pid(run, "server")) is None:
        pid = _start("server", [_prefect(), "server", "start", "--host", "127.0.0.1", "--port",
                                str(settings.server.port)], env, run, logs)
    pids["server"] = pid
    deadline = time.monotonic() + timeout
    while not healthy(settings):
        if time.monotonic() > deadline or not _alive(pid):
            raise RuntimeError(f"the Prefect server did not start; see {logs / 'server.log'}")
        time.sleep(0.5)
    setup = logs / "deploy.log"
    with open(setup, "ab") as log:
        subprocess.run([_prefect(), "work-pool", "create", POOL, "--type", "process", "--overwrite"], env=env,
                       stdout=log, stderr=subprocess.STDOUT, check=True, cwd=repo)
        # review runs start a process each (imports, no models): a burst of them after a batch would
        # take the CPU from reading, so they start REVIEW_STARTS at a time
        subprocess.run([_prefect(), "work-queue", "create", REVIEW_QUEUE, "--pool", POOL, "--limit",
                        str(REVIEW_STARTS)], env=env, stdout=log, stderr=subprocess.STDOUT, check=False, cwd=repo)
        subprocess.run([_prefect(), "work-queue", "set-concurrency-limit", REVIEW_QUEUE, str(REVIEW_STARTS), "--pool",
                        POOL], env=env, stdout=log, stderr=subprocess.STDOUT, check=True, cwd=repo)
        subprocess.run([_prefect(), "--no-prompt", "deploy", "--all"], env=env, stdout=log,
                       stderr=subprocess.STDOUT, check=True, cwd=repo)
    ensure_zombie_automation(settings)
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url(settings)}):
        from flows.entry import ensure_limit

        ensure_limit(settings)
        if settings.rpa.standin and not settings.rpa.url:
            pids["core_system"] = start_standin(settings, env, run, logs, timeout)
    if (pid := _pid(run, "worker")) is None:
        pid = _start("worker", [_prefect(), "worker", "start", "--pool", POOL], env, run, logs)
    pids["worker"] = pid
    if (pid := _pid(run, "watcher")) is None:
        pid = _start("watcher", [str(Path(sys.executable).with_name("madoguchi")), "watch"], env, run, logs)
    pids["watcher"] = pid
    return pids


def start_standin(settings: Settings, env: dict[str, str], run: Path, logs: Path, timeout: float) -> int:
    """The stand-in core system on a free port (URL in run/core_system.url), for the demo. Its one
    account's password is made once and kept in the Prefect Secret block the bots read it from."""
    from prefect.blocks.system import Secret

    if (pid := _pid(run, "core_system")) is not None:
        return pid
    try:
        password = str(Secret.load(settings.rpa.password_block).get())
    except ValueError:
        password = secrets.token_urlsafe(18)
        Secret(value=password).save(settings.rpa.password_block, overwrite=True)
    url_file = run / "core_system.url"
    url_file.unlink(missing_ok=True)
    # no maintenance window (the demo may run at any hour) and a 500 now and then, which the bots retry
    pid = _start("core_system", [sys.executable, "-m", "samples.core_system", "--db",
                                 str(settings.home / "core_system" / "core.db"), "--url-file", str(url_file),
                                 "--user", settings.rpa.user, "--maintenance", "none", "--error-rate", "0.01"],
                 {**env, "CORE_SYSTEM_PASSWORD": password}, run, logs)
    deadline = time.monotonic() + timeout
    while not url_file.exists():
        if time.monotonic() > deadline or not _alive(pid):
            raise RuntimeError(f"the stand-in core system did not start; see {logs / 'core_system.log'}")
        time.sleep(0.2)
    return pid


def down(settings: Settings) -> list[str]:
    """Stop the processes `up` started, workers first; return what was stopped."""
    run, _, _ = _paths(settings)
    stopped = []
    for name in reversed(SERVICES):
        pid = _pid(run, name)
        if pid is not None:
            os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + 20
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _alive(pid):
                os.killpg(pid, signal.SIGKILL)
            stopped.append(name)
        (run / f"{name}.pid").unlink(missing_ok=True)
    (run / "core_system.url").unlink(missing_ok=True)
    return stopped


def status(settings: Settings) -> dict[str, object]:
    run, logs, _ = _paths(settings)
    return {
        **{name: _pid(run, name) for name in SERVICES},
        "healthy": healthy(settings),
        "core_system_url": (run / "core_system.url").read_text().strip() if (run / "core_system.url").exists() else None,
        "ui": f"http://127.0.0.1:{settings.server.port}",
        "logs": str(logs),
    }
