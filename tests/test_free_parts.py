"""Layouts the city's own forms use: a wareki date printed 「令和　　年　　月　　日」 in one box with the
numbers written freely before 年, 月 and 日, and a phone number in three boxes （　）　－　, read as one
value (`parts:` in the template)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image, ImageDraw

from ocr.fields import crop_box, crop_free, is_empty
from ocr.layout import layout_form
from ocr.read import one_digit_cells
from ocr.render import PRINT_FONT, load_font, mm_to_px, render_page
from samples.generator.draw import ScanParams, apply_scan, draw_filled
from samples.generator.values import REFERENCE_DATE, fill_values
from schemas.templates import Box, FieldSpec, FormTemplate, load_template
from tests.conftest import copy_forms, reader_for

DPI = 200
TODAY = REFERENCE_DATE
PRINT_MM = 4.5  # character height of the city's print
# 各種証明書交付申請書 as a city lays it out; the boxes and gaps measured in mm on the printed copy
ROW = {"application_date": 60, "birth_date": 78, "phone": 96}  # top of each table row
FIELDS = [
    # 「令和　　年　　月　　日」: one era printed, the numbers written in the gaps
    {"name": "application_date", "label": "申請日", "kind": "wareki_date", "eras": ["reiwa"],
     "box": [52, 61, 138, 14], "required": True, "validators": ["date_recent"],
     "parts": [[66, 62, 14, 12], [86, 62, 14, 12], [106, 62, 14, 12]]},
    # 「昭和・平成・令和　　年　　月　　日」: the applicant circles an era
    {"name": "birth_date", "label": "生年月日", "kind": "wareki_date", "box": [52, 79, 138, 14], "required": True,
     "validators": ["date_past"],
     "options": [{"name": "showa", "label": "昭和", "box": [55, 80, 11, 12]},
                 {"name": "heisei", "label": "平成", "box": [68.5, 80, 11, 12]},
                 {"name": "reiwa", "label": "令和", "box": [82, 80, 11, 12]}],
     "parts": [[95, 80, 12, 12], [114, 80, 12, 12], [133, 80, 12, 12]]},
    # （[    ]）[    ]－[    ]: three boxes of the city's own
    {"name": "phone", "label": "電話番号", "kind": "phone", "box": [52, 97, 100, 14], "required": True,
     "parts": [[59, 98, 22, 12], [88, 98, 22, 12], [117, 98, 24, 12]]},
]
PRINTED = {  # what the city prints in each row, and where (x in mm)
    "application_date": [("令和", 56), ("年", 81), ("月", 101), ("日", 121)],
    "birth_date": [("昭和・平成・令和", 56), ("年", 108), ("月", 127), ("日", 146)],
    "phone": [("（", 54), ("）", 82), ("－", 111.5)],
}


def _px(mm: float) -> int:
    return round(mm_to_px(mm, DPI))


def _city_blank(path: Path) -> Path:
    """The blank as the city prints it, drawn here in its own style (not by ocr.render)."""
    img = Image.new("L", (_px(210), _px(297)), 255)
    d = ImageDraw.Draw(img)
    font = load_font(str(PRINT_FONT), _px(PRINT_MM))
    d.text((_px(45), _px(22)), "各種証明書交付申請書", font=load_font(str(PRINT_FONT), _px(8)), fill=0)
    d.text((_px(20), _px(40)), "下松市長　様", font=font, fill=0)
    d.rectangle([_px(18), _px(58), _px(192), _px(114)], outline=0, width=_px(0.6))  # the table
    for y in (76, 94):
        d.line([_px(18), _px(y), _px(192), _px(y)], fill=0, width=_px(0.3))
    d.line([_px(50), _px(58), _px(50), _px(114)], fill=0, width=_px(0.3))  # label column
    for f in FIELDS:
        mid = ROW[f["name"]] + 9 - PRINT_MM / 2
        d.text((_px(22), _px(mid)), f["label"], font=font, fill=0)
        for text, x in PRINTED[f["name"]]:
            d.text((_px(x), _px(mid)), text, font=font, fill=0)
        if f["kind"] == "phone":
            for x, y, w, h in f["parts"]:
                d.rectangle([_px(x), _px(y), _px(x + w), _px(y + h)], outline=0, width=_px(0.25))
    d.text((_px(20), _px(250)), "※ 本人確認書類を提示してください。", font=load_font(str(PRINT_FONT), _px(3.8)), fill=0)
    img.save(path, dpi=(DPI, DPI))
    return path


@pytest.fixture(scope="module")
def forms(tmp_path_factory) -> Path:
    """The built-in forms and the city's 各種証明書交付申請書, its YAML naming the blank beside it."""
    folder = copy_forms(tmp_path_factory.mktemp("forms"))
    _city_blank(folder / "certificates.png")
    spec = {"id": "certificates", "title": "各種証明書交付申請書", "reference": "certificates.png", "fields": FIELDS}
    (folder / "certificates.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return folder


def _field(name: str, **change) -> dict:
    return {**next(f for f in FIELDS if f["name"] == name), **change}


def test_parts_are_laid_out_as_free_areas_with_the_circled_eras_where_the_paper_prints_them(forms: Path) -> None:
    """GIVEN the city's template WHEN laid out THEN each field's parts are its free-written areas (no
    per-character cells, so the digit reader is not given a whole part as one digit), and a circled
    era is judged where the paper prints it."""
    template = load_template(forms / "certificates.yaml")
    layouts = layout_form(template)
    birth = layouts["birth_date"]
    assert template.field("birth_date").eras == ("showa", "heisei", "reiwa")  # named by the options
    assert [p.x for p in birth.parts] == [95, 114, 133] and not birth.date_parts and not birth.cells
    assert birth.ticks["heisei"] == Box(x=68.5, y=80, w=11, h=12)
    assert layouts["application_date"].ticks == {}  # one era: printed, not chosen
    assert len(layouts["phone"].parts) == 3 and not layouts["phone"].cells
    assert not any(one_digit_cells(fl) for fl in layouts.values())


@pytest.mark.parametrize("change, message", [
    ({"parts": [[66, 62, 14, 12], [86, 62, 14, 12]]}, "has 3 parts, 2 given"),
    ({"parts": [[66, 62, 14, 12], [86, 62, 14, 12], [180, 62, 14, 12]]}, "outside its box"),
    ({"parts": [[66, 62, 14, 12], [76, 62, 14, 12], [106, 62, 14, 12]]}, "overlap"),
    ({"kind": "postal_code", "eras": []}, "parts are for a wareki_date"),
    ({"char_boxes": 6}, "not both"),
    ({"eras": ["heisei", "reiwa"]}, "give options"),
    ({"options": [{"name": "reiwa", "label": "令和", "box": [53, 62, 12, 12]}]}, "one era is printed"),
    ({"parts": [], "options": [{"name": "reiwa", "label": "令和", "box": [53, 62, 12, 12]}],
      "eras": ["heisei", "reiwa"]}, "options are for one with parts"),
])
def test_parts_that_cannot_be_read_are_refused_with_what_is_wrong(change: dict, message: str) -> None:
    """GIVEN a date's parts (or its eras) given wrongly WHEN the template is loaded THEN it is refused,
    saying what is wrong; the same field given rightly is accepted."""
    FieldSpec(**_field("application_date"))
    with pytest.raises(ValueError, match=message):
        FieldSpec(**_field("application_date", **change))


def test_a_phone_has_two_or_three_parts() -> None:
    FieldSpec(**_field("phone", parts=[[59, 98, 22, 12], [88, 98, 50, 12]]))
    with pytest.raises(ValueError, match="2 or 3 parts, 4 given"):
        FieldSpec(**_field("phone", box=[52, 97, 138, 14],
                           parts=[[59, 98, 22, 12], [88, 98, 22, 12], [117, 98, 24, 12], [150, 98, 24, 12]]))
    with pytest.raises(ValueError, match="options are a choice's"):
        FieldSpec(**_field("phone", options=[{"name": "home", "label": "自宅", "box": [145, 98, 5, 5]}]))


def test_without_a_reference_madoguchi_prints_a_usable_blank() -> None:
    """GIVEN the same fields without the city's blank WHEN Madoguchi draws the form THEN the units 年
    月 日, the eras and the phone's hyphens are printed after the parts, and the parts stay blank."""
    template = FormTemplate(id="drawn", title="各種証明書交付申請書", fields=FIELDS)
    page = render_page(template, DPI)
    ink = lambda b: (crop_box(page, Box(x=b[0], y=b[1], w=b[2], h=b[3]), DPI) < 128).mean()  # noqa: E731
    for f in FIELDS:
        parts = f["parts"]
        for x, y, w, h in parts:
            assert ink([x + 0.5, y + 0.5, w - 1, h - 1]) == 0  # nothing printed where people write
        for (x, y, w, h), nxt in zip(parts, parts[1:]):
            assert ink([x + w, y, nxt[0] - x - w, h]) > 0.003  # a unit or hyphen after each part
    assert ink([55, 80, 38, 12]) > 0.02  # 昭和 平成 令和, to be circled


def test_the_print_inside_a_loosely_measured_part_is_not_writing(forms: Path) -> None:
    """GIVEN a year part measured 2 mm into the printed 年 (81-85.5 mm) WHEN the blank is cut THEN the part is
    empty (the print is whitened), where a plain cell crop would hold a stroke of 年."""
    template = load_template(forms / "certificates.yaml")
    blank = render_page(template, 300)
    loose = Box(x=66, y=62, w=17, h=12)
    assert not is_empty(crop_box(blank, loose.inset(0.6), 300), 300)
    assert is_empty(crop_free(blank, blank, loose, 300), 300)


KLEE = "/usr/share/fonts/truetype/klee/KleeOne-Regular.ttf"


def _written(text: str) -> tuple[np.ndarray, tuple[float, ...]]:
    """A part's crop with `text` written in it, and where each character's middle falls along the ink."""
    from PIL import ImageFont

    font = ImageFont.truetype(KLEE, 90)
    img = Image.new("L", (max(200, 40 + round(font.getlength(text))), 140), 255)
    ImageDraw.Draw(img).text((20, 10), text, font=font, fill=30)
    crop = np.asarray(img)
    cols = np.flatnonzero((crop < 128).any(axis=0))
    x0, x1, x, centres = cols[0], cols[-1] + 1, 20.0, []
    for ch in text:
        w = font.getlength(ch)
        centres.append((x + w / 2 - x0) / (x1 - x0))
        x += w
    return crop, tuple(centres)


@pytest.mark.slow
@pytest.mark.parametrize("month_reads, doubt, spelled", [
    (("11", "11"), None, "8|11|5"),  # counted alike: spelled digit by digit
    (("1", "11"), None, "8|11|5"),  # counted apart, the ink parts into two digits: the longer reading cuts
    (("11", "111"), "engines_disagree", None),  # counted apart, and the ink is not the longer reading's 3
    (("1", "1"), None, "8|11|5"),  # both dropped one, the ink parts into two of one height: the 1 twice
])
def test_a_part_whose_digits_are_not_counted_alike_goes_to_review(forms: Path, engines, month_reads, doubt, spelled):
    """
    GIVEN 11 written freely as a date's month, the line engines reading it as in `month_reads`
    WHEN the digit reader is given the part's digits
    THEN counted alike, or apart where the ink parts into as many digits as the longer reading, or
         alike as one digit where the ink parts into two of one height (`ocr.spell._doubled`), they
         are spelled digit by digit (widths 1, 2, 1 for the grammar); counted apart otherwise, the
         field is flagged for review
    """
    from ocr.engines import Reading
    from ocr.spell import Cell, spell_free_digits

    layouts = {"application_date": layout_form(load_template(forms / "certificates.yaml"))["application_date"]}
    crops = [_written(t) for t in ("8", "11", "5")]
    cells = [Cell("application_date", part, c) for part, (c, _) in zip(("year", "month", "day"), crops)]

    def reading(k: int, text: str) -> Reading:
        pos = crops[k][1] if len(text) == len(crops[k][1]) else (0.5,)
        return Reading(text, 0.995, (0.995,) * len(text), 0.9, pos)

    per_engine = {e: {0: reading(0, "8"), 1: reading(1, m), 2: reading(2, "5")} for e, m in zip(("paddle", "rapid"),
                                                                                                  month_reads)}
    by_engine = {e.name: e for e in engines}
    out, doubts = spell_free_digits(layouts, cells, {"application_date": [0, 1, 2]}, {**per_engine, "digit": {}},
                                     [by_engine["paddle"], by_engine["rapid"], by_engine["digit"]])
    assert doubts.get("application_date") == ((doubt,) if doubt else None)
    if spelled is None:
        assert out == {}
        return
    digit = out["application_date"]["digit"]
    assert digit.text == spelled
    assert digit.widths == (1, 2, 1)  # the 11 written, however the longer reading counted it
    assert len(out["application_date"]["rapid"].cells) == len(digit.cells) == 4
    shorter = 2 if month_reads == ("1", "1") else len(month_reads[0])  # both read 1: each counts it twice
    assert len(out["application_date"]["paddle"].cells) == 2 + shorter  # else the shorter stands apart


def _scan(template: FormTemplate, folder: Path, seed: int, values: dict | None = None, page=None) -> tuple[Path, dict]:
    values = values or fill_values(template, np.random.default_rng(seed), today=TODAY)
    page = draw_filled(template, values, np.random.default_rng(seed)) if page is None else page
    params = ScanParams(dpi_out=300, angle=-0.8 + 0.6 * seed, shift_mm=(2.0, -1.5), corners=((0.0, 0.0),) * 4,
                        blur=0.8, paper=226, black=22, shading=0.02, noise=3.0, jpeg_quality=80, upside_down=False,
                        seed=seed)
    path = folder / f"certificates-{seed}.jpg"
    Image.fromarray(apply_scan(page, params)).save(path, quality=80, dpi=(300, 300))
    return path, values


@pytest.fixture
def reader_of(forms: Path, settings, engines):
    return reader_for(settings, engines, forms)


SEEDS = (1, 2, 3, 4)


@pytest.mark.slow
def test_dates_and_phones_written_freely_in_parts_are_read(forms: Path, tmp_path: Path, reader_of) -> None:
    """
    GIVEN the city's form filled by hand (numbers written freely, 1-2 digits a date part, an era
          circled, a phone in three boxes) and scanned slightly tilted, four times
    WHEN read among the built-in forms
    THEN it is identified, every date and phone number is read as written (the phone joined with
         hyphens as the numbering plan groups it), the digit reader voted on each digit of every
         field, and nothing accepted is wrong
    """
    template = load_template(forms / "certificates.yaml")
    accepted = 0
    for seed in SEEDS:
        path, values = _scan(template, tmp_path, seed)
        result = reader_of.read(path, today=TODAY)
        assert result.form == "certificates"
        for name in ("application_date", "birth_date", "phone"):
            f = result.fields[name]
            assert f.value == values[name], (seed, name, f)
            assert "digit" in f.readings, (seed, name)  # the third reader read it digit by digit
            accepted += f.status == "accepted"
    assert accepted >= len(SEEDS) * 3 // 2  # most are accepted: the parts are read, not only found


@pytest.mark.slow
def test_a_date_whose_month_cannot_be_is_never_accepted(forms: Path, tmp_path: Path, reader_of) -> None:
    """
    GIVEN 令和 8 年 13 月 5 日 written freely in the city's date box (no such month)
    WHEN read
    THEN the date is not accepted, whatever the readers agree on; the phone on the same page still is read
    """
    from samples.generator import draw

    template = load_template(forms / "certificates.yaml")
    values = {**fill_values(template, np.random.default_rng(7), today=TODAY), "application_date": None}
    rng = np.random.default_rng(7)
    page = draw_filled(template, values, rng)
    pen = draw._pen(rng, draw.DRAW_DPI)
    parts = layout_form(template)["application_date"].parts
    draw._ink(page, [g for p, t in zip(parts, ("8", "13", "5")) for g in draw._line(t, p, pen, rng, draw.DRAW_DPI)],
              pen, rng)
    path, _ = _scan(template, tmp_path, 7, values, page)
    result = reader_of.read(path, today=TODAY)
    date_field = result.fields["application_date"]
    assert "13月" in date_field.readings["digit"]  # read as written...
    assert date_field.status != "accepted", date_field  # ...and refused
    assert result.fields["phone"].value == values["phone"]


@pytest.mark.slow
@pytest.mark.parametrize("reads, spelled, widths, doubts, status", [
    ("下松市中市3番11号", "下松市中市3番11号", (1, 2), {}, "accepted"),  # each digit spelled by the digit reader
    # both dropped a 1 and the window cut for it holds one of the two, read surely: the digit reader
    # does not see the other, but the run's ink, counted on a little past the cut (`digit_left_out`),
    # parts into two digits where one was read (and the decision keeps its spacing check, test_decide)
    ("下松市中市3番1号", "下松市中市3番1号", (1, 1), {"address": ("char_count_doubt",)}, None),
])
def test_an_address_numbering_is_spelled_by_the_digit_reader(engines, reads, spelled, widths, doubts, status):
    """
    GIVEN an address whose numbering 「3番11号」 is written by hand, read by both line engines as in
          `reads` (with where each character is), and its town's postal code accepted
    WHEN the digit reader is given the numbering's digits, cut where the line engines placed them,
         and the field is decided
    THEN it spells each digit, and the address is accepted; where both read one 1 for 11, the window
         cut for it holds one of the two, and the digit reader spells that one, but the reading finds
         ink for a digit more than was read there (char_count_doubt)
    """
    from ocr.decide import EngineText, RawField, decide_field
    from ocr.engines import Reading
    from ocr.spell import Cell, spell_free_digits
    from ocr.validate import Context
    from schemas.settings import DecisionSettings

    form = load_template(Path("schemas/forms/child_allowance.yaml"))
    layouts = {"address": layout_form(form)["address"]}
    crop, centres = _written("下松市中市3番11号")
    if len(reads) < len(centres):  # the two 1s read as one, placed between them
        centres = (*centres[:7], (centres[7] + centres[8]) / 2, centres[9])
    reading = Reading(reads, 0.6, (0.6,) * len(reads), 0.5, centres)  # too unsure to be accepted alone
    by_engine = {e.name: e for e in engines}
    out, found = spell_free_digits(layouts, [Cell("address", "", crop)], {"address": [0]},
                                     {"paddle": {0: reading}, "rapid": {0: reading}, "digit": {}},
                                     [by_engine["paddle"], by_engine["rapid"], by_engine["digit"]])
    digit = out["address"]["digit"]
    assert (digit.text, digit.widths, found) == (spelled, widths, doubts)
    assert set(out["address"]) == {"digit"}  # the line engines' own readings stay whole
    line = EngineText(reads, 0.6, (reading,))
    f = decide_field(RawField(form.field("address"), {"paddle": line, "rapid": line, "digit": digit}, {}, True),
                     DecisionSettings(), Context(today=TODAY, values={"postal_code": "744-0014"}))
    if status:
        assert (f.status.value, f.value) == (status, "下松市中市3番11号")
