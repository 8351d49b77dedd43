"""The data root holds residents' scans, field images, values and screenshots of the core system:
only the account Madoguchi runs as may read it. Every process of ours creates files 0600 and
folders 0700 (the umask, which the processes it starts inherit), and the root itself is closed
to others even when it was made earlier with looser modes."""

from __future__ import annotations

import os
import shutil
from contextlib import suppress
from pathlib import Path

UMASK = 0o077  # group and others get nothing: files 0600, folders 0700


def owner_only() -> None:
    """Set this process's umask so that what it creates, and what its children create, is owner-only."""
    os.umask(UMASK)


def close_home(home: Path) -> Path:
    """Create the data root owner-only, or take group and other access off an existing one."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = home.stat()
    if st.st_mode & 0o077 and st.st_uid == os.getuid():  # another account's root is its owner's to close
        home.chmod(0o700)
    return home


def write_private(path: Path, text: str) -> None:
    """Write a small file (a pid, an address, a time) 0600 whatever the process's umask."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def make_private(path: Path) -> Path:
    """Take group and other access off a file that came with its own mode (a scanner's, a copy's).
    A symbolic link is left as it is: chmod would change its target's mode."""
    if path.is_symlink():
        return path
    with suppress(OSError):  # a network share that does not keep modes: its own mount options decide
        path.chmod(0o600)
    return path


def copy_private(src: Path, dest: Path) -> Path:
    """Copy a file's bytes and time stamps but not its mode: the copy is 0600 (shutil.copy2 would
    carry a world-readable sample's 0644 into the data root)."""
    shutil.copyfile(src, dest)
    st = src.stat()
    os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns))
    return make_private(dest)
