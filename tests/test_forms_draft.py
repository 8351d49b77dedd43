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
from schemas.templates import ERAS, Box, FieldKind, FormTemplate, load_template, load_templates
from tests.city_form import FIELDS, city_blank, scan
from tests.conftest import copy_forms, reader_for

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
         their kinds and boxes as measured by hand; the 受付印 box is left out, named in a comment;
         and a filled, tilted scan is identified among the built-in forms and read with the draft
         as with the hand-written YAML
    """

    forms = copy_forms(tmp_path / "forms")
    blank = city_blank(forms / "disaster_certificate.png")
    draft = draft_form(blank, rapid, find_lines=find_lines)

    by_name = {p.spec.name: p for p in draft.proposals}
    assert set(by_name) == {"name", "postal_code", "phone"}
    assert [what.split(" [")[0] for what in draft.left_out] == ["受付印"]
    for want in FIELDS:
        got = by_name[want["name"]].spec
        assert (got.kind.value, got.label) == (want["kind"], want["label"])
        assert edge_error(got.box, Box.model_validate(want["box"])) <= BOX_TOLERANCE_MM, want["name"]
    postal = by_name["postal_code"].spec
    assert postal.char_boxes == 7 and postal.validators == ("postal_code_exists",)
    assert max(edge_error(a, Box.model_validate(b)) for a, b in zip(postal.cells, FIELDS[1]["cells"], strict=True)) <= 0.5

    text = draft_yaml(draft, "disaster_certificate", "罹災証明書交付申請書", blank.name, "p.png")
    assert "#   受付印 [" in text
    path = save_beside(text, blank, "disaster_certificate")
    assert load_template(path).reference == blank.resolve()
    by_hand = FormTemplate(id="disaster_certificate", title="罹災証明書交付申請書", reference=blank, fields=FIELDS)
    scanned, values = scan(by_hand, tmp_path, 5)  # the ink where the paper's boxes are, not where the draft put them
    reader = reader_for(settings, engines, forms)
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
         inside the rules; the printed date is a date written in parts, the gaps before 年 月 日, its
         two eras to circle where they are printed; the phone's three parts lie between its printed
         brackets and hyphen; the ticks are a choice with their own boxes; the picture outlines and
         numbers every box over a millimetre grid
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
    assert not any("not read yet" in note for note in birth.notes)
    # 「昭和・平成　　　年　　　月　　　日」 printed from x = 50 mm, 4 mm a character
    assert [o.name for o in birth.spec.options] == ["showa", "heisei"]
    assert birth.spec.options[0].box.x < 50.5 and 57.5 < birth.spec.options[0].box.x + birth.spec.options[0].box.w
    for part, (start, end) in zip(birth.spec.parts, [(70, 82), (86, 98), (102, 114)], strict=True):
        assert start - 1.5 <= part.x and part.x + part.w <= end + 0.5 and part.w >= (end - start) - 3, part
    phone = specs[4]  # 「（　　　　）　　　　－」: brackets and hyphen in the 4 mm squares at 50, 70, 90 mm
    assert len(phone.parts) == 3
    for part, (start, end) in zip(phone.parts, [(52, 70), (70, 90), (90, 195)], strict=True):
        assert start < part.x and part.x + part.w < end + 0.5 and part.w >= 10, part
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


CITY_FORMS = Path(__file__).resolve().parent.parent / "samples" / "city_forms"
# boxes.md's field -> (the name the draft gives it, its kind, its page); None: the office's, left out
CITY_FIELDS = {
    "disaster_certificate": {
        "receipt_stamp": None,
        "application_date": ("application_date", "wareki_date", 1), "postal_code": ("postal_code", "postal_code", 1),
        "address": ("address", "text", 1), "furigana": ("kana", "kana", 1), "name": ("name", "name_kanji", 1),
        "phone": ("phone", "phone", 1), "disaster_date": ("disaster_date", "wareki_date", 1),
        "disaster_place": ("disaster_place", "text", 1), "damage_kind": ("damage_kind", "choice", 1),
        "copies": ("copies", "digits", 1),
    },
    "child_allowance_claim": {
        "claim_date": ("application_date", "wareki_date", 1), "furigana": ("kana", "kana", 1),
        "name": ("name", "name_kanji", 1), "birth_date": ("birth_date", "wareki_date", 1),
        "postal_code": ("postal_code", "postal_code", 1), "address": ("address", "text", 1),
        "phone": ("phone", "phone", 1), "occupation": ("occupation", "choice", 1),
        "child_name": ("child_name", "name_kanji", 2), "child_birth_date": ("child_birth_date", "wareki_date", 2),
        "relationship": ("relationship", "text", 2), "bank_code": ("bank_code", "digits", 2),
        "branch_code": ("branch_code", "digits", 2), "account_number": ("account_number", "digits", 2),
        "account_type": ("account_type", "choice", 2), "account_holder_kana": ("account_holder_kana", "kana", 2),
        "receipt_stamp": None,
    },
}
OPTION_NAMES = {"火災": "fire", "風水害": "flood", "地震": "earthquake", "その他": "other", "会社員": "employee",
                "公務員": "civil_servant", "自営業": "self_employed", "普通": "ordinary", "当座": "current"}


def measured(form_id: str) -> dict[str, dict[str, tuple[int, Box]]]:
    """boxes.md's rows for one PDF: field -> part -> (page, box)."""
    out: dict[str, dict[str, tuple[int, Box]]] = {}
    page = 0
    for line in (CITY_FORMS / "boxes.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            page = int(line.rsplit(" ", 1)[1]) if line.startswith(f"## {form_id}.pdf") else 0
        elif page and line.startswith("| ") and "[x" not in line and "[" in line:
            field, part, box = (cell.strip() for cell in line.strip("|").split("|"))
            out.setdefault(field, {})[part] = (page, Box.model_validate([float(v) for v in box.strip("[]").split(",")]))
    return out


def share(a: Box, of: Box) -> float:
    """The share of box `of`'s area that a covers (0..1)."""
    w = min(a.x + a.w, of.x + of.w) - max(a.x, of.x)
    h = min(a.y + a.h, of.y + of.h) - max(a.y, of.y)
    return max(0.0, w) * max(0.0, h) / (of.w * of.h)


@pytest.mark.parametrize("form_id", ["disaster_certificate", "child_allowance_claim"])
def test_the_city_forms_are_drafted_as_measured(form_id: str, tmp_path: Path, capsys, monkeypatch, rapid) -> None:
    """
    GIVEN one of the city's own blanks (not made by Madoguchi: a LibreOffice spreadsheet, an HTML
          table printed by Chromium) and every writing area, box, tick square and date part
          measured on it (samples/city_forms/boxes.md)
    WHEN `madoguchi forms draft` runs on it
    THEN every field for the applicant is proposed once, on its page, with its kind and name, and
         nothing else (the 受付印 and the office's columns are left out, named in a comment); boxes
         are within 1.5 mm, postal and other character boxes within 0.5 mm, tick squares within
         0.5 mm with their options named; a date written freely has its parts over the gaps before
         年 月 日 and, where two eras are printed to be circled, a box around each; a phone in three
         boxes joined by hyphens is one field with a part in each; the YAML ends with a newline,
         loads beside a copy of the PDF, and each page has its picture; the applicant's フリガナ
         has `reading_of` its 氏名
    """
    from flows.cli import main

    monkeypatch.setattr("ocr.readers.load_engines", lambda names, threads=2: [rapid])  # loaded once already
    blank = tmp_path / f"{form_id}.pdf"
    shutil.copy(CITY_FORMS / blank.name, blank)
    picture = tmp_path / f"{form_id}-draft.png"
    assert main(["forms", "draft", str(blank), "--id", form_id, "--title", "T", "--picture", str(picture)]) == 0
    out = capsys.readouterr().out
    assert out.endswith("\n")
    template = load_template(save_beside(out, blank, form_id))
    want, boxes = CITY_FIELDS[form_id], measured(form_id)
    assert set(want) == set(boxes)  # every row of boxes.md is looked at
    pages = max(page for parts in boxes.values() for page, _ in parts.values())
    assert template.pages == pages and template.reference == blank.resolve()
    assert all(Image.open(tmp_path / n).size[0] > 1000
               for n in [picture.name, *(f"{form_id}-draft-p{p}.png" for p in range(2, pages + 1))])
    assert "受付印 [" in out and "受付" not in "".join(f.label for f in template.fields)
    assert sorted(f.name for f in template.fields) == sorted(w[0] for w in want.values() if w)
    # the applicant's フリガナ, just above the applicant's 氏名, is tied to it
    assert template.field("kana").reading_of == "name"

    for field, parts in boxes.items():
        if want[field] is None:
            continue
        name, kind, page = want[field]
        got = template.field(name)
        assert (got.kind.value, got.page) == (kind, page), name
        area = parts.get("writing area") or parts.get("whole cell")
        if area:
            assert edge_error(got.box, area[1]) <= BOX_TOLERANCE_MM, (name, got.box, area[1])
        digits = [box for part, (_, box) in parts.items() if part.startswith("digit")]
        if digits:
            cells = layout_field(got, 1.0).cells
            assert len(cells) == len(digits) and max(edge_error(a, b) for a, b in zip(cells, digits)) <= 0.5, name
        if kind == "choice":
            assert [(o.name, o.label) for o in got.options] == [(OPTION_NAMES[p], p) for p in parts], name
            assert max(edge_error(o.box, parts[o.label][1]) for o in got.options) <= 0.5, name
        free = [box for part, (_, box) in parts.items()
                if part.startswith("before") or part in ("area code", "local", "number")]
        if free:  # each part over the measured gap: most of the one's area is the other's
            assert len(got.parts) == len(free), name
            assert all(share(b, of=a) >= 0.75 and share(a, of=b) >= 0.6 for a, b in zip(got.parts, free)), name
        eras = {part.split()[1]: box for part, (_, box) in parts.items() if part.startswith("era")}
        if kind == "wareki_date":
            assert [ERAS_BY_LABEL[e] for e in eras] == list(got.eras), name
            circled = {o.label: o.box for o in got.options}
            assert set(circled) == (set(eras) if len(eras) > 1 else set()), name
            for era, box in circled.items():  # around the printed word, a little larger, so a circle round it is in it
                assert inside_of(eras[era].inset(-0.5), box) and edge_error(box, eras[era]) <= 2.5, (name, era, box)
    if form_id == "child_allowance_claim":
        assert sorted(template.field("account_holder_kana").validators) == []
        assert template.field("address").validators == ("address_matches_postal_code",)
        assert template.field("birth_date").validators == ("date_past",)
        assert template.field("application_date").validators == ("date_recent",)
        assert template.field("bank_code").validators == ("bank_exists",)
        assert template.field("branch_code").validators == ("branch_exists",)


ERAS_BY_LABEL = {v: k for k, v in ERAS.items()}


def inside_of(inner: Box, outer: Box) -> bool:
    return (outer.x <= inner.x and outer.y <= inner.y and inner.x + inner.w <= outer.x + outer.w
            and inner.y + inner.h <= outer.y + outer.h)
