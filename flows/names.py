"""File names as the inbox gets them, made safe to build on: a scanner or a clerk may give a name
of 255 bytes, with a newline, in NFD (a Mac on the share), or in bytes that are not UTF-8 (an old
share in Shift_JIS). The folders we file into must take every name we derive from it (`-1`, the
quarantine's `-<sha256[:8]>` and `.reason.txt`), and a reason file must show the name without
letting it forge lines.
"""

from __future__ import annotations

import os
import unicodedata

NAME_MAX = 255  # bytes in one file name on Linux file systems (ext4, xfs, tmpfs; CIFS mounts too)
MAX_SUFFIX = 16  # chars: a longer "suffix" is part of the name (a.<200 chars>)


def split_name(name: str) -> tuple[str, str]:
    """(stem, suffix) like Path's, but a suffix longer than MAX_SUFFIX counts as part of the stem."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) + 1 > MAX_SUFFIX:
        return name, ""
    return stem, dot + ext


def fit_name(stem: str, tail: str, limit: int = NAME_MAX) -> str:
    """`stem + tail`, the stem shortened by whole characters (never splitting a UTF-8 sequence or a
    base letter from its combining mark) until the name fits in `limit` bytes."""
    room = limit - len(os.fsencode(tail))
    if room <= 0:
        raise ValueError(f"{tail!r} alone is longer than {limit} bytes")
    while len(os.fsencode(stem)) > room:
        stem = stem[:-1]
        while stem and unicodedata.combining(stem[-1]):  # a mark without its letter means nothing
            stem = stem[:-1]
    return stem + tail


def derived_name(name: str, extra: str, *, reserve: str = "") -> str:
    """`name` with `extra` before its suffix (`scan.pdf` -> `scan-1.pdf`), short enough that
    `reserve` can still be appended (the quarantine's `.reason.txt`) within NAME_MAX."""
    stem, suffix = split_name(name)
    return fit_name(stem, extra + suffix + reserve)[: -len(reserve) or None]


def utf8_name(name: str) -> str:
    """The name itself when it is valid UTF-8, else its undecodable bytes written as \\xNN: the
    database, the reason file and Prefect's run names all need text."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", "backslashreplace")


def shown(name: str) -> str:
    """A name as a reason file shows it: control characters (a newline) escaped, so a name cannot
    add a line of its own; undecodable bytes as \\xNN."""
    name = utf8_name(name)
    return "".join(c.encode("unicode_escape").decode("ascii") if unicodedata.category(c) == "Cc" else c for c in name)
