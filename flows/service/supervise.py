"""Processes that come back by themselves: Debian's supervisord runs what `server up` starts (the
Prefect server, the stand-in core system, the worker, the watcher) and starts again any that
dies, a SIGKILL at 3 a.m. included, with no command typed.

One supervisord per data root, its configuration, socket and pid file under `run/` (owner-only,
umask 077 for everything it starts), each program's log under `logs/` (rotated at 50 MB, 5 kept).
Programs are declared with autostart off: `server up` starts them in order, because the worker
needs the server healthy and the deployments made first. After a reboot nothing runs until
`madoguchi server up` runs again (README, "Processes that come back").
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from flows.home import UMASK, write_private

CONF = "supervisord.conf"
START_SECONDS = 3  # a program must stay up this long to count as started
START_RETRIES = 20  # then supervisord gives up on it (FATAL) instead of looping on a broken setup


class SupervisorMissingError(RuntimeError):
    """supervisord is not installed."""


@dataclass(frozen=True)
class Program:
    name: str
    command: list[str]
    environment: dict[str, str]  # beyond what supervisord itself was started with


def _quote_env(env: dict[str, str]) -> str:
    return ",".join(f'{k}="{v.replace(chr(34), "")}"' for k, v in env.items())


def conf_text(run: Path, logs: Path, cwd: Path, programs: list[Program]) -> str:
    """supervisord's configuration for our programs."""
    lines = [
        "[unix_http_server]", f"file={run / 'supervisor.sock'}", "chmod=0700", "",
        "[supervisord]", f"logfile={logs / 'supervisord.log'}", f"pidfile={run / 'supervisord.pid'}",
        f"childlogdir={logs}", f"umask={UMASK:03o}", "logfile_maxbytes=10MB", "logfile_backups=3", "",
        "[rpcinterface:supervisor]", "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface", "",
        "[supervisorctl]", f"serverurl=unix://{run / 'supervisor.sock'}", "",
    ]
    for p in programs:
        lines += [
            f"[program:{p.name}]", f"command={shlex.join(p.command).replace('%', '%%')}", f"directory={cwd}",
            "autostart=false", "autorestart=true", f"startsecs={START_SECONDS}", f"startretries={START_RETRIES}",
            "stopasgroup=true", "killasgroup=true", "stopwaitsecs=20", "redirect_stderr=true",
            f"stdout_logfile={logs / (p.name + '.log')}", "stdout_logfile_maxbytes=50MB", "stdout_logfile_backups=5",
        ]
        if p.environment:
            lines.append(f"environment={_quote_env(p.environment).replace('%', '%%')}")
        lines.append("")
    return "\n".join(lines)


class Supervisor:
    """One data root's supervisord."""

    def __init__(self, run: Path, logs: Path):
        self.run, self.logs = run, logs
        self.conf = run / CONF

    def _bin(self, name: str) -> str:
        path = shutil.which(name)
        if path is None:
            raise SupervisorMissingError(f"{name} not found (apt-get install supervisor)")
        return path

    def daemon_pid(self) -> int | None:
        f = self.run / "supervisord.pid"
        try:
            pid = int(f.read_text().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def ensure(self, programs: list[Program], cwd: Path, env: dict[str, str], timeout: float = 30.0) -> None:
        """Write the configuration and start supervisord unless it runs; a running one rereads
        the configuration (a program added, a password changed) without stopping anything."""
        write_private(self.conf, conf_text(self.run, self.logs, cwd, programs))
        if self.daemon_pid() is not None:
            self.ctl("update")
            return
        subprocess.run([self._bin("supervisord"), "-c", str(self.conf)], env=env, check=True, umask=UMASK,
                       stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while self.ctl("pid", check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"supervisord did not start; see {self.logs / 'supervisord.log'}")
            time.sleep(0.2)

    def ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([self._bin("supervisorctl"), "-c", str(self.conf), *args], capture_output=True,
                              text=True, check=check, timeout=60)

    def start(self, name: str) -> None:
        """Start a program unless it runs (supervisorctl's `start` of a running one is not an error to us)."""
        r = self.ctl("start", name, check=False)
        if r.returncode != 0 and "already started" not in r.stdout:
            raise RuntimeError(f"{name} did not start: {r.stdout.strip()}; see {self.logs / (name + '.log')}")

    def pid(self, name: str) -> int | None:
        """The program's process id, None when it is not running (or supervisord is not)."""
        if self.daemon_pid() is None or not self.conf.exists():
            return None
        r = self.ctl("pid", name, check=False)
        out = r.stdout.strip()
        return int(out) if out.isdigit() and int(out) > 0 else None

    def shutdown(self, names: list[str], timeout: float = 60.0) -> bool:
        """Stop every program (each with its process group), then supervisord, and wait until all
        of them are gone; True if supervisord ran."""
        pid = self.daemon_pid()
        if pid is None:
            return False
        pids = [p for n in names if (p := self.pid(n)) is not None]
        self.ctl("stop", "all", check=False)
        self.ctl("shutdown", check=False)
        deadline = time.monotonic() + timeout
        while any(alive(p) for p in [pid, *pids]) and time.monotonic() < deadline:
            time.sleep(0.2)
        for p in pids:  # what did not stop in time (supervisord gave up on it, or died itself)
            if alive(p):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p, signal.SIGKILL)
        return True


def alive(pid: int) -> bool:
    """The process exists (a zombie included)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (a worker's flow-run processes and theirs)."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True, check=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        p, pp = map(int, line.split())
        children.setdefault(pp, []).append(p)
    found, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            found.append(c)
            todo.append(c)
    return found
