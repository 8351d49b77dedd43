"""Cut what the applicant wrote out of a registered page.

Everything here works on the flattened page: the scan resampled into template coordinates by
`flatten`, so a box in mm is the same pixels on every scan. Crops come out on white paper with
the printed box lines removed, ready for a recogniser.
"""

from __future__ import annotations

import dataclasses
import math
from functools import lru_cache

import cv2
import numpy as np

from ocr.layout import FieldLayout
from ocr.pages import PageImage, normalise_background
from ocr.registration import Registration
from ocr.render import MM_PER_INCH, box_px, render_page
from schemas.templates import Box, FormTemplate

FLAT_DPI = 300.0  # default resolution of the flattened page; crops are sharp at 300 dpi
CELL_INSET_MM = 0.6  # keeps the printed box line (0.2-0.3 mm, drawn inside the box) out of a crop
INK_LEVEL = 160  # grey level below which a pixel of the white-normalised page is ink
FAINT_LEVEL = 210  # ...and below which it may be pencil-light ink, looked for only inside a cell
LINE_BAND_MM = 1.2  # a box line left in a crop lies this close to the crop's edge
LINE_MIN_SHARE = 0.6  # ...and runs along at least this share of the edge
LINE_MAX_MM = 0.6  # ...and is at most this thick
TICK_TOLERANCE_MM = 0.5  # print moved by this much is still the print, not a mark


def flatten(page: PageImage, registration: Registration, dpi: float = FLAT_DPI) -> np.ndarray:
    """The page in template coordinates at `dpi`, paper normalised to white.

    Same size as render_page(registration.template, dpi). A scan much finer than `dpi` is first
    area-averaged, so thin strokes are not lost to aliasing.
    """
    reg, image = registration, page.image
    factor = dpi / registration.page_dpi
    if factor < 0.75:
        size = (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[0] * factor)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        to_small = np.diag([size[0] / image.shape[1], size[1] / image.shape[0], 1.0])
        reg = dataclasses.replace(registration, homography=to_small @ registration.homography)
        image = small
    flat = reg.warp(image, dpi)
    return normalise_background(flat, dpi)


@lru_cache(maxsize=8)
def blank_page(template: FormTemplate, dpi: float = FLAT_DPI) -> np.ndarray:
    """The blank form at `dpi` (cached, read-only): the reference for `ink_ratio`."""
    page = render_page(template, dpi)
    page.setflags(write=False)
    return page


def crop_box(flat_page: np.ndarray, box: Box, dpi: float) -> np.ndarray:
    """The pixels of a box (mm) on a flattened page; a copy."""
    x0, y0, x1, y1 = box_px(box, dpi, flat_page.shape)
    return flat_page[y0:y1, x0:x1].copy()


def field_cells(layout: FieldLayout) -> tuple[Box, ...]:
    """The writing cells of a field in reading order; a wareki date gives year, month, day cells, a
    field written freely in parts its parts."""
    if layout.cells or layout.parts:
        return layout.cells or layout.parts
    return tuple(c for part in ("year", "month", "day") for c in layout.date_parts.get(part, ()))


def crop_cells(flat_page: np.ndarray, layout: FieldLayout, dpi: float) -> list[np.ndarray]:
    """One crop per writing cell (see `field_cells`), inset and with box lines removed."""
    return [remove_box_lines(crop_box(flat_page, cell.inset(CELL_INSET_MM), dpi), dpi) for cell in field_cells(layout)]


def crop_free(flat_page: np.ndarray, reference_page: np.ndarray, box: Box, dpi: float) -> np.ndarray:
    """A free-written part (spec.parts) cut like a cell, and the blank form's print inside it
    whitened: a part measured loosely around 「　年」 takes a sliver of the printed 年 or a bracket,
    which is never writing (a line engine reads it as a 1)."""
    inner = box.inset(CELL_INSET_MM)
    crop = crop_box(flat_page, inner, dpi)
    ref = crop_box(reference_page, inner, dpi)
    if ref.shape != crop.shape:
        raise ValueError("flat_page and reference_page must have the same size (same template and dpi)")
    r = _px(TICK_TOLERANCE_MM, dpi)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    crop[cv2.dilate((ref < INK_LEVEL).astype(np.uint8), disc) > 0] = 255
    return remove_box_lines(crop, dpi)


