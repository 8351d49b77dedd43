"""The picture `madoguchi forms check` writes: a registered page with every field's boxes and its
reading drawn on it, so a box measured in the wrong place is seen at once.

Everything is drawn in template coordinates on the flattened page (`ocr.fields.flatten`): a box
at x mm is drawn at x * dpi / 25.4 px, exactly where the reader cuts it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ocr.layout import FieldLayout
from ocr.render import MM_PER_INCH, PRINT_FONT, load_font, mm_to_px
from schemas.results import FieldResult, FieldStatus
from schemas.templates import Box, FieldKind

# RGB per decision; EMPTY is an accepted field with nothing written in it
COLOURS = {
    FieldStatus.accepted: (0, 150, 60),  # green
    FieldStatus.needs_review: (235, 125, 0),  # orange
    FieldStatus.invalid: (215, 25, 25),  # red
}
EMPTY = (60, 100, 210)  # blue
LEGEND = ((COLOURS[FieldStatus.accepted], "緑 自動確定"), (COLOURS[FieldStatus.needs_review], "橙 要確認"),
          (COLOURS[FieldStatus.invalid], "赤 不正値"), (EMPTY, "青 空欄・未読取"))
PAGE_FADE = 0.4  # the scan's ink is drawn at this share of its darkness: black becomes light grey
GRID_COLOUR = (200, 222, 245)  # every grid step
GRID_MAJOR = (150, 190, 235)  # every fifth step, numbered in mm
FIELD_LINE_MM = 0.5  # a field's box
CELL_LINE_MM = 0.2  # its character cells, tick squares and date parts
TEXT_MM = 2.5  # height of the label and reading at a box
PLATE = (255, 255, 255, 200)  # behind a text: readable over the scan, which still shows through


def draw_check(flat: np.ndarray, dpi: float, layouts: Mapping[str, FieldLayout], fields: Mapping[str, FieldResult],
               *, caption: str = "", grid_mm: float | None = 10.0, font: Path = PRINT_FONT) -> np.ndarray:
    """The registered page with each field's boxes and reading drawn on it.

    Args:
        flat: the flattened page, grayscale uint8, in template coordinates at `dpi`.
        dpi: px per inch of `flat`.
        layouts: every field's printed geometry (`ocr.layout.layout_form`), in the order to number them.
        fields: the decision per field name; a field missing here is drawn as not read.
        caption: a line written at the top of the page (form, identification score).
        grid_mm: a faint millimetre grid at this step, numbered every fifth line; None for none.
        font: the Japanese font for labels and readings.

    Returns:
        An RGB uint8 image of the same height and width as `flat`.
    """
    faded = (255 - (255 - flat.astype(np.float32)) * PAGE_FADE).astype(np.uint8)
    rgb = np.repeat(faded[:, :, None], 3, axis=2)
    if grid_mm:
        rgb = np.minimum(rgb, _grid(flat.shape[:2], dpi, grid_mm))
    img = Image.fromarray(rgb).convert("RGBA")
    texts = Image.new("RGBA", img.size, (0, 0, 0, 0))
    tdraw = ImageDraw.Draw(texts)
    text_font = load_font(str(font), max(8, round(mm_to_px(TEXT_MM, dpi))))
    if grid_mm:
        _grid_numbers(tdraw, flat.shape[:2], dpi, grid_mm, load_font(str(font), max(8, round(mm_to_px(2.0, dpi)))))
    boxes: list[tuple[Box, tuple[int, int, int], float]] = []
    taken = [_px_rect(fl.spec.box, dpi) for fl in layouts.values()]  # a text goes where no box is
    for n, (name, fl) in enumerate(layouts.items(), start=1):
        result = fields.get(name)
        colour = _colour(result)
        boxes.append((fl.spec.box, colour, FIELD_LINE_MM))
        parts = (*fl.cells, *fl.ticks.values(), *(c for cells in fl.date_parts.values() for c in cells))
        boxes += [(b, colour, CELL_LINE_MM) for b in parts if b != fl.spec.box]
        text = f"{n} {name}: {reading_text(fl, result)}"
        xy = _text_place(tdraw, fl.spec.box, text, text_font, dpi, taken, flat.shape[:2])
        taken.append(_plate_text(tdraw, xy, text, colour, text_font))
    if caption:
        _plate_text(tdraw, (mm_to_px(3, dpi), mm_to_px(2, dpi)), caption, (0, 0, 0), text_font)
    _legend(tdraw, flat.shape[0], dpi, text_font)
    img = Image.alpha_composite(img, texts)
    draw = ImageDraw.Draw(img)
    for box, colour, line_mm in boxes:  # last: a box is what is being checked, nothing may hide it
        _rectangle(draw, box, colour, line_mm, dpi)
    return np.asarray(img.convert("RGB"))


def reading_text(layout: FieldLayout, result: FieldResult | None) -> str:
    """What the picture says a field holds: its value as entered (a choice by its label); for a
    field a person must check, also each engine's reading and the first reason."""
    if result is None:
        return "（未読取）"
    spec, value = layout.spec, result.value
    if spec.kind == FieldKind.choice and value is not None:
        shown = next((o.label for o in spec.options if o.name == value), str(value))
    elif spec.kind == FieldKind.checkbox and value is not None:
        shown = "チェックあり" if value else "チェックなし"
    else:
        shown = "（空欄）" if value in (None, "") else str(value)
    if result.status != FieldStatus.accepted:
        raw = " / ".join(f"{engine} {text}" for engine, text in result.readings.items() if text)
        shown += f"  [{raw}]" if raw else ""
        shown += f"  {result.reasons[0]}" if result.reasons else ""
    return shown


