"""Read one file end to end, without Prefect: the stages the CLI runs and the flows wrap.

load pages -> identify and register -> flatten -> read fields -> decide -> record.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import cv2
import numpy as np
from sqlalchemy.exc import IntegrityError

from flows.home import copy_private
from flows.names import derived_name, shown
from ocr.decide import RawField, decide_fields
from ocr.engines import Recognizer
from ocr.readers import load_engines
from ocr.errors import MadoguchiError, PopplerMissingError, SymlinkError
from ocr.fields import FLAT_DPI, blank_page, field_view, flatten, page_image_name, page_view
from ocr.pages import PageImage, load_pages
from ocr.read import read_page
from ocr.paging import candidates, register_pages
from ocr.registration import Registration
from ocr.validate import VALIDATORS, Context
from schemas.db import Store
from schemas.results import DocumentError, DocumentResult, DocumentStatus, FieldStatus, reading_outcome
from schemas.settings import Settings
from schemas.templates import load_templates

READ_DPI = FLAT_DPI  # px per inch of the flattened page the fields are cut from


def sha256_of(path: Path) -> str:
    """The file's sha256 (of a link: its target's; see link_digest)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def link_digest(path: Path) -> str:
    """What stands for a symbolic link's sha256: that of the text it points to. Its target is never
    read, and two links to one file are still one document (a retry, a duplicate)."""
    return hashlib.sha256(b"symlink:" + os.fsencode(os.readlink(path))).hexdigest()


