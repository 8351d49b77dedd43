"""`madoguchi server up|down|status`: the Prefect server (embedded SQLite, or PostgreSQL by setting;
loopback only), the work pool and deployments, warm readers (`flows/service/reader.py`: the runs
that read, models loaded once), a worker (the other runs) and the inbox watcher (and the stand-in
core system for the demo; with `--listen`, Caddy serving the UI on the office network, see
`flows/service/office.py`), each run by supervisord (`flows/service/supervise.py`), which starts
again any that dies, with a log under the data root.
`down` stops exactly what `up` started (supervisord and its programs), nothing else."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

from flows.home import close_home, owner_only, write_private
from flows.service import office
from flows.service.supervise import Program, Supervisor
from flows.service.watcher import START_SECONDS
from schemas.settings import Settings

POOL = "madoguchi"
SERVICES = ("server", "core_system", "reader", "worker", "watcher", "proxy")  # started in this order, stopped in reverse
READING_QUEUE = "reading"  # runs that read: taken by warm readers (flows/service/reader.py), not by the worker
WORKER_QUEUES = ("default",)  # the worker's: entry, purge (reviews run in the readers too)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a bench's or a test's own server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def readers(settings: Settings) -> list[str]:
    """The warm readers' program names on this PC: reader, reader-2, ..."""
    return ["reader", *(f"reader-{i}" for i in range(2, settings.intake.readers + 1))][:settings.intake.readers]


def services(settings: Settings) -> list[str]:
    """SERVICES with every reader this PC runs."""
    return [n for s in SERVICES for n in (readers(settings) if s == "reader" else [s])]
HEARTBEAT_SECONDS = 30  # Prefect's minimum
REVIEW_QUEUE, REVIEW_STARTS = "review", 1
ZOMBIES = "停止した実行をクラッシュ扱いにする"  # automation name, as the UI lists it


STUCK = "開始できなかった実行をクラッシュ扱いにする"  # the watcher does the same (watcher.crash_stuck)


def ensure_zombie_automation(settings: Settings) -> None:
    """A run whose process died (a killed worker, a machine switched off) stops sending heartbeats;
    mark it Crashed after three missed beats, so it frees reconcile's concurrency slot and the
    next reconcile puts its file back in the inbox. Paused and suspended runs (reviews) send no
    heartbeat and are left alone. A run whose worker died while starting it stays Pending with no
    process and no heartbeat, holding its deployment's slot (the chaos run found intake stopped so
    for good): mark it Crashed when it has not started running in START_SECONDS."""
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification
    from prefect.settings import temporary_settings

    ends = ("Completed", "Failed", "Cancelled", "Cancelling", "Crashed", "Paused", "Suspended")
    wanted = {
        ZOMBIES: ("ハートビートが途絶えた実行(ワーカー停止など)をクラッシュ扱いにし、ファイルを受付箱に戻せるようにします。",
                  "prefect.flow-run.heartbeat", {"prefect.flow-run.heartbeat"}, 3 * HEARTBEAT_SECONDS,
                  "heartbeats stopped: the process was lost"),
        STUCK: ("ワーカーが起動中に停止し、開始されないまま残った実行をクラッシュ扱いにし、次の実行が始められるようにします。",
                "prefect.flow-run.Pending", {"prefect.flow-run.Running", "prefect.flow-run.Scheduled",
                                             "prefect.flow-run.AwaitingConcurrencySlot"}, START_SECONDS,
                "never started running: the worker starting it was lost"),
    }
    with temporary_settings(client_settings(settings)):
        for name, (description, after, expect, seconds, message) in wanted.items():
            try:
                Automation.read(name=name)
                continue
            except ValueError:
                pass
            Automation(
                name=name, description=description,
                trigger=EventTrigger(
                    after={after},
                    expect={*expect, *(f"prefect.flow-run.{s}" for s in ends)},
                    match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
                    for_each={"prefect.resource.id"},
                    posture=Posture.Proactive,
                    threshold=1,
                    within=timedelta(seconds=seconds),
                ),
                actions=[ChangeFlowRunState(state=StateType.CRASHED, message=message)],
            ).create()


