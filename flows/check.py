"""Checking a form's boxes on real scans (`madoguchi forms check`): a scan registered to the form a
person names, read and decided as `process` would read it but recorded nowhere, what
identification alone would pick beside it (a scan of another form is noticed), and a picture of
the registered page with every field's boxes and reading drawn on it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import cv2

from flows.pipeline import READ_DPI, Reader
from ocr.errors import UnknownFormError, WrongFormError
from ocr.layout import layout_form
from ocr.overlay import draw_check
from ocr.paging import page_key
from ocr.registration import Registration, identify_and_register
from schemas.results import DocumentResult

GRID_MM = 10.0  # the picture's millimetre grid


@dataclass(frozen=True)
class CheckedScan:
    """One scan checked against a form.

    Attributes:
        result: every field decided as `process` would decide it (not recorded).
        registrations: each page registered to the form asked for: where the boxes were drawn.
        identified: what identification alone picks for the first page among every form's pages;
            None when it picks none.
        not_identified: why identification alone picked none.
        pictures: the pictures written, one per page of the form.
    """

    result: DocumentResult
    registrations: list[Registration]
    identified: Registration | None
    not_identified: UnknownFormError | None
    pictures: list[Path]

    @property
    def registration(self) -> Registration:
        return self.registrations[0]

    @property
    def score(self) -> float:
        """The weakest page's registration score."""
        return min(r.score for r in self.registrations)

    @property
    def picture(self) -> Path:
        return self.pictures[0]


def check_scan(reader: Reader, path: Path, form_id: str, picture: Path, *, grid: bool = True,
               today: date | None = None) -> CheckedScan:
    """Register, read and decide `path` as form `form_id`, and write the picture of its boxes
    (`picture`; for a form of several pages, page n's beside it as `<picture stem>-p<n>.png`).

    Raises:
        MadoguchiError: the file cannot be loaded, a page is blank, missing or out of order, or it
            does not register to the form (WrongFormError when identification finds another form,
            else UnknownFormError).
    """
    pages = reader.load(path)
    dpi = reader.settings.ocr.reference_dpi
    try:
        identified, why = identify_and_register(pages[0], reader.pages, reference_dpi=dpi), None
    except UnknownFormError as exc:  # the form asked for may still register: that is what is checked
        identified, why = None, exc
    try:
        regs = reader.register(pages, form_id=form_id)
    except UnknownFormError as exc:
        if identified is None:
            raise
        raise WrongFormError(form_id, page_key(identified.template), exc.detail, source=path, page=0) from exc
    pr = reader.read_registered(pages, regs)
    result = reader.decide(path, pr, today=today)
    pictures = []
    for n, (reg, flat) in enumerate(zip(regs, pr.flats), start=1):
        template = reg.template
        where = f" {n}/{len(regs)}枚目" if len(regs) > 1 else ""
        caption = f"{path.name}{where}   {template.id} {template.title}   score {reg.score:.4f}"
        if n == 1 and identified is not None and page_key(identified.template) != form_id:
            caption += f"   (識別では {page_key(identified.template)} {identified.score:.4f})"
        image = draw_check(flat, READ_DPI, layout_form(template), result.fields, caption=caption,
                           grid_mm=GRID_MM if grid else None)
        out = picture if n == 1 else picture.with_name(f"{picture.stem}-p{n}{picture.suffix}")
        out.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(out), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
            raise OSError(f"could not write {out}")
        pictures.append(out)
    return CheckedScan(result, regs, identified, why, pictures)
