"""The data root holds residents' scans, field images, values and screenshots of the core system:
only the account Madoguchi runs as may read it. Every process of ours creates files 0600 and
folders 0700 (the umask, which the processes it starts inherit), and the root itself is closed
to others even when it was made earlier with looser modes."""

from __future__ import annotations

import os
from pathlib import Path

UMASK = 0o077  # group and others get nothing: files 0600, folders 0700


def owner_only() -> None:
    """Set this process's umask so that what it creates, and what its children create, is owner-only."""
    os.umask(UMASK)


def close_home(home: Path) -> Path:
    """Create the data root owner-only, or take group and other access off an existing one."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    if home.stat().st_mode & 0o077:
        home.chmod(0o700)
    return home


def write_private(path: Path, text: str) -> None:
    """Write a small file (a pid, an address, a time) 0600 whatever the process's umask."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