@dataclass
class Timer:
    """Seconds spent per stage, summed over calls."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0


@dataclass(frozen=True)
class PageReading:
    """What was read from a file before any decision."""

    pages: int  # in the file
    registrations: tuple[Registration, ...]  # one per page of the form
    raws: list[RawField]
    flats: tuple[np.ndarray, ...]  # each page of the form in its coordinates at READ_DPI: views are cut from these

    @property
    def registration(self) -> Registration:
        return self.registrations[0]

    @property
    def flat(self) -> np.ndarray:
        return self.flats[0]

    @property
    def form_pages(self) -> int:
        return len(self.registrations)


class Reader:
    """Everything loaded once per process: settings, templates, engines, the database."""

    def __init__(self, settings: Settings, engines: list[Recognizer] | None = None, store: Store | None = None):
        self.settings = settings
        self.templates = load_templates(settings.ocr.forms_dir)
        self.pages = candidates(self.templates)  # every page of every form, what a first page may be
        unknown = {v for t in self.templates.values() for f in t.fields for v in f.validators} - set(VALIDATORS)
        if unknown:
            raise ValueError(f"templates name unknown validators: {sorted(unknown)}")
        missing = [tool for tool in ("pdfinfo", "pdftoppm") if shutil.which(tool) is None]
        if missing:
            raise PopplerMissingError(f"{', '.join(missing)} not found (apt-get install poppler-utils)")
        settings.home.mkdir(parents=True, exist_ok=True)
        self._store, self._store_lock = store, threading.Lock()
        t0 = time.perf_counter()
        self.engines = engines if engines is not None else load_engines(settings.ocr.engines, settings.ocr.threads)
        self.model_load_seconds = time.perf_counter() - t0

    @property
    def store(self) -> Store:
        """The database, opened when first needed: reading without recording (`forms check`) never
        opens it."""
        with self._store_lock:
            if self._store is None:
                self._store = Store(self.settings.db_url)
            return self._store

    def load(self, path: Path, *, timer: Timer | None = None) -> list[PageImage]:
        """The file's pages; raises MadoguchiError for a bad file."""
        cfg = self.settings.ocr
        with (timer or Timer()).stage("load"):
            return load_pages(path, pdf_dpi=cfg.pdf_dpi, max_pages=cfg.max_pages,
                              max_pixels=round(cfg.max_megapixels * 1e6),
                              max_file_pixels=round(cfg.max_file_megapixels * 1e6), timeout_s=cfg.load_timeout_seconds)

    def register(self, pages: list[PageImage], *, form_id: str | None = None,
                 timer: Timer | None = None) -> list[Registration]:
        """Identify the form from the first page among every form (or register to `form_id` alone),
        and register each of its pages (see `ocr.paging.register_pages`)."""
        with (timer or Timer()).stage("register"):
            pool = self.pages if form_id is None else candidates(self.templates, form_id)
            return register_pages(pages, self.templates, form_id=form_id,
                                  reference_dpi=self.settings.ocr.reference_dpi, pool=pool)

    def read_registered(self, pages: list[PageImage], regs: list[Registration], *,
                        timer: Timer | None = None) -> PageReading:
        """Flatten, crop and read each page of the form as registered."""
        timer = timer or Timer()
        raws: list[RawField] = []
        flats = []
        for page, reg in zip(pages, regs):
            with timer.stage("crop"):
                flats.append(flatten(page, reg, dpi=READ_DPI))
                reference = blank_page(reg.template, READ_DPI)
            with timer.stage("read"):
                raws += read_page(flats[-1], reference, reg.template, self.engines, READ_DPI, self.settings.ocr.box_readers)
        return PageReading(len(pages), tuple(regs), raws, tuple(flats))

    def read_raw(self, path: Path, *, form_id: str | None = None, timer: Timer | None = None) -> PageReading:
        """Load, register, crop and read each page of the form; raises MadoguchiError for a bad file."""
        timer = timer or Timer()
        pages = self.load(path, timer=timer)
        return self.read_registered(pages, self.register(pages, form_id=form_id, timer=timer), timer=timer)

    def read(self, path: Path, *, form_id: str | None = None, today: date | None = None) -> DocumentResult:
        """Read and decide one file; raises MadoguchiError for a file that cannot be read."""
        return self._read(path, form_id=form_id, today=today)[0]

    def _read(self, path: Path, *, form_id: str | None, today: date | None) -> tuple[DocumentResult, PageReading]:
        timer = Timer()
        pr = self.read_raw(path, form_id=form_id, timer=timer)
        return self.decide(path, pr, today=today, timer=timer), pr

    def decide(self, path: Path, pr: PageReading, *, today: date | None = None,
               timer: Timer | None = None) -> DocumentResult:
        """Decide every field of a page read from `path`; nothing is recorded."""
        timer = timer or Timer()
        reg, template, pages, read = pr.registration, pr.registration.template, pr.pages, pr.form_pages
        with timer.stage("decide"):
            ctx = Context(today=today or date.today(), values={})
            fields = decide_fields(pr.raws, self.settings.decision, ctx)
        # a page after the form's last may be a second application: a person must look, never accept past it
        doubtful = pages > read or any(f.status != FieldStatus.accepted for f in fields.values())
        errors = []
        if pages > read:
            errors.append(DocumentError(
                code="extra_pages", message=f"{pages - read} page(s) after the form's {read} were not read",
                message_ja=f"{read + 1}ページ目以降は読み取っていません。別の書類なら分けてスキャンしてください。"))
        # a form of several pages: its weakest page's score, and each page's as score_p1, score_p2...
        registration: dict[str, float | bool] = {"score": round(min(r.score for r in pr.registrations), 4),
                                                 "upside_down": reg.upside_down}
        if read > 1:
            registration |= {f"score_p{n}": round(r.score, 4) for n, r in enumerate(pr.registrations, start=1)}
        return DocumentResult(
            source=str(path), sha256="", form=template.id, form_title=template.title, pages=pages,
            fields=fields, status=DocumentStatus.needs_review if doubtful else DocumentStatus.accepted,
            errors=errors, registration=registration,
            timings={k: round(v, 4) for k, v in timer.seconds.items()},
        )

    def process(self, path: Path, *, form_id: str | None = None, today: date | None = None,
                quarantine: bool = True) -> DocumentResult:
        """Read one file and record it; a file seen before (same sha256) is reported, not read again.

        A file that cannot be read comes back `rejected` and, with `quarantine`, is copied to the
        quarantine folder with a reason file (the watched folder moves it instead). Never raises
        for bad input. A symbolic link is never followed: it is refused (SymlinkError) unread.
        """
        if path.is_symlink():
            return self._refuse_link(path, quarantine=quarantine)
        digest = sha256_of(path)
        earlier = self.store.find(digest)
        if earlier is not None and earlier.status != DocumentStatus.rejected:  # a rejected file may be retried
            return DocumentResult(source=str(path), sha256=digest, form=earlier.form,
                                  status=reading_outcome(earlier.status), duplicate_of=earlier.source)
        try:
            result, pr = self._read(path, form_id=form_id, today=today)
        except PopplerMissingError:
            raise  # a broken installation, not a bad file: nothing to quarantine
        except MadoguchiError as exc:
            error = DocumentError(code=exc.code, message=str(exc), message_ja=exc.message_ja)
            if quarantine:
                place_in_quarantine(path, digest, error, self.settings.quarantine_dir, move=False)
            result = DocumentResult(source=str(path), sha256=digest, status=DocumentStatus.rejected, errors=[error])
        result = result.model_copy(update={"sha256": digest})
        t0 = time.perf_counter()
        if result.fields:  # the images first: a recorded doubtful field always has its image
            save_views(pr, result, views_dir(self.settings, digest))
        try:
            self.store.save(result)
        except IntegrityError:  # another worker recorded the same file meanwhile: ours is the duplicate
            earlier = self.store.find(digest)
            return DocumentResult(source=str(path), sha256=digest, form=earlier.form,
                                  status=reading_outcome(earlier.status), duplicate_of=earlier.source)
        result.timings["persist"] = round(time.perf_counter() - t0, 4)
        return result

    def _refuse_link(self, path: Path, *, quarantine: bool) -> DocumentResult:
        digest = link_digest(path)
        exc = SymlinkError(f"-> {os.readlink(path)}", source=path)
        error = DocumentError(code=exc.code, message=str(exc), message_ja=exc.message_ja)
        if quarantine:
            place_in_quarantine(path, digest, error, self.settings.quarantine_dir, move=False)
        result = DocumentResult(source=str(path), sha256=digest, status=DocumentStatus.rejected, errors=[error])
        try:
            self.store.save(result)
        except IntegrityError:  # the same link was refused before: refused again, recorded once
            pass
        return result


