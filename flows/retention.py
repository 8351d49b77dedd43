"""The `purge` flow: with `MADOGUCHI_RETENTION__DAYS` set, the files of documents entered into the
core system that many days ago are deleted: the scan (done/, done/duplicates/), the field images
and page view (views/<sha16>/) and the screenshots of the entry (evidence/<sha16>/). The database
rows stay (document, fields, readings, corrections, entry with its 受付番号): the audit trail
outlives the images, and a `purge` row names what was deleted and when. Unset: nothing is ever
deleted. Only files under the data root are touched; a folder read in place by a batch (an
archive on a share) is the city's, not ours."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prefect import flow, get_run_logger
from sqlmodel import select

from flows.home import owner_only
from flows.intake import Folders
from flows.pipeline import sha256_of
from schemas.db import Document, Entry, Purge, Store
from schemas.settings import Settings

DONE = ("entered", "manual")  # a bot entered it, or clerks did by hand


@dataclass(frozen=True)
class Expired:
    """One document whose files are past retention, and those files (folders end with /)."""

    document_id: int
    name: str  # the scan's file name, for people
    entered_at: datetime
    files: tuple[Path, ...]  # files first, then the folders they were in


def _under(path: Path, home: Path) -> bool:
    return path.resolve().is_relative_to(home.resolve())


def _scans(doc: Document, folders: Folders, home: Path, duplicates: Callable[[], dict[str, list[Path]]]) -> list[Path]:
    """The document's scan wherever intake filed it (done/ under its name, or with -N when the name
    was taken), and copies filed as duplicates; each checked by its sha256."""
    name = Path(doc.source)
    stem, suffix = name.stem, name.suffix
    near = [Path(doc.source), folders.done / name.name]
    near += [p for p in folders.done.glob(f"{stem}-*{suffix}") if p.stem.removeprefix(f"{stem}-").isdigit()]
    found = [p for p in dict.fromkeys(near) if p.is_file() and _under(p, home) and sha256_of(p) == doc.sha256]
    return found + duplicates().get(doc.sha256, [])


def expired(store: Store, settings: Settings, now: datetime | None = None) -> list[Expired]:
    """Entered documents past retention with files still on disk, oldest entry first; none when
    retention is not set."""
    days = settings.retention.days
    if days is None:
        return []
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    folders, home = Folders.from_settings(settings), settings.home
    dup_index: dict[str, list[Path]] | None = None

    def duplicates() -> dict[str, list[Path]]:  # hashed once, and only when some document is due
        nonlocal dup_index
        if dup_index is None:
            dup_index = {}
            if folders.duplicates.is_dir():
                for p in sorted(folders.duplicates.iterdir()):
                    if p.is_file():
                        dup_index.setdefault(sha256_of(p), []).append(p)
        return dup_index

    with store.session() as s:
        purged = set(s.exec(select(Purge.document_id)))
        rows = s.exec(select(Document, Entry).where(Entry.document_id == Document.id, Document.status == "entered",
                                                    Entry.state.in_(DONE)).order_by(Entry.entered_at))
        due = [(d, e) for d, e in rows if d.id not in purged and e.entered_at is not None
               and e.entered_at.replace(tzinfo=e.entered_at.tzinfo or UTC) <= cutoff]
    out = []
    for doc, e in due:
        sha16 = doc.sha256[:16]
        files = _scans(doc, folders, home, duplicates)
        for folder in (home / "views" / sha16, settings.evidence_dir / sha16):
            if folder.is_dir():
                files += sorted(p for p in folder.rglob("*") if p.is_file()) + [folder]
        entered = e.entered_at.replace(tzinfo=e.entered_at.tzinfo or UTC)
        out.append(Expired(doc.id, Path(doc.source).name, entered, tuple(files)))
    return out


def delete(store: Store, items: list[Expired]) -> int:
    """Delete the files and record each document as purged; returns the number of files deleted."""
    n = 0
    for item in items:
        for p in item.files:
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
                n += 1
        with store.session() as s, s.begin():
            s.add(Purge(document_id=item.document_id, files=json.dumps([str(p) for p in item.files], ensure_ascii=False)))
    return n


@flow(name="purge", flow_run_name="保存期間を過ぎたファイルの削除")
def purge(dry_run: bool = False) -> dict:
    """Delete the files of entered documents past `retention.days` (nothing when it is unset)."""
    owner_only()
    log = get_run_logger()
    settings = Settings()
    if settings.retention.days is None:
        log.info("MADOGUCHI_RETENTION__DAYS is not set: nothing is purged")
        return {"documents": 0, "files": 0}
    store = Store(settings.db_url)
    items = expired(store, settings)
    files = sum(not p.is_dir() for it in items for p in it.files)
    if dry_run:
        log.info("dry run: %d document(s), %d file(s) past %d days would be deleted", len(items), files,
                 settings.retention.days)
        return {"documents": len(items), "files": files}
    deleted = delete(store, items)
    log.info("deleted %d file(s) of %d document(s) entered more than %d days ago; their rows are kept",
             deleted, len(items), settings.retention.days)
    return {"documents": len(items), "files": deleted}
