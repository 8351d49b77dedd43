"""A form the city already prints, not one Madoguchi drew: its template names the blank form
(`reference:`), and identification, registration and reading use that print."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from ocr.errors import UnknownFormError
from ocr.render import mm_to_px, render_pdf, render_page
from schemas.templates import load_template
from tests.city_form import DPI, FIELDS, city_blank, scan
from tests.conftest import copy_forms, reader_for


@pytest.fixture(scope="module")
def forms(tmp_path_factory) -> Path:
    """The built-in forms and the city's 罹災証明書, its YAML naming the blank beside it."""
    folder = copy_forms(tmp_path_factory.mktemp("forms"))
    city_blank(folder / "disaster_certificate.png")
    spec = {"id": "disaster_certificate", "title": "罹災証明書交付申請書", "reference": "disaster_certificate.png",
            "label_width": 30, "fields": FIELDS}
    (folder / "disaster_certificate.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return folder


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


def test_forms_render_writes_thecity_blank(forms: Path, tmp_path: Path) -> None:
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

    template = load_template(forms / "disaster_certificate.yaml")
    path, values = scan(template, tmp_path, 5)
    reader = reader_for(settings, engines, forms)
    result = reader.read(path)
    assert result.form == "disaster_certificate" and result.registration["score"] > 0.85
    assert result.fields["postal_code"].value == values["postal_code"]
    assert result.fields["phone"].value == values["phone"]

    drawn = forms.parent / "drawn"
    drawn.mkdir()
    for f in forms.glob("*.*"):
        shutil.copy(f, drawn)
    spec = yaml.safe_load((drawn / "disaster_certificate.yaml").read_text(encoding="utf-8"))
    del spec["reference"]
    (drawn / "disaster_certificate.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    without = reader_for(settings, engines, drawn)
    with pytest.raises(UnknownFormError):
        without.read(path)
