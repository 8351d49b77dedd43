"""Cutting fields out of a registered page: crops hold the writing and not the printed boxes,
tick boxes and circled eras are told from their print."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from ocr.fields import blank_page, crop_box, crop_cells, field_cells, flatten, ink_ratio, is_empty, remove_box_lines
from ocr.layout import layout_form
from ocr.pages import PageImage
from ocr.registration import identify_and_register
from ocr.render import mm_to_px, render_page
from schemas.templates import Box, load_templates

HAND_FONT = "/usr/share/fonts/truetype/klee/KleeOne-Regular.ttf"
DPI = 300
TEMPLATES = load_templates()
FORM = TEMPLATES["child_allowance"]
LAYOUT = layout_form(FORM)
WRITTEN = {"applicant_name": "山田 一郎", "postal_code": "7440017", "account_number": "1111111", "child_count": "1"}
TICKED = ("sex", "female")  # a tick in this square
CIRCLED = ("birth_date", "heisei")  # a circle around this era


def _px(mm: float) -> float:
    return mm_to_px(mm, DPI)


def _filled_form() -> np.ndarray:
    """The child allowance form at 300 dpi, written on, one square ticked, one era circled."""
    img = Image.fromarray(render_page(FORM, DPI))
    draw = ImageDraw.Draw(img)
    for name, text in WRITTEN.items():
        cells = LAYOUT[name].cells
        if len(cells) == 1:
            c = cells[0]
            font = ImageFont.truetype(HAND_FONT, round(_px(c.h * 0.6)))
            draw.text((_px(c.x + 3), _px(c.y + c.h * 0.15)), text, font=font, fill=25)
        else:
            for c, ch in zip(cells, text):
                font = ImageFont.truetype(HAND_FONT, round(_px(c.h * 0.7)))
                draw.text((_px(c.x + c.w * 0.25), _px(c.y + c.h * 0.1)), ch, font=font, fill=25)
    sq = LAYOUT[TICKED[0]].ticks[TICKED[1]]
    tick = [(sq.x + 0.8, sq.y + 2.6), (sq.x + 2.0, sq.y + 4.2), (sq.x + 4.6, sq.y + 0.6)]
    draw.line([(_px(x), _px(y)) for x, y in tick], fill=30, width=round(_px(0.5)))
    era = LAYOUT[CIRCLED[0]].ticks[CIRCLED[1]]
    ring = [_px(era.x + 0.5), _px(era.y + 0.3), _px(era.x + era.w - 0.5), _px(era.y + era.h - 0.3)]
    draw.ellipse(ring, outline=30, width=round(_px(0.45)))
    return np.asarray(img)


def _scan(img: np.ndarray, angle: float, shift_mm: tuple[float, float], dpi: float) -> np.ndarray:
    """Rotate about the centre, shift and rescale like a scanner; light blur, noise and JPEG."""
    h, w = img.shape
    s = dpi / DPI
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, s)
    m[:, 2] += np.array([w, h]) * (s - 1) / 2 + np.array(shift_mm) * dpi / 25.4  # centred on the canvas, shifted
    out = cv2.warpAffine(img, m, (round(w * s), round(h * s)), flags=cv2.INTER_AREA, borderValue=235)
    out = cv2.GaussianBlur(out, (0, 0), 0.8)
    out = np.clip(out * 0.9 + np.random.default_rng(1).normal(0, 4, out.shape), 0, 255).astype(np.uint8)
    _, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 75])
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)


@pytest.fixture(scope="module")
def flat() -> np.ndarray:
    """A crooked 200 dpi scan of the filled form, registered and flattened back to 300 dpi."""
    scan = _scan(_filled_form(), angle=-3.5, shift_mm=(5, -4), dpi=200)
    page = PageImage(scan, 200.0, 0, Path("child-allowance-skew.jpg"))
    reg = identify_and_register(page, TEMPLATES)
    assert reg.template.id == FORM.id
    return flatten(page, reg, DPI)


def test_flatten_has_the_blank_forms_size_and_white_paper(flat: np.ndarray) -> None:
    """GIVEN a grey crooked scan WHEN flattened THEN the blank form's size, white paper, print where the form prints."""
    blank = blank_page(FORM, DPI)
    assert flat.shape == blank.shape
    assert np.median(flat) >= 250
    found = cv2.dilate((flat < 160).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0  # +-2 px = 0.17 mm
    assert found[blank < 128].mean() > 0.95


def test_written_cells_hold_their_writing_and_blank_cells_are_empty(flat: np.ndarray) -> None:
    """GIVEN written and unwritten fields WHEN cropped THEN one crop per cell, ink in exactly the written ones."""
    for name, fl in LAYOUT.items():
        crops = crop_cells(flat, fl, DPI)
        assert len(crops) == len(field_cells(fl))
        written = name in WRITTEN
        for crop in crops:
            assert crop.dtype == np.uint8 and crop.ndim == 2
            assert is_empty(crop) is (not written), name


def test_crops_are_the_cells_inset_and_free_of_box_lines(flat: np.ndarray) -> None:
    """GIVEN the postal code's seven boxes WHEN cropped THEN each crop is its box less 0.6 mm a side,
    no printed line runs along any edge, and the digit is in the middle."""
    for cell, crop in zip(LAYOUT["postal_code"].cells, crop_cells(flat, LAYOUT["postal_code"], DPI)):
        assert abs(crop.shape[1] - _px(cell.w - 1.2)) <= 2 and abs(crop.shape[0] - _px(cell.h - 1.2)) <= 2
        ink = crop < 160
        assert ink[:, :3].mean() < 0.05 and ink[:, -3:].mean() < 0.05
        assert ink[:3].mean() < 0.05 and ink[-3:].mean() < 0.05
        assert ink[:, crop.shape[1] // 4 : -crop.shape[1] // 4].sum() > 0.8 * ink.sum()


def test_box_lines_are_removed_but_strokes_like_ichi_and_one_survive() -> None:
    """GIVEN crops that still hold their box lines (registration 0.4 mm off) and a 一 or a 1 inside
    WHEN box lines are removed THEN no line is left along the edges and the character is intact."""
    cell = LAYOUT["postal_code"].cells[2]  # 9 x 12 mm
    for ch in ("一", "1"):
        img = Image.fromarray(render_page(FORM, DPI))
        font = ImageFont.truetype(HAND_FONT, round(_px(cell.h * 0.7)))
        ImageDraw.Draw(img).text((_px(cell.x + 1.5), _px(cell.y + 1.0)), ch, font=font, fill=20)
        page = np.asarray(img)
        off = Box(x=cell.x - 0.4, y=cell.y + 0.3, w=cell.w, h=cell.h).inset(0.1)  # box lines inside the crop
        raw = crop_box(page, off, DPI)
        clean = remove_box_lines(raw, DPI)
        glyph = crop_box(np.asarray(img), cell.inset(1.2), DPI) < 160
        band = math.ceil(_px(0.8))
        assert (raw < 160)[:, :band].mean() > 0.2  # the left box line was there
        for edge in (clean[:, :band], clean[:band], clean[-band:], clean[:, -band:]):
            assert (edge < 160).mean() < 0.1
        assert (clean < 160).sum() >= 0.9 * glyph.sum()
        assert not is_empty(clean)


def test_tick_boxes_and_circled_eras_are_told_from_their_print(flat: np.ndarray) -> None:
    """GIVEN one ticked square and one circled era WHEN ink beyond the print is measured THEN only they carry ink."""
    blank = blank_page(FORM, DPI)
    for name, fl in LAYOUT.items():
        for option, box in fl.ticks.items():
            ratio = ink_ratio(flat, blank, box, DPI)
            if (name, option) in (TICKED, CIRCLED):
                assert ratio > 0.04, (name, option, ratio)
            else:
                assert ratio < 0.01, (name, option, ratio)


def test_ink_ratio_ignores_print_moved_by_a_little_misregistration() -> None:
    """GIVEN an unticked square whose print sits 0.35 mm off WHEN measured THEN still about no ink."""
    blank = blank_page(FORM, DPI)
    shift = round(_px(0.35))
    moved = np.full_like(blank, 255)
    moved[shift:, shift:] = blank[:-shift, :-shift]
    for box in LAYOUT["relationship"].ticks.values():
        assert ink_ratio(moved, blank, box, DPI) < 0.01


def test_ink_ratio_knows_the_print_just_outside_a_square_measured_inside_its_lines() -> None:
    """GIVEN a city form's tick square measured inside its printed lines (the lines lie just outside
    the box) and a scan where the lines came out a pixel or two thicker WHEN measured THEN about no
    ink (it read 0.036, doubtful, before the print around the box was taken into account); a tick
    in it still counts."""
    dpi, inside = 300.0, Box(x=20.0, y=20.0, w=4.0, h=4.0)
    blank = np.full((round(_px(45)), round(_px(45))), 255, np.uint8)
    x0, y0, x1, y1 = (round(mm_to_px(v, dpi)) for v in (20, 20, 24, 24))
    cv2.rectangle(blank, (x0 - 3, y0 - 3), (x1 + 2, y1 + 2), 0, 3)  # 0.25 mm lines around the inside
    scan = cv2.erode(blank, np.ones((5, 5), np.uint8))  # a darker scan: the lines 2 px thicker each side
    assert ink_ratio(scan, blank, inside, dpi) < 0.005
    ticked = scan.copy()
    cv2.line(ticked, (x0 + 8, y0 + 25), (x0 + 20, y1 - 6), 0, 4)
    cv2.line(ticked, (x0 + 20, y1 - 6), (x1 - 6, y0 + 6), 0, 4)
    assert ink_ratio(ticked, blank, inside, dpi) > 0.06


def test_is_empty_ignores_specks_and_edge_slivers() -> None:
    """GIVEN a white crop with scanner dust and a sliver of box line on its edge WHEN checked THEN empty;
    GIVEN a short handwritten stroke THEN not empty."""
    crop = np.full((130, 100), 255, np.uint8)
    crop[40:42, 30:32] = 0  # dust, 0.17 mm
    crop[70, 60] = 0
    crop[:, :3] = 40  # 0.25 mm sliver of a box line along the left edge
    assert is_empty(crop)
    stroke = crop.copy()
    cv2.line(stroke, (50, 30), (52, 95), 0, 5)  # a "1", 5.5 mm long
    assert not is_empty(stroke)


def test_a_thin_faint_one_is_writing_not_an_empty_cell():
    """
    GIVEN a date cell holding only a thin, light stroke 7 mm tall (a handwritten 1, about 0.2 mm wide)
    WHEN asked whether the cell is empty
    THEN it is not: the day 14 must not be read as 4 because its 1 was taken for a blank cell
    """
    from ocr.fields import is_empty

    cell = np.full((128, 70), 250, np.uint8)
    cell[30:113, 34:36] = 120  # 83 px = 7 mm at 300 dpi, 2 px wide
    assert not is_empty(cell, 300.0)
    speck = np.full((128, 70), 250, np.uint8)
    speck[60:66, 30:35] = 60  # 0.5 mm: a speck
    assert is_empty(speck, 300.0)


def test_a_pencil_light_broken_one_is_writing_but_box_line_remnants_are_not():
    """
    GIVEN a date cell whose 1 is pencil-light (grey 190) and broken in two 2.5 mm pieces, and a cell
          with only a light line left along its top edge where the printed box was
    WHEN asked whether each cell is empty
    THEN the 1 is writing; the left-over line is not
    """
    from ocr.fields import is_empty

    cell = np.full((128, 70), 250, np.uint8)
    cell[34:64, 34:36] = 190  # 30 px = 2.5 mm
    cell[67:97, 35:37] = 190
    assert not is_empty(cell, 300.0)
    edge = np.full((128, 70), 250, np.uint8)
    edge[3:5, 5:65] = 190
    assert is_empty(edge, 300.0)


def test_a_light_digit_running_down_to_the_box_line_is_writing_not_an_empty_cell():
    """
    GIVEN a date cell holding a light 5 in two pieces (bar and stem; a belly running down to the box's
          lower line), none of it dark enough to be ink and no piece 3 mm long inside the cell's inner
          area; and a cell holding only a light box line's remnant along its lower edge and a speck
    WHEN asked whether the cells are empty
    THEN the first is not (its belly is 3 mm long counting its end near the line: the day 15 must not
         be read as 1, as it was on a tuning form, with a 3 and a 5 so dropped); the second is
    """
    five = np.full((92, 68), 245, np.uint8)  # a cell 7.8 x 5.8 mm at 300 dpi
    cv2.line(five, (30, 34), (50, 28), 175, 3)  # the bar
    cv2.line(five, (31, 36), (30, 46), 175, 3)  # the stem
    cv2.polylines(five, [np.array([(36, 56), (46, 64), (40, 76), (20, 86), (8, 84)])], False, 175, 3)  # the belly
    assert not is_empty(five, 300.0)
    remnant = np.full((92, 68), 245, np.uint8)
    remnant[86:89, :] = 190  # a box line left along the lower edge, light
    remnant[60:62, 40:42] = 150  # a speck
    assert is_empty(remnant, 300.0)