def _paths(settings: Settings) -> tuple[Path, Path, Path]:
    close_home(settings.home)
    run, logs, prefect_home = settings.home / "run", settings.home / "logs", settings.home / "prefect"
    for p in (run, logs, prefect_home):
        p.mkdir(parents=True, exist_ok=True)
    return run, logs, prefect_home


def api_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.server.port}/api"


def client_settings(settings: Settings) -> dict:
    """Prefect settings for a client of ours in this process (`temporary_settings(...)`): the API
    and, once the office login exists, the login."""
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL

    run, _, _ = _paths(settings)
    auth = office.client_auth(run)
    return {PREFECT_API_URL: api_url(settings),
            **({PREFECT_API_AUTH_STRING: auth["PREFECT_API_AUTH_STRING"]} if auth else {})}


def login_file(settings: Settings) -> Path:
    """Where the office login (user:password) is kept, owner-only; it exists after the first `--listen`."""
    return settings.home / "run" / office.LOGIN_FILE


def environment(settings: Settings, repo: Path) -> dict[str, str]:
    """What every Prefect process of ours runs with (the login, once it exists, as a client's)."""
    run, _, prefect_home = _paths(settings)
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
    env.update(office.client_auth(run))
    if settings.server.database_url:  # PostgreSQL for many concurrent (paused) runs; SQLite locks
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = settings.server.database_url
    return env


def _prefect() -> str:
    return str(Path(sys.executable).with_name("prefect"))


def supervisor(settings: Settings) -> Supervisor:
    run, logs, _ = _paths(settings)
    return Supervisor(run, logs)


def _pid(settings: Settings, name: str) -> int | None:
    """The running process of one of `services`, None when it is not running."""
    return supervisor(settings).pid(name)


def _programs(settings: Settings, repo: Path, run: Path) -> list[Program]:
    """What supervisord runs. Prefect's processes start through `office.with_login` once the login
    exists; with a listen address the UI's API address is relative, so a browser on the office
    network calls the proxy, not 127.0.0.1."""
    listen = settings.server.listen
    programs = [Program("server", office.with_login(run, [
        _prefect(), "server", "start", "--host", "127.0.0.1", "--port", str(settings.server.port)]),
        {"PREFECT_UI_API_URL": "/api"} if listen else {})]
    if settings.rpa.standin and not settings.rpa.url:
        # no maintenance window (the demo may run at any hour) and a 500 now and then, which the bots retry
        programs.append(Program("core_system", [
            sys.executable, "-m", "samples.core_system", "--db", str(settings.home / "core_system" / "core.db"),
            "--url-file", str(run / "core_system.url"), "--user", settings.rpa.user, "--password-file",
            str(run / "core_system.password"), "--maintenance", "none", "--error-rate", "0.01"], {}))
    for name in readers(settings):
        programs.append(Program(name, office.with_login(run, [str(Path(sys.executable).with_name("madoguchi")),
                                                              "reader"]), {}))
    queues = [a for q in WORKER_QUEUES for a in ("--work-queue", q)]
    programs.append(Program("worker", office.with_login(run, [_prefect(), "worker", "start", "--pool", POOL, *queues]),
                            {}))
    programs.append(Program("watcher", office.with_login(run, [str(Path(sys.executable).with_name("madoguchi")),
                                                               "watch"]), {}))
    if listen:
        login = office.read_login(run)
        programs.append(office.proxy_program(run, settings.home, listen, settings.server.listen_port,
                                             settings.server.port, login))
    else:
        (run / office.URL_FILE).unlink(missing_ok=True)
    return programs