def remove_box_lines(crop: np.ndarray, dpi: float) -> np.ndarray:
    """Whiten what is left of a printed box line along a crop's edges.

    Only thin, long, straight runs close to an edge are removed, so a character's own strokes
    (一, 1, ー) in the middle of the cell survive, and strokes crossing the line keep their ink.
    """
    out = crop.copy()
    ink = (crop < INK_LEVEL).astype(np.uint8)
    band = _px(LINE_BAND_MM, dpi)
    thick = _px(LINE_MAX_MM, dpi)
    for axis in (0, 1):  # 0: horizontal lines (top/bottom), 1: vertical lines (left/right)
        length = crop.shape[1 - axis]
        run = max(3, int(length * LINE_MIN_SHARE))
        kernel = np.ones((1, run) if axis == 0 else (run, 1), np.uint8)
        lines = cv2.morphologyEx(ink, cv2.MORPH_OPEN, kernel)
        edge = np.zeros_like(lines)
        if axis == 0:
            edge[:band] = 1
            edge[-band:] = 1
        else:
            edge[:, :band] = 1
            edge[:, -band:] = 1
        lines &= edge
        lines = _thin_only(lines, axis, thick)
        grow = np.ones((3, 1) if axis == 0 else (1, 3), np.uint8)  # anti-aliased fringe of the line
        out[cv2.dilate(lines, grow) > 0] = 255
    return out


