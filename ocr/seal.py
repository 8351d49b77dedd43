"""Find a personal seal (印影) pressed on a name field of a greyscale page.

On a colour page red dropout (`ocr.pages.drop_red`) has already turned seal paste into paper. On a
fax, a grey scan or a photocopy the seal is ink like the writing, and a line recogniser reads its
surname as one more character of the name. A seal is a ring (or a square), 10-20 mm across, larger than any
character written in the box; its rim is drawn at one radius all the way round, which a
handwritten 口 or 回 (square, smaller) is not. A ring clear of the writing is erased; one touching
it sends the field to review, since erasing it would take strokes of the name with it. So does a
ring clear of the writing when what is left is no family and given name: part of the name may
lie under it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ocr.engines import ink_box, to_bgr
from ocr.fields import CELL_INSET_MM, INK_LEVEL, TICK_TOLERANCE_MM, crop_box, remove_box_lines, split_at_gap
from ocr.render import box_px, mm_to_px
from schemas.templates import Box

SEARCH_MM = 6.0  # around the writing cell: a seal centred on the box line still lies inside
RADIUS_MM = (4.6, 10.5)  # of the rim's centre line: seals 10-21 mm across
COARSE_DPI = 75.0  # candidates are searched at this resolution, verified at the page's
RIM_BAND_MM = 0.45  # the rim lies within this of the fitted radius (rim ~0.9 mm wide)
OUTSIDE_MM = (1.6, 2.6)  # a band just outside the rim: mostly paper around a seal
MIN_COVER = 0.8  # share of the circle's angles where the rim has ink (printed box lines are cut out)
MIN_CONTRAST = 0.35  # ...more than the band just outside it
# A ring this far beyond the last stroke of the writing is erased, not reviewed. A seal pressed
# wholly over a last character leaves less than the gap between two characters (~1 mm) between
# the writing before it and its rim; only a one-character given name after a wide gap could hide
# under it, and the family name left alone then fails the name_split check.
CLEAR_GAP_MM = 4.0
ANGLES = 180
MIN_PEAK = 0.55  # share of a coarse ring's pixels on ink for it to be verified at all
VERIFY_TOP = 4  # coarse radii verified, best first


@dataclass(frozen=True)
class Seal:
    """A ring found on a page: centre and rim radius (half the side of a square seal) in px of that
    page, the share of angles its rim has ink at, and that share less the band just outside it."""

    cx: float
    cy: float
    r: float
    cover: float
    contrast: float
    square: bool = False


def _written_ink(flat: np.ndarray, reference: np.ndarray, x0: int, y0: int, x1: int, y1: int, dpi: float) -> np.ndarray:
    """Ink in a window of the flattened page that is not the blank form's print."""
    k = 2 * round(mm_to_px(TICK_TOLERANCE_MM, dpi)) + 1
    printed = cv2.dilate((reference[y0:y1, x0:x1] < INK_LEVEL).astype(np.uint8), np.ones((k, k), np.uint8))
    return ((flat[y0:y1, x0:x1] < INK_LEVEL) & (printed == 0)).astype(np.uint8)


def _cover(ink: np.ndarray, cx: float, cy: float, r: float, offsets: np.ndarray, square: bool) -> np.ndarray:
    """For each angle, whether the outline of radius (half side) `r` around (cx, cy), moved out by
    any of `offsets` (px), falls on ink: bool (ANGLES,)."""
    t = np.linspace(0, 2 * np.pi, ANGLES, endpoint=False)[:, None]
    reach = r / np.maximum(np.abs(np.cos(t)), np.abs(np.sin(t))) if square else np.full_like(t, r)
    radii = reach + offsets[None, :]
    xs = np.round(cx + radii * np.cos(t)).astype(int)
    ys = np.round(cy + radii * np.sin(t)).astype(int)
    inside = (xs >= 0) & (ys >= 0) & (xs < ink.shape[1]) & (ys < ink.shape[0])
    hit = np.zeros(xs.shape, bool)
    hit[inside] = ink[ys[inside], xs[inside]] > 0
    return hit.any(axis=1)


def _verify(ink: np.ndarray, cx: float, cy: float, r: float, dpi: float, square: bool) -> Seal | None:
    """The best ring near a coarse candidate, if it is one: refined over radius and centre, in
    steps of 0.5 then 0.2 mm.

    A ring is judged by its contrast, the cover of its rim less that of the band just outside: a
    smaller circle through a seal's own character and rim has its rim outside it, ink all round.
    """
    px = mm_to_px(1.0, dpi)
    band = np.linspace(-RIM_BAND_MM, RIM_BAND_MM, 5) * px
    outside = np.linspace(*OUTSIDE_MM, 4) * px
    best: Seal | None = None
    for step in (0.5 * px, 0.2 * px):
        centre = (best.cx, best.cy, best.r) if best else (cx, cy, r)
        for dx in (-2 * step, -step, 0.0, step, 2 * step):
            for dy in (-step, 0.0, step):
                for dr in (-2 * step, -step, 0.0, step, 2 * step):
                    x, y, rr = centre[0] + dx, centre[1] + dy, centre[2] + dr
                    cover = _cover(ink, x, y, rr, band, square).mean()
                    if cover < MIN_COVER:
                        continue
                    around = _cover(ink, x, y, rr, outside, square).mean()
                    if best is None or cover - around > best.contrast:
                        best = Seal(x, y, rr, float(cover), float(cover - around), square)
    return best if best is not None and best.contrast >= MIN_CONTRAST else None


