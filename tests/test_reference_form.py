"""A form the city already prints, not one Madoguchi drew: its template names the blank form
(`reference:`), and identification, registration and reading use that print."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image, ImageDraw

from ocr.errors import UnknownFormError
from ocr.render import PRINT_FONT, load_font, mm_to_px, render_pdf, render_page
from samples.generator.draw import ScanParams, apply_scan, draw_filled
from schemas.templates import FORMS_DIR, load_template

DPI = 200
# 罹災証明書交付申請書 as a city lays it out: a ruled table with its own labels, a 受付印 box, a
# notice at the foot, no corner marks; the boxes measured in mm on the printed copy
FIELDS = [
    {"name": "name", "label": "氏名", "kind": "name_kanji", "box": [55, 62, 120, 14], "required": True},
    # 〒 3 boxes, a printed hyphen, 4 boxes: not evenly spaced across the box
    {"name": "postal_code", "label": "郵便番号", "kind": "postal_code", "box": [55, 84, 76, 12],
     "cells": [[55 + 9 * i, 84, 9, 12] for i in range(3)] + [[95 + 9 * i, 84, 9, 12] for i in range(4)],
     "required": True, "validators": ["postal_code_exists"]},
    {"name": "phone", "label": "電話番号", "kind": "phone", "box": [55, 104, 90, 12], "required": True},
]


def _city_blank(path: Path) -> Path:
    """The blank as the city prints it, drawn here in its own style (not by ocr.render)."""
    w, h = round(mm_to_px(210, DPI)), round(mm_to_px(297, DPI))
    img = Image.new("L", (w, h), 255)
    d = ImageDraw.Draw(img)
    px = lambda mm: round(mm_to_px(mm, DPI))  # noqa: E731
    d.text((px(52), px(22)), "罹災証明書交付申請書", font=load_font(str(PRINT_FONT), px(8)), fill=0)
    d.text((px(20), px(38)), "下松市長　様", font=load_font(str(PRINT_FONT), px(4.5)), fill=0)
    d.rectangle([px(160), px(30), px(190), px(55)], outline=0, width=px(0.3))
    d.text((px(167), px(32)), "受付印", font=load_font(str(PRINT_FONT), px(3.5)), fill=0)
    d.rectangle([px(18), px(58), px(192), px(122)], outline=0, width=px(0.6))  # the table
    for y in (80, 100):
        d.line([px(18), px(y), px(192), px(y)], fill=0, width=px(0.3))
    d.line([px(50), px(58), px(50), px(122)], fill=0, width=px(0.3))  # label column
    for f in FIELDS:
        x, y, bw, bh = f["box"]
        d.text((px(22), px(y + bh / 2 - 2.5)), f["label"], font=load_font(str(PRINT_FONT), px(4.5)), fill=0)
        if "cells" in f:  # boxes of their own, a printed hyphen between the groups
            for cx, cy, cw, ch in f["cells"]:
                d.rectangle([px(cx), px(cy), px(cx + cw), px(cy + ch)], outline=0, width=px(0.25))
            d.line([px(85), px(y + bh / 2), px(92), px(y + bh / 2)], fill=0, width=px(0.5))
            continue
        d.rectangle([px(x), px(y), px(x + bw), px(y + bh)], outline=0, width=px(0.25))
    for i, line in enumerate(["※ 被災した建物の写真を添付してください。", "※ 代理人が申請する場合は委任状が必要です。"]):
        d.text((px(20), px(250 + 7 * i)), line, font=load_font(str(PRINT_FONT), px(3.8)), fill=0)
    img.save(path, dpi=(DPI, DPI))
    return path


@pytest.fixture(scope="module")
def forms(tmp_path_factory) -> Path:
    """The built-in forms and the city's 罹災証明書, its YAML naming the blank beside it."""
    folder = tmp_path_factory.mktemp("forms")
    for f in FORMS_DIR.glob("*.yaml"):
        shutil.copy(f, folder)
    _city_blank(folder / "disaster_certificate.png")
    spec = {"id": "disaster_certificate", "title": "罹災証明書交付申請書", "reference": "disaster_certificate.png",
            "label_width": 30, "fields": FIELDS}
    (folder / "disaster_certificate.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return folder


def _scan(template, folder: Path, seed: int) -> tuple[Path, dict]:
    values = {"name": "浜田 謙", "postal_code": "744-0025", "phone": "0833-41-1234"}
    page = draw_filled(template, values, np.random.default_rng(seed))
    params = ScanParams(dpi_out=300, angle=1.2, shift_mm=(2.5, -1.5), corners=((0.0, 0.0),) * 4, blur=0.8, paper=226,
                        black=22, shading=0.02, noise=3.0, jpeg_quality=80, upside_down=False, seed=seed)
    path = folder / f"disaster-{seed}.jpg"
    Image.fromarray(apply_scan(page, params)).save(path, quality=80, dpi=(300, 300))
    return path, values


def test_the_template_prints_the_city_blank_not_its_own_rendering(forms: Path) -> None:
    """GIVEN a template naming the city's blank WHEN its page is rendered THEN it is that print (its
    受付印 box and notice), without Madoguchi's corner marks or labels."""
    template = load_template(forms / "disaster_certificate.yaml")
    assert template.reference == (forms / "disaster_certificate.png").resolve()
    page = render_page(template, DPI)
    blank = np.asarray(Image.open(forms / "disaster_certificate.png"))
    assert page.shape == blank.shape
    assert np.mean((page < 128) == (blank < 128)) > 0.995
    corner = round(mm_to_px(10, DPI))
    assert page[corner - 5 : corner + 5, corner - 5 : corner + 5].min() == 255  # no corner mark


def test_forms_render_writes_the_city_blank(forms: Path, tmp_path: Path) -> None:
    template = load_template(forms / "disaster_certificate.yaml")
    out = render_pdf(template, tmp_path / "blank.pdf")
    assert out.read_bytes().startswith(b"%PDF")


def test_cells_given_where_the_paper_has_them_are_the_fields_cells(forms: Path) -> None:
    """GIVEN a postal code as 3 + 4 boxes around a printed hyphen WHEN laid out THEN its 7 cells are
    those boxes, not 7 even slices of the field's box; a count that disagrees is refused."""
    from ocr.layout import layout_form
    from schemas.templates import FieldSpec

    template = load_template(forms / "disaster_certificate.yaml")
    cells = layout_form(template)["postal_code"].cells
    assert template.field("postal_code").char_boxes == 7
    assert [c.x for c in cells] == [55, 64, 73, 95, 104, 113, 122]
    with pytest.raises(ValueError, match="char_boxes"):
        FieldSpec(**{**FIELDS[1], "char_boxes": 6})
    with pytest.raises(ValueError, match="outside"):
        FieldSpec(**{**FIELDS[1], "cells": FIELDS[1]["cells"][:-1] + [[140, 84, 9, 12]]})
    with pytest.raises(ValueError, match="lays out its own boxes"):
        FieldSpec(**{**FIELDS[1], "kind": "wareki_date", "eras": ["reiwa"]})


def test_a_missing_reference_is_named(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text(yaml.safe_dump({"id": "x", "title": "x", "reference": "gone.pdf", "fields": FIELDS},
                                                    allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match="gone.pdf"):
        load_template(tmp_path / "x.yaml")


@pytest.mark.slow
def test_a_scan_of_the_city_form_is_identified_registered_and_read(forms: Path, tmp_path: Path, settings, engines) -> None:
    """
    GIVEN the city's 罹災証明書 filled by hand and scanned (tilted, shifted), among the built-in forms
    WHEN read with its template naming the blank
    THEN it is identified and registered, and its postal code read cell by cell as written;
         with the same template drawn by Madoguchi instead (no reference), the scan is refused, as
         the new user found
    """
    from flows.pipeline import Reader

    template = load_template(forms / "disaster_certificate.yaml")
    path, values = _scan(template, tmp_path, 5)
    reader = Reader(settings.model_copy(update={"ocr": settings.ocr.model_copy(update={"forms_dir": forms})}),
                    engines=engines)
    result = reader.read(path)
    assert result.form == "disaster_certificate" and result.registration["score"] > 0.85
    assert result.fields["postal_code"].value == values["postal_code"]
    assert result.fields["phone"].value == values["phone"]

    drawn = forms.parent / "drawn"
    drawn.mkdir()
    for f in forms.glob("*.yaml"):
        shutil.copy(f, drawn)
    spec = yaml.safe_load((drawn / "disaster_certificate.yaml").read_text(encoding="utf-8"))
    del spec["reference"]
    (drawn / "disaster_certificate.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    without = Reader(settings.model_copy(update={"ocr": settings.ocr.model_copy(update={"forms_dir": drawn})}),
                     engines=engines)
    with pytest.raises(UnknownFormError):
        without.read(path)