def _thin_only(lines: np.ndarray, axis: int, thick: int) -> np.ndarray:
    """Keep line components no thicker than `thick` px across their direction."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(lines, connectivity=8)
    across = stats[:, cv2.CC_STAT_HEIGHT] if axis == 0 else stats[:, cv2.CC_STAT_WIDTH]
    keep = np.zeros(n, np.uint8)
    keep[1:] = across[1:] <= thick + 1
    return keep[labels]


def is_empty(crop: np.ndarray, dpi: float = FLAT_DPI) -> bool:
    """True when a crop holds no writing: only specks, or slivers of print along its edges."""
    ink = (crop < INK_LEVEL).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    min_extent = _px(1.0, dpi)  # px: shorter than 1 mm is a speck, not a stroke
    sliver = _px(0.4, dpi)
    long_stroke = _px(3.0, dpi)  # px: a stroke this long is writing, however thin
    h, w = crop.shape[:2]
    strokes = 0
    for x, y, bw, bh, area in stats[1:]:
        if max(bw, bh) < min_extent:
            continue
        on_edge = (y <= 0 or y + bh >= h) and bh <= sliver or (x <= 0 or x + bw >= w) and bw <= sliver
        if not on_edge:
            if max(bw, bh) >= long_stroke:
                return False  # a thin, faint 1 has little area but is clearly written
            strokes += area
    if strokes >= (0.5 * dpi / MM_PER_INCH) ** 2 * 4:  # px: about 2 mm of a 0.5 mm stroke
        return False
    return not _faint_stroke(crop, dpi, long_stroke)


def _faint_stroke(crop: np.ndarray, dpi: float, long_stroke: int) -> bool:
    """A pencil-light or broken stroke reaching well inside the cell (away from where box lines were),
    at least `long_stroke` px long once its pieces are joined, counting its length near the edges too:
    a faint 1 that the ink level misses, or a digit written lightly towards the box's side (a 3 or a 5
    written 1 mm from the line broke into pieces at the ink level and was dropped, its field accepted
    without it)."""
    band = _px(LINE_BAND_MM, dpi)
    h, w = crop.shape[:2]
    if h <= 2 * band or w <= 2 * band:
        return False
    faint = (crop < FAINT_LEVEL).astype(np.uint8)
    joined = cv2.dilate(faint, np.ones((_px(0.5, dpi), 1), np.uint8))  # bridge breaks along a stroke
    _, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    inside = np.unique(labels[band:-band, band:-band])
    inside = inside[inside > 0]  # a box line's remnant along an edge reaches nowhere inside
    return bool(inside.size and np.maximum(stats[inside, cv2.CC_STAT_WIDTH], stats[inside, cv2.CC_STAT_HEIGHT]).max()
                >= long_stroke)


def ink_ratio(flat_page: np.ndarray, reference_page: np.ndarray, box: Box, dpi: float) -> float:
    """Share of a box's area inked on the page beyond the blank form's print (0..1).

    Used for tick squares and circled eras: the print (and anything within TICK_TOLERANCE_MM of
    it) is ignored, so a residual misregistration of the printed square reads as empty.
    """
    if flat_page.shape != reference_page.shape:
        raise ValueError("flat_page and reference_page must have the same size (same template and dpi)")
    page = crop_box(flat_page, box, dpi)
    if page.size == 0:
        raise ValueError(f"box {box} lies outside the page")
    # the print around the box counts too: a square measured inside its printed lines has them
    # just outside, and a scan's blurred line reaches in
    r = _px(TICK_TOLERANCE_MM, dpi)
    around = crop_box(reference_page, box.inset(-2 * TICK_TOLERANCE_MM), dpi)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    printed_around = cv2.dilate((around < INK_LEVEL).astype(np.uint8), disc) > 0
    x0, y0, _, _ = box_px(box, dpi, flat_page.shape)
    ax0, ay0, _, _ = box_px(box.inset(-2 * TICK_TOLERANCE_MM), dpi, flat_page.shape)
    printed = printed_around[y0 - ay0 : y0 - ay0 + page.shape[0], x0 - ax0 : x0 - ax0 + page.shape[1]]
    extra = (page < INK_LEVEL) & ~printed
    return float(extra.sum() / page.size)


NAME_GAP_MM = 2.0  # narrowest gap taken as the space between family and given name
NAME_GAP_RATIO = 1.5  # ...and it must be this much wider than any gap between characters


def _blank_runs(ink_cols: np.ndarray) -> list[tuple[int, int, int]]:
    """(width, start, end) of blank column runs between the first and last inked column."""
    cols = np.flatnonzero(ink_cols)
    runs, start = [], None
    for x in range(cols[0], cols[-1] + 1) if cols.size else ():
        if not ink_cols[x] and start is None:
            start = x
        elif ink_cols[x] and start is not None:
            runs.append((x - start, start, x))
            start = None
    return sorted(runs, reverse=True)


def split_at_gap(crop: np.ndarray, dpi: float = FLAT_DPI) -> list[np.ndarray]:
    """Split a name written as "family  given" at its widest blank column run.

    Specks are ignored. Returns two crops when the widest gap is at least NAME_GAP_MM, a quarter of
    the writing's height and NAME_GAP_RATIO times the next widest; else the crop whole.
    """
    ink = (crop < INK_LEVEL).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    big = np.zeros(n, bool)
    big[1:] = np.maximum(stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]) >= _px(1.0, dpi)
    strokes = big[labels]
    rows = np.flatnonzero(strokes.any(axis=1))
    runs = _blank_runs(strokes.any(axis=0))
    if not runs:
        return [crop]
    width, a, b = runs[0]
    second = runs[1][0] if len(runs) > 1 else 0
    height = rows[-1] - rows[0] + 1
    if width < max(_px(NAME_GAP_MM, dpi), height / 4) or width < NAME_GAP_RATIO * second:
        return [crop]
    pad = min(_px(1.0, dpi), width // 2)
    return [crop[:, : a + pad].copy(), crop[:, b - pad :].copy()]


def _px(mm: float, dpi: float) -> int:
    return max(1, math.ceil(mm * dpi / MM_PER_INCH - 1e-9))


VIEW_MARGIN_MM = 2.0  # around a field's box in the image a reviewer sees
VIEW_DPI = 150.0  # reviewer's field image: sharp enough to read, small enough for a web form
PAGE_VIEW_DPI = 40.0  # the whole-page thumbnail beside it


def field_view(flat_page: np.ndarray, box: Box, dpi: float, view_dpi: float = VIEW_DPI) -> np.ndarray:
    """What a person sees of one field: its whole box with a margin, as registered (box lines kept),
    resampled to `view_dpi`."""
    crop = crop_box(flat_page, box.inset(-VIEW_MARGIN_MM), dpi)
    return _resample(crop, view_dpi / dpi)


def page_image_name(page: int) -> str:
    """The file name of the small picture of a document's page `page` (from 1) among its views."""
    return "page.jpg" if page <= 1 else f"page-{page}.jpg"


def page_view(flat_page: np.ndarray, dpi: float, view_dpi: float = PAGE_VIEW_DPI) -> np.ndarray:
    """The whole registered page, small: where on the form a field is."""
    return _resample(flat_page, view_dpi / dpi)


def _resample(image: np.ndarray, factor: float) -> np.ndarray:
    if factor >= 1.0:
        return image.copy()
    size = (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[0] * factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