def views_dir(settings: Settings, digest: str) -> Path:
    """Where the images a person sees of a document are kept: one PNG per doubtful field and a
    small JPEG of the whole page."""
    return settings.home / "views" / digest[:16]


def save_views(pr: PageReading, result: DocumentResult, folder: Path) -> None:
    """Write `<field>.png` for every field a person must look at, and a small picture of each
    page of the form (`page.jpg`, then `page-2.jpg`...)."""
    doubtful = [f for f, r in result.fields.items() if r.status != FieldStatus.accepted]
    if not doubtful:
        return
    folder.mkdir(parents=True, exist_ok=True)
    specs = {f.name: f for r in pr.registrations for f in r.template.fields}
    for name in doubtful:
        spec = specs[name]
        cv2.imwrite(str(folder / f"{name}.png"), field_view(pr.flats[spec.page - 1], spec.box, READ_DPI))
    for n, flat in enumerate(pr.flats, start=1):
        cv2.imwrite(str(folder / page_image_name(n)), page_view(flat, READ_DPI), [cv2.IMWRITE_JPEG_QUALITY, 80])


REASON_SUFFIX = ".reason.txt"


def place_in_quarantine(path: Path, digest: str, error: DocumentError, folder: Path, *, move: bool) -> Path:
    """Copy (or move) a file that cannot be read to quarantine, with a reason file beside it.

    `<name>-<sha256[:8]><suffix>` and its `.reason.txt` both fit NAME_MAX however long the name
    (the reason file gives it whole). A symbolic link is moved, or copied, as a link: unread.
    """
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / derived_name(path.name, f"-{digest[:8]}", reserve=REASON_SUFFIX)
    reason = dest.with_name(dest.name + REASON_SUFFIX)
    link = f"リンク先: {shown(os.readlink(path))}\n" if path.is_symlink() else ""
    reason.write_text(  # the reason first: a file in quarantine always has one
        f"ファイル: {shown(path.name)}\n理由: {error.message_ja}\n{link}\nfile: {shown(str(path))}\n"
        f"sha256: {digest}\nreason ({error.code}): {shown(error.message)}\n",
        encoding="utf-8",
    )
    if move:
        os.replace(path, dest)
    elif path.is_symlink():
        with suppress(FileNotFoundError):
            dest.unlink()
        os.symlink(os.readlink(path), dest)
    else:
        copy_private(path, dest)
    return dest
