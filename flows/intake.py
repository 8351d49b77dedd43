"""The watched folder's life cycle, without Prefect: a file dropped into inbox/ ends in exactly one
place (done/, done/duplicates/, quarantine/ with a reason file) or is still queued in inbox/.

inbox/ -> processing/ -> done/ | done/duplicates/ | quarantine/, each step an atomic rename on the
data root's file system. Only files whose size and time stamp have settled are taken; temporary
and hidden names are left alone. A file found in processing/ at start-up (the process was killed
mid-document) is finished from the database if it was recorded, else put back in the inbox.

Symbolic links are taken like files but never followed: moved as links (never copied, never
chmod-ed, which would change their target) and refused by the reader into quarantine. Names are
kept as given (spaces, '#', newlines, NFD, 255 bytes); a name we derive from one (`-1` on a clash)
is shortened to fit, and a name that is not UTF-8 is written with \\xNN escapes when claimed.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from flows.home import copy_private, make_private
from flows.names import derived_name, fit_name, utf8_name
from flows.pipeline import Reader, link_digest, place_in_quarantine, sha256_of
from schemas.db import Store
from schemas.results import DocumentError, DocumentResult, DocumentStatus, reading_outcome
from schemas.settings import Settings

log = logging.getLogger("madoguchi.intake")

TEMP_SUFFIXES = {".part", ".tmp", ".crdownload", ".partial"}


def ignorable(path: Path) -> bool:
    """Hidden files, Office lock files (~$...) and names scanners and browsers write to first."""
    return path.name.startswith((".", "~$")) or path.suffix.lower() in TEMP_SUFFIXES


@dataclass(frozen=True)
class Folders:
    inbox: Path
    processing: Path
    done: Path
    quarantine: Path

    @property
    def duplicates(self) -> Path:
        return self.done / "duplicates"

    @classmethod
    def from_settings(cls, settings: Settings) -> Folders:
        home = settings.home
        return cls(settings.intake.inbox or home / "inbox", home / "processing", home / "done", settings.quarantine_dir)

    def ensure(self) -> Folders:
        for p in (self.inbox, self.processing, self.done, self.duplicates, self.quarantine):
            p.mkdir(parents=True, exist_ok=True)
        return self


@dataclass
class Settling:
    """Which inbox files have stopped changing: size and mtime unchanged for `seconds`."""

    seconds: float
    seen: dict[Path, tuple[int, int, float]] = field(default_factory=dict)  # size, mtime_ns, since

    def ready(self, inbox: Path, now: float | None = None) -> list[Path]:
        now = time.monotonic() if now is None else now
        out, present = [], set()
        for path in sorted(p for p in inbox.rglob("*") if not ignorable(p)):
            try:
                st = path.lstat()  # a link itself, never its target
            except FileNotFoundError:  # taken or renamed meanwhile
                continue
            if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                continue  # sub-folders (form hints), and never a FIFO: opening one would block
            present.add(path)
            key = (st.st_size, st.st_mtime_ns)
            size, mtime, since = self.seen.get(path, (*key, now))
            if (size, mtime) != key:
                since = now
            self.seen[path] = (*key, since)
            if now - since >= self.seconds:
                out.append(path)
        for gone in set(self.seen) - present:
            del self.seen[gone]
        return out


def _free(folder: Path, name: str) -> Path:
    """`folder/name`, or `name-1`, `name-2`... when taken; every candidate fits NAME_MAX."""
    dest = folder / name
    n = 1
    while os.path.lexists(dest):  # a dangling link is a name taken too
        dest = folder / derived_name(name, f"-{n}")
        n += 1
    return dest


def _move(src: Path, dest: Path) -> Path:
    """Rename atomically; across file systems (an inbox on a network share) copy under a temporary
    name, rename, then remove the source, so a file is never half in two places. A link moves as
    the link: its target is never read nor its mode changed."""
    try:
        os.replace(src, dest)
    except OSError as exc:
        if exc.errno != 18:  # EXDEV: another file system
            raise
        tmp = dest.with_name(fit_name(dest.name, ".part"))
        if src.is_symlink():
            os.symlink(os.readlink(src), tmp)
        else:
            copy_private(src, tmp)
        os.replace(tmp, dest)
        src.unlink()
    return make_private(dest)  # a scanner's file keeps the mode it was written with


def form_hint(path: Path, inbox: Path, forms: set[str]) -> str | None:
    """A sub-folder of the inbox named after a form (inbox/child_allowance/x.pdf) names the form."""
    rel = path.relative_to(inbox)
    return rel.parts[0] if len(rel.parts) > 1 and rel.parts[0] in forms else None


def claim(path: Path, folders: Folders) -> Path:
    """Take a settled file out of the inbox into processing/ (under a UTF-8 name: escaped, and
    shortened when the escapes make it longer than NAME_MAX)."""
    return _move(path, _free(folders.processing, derived_name(utf8_name(path.name), "")))


def finish(path: Path, result: DocumentResult, folders: Folders) -> Path:
    """Put a processed file where its result says; return where it went."""
    if result.duplicate_of and Path(result.duplicate_of) != path:
        return _move(path, _free(folders.duplicates, path.name))
    if result.status == DocumentStatus.rejected and result.sha256:
        return place_in_quarantine(path, result.sha256, result.errors[0], folders.quarantine, move=True)
    if result.status == DocumentStatus.rejected:  # a fault of ours: queue it again, never lose it
        return unclaim(path, folders)
    return _move(path, _free(folders.done, path.name))


def interrupted(attempts: int) -> DocumentError:
    """Why a file whose every reading stopped before it finished is in quarantine."""
    return DocumentError(
        code="read_interrupted", message=f"{attempts} readings of this file stopped before they finished "
        "(the process was killed, or an error of ours); not read again",
        message_ja=f"このファイルの読み取りが{attempts}回とも途中で止まりました（処理の強制終了か、システム内部の"
        "エラー）。ファイルを開いて確認し、正しいスキャンならスキャンし直して受付箱に置いてください。"
        "繰り返す場合はシステム担当者に連絡してください。")


def unclaim(path: Path, folders: Folders) -> Path:
    """Put a claimed file back in the inbox, unread (it stays queued)."""
    return _move(path, _free(folders.inbox, path.name))


def recover(store: Store, folders: Folders, max_attempts: int = 3, busy: set[Path] = frozenset()) -> list[Path]:
    """Files left in processing/ by a killed or failed run: finished from the database when the
    document was recorded (its transaction committed), else put back in the inbox to be read again;
    a file never recorded whose reading stopped `max_attempts` times goes to quarantine instead.
    Files in `busy` belong to runs that may still read them (handed out, see flows/orchestrate.py)
    and are left alone."""
    out = []
    for path in sorted(p for p in folders.processing.iterdir() if (p.is_file() or p.is_symlink()) and p not in busy):
        digest = link_digest(path) if path.is_symlink() else sha256_of(path)
        earlier = store.find(digest)
        if earlier is not None and Path(earlier.source) == path:
            result = DocumentResult(source=str(path), sha256=earlier.sha256, status=reading_outcome(earlier.status),
                                    errors=store.errors_of(earlier))
            out.append(finish(path, result, folders))
        elif earlier is None and (attempts := store.count_attempt(digest)) >= max_attempts:
            error = interrupted(attempts)
            store.save(DocumentResult(source=str(path), sha256=digest, status=DocumentStatus.rejected, errors=[error]))
            out.append(place_in_quarantine(path, digest, error, folders.quarantine, move=True))
        else:  # the same content recorded from another file is read as its duplicate
            out.append(unclaim(path, folders))
        log.info("recovered %s -> %s", path.name, out[-1])
    return out


def process_ready(reader: Reader, folders: Folders, settling: Settling,
                  now: float | None = None) -> Iterator[tuple[Path, DocumentResult]]:
    """Claim, read and file every settled inbox file; yields (final place, result)."""
    forms = set(reader.templates)
    for path in settling.ready(folders.inbox, now):
        hint = form_hint(path, folders.inbox, forms)
        try:
            working = claim(path, folders)
        except FileNotFoundError:  # another worker took it first
            continue
        try:
            result = reader.process(working, form_id=hint, quarantine=False)
        except Exception:
            unclaim(working, folders)  # still queued, never lost
            raise
        yield finish(working, result, folders), result
