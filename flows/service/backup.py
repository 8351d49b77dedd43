"""A consistent copy of our database while the service runs: SQLite's online backup API copies the
pages under a read lock and starts over when a writer commits meanwhile, so the copy is one
committed state, never a file caught mid-write. PostgreSQL has its own tool: we say what to run."""

from __future__ import annotations

import os
import shlex
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url


class NotSqlite(Exception):
    """The database is not a SQLite file; `command` is what to run instead (empty: we cannot say)."""

    def __init__(self, url: str, command: str):
        super().__init__(url)
        self.command = command


def pg_dump_command(url: str, out: Path) -> str:
    """The pg_dump command for a PostgreSQL URL: host, port, user and database, never the password."""
    u = make_url(url)
    args = ["pg_dump", "--format=custom", f"--file={out}"]
    args += [f"--host={u.host}"] if u.host else []
    args += [f"--port={u.port}"] if u.port else []
    args += [f"--username={u.username}"] if u.username else []
    return "umask 077 && " + shlex.join([*args, u.database or ""])


def backup(url: str, out: Path) -> Path:
    """Copy the SQLite database at `url` to `out` (mode 0600, replaced atomically); returns `out`."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        raise NotSqlite(url, pg_dump_command(url, out) if u.get_backend_name() == "postgresql" else "")
    db = Path(u.database)
    if not db.is_file():
        raise FileNotFoundError(f"no database at {db}")
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    part.unlink(missing_ok=True)
    os.close(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # owner-only before a byte is in it
    src = sqlite3.connect(db, timeout=30)
    dst = sqlite3.connect(part)
    try:
        with dst:
            src.backup(dst)  # retries while a writer holds the lock (SQLITE_BUSY), 250 ms apart
    finally:
        dst.close()
        src.close()
    os.chmod(part, 0o600)
    os.replace(part, out)
    return out
