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
from ocr.registration import Registration
from schemas.results import DocumentResult

GRID_MM = 10.0  # the picture's millimetre grid


@dataclass(frozen=True)
class CheckedScan:
    """One scan checked against a form.

    Attributes:
        result: every field decided as `process` would decide it (not recorded).
        registration: the page registered to the form asked for: where the boxes were drawn.
        identified: what identification alone picks among every form; None when it picks none.
        not_identified: why identification alone picked none.
        picture: the picture written.
    """

    result: DocumentResult
    registration: Registration
    identified: Registration | None
    not_identified: UnknownFormError | None
    picture: Path


def check_scan(reader: Reader, path: Path, form_id: str, picture: Path, *, grid: bool = True,
               today: date | None = None) -> CheckedScan:
    """Register, read and decide `path` as form `form_id`, and write the picture of its boxes.

    Raises:
        MadoguchiError: the file cannot be loaded, the page is blank, or it does not register to
            the form (WrongFormError when identification finds another form, else UnknownFormError).
    """
    pages = reader.load(path)
    try:
        identified, why = reader.register(pages[0]), None
    except UnknownFormError as exc:  # the form asked for may still register: that is what is checked
        identified, why = None, exc
    if identified is not None and identified.template.id == form_id:
        reg = identified
    else:
        try:
            reg = reader.register(pages[0], form_id=form_id)
        except UnknownFormError as exc:
            if identified is None:
                raise
            raise WrongFormError(form_id, identified.template.id, exc.detail, source=path, page=0) from exc
    pr = reader.read_registered(pages, reg)
    result = reader.decide(path, pr, today=today)
    template = reg.template
    caption = f"{path.name}   {template.id} {template.title}   score {reg.score:.4f}"
    if identified is not None and identified is not reg:
        caption += f"   (識別では {identified.template.id} {identified.score:.4f})"
    image = draw_check(pr.flat, READ_DPI, layout_form(template), result.fields, caption=caption,
                       grid_mm=GRID_MM if grid else None)
    picture.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(picture), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {picture}")
    return CheckedScan(result, reg, identified, why, picture)
