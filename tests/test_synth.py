"""The sample generator: reproducible, truthful, and writing where the reader will look."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pikepdf
import pytest
from PIL import Image

from ocr.layout import layout_form
from ocr.render import mm_to_px, render_page
from samples.generator.draw import FORMATS, apply_scan, draw_filled, draw_form, generate, scan_params
from samples.generator.values import REFERENCE_DATE, fill_values, kudamatsu_towns, to_wareki
from ocr.validate import Context, clean_text, validate
from schemas.templates import FieldKind, FormTemplate, load_templates

TEMPLATES = load_templates()
AGE_RANGES = {"child_allowance": (20, 56), "child_allowance_claim": (20, 56), "pregnancy_notification": (18, 46),
              "long_term_care": (65, 101)}
KATAKANA_NAME = re.compile(r"^[\u30A1-\u30F6ー]+ [\u30A1-\u30F6ー]+$")


@pytest.fixture(params=sorted(TEMPLATES))
def template(request: pytest.FixtureRequest) -> FormTemplate:
    return TEMPLATES[request.param]


def test_same_seed_gives_same_files(tmp_path: Path) -> None:
    """GIVEN one form and one seed
    WHEN two pages are generated twice into different folders, and once with another seed
    THEN the two runs write byte-identical images and truth files, and the other seed differs."""
    t = TEMPLATES["child_allowance"]
    a = generate(t, 2, seed=11, out_dir=tmp_path / "a", dpi=200)
    b = generate(t, 2, seed=11, out_dir=tmp_path / "b", dpi=200)
    c = generate(t, 1, seed=12, out_dir=tmp_path / "c", dpi=200)
    assert [p.name for p in a] == ["child_allowance-s11-000.png", "child_allowance-s11-001.png"]
    for pa, pb in zip(a, b):
        assert pa.read_bytes() == pb.read_bytes()
        truth = pa.with_suffix(".truth.json").name
        assert (tmp_path / "a" / truth).read_text() == (tmp_path / "b" / truth).read_text()
    assert c[0].read_bytes() != a[0].read_bytes()


def _check_value(t: FormTemplate, name: str, v: object, values: dict[str, object]) -> None:
    spec = t.field(name)
    kind = spec.kind
    if kind == FieldKind.wareki_date:
        d = date.fromisoformat(str(v))
        assert to_wareki(d)[0] in spec.eras, (name, v)
    elif kind == FieldKind.postal_code:
        assert re.fullmatch(r"744-\d{4}", str(v)) and v in {tw.postal_code for tw in kudamatsu_towns()}
    elif kind == FieldKind.kana:
        assert KATAKANA_NAME.match(str(v)), v
    elif kind == FieldKind.name_kanji:
        assert str(v).count(" ") == 1 and "\u3000" not in str(v), v
    elif kind == FieldKind.choice:
        assert v in {o.name for o in spec.options}
    elif kind == FieldKind.checkbox:
        assert isinstance(v, bool)
    elif kind == FieldKind.amount:
        assert isinstance(v, int) and 0 <= v < 10 ** (spec.char_boxes or 9)
    elif kind == FieldKind.digits:
        fits = len(str(v)) == spec.char_boxes if spec.exact_length else len(str(v)) <= spec.char_boxes
        assert str(v).isdigit() and (spec.char_boxes is None or fits)
    elif kind == FieldKind.phone:
        assert re.fullmatch(r"0833-\d{2}-\d{4}|0[789]0-\d{4}-\d{4}", str(v)), v


def test_truth_values_are_valid(template: FormTemplate) -> None:
    """GIVEN a form
    WHEN 40 sets of truth values are drawn
    THEN every value has its field's format, required fields are never empty, and the project's
    own validators (after the reader's normalisation) accept them."""
    for seed in range(40):
        values = fill_values(template, np.random.default_rng(seed))
        assert set(values) == {f.name for f in template.fields}
        cleaned = {k: clean_text(template.field(k).kind, v) if isinstance(v, str) else v for k, v in values.items()}
        ctx = Context(today=REFERENCE_DATE, values=cleaned)
        for spec in template.fields:
            v = values[spec.name]
            if v is None:
                assert not spec.required, spec.name
                continue
            _check_value(template, spec.name, v, values)
            if spec.kind not in (FieldKind.checkbox, FieldKind.choice):
                assert validate(spec, cleaned[spec.name], ctx) == [], (spec.name, v)


def test_dates_are_plausible() -> None:
    """GIVEN the three forms
    WHEN values are drawn
    THEN applications are weekdays in the last 60 days, ages fit the procedure, and the due date
    agrees with the pregnancy weeks."""
    for seed in range(30):
        rng = np.random.default_rng(seed)
        for t in (t for t in TEMPLATES.values() if t.id in AGE_RANGES):  # the forms with an applicant's birth date
            v = fill_values(t, rng)
            applied = date.fromisoformat(v["application_date"])
            assert REFERENCE_DATE - timedelta(days=60) <= applied <= REFERENCE_DATE and applied.weekday() < 5
            age = (applied - date.fromisoformat(v["birth_date"])).days / 365.25
            lo, hi = AGE_RANGES[t.id]
            assert lo <= age < hi, (t.id, age)
            if t.id.startswith("child_allowance"):
                child = (applied - date.fromisoformat(v["child_birth_date"])).days / 365.25
                assert 0 <= child < 16 and age - child >= 18
            if t.id == "pregnancy_notification":
                ahead = (date.fromisoformat(v["due_date"]) - applied).days
                assert 28 <= ahead <= 250
                assert abs(40 - ahead / 7 - int(v["pregnancy_weeks"])) <= 1


def test_writing_stays_inside_its_boxes(template: FormTemplate) -> None:
    """GIVEN filled forms drawn without the scanner (every page of a form of several)
    WHEN the blank print is subtracted
    THEN all ink lies in a writing cell clear of its lines, or near a tick square or era name."""
    dpi = 150
    k = mm_to_px(1.0, dpi)
    blanks, alloweds = [], []
    for page_form in template.page_forms():
        blank = render_page(page_form, dpi)
        allowed = np.zeros_like(blank, dtype=bool)

        def allow(b, grow_mm: float) -> None:
            x0, y0 = round((b.x - grow_mm) * k), round((b.y - grow_mm) * k)
            allowed[y0 : round((b.y + b.h + grow_mm) * k), x0 : round((b.x + b.w + grow_mm) * k)] = True

        for fl in layout_form(page_form).values():
            for c in (*fl.cells, *fl.parts, *(c for cells in fl.date_parts.values() for c in cells)):
                allow(c, -0.3)  # clear of the box line
            for sq in fl.ticks.values():
                allow(sq, 1.5)  # ticks and circles may run over the printed square
        blanks.append(blank)
        alloweds.append(allowed)
    for seed in range(4):
        rng = np.random.default_rng(seed)
        pages = draw_form(template, fill_values(template, rng), rng, dpi)
        for page, blank, allowed in zip(pages, blanks, alloweds, strict=True):
            ink = (np.abs(page.astype(int) - blank[..., None]).max(axis=2) > 40)
            assert ink.sum() > 1000
            assert not (ink & ~allowed).any(), np.argwhere(ink & ~allowed)[:5]


def test_scan_geometry() -> None:
    """GIVEN a page drawn at 300 dpi
    WHEN it is scanned at 200 dpi, once the right way up and once upside down
    THEN the scan is A4 at 200 dpi, grey paper, and the upside-down scan is the other rotated 180°."""
    t = TEMPLATES["pregnancy_notification"]
    rng = np.random.default_rng(5)
    page = draw_filled(t, fill_values(t, rng), rng, 300)
    params = scan_params(rng, dpi_out=200)
    up = apply_scan(page, params)
    down = apply_scan(page, replace(params, upside_down=True))
    assert np.allclose(up.shape[:2], (297 / 25.4 * 200, 210 / 25.4 * 200), atol=1)
    assert np.array_equal(down, up[::-1, ::-1])
    assert 190 <= np.median(up) <= 250


def test_every_format_is_written_with_its_dpi(tmp_path: Path) -> None:
    """GIVEN one page requested in every format
    WHEN it is generated at 200 dpi
    THEN each file exists, carries 200 dpi, and the truth file names the form and all fields."""
    t = TEMPLATES["long_term_care"]
    paths = generate(t, 1, seed=3, out_dir=tmp_path, formats=FORMATS, dpi=200)
    assert [p.suffix for p in paths] == [".png", ".jpg", ".pdf", ".tif"]
    for p in paths:
        assert p.exists() and p.stat().st_size > 10_000
        if p.suffix == ".pdf":
            with pikepdf.open(p) as pdf:  # an A4 page: the image's pixels at 200 dpi
                assert float(pdf.pages[0].mediabox[2]) == pytest.approx(210 / 25.4 * 72, abs=1.0)
        else:
            assert Image.open(p).info["dpi"][0] == pytest.approx(200, abs=0.1)
    truth = json.loads((tmp_path / "long_term_care-s3-000.truth.json").read_text(encoding="utf-8"))
    assert truth["form"] == "long_term_care"
    assert set(truth["fields"]) == {f.name for f in t.fields}
    assert unicodedata.normalize("NFKC", truth["fields"]["kana"]).count(" ") == 1


def test_writers_close_together_run_their_digits_into_each_other() -> None:
    """
    GIVEN the phone number of 妊娠届出書 drawn for four writers with the generator's spacing, and again
          with their characters closer (-0.32 to -0.18 of a character, `madoguchi bench --spacing`)
    WHEN the phone box's ink is parted into pieces
    THEN the same values are written, in fewer pieces of ink (digits running into each other) and
         narrower
    """
    from ocr.cuts import Ink

    template = load_templates()["pregnancy_notification"]
    page_form = template.page_forms()[0]
    box = layout_form(page_form)["phone"].cells[0]
    dpi = 200
    k = mm_to_px(1.0, dpi)
    blank = render_page(page_form, dpi)[round(box.y * k) + 4 : round((box.y + box.h) * k) - 4,
                                        round(box.x * k) + 4 : round((box.x + box.w) * k) - 4]
    pieces, widths = {}, {}
    for spacing in ((-0.05, 0.12), (-0.32, -0.18)):
        for seed in range(4):
            values = fill_values(template, np.random.default_rng(seed))
            page = draw_form(template, values, np.random.default_rng(seed), dpi, spacing=spacing)[0]
            crop = page[round(box.y * k) + 4 : round((box.y + box.h) * k) - 4,
                        round(box.x * k) + 4 : round((box.x + box.w) * k) - 4].min(axis=2)
            crop = np.where(np.abs(crop.astype(int) - blank) > 40, crop, 255).astype(np.uint8)
            columns = Ink.of(crop)._columns(None)[0]
            inked = np.flatnonzero((crop < 128).any(axis=0))
            pieces[spacing] = pieces.get(spacing, 0) + len(columns)
            widths[spacing] = widths.get(spacing, 0) + int(inked[-1] - inked[0])
    assert pieces[(-0.32, -0.18)] < pieces[(-0.05, 0.12)] and widths[(-0.32, -0.18)] < 0.85 * widths[(-0.05, 0.12)]
