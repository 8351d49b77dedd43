"""`madoguchi forms check ID SCAN... --out DIR` (issue 12, item 3): each scan registered to the form,
its fields' boxes and readings drawn on the registered page, and one line per scan with the
identification score, so a box measured in the wrong place is seen at once."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flows import cli
from ocr.errors import BlankPageError
from ocr.fields import blank_page
from ocr.layout import layout_form
from ocr.overlay import COLOURS, EMPTY, draw_check, reading_text
from ocr.render import mm_to_px
from schemas.results import FieldResult, FieldStatus
from schemas.templates import FORMS_DIR, load_template
from tests.conftest import SAMPLES

DPI = 300.0  # the flattened page the reader cuts fields from (flows.pipeline.READ_DPI)
DRAWN = {COLOURS[FieldStatus.accepted], COLOURS[FieldStatus.needs_review], COLOURS[FieldStatus.invalid], EMPTY}


def _px(mm: float) -> int:
    return round(mm_to_px(mm, DPI))


def _at(img: np.ndarray, x_mm: float, y_mm: float) -> tuple[int, int, int]:
    return tuple(int(v) for v in img[_px(y_mm), _px(x_mm)])


def _decided(status: FieldStatus, value=None, **kw) -> FieldResult:
    return FieldResult(value=value, status=status, confidence=0.9, **kw)


def test_boxes_are_drawn_where_the_template_puts_them_coloured_by_decision():
    """
    GIVEN the blank child allowance form as a flattened page and a decision per field
    WHEN the check picture is drawn
    THEN each field's box edges, at the template's mm, have its decision's colour (accepted green,
         needs_review orange, nothing written blue), 1 mm outside and 1.5 mm inside the box none,
         the box line is thicker than its character cells' lines, and the page keeps its size
    """
    template = load_template(FORMS_DIR / "child_allowance.yaml")
    layouts = layout_form(template)
    fields = {name: _decided(FieldStatus.accepted, "x") for name in layouts}
    fields["applicant_name"] = _decided(FieldStatus.needs_review, "山田 太郎")
    fields["phone"] = _decided(FieldStatus.accepted, None)
    flat = blank_page(template, DPI)
    img = draw_check(flat, DPI, layouts, fields, caption="test")
    assert img.shape == (*flat.shape, 3) and img.dtype == np.uint8
    want = {"applicant_name": COLOURS[FieldStatus.needs_review], "phone": EMPTY}
    for name, fl in layouts.items():
        b = fl.spec.box
        colour = want.get(name, COLOURS[FieldStatus.accepted])
        assert _at(img, b.x, b.y + b.h / 2) == colour, name  # left edge
        assert _at(img, b.x + b.w, b.y + b.h / 2) == colour, name  # right edge
        assert _at(img, b.x + b.w / 2, b.y + b.h) == colour, name  # bottom edge
        assert _at(img, b.x - 1, b.y + b.h / 2) not in DRAWN, name
        assert _at(img, b.x + 1.5, b.y + b.h / 2) not in DRAWN, name
    postal = layouts["postal_code"]
    green = (img[_px(postal.spec.box.y + postal.spec.box.h / 2)] == COLOURS[FieldStatus.accepted]).all(axis=1)
    box_line, cell_line = (int(green[_px(x) - 8 : _px(x) + 9].sum()) for x in (postal.spec.box.x, postal.cells[1].x))
    assert 0 < cell_line < box_line  # px across: a cell's line is drawn, and thinner than its field's box


def test_the_reading_shown_is_the_value_and_for_a_doubt_what_each_engine_read():
    layouts = layout_form(load_template(FORMS_DIR / "child_allowance.yaml"))
    assert reading_text(layouts["relationship"], _decided(FieldStatus.accepted, "mother")) == "母"
    assert reading_text(layouts["public_servant"], _decided(FieldStatus.accepted, False)) == "チェックなし"
    assert reading_text(layouts["phone"], _decided(FieldStatus.accepted, None)) == "（空欄）"
    doubt = reading_text(layouts["applicant_name"], _decided(
        FieldStatus.needs_review, "山田 太郎", readings={"paddle": "山田 太郎", "rapid": "山田 大郎"},
        reasons=["engines_disagree"]))
    assert doubt.startswith("山田 太郎") and "rapid 山田 大郎" in doubt and "engines_disagree" in doubt
    assert reading_text(layouts["phone"], None) == "（未読取）"


@pytest.fixture(scope="module")
def checked(tmp_path_factory, engines):
    """GIVEN a filled child allowance scan, a blank page and a pregnancy notification, checked in one
    call as child_allowance."""
    from flows.pipeline import Reader
    from samples.generator.draw import generate
    from schemas.settings import Settings

    tmp = tmp_path_factory.mktemp("check")
    [scan] = generate(load_template(FORMS_DIR / "child_allowance.yaml"), 1, 61, tmp / "scans", dpi=300)
    out, printed = tmp / "out", io.StringIO()
    args = ["forms", "check", "child_allowance", str(scan), str(SAMPLES / "bad" / "blank-page.png"),
            str(SAMPLES / "scans" / "pregnancy_notification-upside-down.jpg"), "--out", str(out)]
    with pytest.MonkeyPatch.context() as mp, redirect_stdout(printed):
        mp.setenv("MADOGUCHI_HOME", str(tmp / "home"))
        mp.setattr("flows.pipeline.Reader", lambda s: Reader(s, engines=engines))  # reuse the loaded engines
        code = cli.main(args)
        database = Path(Settings().db_url.removeprefix("sqlite:///"))
    return code, scan, out, printed.getvalue().splitlines(), database


@pytest.mark.slow
def test_check_draws_each_scan_and_prints_its_identification(checked):
    """
    WHEN `forms check` runs THEN the good scan's picture is the registered page with every field's
    box on its edges, one colour per decision agreeing with the counts printed; its line gives
    the identification score; nothing is recorded in the database
    """
    code, scan, out, lines, database = checked
    [line] = [ln for ln in lines if ln.startswith(str(scan))]
    parts = dict(p.split("=", 1) for p in line.split("\t")[1:])
    assert parts["form"] == "child_allowance" and parts["upside_down"] == "no"
    ident, score = parts["identified"].split(":")
    assert ident == "child_allowance" and float(score) == float(parts["score"]) >= 0.7
    assert len(parts["score"].split(".")[1]) == 4
    picture = Path(parts["picture"])
    assert picture == out / f"{scan.stem}-check.png"
    img = np.asarray(Image.open(picture).convert("RGB"))
    assert img.shape[:2] == (_px(297), _px(210))
    review = {COLOURS[FieldStatus.needs_review], COLOURS[FieldStatus.invalid]}
    counted = {"accepted": 0, "review": 0}
    for name, fl in layout_form(load_template(FORMS_DIR / "child_allowance.yaml")).items():
        b = fl.spec.box
        colour = _at(img, b.x, b.y + b.h / 2)
        assert colour in DRAWN, name
        assert _at(img, b.x + b.w / 2, b.y) == colour, name  # top edge
        assert _at(img, b.x + 1.5, b.y + b.h / 2) not in DRAWN, name
        counted["review" if colour in review else "accepted"] += 1
    assert counted == {"accepted": int(parts["accepted"]), "review": int(parts["review"])}
    assert _at(img, 105, 285) not in DRAWN  # the page's foot, no box there
    assert database.name.endswith(".db") and not database.exists()


@pytest.mark.slow
def test_a_scan_that_cannot_be_checked_says_why_and_the_others_still_are(checked):
    """
    WHEN a blank page and a scan of another form are among the scans
    THEN each prints its Japanese message (the other form named), has no picture, the good scan
         still has its picture, and the exit code says something failed
    """
    code, scan, out, lines, database = checked
    assert code == cli.EXIT_FAILED
    [blank] = [ln for ln in lines if ln.startswith(str(SAMPLES / "bad" / "blank-page.png"))]
    assert blank.split("\t")[1:] == ["error=blank_page", BlankPageError(page=0).message_ja]
    [other] = [ln for ln in lines if "pregnancy_notification-upside-down" in ln]
    assert "error=wrong_form" in other and "識別では pregnancy_notification" in other
    assert sorted(p.name for p in out.iterdir()) == [f"{scan.stem}-check.png"]