def _colour(result: FieldResult | None) -> tuple[int, int, int]:
    if result is None or (result.status == FieldStatus.accepted and result.value in (None, "")):
        return EMPTY
    return COLOURS[result.status]


def _rectangle(draw: ImageDraw.ImageDraw, box: Box, colour: tuple[int, int, int], line_mm: float, dpi: float) -> None:
    """A box's outline centred on its edges, so the line covers the pixel the edge falls in."""
    width = max(1, round(mm_to_px(line_mm, dpi)))
    half = width // 2
    x0, y0 = round(mm_to_px(box.x, dpi)), round(mm_to_px(box.y, dpi))
    x1, y1 = round(mm_to_px(box.x + box.w, dpi)), round(mm_to_px(box.y + box.h, dpi))
    draw.rectangle([x0 - half, y0 - half, x1 + half, y1 + half], outline=colour, width=width)


def _px_rect(box: Box, dpi: float) -> tuple[float, float, float, float]:
    return (mm_to_px(box.x, dpi), mm_to_px(box.y, dpi), mm_to_px(box.x + box.w, dpi), mm_to_px(box.y + box.h, dpi))


def _text_place(draw: ImageDraw.ImageDraw, box: Box, text: str, font, dpi: float,
                taken: list[tuple[float, float, float, float]], shape: tuple[int, int]) -> tuple[float, float]:
    """Where a box's text goes: just above the box, else just below it, where it covers no other
    box and no other text; else inside the box along its top edge (rows printed close together)."""
    x, top, _, bottom = _px_rect(box, dpi)
    gap = mm_to_px(0.8, dpi)
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    pad = _pad(font)
    w, h = x1 - x0 + 2 * pad, y1 - y0 + 2 * pad  # the plate _plate_text draws
    for y in (top - gap - h, bottom + gap):
        if y >= 0 and y + h <= shape[0] and not any(_overlap((x, y, x + w, y + h), r) for r in taken):
            break
    else:
        x, y = x + gap, top + gap
    return x - x0 + pad, y - y0 + pad  # the text's origin that puts its plate's top-left at (x, y)


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _pad(font) -> int:
    return max(1, font.size // 8)


def _plate_text(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, colour: tuple[int, int, int],
                font) -> tuple[float, float, float, float]:
    """Text on a translucent white plate; returns the plate's bounds in px."""
    x0, y0, x1, y1 = draw.textbbox(xy, text, font=font)
    pad = _pad(font)
    plate = (x0 - pad, y0 - pad, x1 + pad, y1 + pad)
    draw.rectangle(plate, fill=PLATE)
    draw.text(xy, text, fill=(*colour, 255), font=font)
    return plate


def _legend(draw: ImageDraw.ImageDraw, height: int, dpi: float, font) -> None:
    """What the colours mean, at the page's foot."""
    x, y = mm_to_px(3, dpi), height - mm_to_px(3, dpi) - font.size * 1.2
    for colour, text in LEGEND:
        x = _plate_text(draw, (x, y), text, colour, font)[2] + mm_to_px(3, dpi)


def _grid(shape: tuple[int, int], dpi: float, step_mm: float) -> np.ndarray:
    """White RGB with a line every `step_mm` from the page's top-left, every fifth one darker."""
    grid = np.full((*shape, 3), 255, np.uint8)
    h, w = shape
    for axis, size in ((1, w), (0, h)):
        k = 1
        while (pos := round(k * step_mm * dpi / MM_PER_INCH)) < size:
            colour = GRID_MAJOR if k % 5 == 0 else GRID_COLOUR
            if axis == 1:
                grid[:, pos] = colour
            else:
                grid[pos, :] = colour
            k += 1
    return grid


def _grid_numbers(draw: ImageDraw.ImageDraw, shape: tuple[int, int], dpi: float, step_mm: float, font) -> None:
    """The mm of every fifth grid line, along the top and the left edge."""
    h, w = shape
    major = 5 * step_mm
    k = 1
    while (mm := k * major) * dpi / MM_PER_INCH < max(h, w):
        pos = mm_to_px(mm, dpi)
        if pos < w:
            draw.text((pos + 2, mm_to_px(8, dpi)), f"{mm:g}", fill=(*GRID_MAJOR, 255), font=font)
        if pos < h:
            draw.text((2, pos + 2), f"{mm:g}", fill=(*GRID_MAJOR, 255), font=font)
        k += 1
