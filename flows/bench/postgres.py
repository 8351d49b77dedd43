"""A throwaway PostgreSQL cluster from Debian's `postgresql` package: the scale-out tests
(tests/postgres.py) and `madoguchi bench-prefect`'s run with two readers use it.

The cluster lives in a fresh folder under /tmp, listens on 127.0.0.1 only (a free port, the
unix socket in the same folder), trusts local connections, and is stopped and removed afterwards.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from glob import glob
from pathlib import Path

from flows.service.server import free_port

USER = "postgres"  # the system user of Debian's package; PostgreSQL refuses to run as root


class PostgresMissingError(RuntimeError):
    """PostgreSQL (or its system user) is not installed."""


def _bin_dir() -> Path | None:
    """The bin folder of the newest PostgreSQL installed, e.g. /usr/lib/postgresql/15/bin."""
    found = [Path(p) for p in glob("/usr/lib/postgresql/*/bin") if Path(p, "initdb").exists()]
    numbered = [p for p in found if p.parent.name.isdigit()]
    return max(numbered, key=lambda p: int(p.parent.name), default=None)


@dataclass(frozen=True)
class Postgres:
    """A running throwaway cluster; `user` may connect to every database without a password."""

    port: int
    socket_dir: Path
    user: str = USER
    host: str = "127.0.0.1"

    def url(self, database: str, driver: str = "psycopg") -> str:
        """SQLAlchemy URL: driver "psycopg" (ours, sync) or "asyncpg" (Prefect's server)."""
        return f"postgresql+{driver}://{self.user}@{self.host}:{self.port}/{database}"

    def connect(self, database: str = "postgres"):
        import psycopg

        return psycopg.connect(host=self.host, port=self.port, user=self.user, dbname=database, autocommit=True)

    def create_database(self, name: str) -> str:
        """Create an empty database; return its psycopg URL."""
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _as_postgres(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"  # sbin is not on every PATH
    prefix = [runuser, "-u", USER, "--"] if os.geteuid() == 0 else []
    return subprocess.run(prefix + args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


@contextmanager
def cluster() -> Iterator[Postgres]:
    """A running throwaway cluster, stopped and removed on leaving; PostgresMissingError when it cannot run."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        raise PostgresMissingError("PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb): "
                                   "apt-get install postgresql")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(USER)
        except KeyError:
            raise PostgresMissingError(f"no system user {USER!r} to run PostgreSQL as: "
                                       "apt-get install postgresql") from None
    # not pytest's tmp_path: /tmp/pytest-of-root is 0700, closed to the postgres user
    root = Path(tempfile.mkdtemp(prefix="madoguchi-pg-", dir="/tmp"))
    if os.geteuid() == 0:
        shutil.chown(root, USER, USER)
    data, log = root / "data", root / "server.log"
    port = free_port()
    options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {root} "
               "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")  # throwaway: speed over safety
    started = False
    try:
        init = _as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8",
                             "--no-locale", "--no-sync"], root)
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{init.stdout}\n{init.stderr}")
        start = _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w",
                              "-t", "60", "start"], root)
        started = start.returncode == 0
        if not started:
            raise RuntimeError(f"pg_ctl start failed:\n{start.stdout}\n{start.stderr}\n{_tail(log)}")
        yield Postgres(port=port, socket_dir=root)
    finally:
        if started:
            _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], root)
        shutil.rmtree(root, ignore_errors=True)


def _tail(path: Path, chars: int = 2000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""