def healthy(settings: Settings) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url(settings)}/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def up(settings: Settings, repo: Path, *, timeout: float = 90.0) -> dict[str, int]:
    """Start what is not running yet, under supervisord; return the pids."""
    from flows.entry import fix_enter_since
    from flows.intake import Folders

    owner_only()  # our own logs and pid files, and `prefect deploy` below
    run, logs, _ = _paths(settings)
    fix_enter_since(settings)
    Folders.from_settings(settings).ensure()  # the inbox is there for the clerk before anything watches it
    if settings.server.listen:
        office.ensure_login(run)  # before the environment and the programs, which carry it
    env = environment(settings, repo)
    sup = supervisor(settings)
    programs = _programs(settings, repo, run)
    sup.ensure(programs, repo.resolve(), env)
    sup.start("server")
    deadline = time.monotonic() + timeout
    while not healthy(settings):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the Prefect server did not start; see {logs / 'server.log'}")
        time.sleep(0.5)
    setup = logs / "deploy.log"
    with open(setup, "ab") as log:
        subprocess.run([_prefect(), "work-pool", "create", POOL, "--type", "process", "--overwrite"], env=env,
                       stdout=log, stderr=subprocess.STDOUT, check=True, cwd=repo)
        # review runs start REVIEW_STARTS at a time: under Prefect's worker each was a new process
        # (imports, no models), and a burst of them after a batch took the CPU from reading
        subprocess.run([_prefect(), "work-queue", "create", REVIEW_QUEUE, "--pool", POOL, "--limit",
                        str(REVIEW_STARTS)], env=env, stdout=log, stderr=subprocess.STDOUT, check=False, cwd=repo)
        subprocess.run([_prefect(), "work-queue", "set-concurrency-limit", REVIEW_QUEUE, str(REVIEW_STARTS), "--pool",
                        POOL], env=env, stdout=log, stderr=subprocess.STDOUT, check=True, cwd=repo)
        subprocess.run([_prefect(), "work-queue", "create", READING_QUEUE, "--pool", POOL], env=env, stdout=log,
                       stderr=subprocess.STDOUT, check=False, cwd=repo)  # exists already after the first `up`
        subprocess.run([_prefect(), "--no-prompt", "deploy", "--all"], env=env, stdout=log,
                       stderr=subprocess.STDOUT, check=True, cwd=repo)
    ensure_zombie_automation(settings)
    from prefect.settings import temporary_settings

    with temporary_settings(client_settings(settings)):
        from flows.entry import ensure_limit

        ensure_limit(settings)
        if any(p.name == "core_system" for p in programs):
            start_standin(settings, sup, run, logs, timeout)
    for name in (*readers(settings), "worker", "watcher", *(["proxy"] if settings.server.listen else [])):
        sup.start(name)
    return {p.name: sup.pid(p.name) for p in programs}


def start_standin(settings: Settings, sup: Supervisor, run: Path, logs: Path, timeout: float) -> int:
    """The stand-in core system on a free port (URL in run/core_system.url), for the demo. Its one
    account's password is made once and kept in the Prefect Secret block the bots read it from, and
    in an owner-only file the stand-in reads at every start."""
    from prefect.blocks.system import Secret

    if (pid := sup.pid("core_system")) is not None:
        return pid
    try:
        password = str(Secret.load(settings.rpa.password_block).get())
    except ValueError:
        password = secrets.token_urlsafe(18)
        Secret(value=password).save(settings.rpa.password_block, overwrite=True)
    write_private(run / "core_system.password", password)
    url_file = run / "core_system.url"
    url_file.unlink(missing_ok=True)
    sup.start("core_system")
    deadline = time.monotonic() + timeout
    while not url_file.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the stand-in core system did not start; see {logs / 'core_system.log'}")
        time.sleep(0.2)
    return sup.pid("core_system")


def down(settings: Settings) -> list[str]:
    """Stop what `up` started (each program with its process group, then supervisord); return
    the programs that were running."""
    run, _, _ = _paths(settings)
    sup = supervisor(settings)
    running = [name for name in services(settings) if sup.pid(name) is not None]
    sup.shutdown(services(settings))
    (run / "core_system.url").unlink(missing_ok=True)
    (run / office.URL_FILE).unlink(missing_ok=True)
    return running


def status(settings: Settings) -> dict[str, object]:
    run, logs, _ = _paths(settings)
    return {
        **{name: _pid(settings, name) for name in services(settings)},
        "healthy": healthy(settings),
        "core_system_url": (run / "core_system.url").read_text().strip() if (run / "core_system.url").exists() else None,
        "ui": f"http://127.0.0.1:{settings.server.port}",
        # the UI on the office network while Caddy serves it, and where its login is kept
        "office_ui": (run / office.URL_FILE).read_text().strip() if _pid(settings, "proxy") and
        (run / office.URL_FILE).exists() else None,
        "login_file": str(login_file(settings)) if login_file(settings).exists() else None,
        "logs": str(logs),
    }
