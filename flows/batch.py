"""A batch for the statistics section, without Prefect: which files a batch reads, and reading one.

Two sources. The inbox backlog (no folder given): files are claimed from the inbox and filed as
the watched folder does. Any other folder (a past month's archive, done/ for a daily report):
files are read where they are and left there; a bad one is copied to quarantine with its reason.
Either way a file read before (same sha256) is not read again: its recorded result is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from flows.intake import Folders, claim, finish, form_hint, ignorable
from flows.pipeline import Reader
from schemas.results import DocumentResult, DocumentStatus

JST = ZoneInfo("Asia/Tokyo")


@dataclass(frozen=True)
class BatchFile:
    path: Path
    form_hint: str | None  # from a sub-folder named after a form
    from_inbox: bool  # claimed and filed like the watched folder, else read in place


def resolve_folder(folder: str | None, folders: Folders, home: Path) -> Path:
    """None is the inbox; a relative path is under the data root (`done` is home/done)."""
    if not folder:
        return folders.inbox
    p = Path(folder)
    return p if p.is_absolute() else home / p


def scan_date(path: Path) -> date:
    """The day a file was written (scanned), in Japan time."""
    return datetime.fromtimestamp(path.stat().st_mtime, JST).date()


def select_files(folder: Path, *, inbox: Path, forms: set[str], known_forms: set[str],
                 since: date | None = None, until: date | None = None) -> list[BatchFile]:
    """Files of `folder` (recursively) written between `since` and `until` (inclusive, Japan
    time). A sub-folder named after a form outside `forms` is skipped; `forms` empty means all.
    done/duplicates/ and quarantine-like leftovers are skipped when reading done/."""
    out = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not ignorable(p)):
        rel = path.relative_to(folder)
        if rel.parts[0] == "duplicates" or path.name.endswith(".reason.txt"):
            continue
        hint = form_hint(path, folder, known_forms)
        if forms and hint is not None and hint not in forms:
            continue
        day = scan_date(path)
        if (since and day < since) or (until and day > until):
            continue
        out.append(BatchFile(path, hint, from_inbox=folder.resolve() == inbox.resolve()))
    return out


def read_one(reader: Reader, item: BatchFile, folders: Folders) -> DocumentResult | None:
    """Read and record one file of a batch; None when another run took the inbox file first (it
    is read there). Never raises for a bad file; a fault of ours leaves an inbox file queued in
    the inbox."""
    if not item.from_inbox:
        return reader.process(item.path, form_id=item.form_hint, quarantine=True)
    try:
        working = claim(item.path, folders)
    except FileNotFoundError:
        return None
    try:
        result = reader.process(working, form_id=item.form_hint, quarantine=False)
    except Exception:
        finish(working, DocumentResult(source=str(working), sha256="", status=DocumentStatus.rejected), folders)
        raise
    finish(working, result, folders)
    return result
