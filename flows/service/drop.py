"""`madoguchi drop`: put scans into the inbox the way a scanner should (a temporary name, then one
rename), and optionally wait until each has been filed, saying where it went. Used by `make demo`
and by anyone checking the watched folder by hand; knows nothing of Prefect."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from flows.home import copy_private
from flows.intake import Folders
from flows.pipeline import sha256_of
from schemas.db import Store


@dataclass(frozen=True)
class Dropped:
    name: str  # its name in the inbox
    sha256: str


def drop(files: list[Path], inbox: Path) -> list[Dropped]:
    """Copy each file into the inbox under a `.part` name, then rename it: the watcher never sees
    half a file. A name already waiting in the inbox gets a suffix."""
    inbox.mkdir(parents=True, exist_ok=True)
    out = []
    for f in files:
        dest, n = inbox / f.name, 1
        while dest.exists():
            dest = inbox / f"{f.stem}-{n}{f.suffix}"
            n += 1
        tmp = dest.with_name(dest.name + ".part")
        copy_private(f, tmp)
        os.replace(tmp, dest)
        out.append(Dropped(dest.name, sha256_of(dest)))
    return out


def place_of(d: Dropped, folders: Folders) -> Path | None:
    """Where a dropped file ended, or None while it is queued or being read."""
    if (folders.inbox / d.name).exists() or (folders.processing / d.name).exists():
        return None
    stem, suffix = Path(d.name).stem, Path(d.name).suffix
    for p in (folders.quarantine / f"{stem}-{d.sha256[:8]}{suffix}", folders.duplicates / d.name, folders.done / d.name):
        if p.exists():
            return p
    return None


def wait_filed(dropped: list[Dropped], folders: Folders, timeout: float,
               progress: Callable[[int, int], None] = lambda done, total: None) -> dict[str, Path | None]:
    """Wait until every dropped file is filed (or `timeout` seconds pass); name -> place."""
    deadline = time.monotonic() + timeout
    places: dict[str, Path | None] = {d.name: None for d in dropped}
    reported = -1
    while True:
        for d in dropped:
            if places[d.name] is None:
                places[d.name] = place_of(d, folders)
        done = sum(p is not None for p in places.values())
        if done != reported:
            progress(done, len(dropped))
            reported = done
        if done == len(dropped) or time.monotonic() > deadline:
            return places
        time.sleep(1.0)


def describe(d: Dropped, place: Path | None, folders: Folders, store: Store) -> str:
    """In words a clerk reads: what became of one file."""
    if place is None:
        return "未処理 (まだ受付箱か処理中です)"
    if place.parent == folders.duplicates:
        return "重複 (同じファイルを読取済み)"
    if place.parent == folders.quarantine:
        reason = place.with_name(place.name + ".reason.txt")
        text = reason.read_text(encoding="utf-8").splitlines() if reason.exists() else []
        why = next((line.removeprefix("理由: ") for line in text if line.startswith("理由: ")), "")
        return f"読取不可: {why}"
    doc = store.find(d.sha256)
    status = {"accepted": "全項目自動確定", "needs_review": "要確認の項目あり (確認待ち)", "validated": "確認済み",
              "review_rejected": "差し戻し", "entered": "基幹システムに入力済み"}.get(doc.status, doc.status) if doc else "?"
    return f"読取済み: {status}"