def find_seal(flat: np.ndarray, reference: np.ndarray, cell: Box, dpi: float) -> Seal | None:
    """The seal ring pressed on or around a writing cell (mm), in px of the flattened page, or None.

    `reference` is the blank form at the same dpi: its print (the box lines) is not taken for a rim.
    """
    x0, y0, x1, y1 = box_px(cell.inset(-SEARCH_MM), dpi, flat.shape)
    ink = _written_ink(flat, reference, x0, y0, x1, y1, dpi)
    f = COARSE_DPI / dpi
    small = cv2.resize(ink.astype(np.float32), None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    small = (small > 0.15).astype(np.float32)
    peaks = []
    lo, hi = (mm_to_px(v, COARSE_DPI) for v in RADIUS_MM)
    for r in np.arange(lo, hi + 1, 1.0):  # px at COARSE_DPI
        for square in (False, True):
            ring = _outline(r, square)
            score = cv2.filter2D(small, -1, ring / ring.sum(), borderType=cv2.BORDER_CONSTANT)
            _, peak, _, (px_, py_) = cv2.minMaxLoc(score)
            if peak >= MIN_PEAK:
                peaks.append((peak, r, px_, py_, square))
    best: Seal | None = None
    for _, r, px_, py_, square in sorted(peaks, reverse=True)[:VERIFY_TOP]:
        seal = _verify(ink, px_ / f, py_ / f, r / f, dpi, square)
        if seal and (best is None or seal.contrast > best.contrast):
            best = seal
    if best is None:
        return None
    return Seal(best.cx + x0, best.cy + y0, best.r, best.cover, best.contrast, best.square)


def _outline(r: float, square: bool, filled: bool = False, size: int | None = None,
             centre: tuple[float, float] | None = None) -> np.ndarray:
    """A circle or square of radius (half side) `r` px, 2 px wide or filled, float32 0/1."""
    size = size or 2 * int(np.ceil(r + 2)) + 1
    out = np.zeros((size, size) if isinstance(size, int) else size, np.float32)
    cx, cy = centre or (size // 2, size // 2)
    width = -1 if filled else 2
    if square:
        cv2.rectangle(out, (round(cx - r), round(cy - r)), (round(cx + r), round(cy + r)), 1.0, width)
    else:
        cv2.circle(out, (round(cx), round(cy)), round(r), 1.0, width)
    return out


def clear_of_writing(flat: np.ndarray, reference: np.ndarray, cell: Box, seal: Seal, dpi: float) -> bool:
    """True when the ring lies beyond the writing in the cell, with a clear gap (or nothing is
    written but the seal), so erasing it takes no stroke of the name."""
    if seal.contrast < seal.cover - 0.02:  # ink crosses the circle just outside the rim
        return False
    x0, y0, x1, y1 = box_px(cell, dpi, flat.shape)
    ink = _written_ink(flat, reference, x0, y0, x1, y1, dpi)
    margin = mm_to_px(OUTSIDE_MM[0], dpi)  # the rim's outer half and the fit's error
    ink[_outline(seal.r + margin, seal.square, True, (y1 - y0, x1 - x0), (seal.cx - x0, seal.cy - y0)) > 0] = 0
    cols = np.flatnonzero(ink.any(axis=0))
    if cols.size == 0:
        return True
    return bool(x0 + cols[-1] < seal.cx - seal.r - margin - mm_to_px(CLEAR_GAP_MM, dpi))


def erase_seal(flat: np.ndarray, seal: Seal, dpi: float) -> np.ndarray:
    """A copy of the page with the seal's disc (rim included) turned into paper, out to the middle
    of the band just outside the rim, which `clear_of_writing` found without ink."""
    r = seal.r + mm_to_px(sum(OUTSIDE_MM) / 2, dpi)
    out = flat.copy()
    out[_outline(r, seal.square, True, flat.shape[:2], (seal.cx, seal.cy)) > 0] = 255
    return out


SEAL_REASON = "seal_over_field"


def check_seal(flat: np.ndarray, reference: np.ndarray, cell: Box, dpi: float) -> tuple[np.ndarray, str | None]:
    """The page to cut the cell from, and a reason for review: a seal clear of the writing is
    erased (a copy of the page comes back); one on the writing is left and reported."""
    seal = find_seal(flat, reference, cell, dpi)
    if seal is None:
        return flat, None
    if clear_of_writing(flat, reference, cell, seal, dpi):
        erased = erase_seal(flat, seal, dpi)
        # a given name wholly under the seal would leave the family name alone: keep the seal then
        if _family_and_given(split_at_gap(remove_box_lines(crop_box(erased, cell.inset(CELL_INSET_MM), dpi), dpi), dpi)):
            return erased, None
    return flat, SEAL_REASON


MIN_PART_WIDTH = 1.5  # writing heights: a part this narrow is one character


def _family_and_given(parts: list[np.ndarray]) -> bool:
    """True when what is left beside an erased seal is plainly a family and a given name: two parts,
    each wider than one character. A surname of two characters alone (浜田, its given name 謙 under
    the seal) also splits in two at the gap between its characters, but into single characters; so
    does a name of one character each (林 茂), which then goes to review too, at the cost of one field."""
    if len(parts) != 2:
        return False
    for part in parts:
        box = ink_box(to_bgr(part))  # the engines' own measure of the ink, specks left out
        if box is None or box[2] - box[0] < MIN_PART_WIDTH * (box[3] - box[1]):
            return False
    return True
