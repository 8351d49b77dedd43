"""`madoguchi forms draft`: a template proposed from a blank form's printed boxes and labels, read
with the real engines (RapidOCR's detector finds the printed lines, the rapid line engine reads
them)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from ocr.draft import draft_form
from ocr.draft_output import FINE_GRID, MARGIN_MM, PICTURE_DPI, STRONG_GRID, draft_picture, draft_yaml
from ocr.layout import layout_field
from ocr.render import PRINT_FONT, load_font, mm_to_px, render_pdf
from schemas.templates import FORMS_DIR, Box, FieldKind, FormTemplate, load_template, load_templates
from tests.city_form import FIELDS, city_blank, scan

pytestmark = pytest.mark.slow
BOX_TOLERANCE_MM = 1.5  # each edge of a proposed box from the template's


@pytest.fixture(scope="module")
def find_lines():
    from ocr.engines_rapid import load_rapid_det

    return load_rapid_det(2)


@pytest.fixture(scope="module")
def rapid(engines):
    return next(e for e in engines if e.name == "rapid")


def edge_error(a: Box, b: Box) -> float:
    """The largest distance, mm, between corresponding edges of two boxes."""
    return max(abs(a.x - b.x), abs(a.y - b.y), abs(a.x + a.w - b.x - b.w), abs(a.y + a.h - b.y - b.h))


def save_beside(text: str, blank: Path, form_id: str) -> Path:
    path = blank.with_name(f"{form_id}.yaml")
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("form_id", ["child_allowance", "long_term_care", "pregnancy_notification"])
def test_a_built_in_form_printed_to_pdf_is_drafted_back(form_id: str, tmp_path: Path, rapid, find_lines) -> None:
    """
    GIVEN a built-in form printed to PDF (nothing of its YAML goes along)
    WHEN its template is drafted from the PDF
    THEN every field is proposed, once and in order, with its box within 1.5 mm on every edge, its
         kind and label, its character boxes, tick boxes, option labels and eras where Madoguchi lays
         them out; nothing else is proposed; and the YAML loads beside the PDF
    """
    template = load_templates()[form_id]
    blank = render_pdf(template, tmp_path / f"{form_id}.pdf")
    draft = draft_form(blank, rapid, find_lines=find_lines)

    assert draft.page_size == (210.0, 297.0)
    assert len(draft.proposals) == len(template.fields)
    for want, p in zip(template.fields, draft.proposals):
        got = p.spec
        assert edge_error(got.box, want.box) <= BOX_TOLERANCE_MM, (want.name, got.box, want.box)
        assert (got.kind, got.label) == (want.kind, want.label), want.name
        assert p.label_read == want.label
        assert got.eras == want.eras and got.suffix == want.suffix, want.name
        assert [o.label for o in got.options] == [o.label for o in want.options], want.name
        laid_out, drafted = layout_field(want, template.label_width), layout_field(got, 1.0)
        pairs = [*zip(drafted.cells, laid_out.cells, strict=True),
                 *zip(drafted.ticks.values(), laid_out.ticks.values(), strict=True),
                 *zip([b for c in drafted.date_parts.values() for b in c],
                      [b for c in laid_out.date_parts.values() for b in c], strict=True)]
        assert all(edge_error(a, b) <= 0.5 for a, b in pairs), want.name

    loaded = load_template(save_beside(draft_yaml(draft, form_id, template.title, blank.name, "p.png"), blank, form_id))
    assert loaded.reference == blank.resolve()
    assert loaded.fields == tuple(p.spec for p in draft.proposals)


def test_the_city_table_is_drafted_and_its_draft_reads_a_filled_scan(tmp_path: Path, settings, engines, rapid,
                                                                    find_lines) -> None:
    """
    GIVEN the city's 罹災証明書 blank (a ruled table: labels in the left column, a box or 3 + 4 postal
          boxes around a printed hyphen in the right; a 受付印 box), with the built-in forms
    WHEN its template is drafted and saved beside it unchanged
    THEN name, postal code (its 7 boxes given where the paper has them) and phone are proposed with
         their kinds and boxes as measured by hand, the 受付印 box is proposed too, marked unlabelled;
         and a filled, tilted scan is identified among the built-in forms and read with the draft
         as with the hand-written YAML
    """
    from flows.pipeline import Reader

    forms = tmp_path / "forms"
    forms.mkdir()
    for f in FORMS_DIR.glob("*.yaml"):
        shutil.copy(f, forms)
    blank = city_blank(forms / "disaster_certificate.png")
    draft = draft_form(blank, rapid, find_lines=find_lines)

    by_name = {p.spec.name: p for p in draft.proposals}
    assert set(by_name) == {"field_1", "name", "postal_code", "phone"}
    assert by_name["field_1"].spec.label == "受付印" and not by_name["field_1"].label_read
    for want in FIELDS:
        got = by_name[want["name"]].spec
        assert (got.kind.value, got.label) == (want["kind"], want["label"])
        assert edge_error(got.box, Box.model_validate(want["box"])) <= BOX_TOLERANCE_MM, want["name"]
    postal = by_name["postal_code"].spec
    assert postal.char_boxes == 7 and postal.validators == ("postal_code_exists",)
    assert max(edge_error(a, Box.model_validate(b)) for a, b in zip(postal.cells, FIELDS[1]["cells"], strict=True)) <= 0.5

    path = save_beside(draft_yaml(draft, "disaster_certificate", "罹災証明書交付申請書", blank.name, "p.png"),
                       blank, "disaster_certificate")
    assert load_template(path).reference == blank.resolve()
    by_hand = FormTemplate(id="disaster_certificate", title="罹災証明書交付申請書", reference=blank, fields=FIELDS)
    scanned, values = scan(by_hand, tmp_path, 5)  # the ink where the paper's boxes are, not where the draft put them
    reader = Reader(settings.model_copy(update={"ocr": settings.ocr.model_copy(update={"forms_dir": forms})}),
                    engines=engines)
    result = reader.read(scanned)
    assert result.form == "disaster_certificate" and result.registration["score"] > 0.85
    assert result.fields["postal_code"].value == values["postal_code"]
    assert result.fields["phone"].value == values["phone"]


def _table_blank(path: Path) -> Path:
    """A 転入届 laid out as one ruled table whose right-hand cells are the writing areas themselves
    (no boxes of their own): a date and a phone number printed in theirs, two tick squares in one."""
    dpi = 200
    img = Image.new("L", (round(mm_to_px(210, dpi)), round(mm_to_px(297, dpi))), 255)
    d = ImageDraw.Draw(img)
    px = lambda mm: round(mm_to_px(mm, dpi))  # noqa: E731
    font = lambda mm: load_font(str(PRINT_FONT), px(mm))  # noqa: E731
    d.text((px(90), px(20)), "転入届", font=font(8), fill=0)
    rows = [("氏名", ""), ("フリガナ", ""), ("生年月日", "昭和・平成　　　年　　　月　　　日"), ("性別", "ticks"),
            ("電話番号", "（　　　　）　　　　－"), ("住所", "")]
    top, rh = 50, 16
    d.rectangle([px(15), px(top), px(195), px(top + rh * len(rows))], outline=0, width=px(0.5))
    d.line([px(45), px(top), px(45), px(top + rh * len(rows))], fill=0, width=px(0.3))
    for i, (label, inside) in enumerate(rows):
        y = top + i * rh
        if i:
            d.line([px(15), px(y), px(195), px(y)], fill=0, width=px(0.3))
        d.text((px(18), px(y + rh / 2 - 2.2)), label, font=font(4.2), fill=0)
        if inside == "ticks":
            for j, option in enumerate(["男", "女"]):
                x = 50 + 25 * j
                d.rectangle([px(x), px(y + 6), px(x + 4), px(y + 10)], outline=0, width=px(0.25))
                d.text((px(x + 5.5), px(y + 6)), option, font=font(4), fill=0)
        elif inside:
            d.text((px(50), px(y + rh / 2 - 2)), inside, font=font(4), fill=0)
    img.save(path, dpi=(dpi, dpi))
    return path


def test_a_table_whose_cells_are_the_writing_areas(tmp_path: Path, rapid, find_lines) -> None:
    """
    GIVEN a blank that is one ruled table, labels in the left column and nothing but the rules
          around the writing areas on the right; a date and a phone number's brackets printed in
          theirs, tick squares in one
    WHEN drafted
    THEN each right-hand cell is one field named and kinded from its label, its box the cell kept
         inside the rules; the printed date is a date with the printed eras and a note that such a
         date is not read yet; the ticks are a choice with their own boxes; the picture outlines
         and numbers every box over a millimetre grid
    """
    blank = _table_blank(tmp_path / "moving_in.png")
    draft = draft_form(blank, rapid, find_lines=find_lines)

    specs = [p.spec for p in draft.proposals]
    assert [(s.name, s.kind) for s in specs] == [
        ("name", FieldKind.name_kanji), ("kana", FieldKind.kana), ("birth_date", FieldKind.wareki_date),
        ("sex", FieldKind.choice), ("phone", FieldKind.phone), ("address", FieldKind.text)]
    for i, s in enumerate(specs):
        cell = Box(x=45, y=50 + 16 * i, w=150, h=16)  # the rules' middles
        assert 0.2 < s.box.x - cell.x < 1.5 and 0.2 < cell.x + cell.w - s.box.x - s.box.w < 1.5, s.name
        assert 0.2 < s.box.y - cell.y < 1.5 and 0.2 < cell.y + cell.h - s.box.y - s.box.h < 1.5, s.name
    birth = draft.proposals[2]
    assert birth.spec.eras == ("showa", "heisei") and "年" in birth.printed
    assert any("not read yet" in note for note in birth.notes)
    sex = specs[3]
    assert [o.label for o in sex.options] == ["男", "女"]
    assert [o.name for o in sex.options] == ["male", "female"]
    assert all(edge_error(o.box, Box(x=50 + 25 * j, y=104, w=4, h=4)) <= 0.5 for j, o in enumerate(sex.options))
    assert "（" in draft.proposals[4].printed or "(" in draft.proposals[4].printed

    picture = np.asarray(draft_picture(draft)).astype(int)
    margin = mm_to_px(MARGIN_MM, PICTURE_DPI)
    assert picture.shape[:2] == (round(mm_to_px(297, PICTURE_DPI) + 2 * margin), round(mm_to_px(210, PICTURE_DPI) + 2 * margin))

    def around(x_mm: float, y_mm: float) -> np.ndarray:
        x, y = (round(margin + mm_to_px(v, PICTURE_DPI)) for v in (x_mm, y_mm))
        return picture[y - 2:y + 3, x - 2:x + 3].reshape(-1, 3)

    for s in specs:  # each box's outline is red at the middle of its top edge
        assert any(r > 180 and g < 80 and b < 80 for r, g, b in around(s.box.x + s.box.w / 2, s.box.y)), s.name
    # on the paper below the table: the grid strong at 100 mm, fine at 105, nothing between
    assert list(STRONG_GRID) in around(100, 201.5).tolist() and list(FINE_GRID) in around(105, 201.5).tolist()
    assert (around(102.5, 201.5) == 255).all()


def test_forms_draft_writes_the_yaml_and_the_picture(tmp_path: Path, capsys, monkeypatch, settings, rapid) -> None:
    """GIVEN a blank WHEN `madoguchi forms draft` runs THEN the YAML is on stdout and loads beside the
    blank, and the picture is written where asked; a bad id is refused with exit code 2."""
    from flows.cli import main

    monkeypatch.setattr("ocr.readers.load_engines", lambda names, threads=2: [rapid])  # loaded once already
    blank = _table_blank(tmp_path / "moving_in.png")
    assert main(["forms", "draft", str(blank), "--id", "Moving", "--title", "転入届"]) == 2
    capsys.readouterr()
    assert main(["forms", "draft", str(blank), "--id", "moving_in", "--title", "転入届",
                 "--picture", str(tmp_path / "numbered.png")]) == 0
    out = capsys.readouterr().out
    template = load_template(save_beside(out, blank, "moving_in"))
    assert template.title == "転入届" and len(template.fields) == 6
    assert "# [3] label read: 「生年月日」" in out
    assert Image.open(tmp_path / "numbered.png").size[0] > 1000
