"""Propose a template from a blank form the city prints (`madoguchi forms draft`).

Each page is analysed alone. The printed rules are found with OpenCV: long horizontal and vertical
runs of ink, after the printed text has been lifted off so that its strokes (口, 田, 日) are not
taken for rules; tick squares (a CSS box, or a □ glyph in a spreadsheet's text) stay. Every white
area the rules close is a hole: a table's cell, a writing box, one character's box or a tick
square. The printed text lines are found by RapidOCR's bundled detector and read by a line engine
through the Recognizer seam, each character with its glyph's box (from where the engine places
it); short strokes standing alone are printed hyphens, which the detector passes over. A narrow
tall cell beside several rows is a group's name printed downwards, read by laying its characters
side by side. Then each hole is given its part (`ocr.draft_fields`): a row of equal small holes
side by side (also across a printed hyphen) is a field of characters; boxes joined by hyphens are
one phone number; an empty square with text after it is a tick box; a hole whose print says 年/月/日
or an era is a date, written in the gaps before 年 月 日 (`ocr.draft_parts`); a hole with text and a
writing area right of it is that field's label (`ocr.draft_labels`, which also names and kinds the
fields with `ocr.draft_words`); the office's boxes (受付印) are left out; any other hole is a
writing box.

All positions are mm from the page's top-left.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from ocr.engines import Reading, Recognizer, ink_box, to_bgr
from ocr.pages import load_pages
from ocr.render import MM_PER_INCH, reference_page
from ocr.draft_fields import TICK_CHARS, TICK_SIDE_MM, Hole, PagePrint, Proposal, TextLine, group_cells
from ocr.draft_labels import propose
from schemas.templates import Box

DPI = 300.0  # the blank is analysed at this resolution
DET_DPI = 150.0  # and its text lines found at this one (4 mm print is 24 px high: plenty)
INK_LEVEL = 170  # grey level below which a pixel of the flattened blank is print
RULE_MM = 2.5  # shortest rule kept: the side of a small tick square
LONG_RULE_MM = 8.0  # longer than any stroke of printed text: a rule, even where text was lifted off
TEXT_SHRINK_MM = 0.2  # a detected text line's box is this much wider than its print
MIN_HOLE_MM = 2.5  # narrower white areas between rules are gaps, not boxes
PAGE_SIZES = {  # mm, portrait; a blank within SNAP_MM of one is taken to be that paper
    "A4": (210.0, 297.0), "A3": (297.0, 420.0), "B5": (182.0, 257.0), "B4": (257.0, 364.0), "A5": (148.0, 210.0),
}
SNAP_MM = 3.0
SAME_SQUARE_MM = 0.4  # tick squares of one row differ by less than this in side and middle
DASH_MM = (1.5, 8.0)  # a printed hyphen's length...
DASH_THICK_MM = 1.2  # ...and at most this thick
HYPHEN_CHARS = "－ー-‐−―"

FindLines = Callable[[np.ndarray], np.ndarray]  # BGR page -> (N, 4, 2) text-line quadrilaterals, px


@dataclass(frozen=True)
class Draft:
    """What `draft_form` found on a blank: its pages (grey, at `dpi`), their size, the proposals
    (each says its `spec.page`) and what was left out on purpose (the office's own boxes)."""

    pages: tuple[np.ndarray, ...]
    dpi: float
    page_size: tuple[float, float]
    proposals: tuple[Proposal, ...]
    left_out: tuple[str, ...] = ()

    @property
    def page(self) -> np.ndarray:
        """The first page."""
        return self.pages[0]


def _mm(px: float, dpi: float = DPI) -> float:
    return px * MM_PER_INCH / dpi


def _px(mm: float, dpi: float = DPI) -> int:
    return round(mm * dpi / MM_PER_INCH)


def snap_page_size(w: float, h: float) -> tuple[float, float]:
    """A measured page size (mm) snapped to the standard paper it is within SNAP_MM of, else rounded."""
    for pw, ph in PAGE_SIZES.values():
        for sw, sh in ((pw, ph), (ph, pw)):
            if abs(w - sw) <= SNAP_MM and abs(h - sh) <= SNAP_MM:
                return sw, sh
    return round(w, 1), round(h, 1)


def blank_pages(path: Path) -> tuple[tuple[float, float], int]:
    """The blank's paper in mm and its number of pages: a PDF's page size, a scan's pixels over its
    dpi; A4 (portrait or landscape, by its shape) when a scan does not say its dpi.

    Raises:
        the errors of `ocr.pages.load_pages` for a file that is not a readable PDF or image.
    """
    pages = load_pages(path, pdf_dpi=72, max_pages=50)
    page = pages[0]
    h, w = page.image.shape[:2]
    if not page.dpi_from_file:
        return (PAGE_SIZES["A4"] if h >= w else PAGE_SIZES["A4"][::-1]), len(pages)
    return snap_page_size(_mm(w, page.dpi), _mm(h, page.dpi)), len(pages)


def page_size_of(path: Path) -> tuple[float, float]:
    """The blank's paper in mm (see `blank_pages`)."""
    return blank_pages(path)[0]


def find_text(page: np.ndarray, find_lines: FindLines, recognizer: Recognizer) -> list[TextLine]:
    """The printed text lines of a page (grey at DPI), each read by the recognizer."""
    small = cv2.resize(page, None, fx=DET_DPI / DPI, fy=DET_DPI / DPI, interpolation=cv2.INTER_AREA)
    quads = find_lines(cv2.cvtColor(small, cv2.COLOR_GRAY2BGR)) * (DPI / DET_DPI)
    boxes: list[tuple[int, int, int, int]] = []
    for q in quads:
        x0, y0 = np.floor(q.min(axis=0)).astype(int)
        x1, y1 = np.ceil(q.max(axis=0)).astype(int)
        x0, y0 = max(0, x0 - 2), max(0, y0 - 2)
        x1, y1 = min(page.shape[1], x1 + 2), min(page.shape[0], y1 + 2)
        if x1 - x0 > 2 and y1 - y0 > 2:
            boxes.append((x0, y0, x1, y1))
    readings = recognizer.recognize([page[y0:y1, x0:x1] for x0, y0, x1, y1 in boxes]) if boxes else []
    return [
        TextLine(Box(x=_mm(x0), y=_mm(y0), w=_mm(x1 - x0), h=_mm(y1 - y0)), r.text.strip(),
                 _glyphs(page[y0:y1, x0:x1], x0, y0, r))
        for (x0, y0, x1, y1), r in zip(boxes, readings)
        if r.text.strip()
    ]


def _glyphs(crop: np.ndarray, x0: int, y0: int, reading: Reading) -> tuple[tuple[str, Box], ...]:
    """Each character read in a line crop (at px x0, y0 of the page) with its glyph's ink box, mm.

    The engine says where each character peaks along the ink it framed (`Reading.positions`, 0 at
    the ink's left, 1 at its right): a glyph is the ink between the midpoints to its neighbours.
    Without positions, the runs of inked columns stand for the glyphs when they are as many as the
    characters, else the ink is shared out evenly."""
    frame = ink_box(to_bgr(crop))  # the ink the engine framed: its positions are along it
    chars = [(i, ch) for i, ch in enumerate(reading.text) if not ch.isspace()]
    if frame is None or not chars:
        return ()
    fx0, fy0, fx1, fy1 = frame
    ink = crop[fy0:fy1] < INK_LEVEL
    if len(reading.positions) == len(reading.text):
        centres = [fx0 + reading.positions[i] * (fx1 - fx0) for i, _ in chars]
    else:
        cols = np.flatnonzero(ink.any(axis=0))
        starts = cols[np.r_[True, np.diff(cols) > 1]]
        ends = cols[np.r_[np.diff(cols) > 1, True]]
        even = [fx0 + (k + 0.5) * (fx1 - fx0) / len(chars) for k in range(len(chars))]
        centres = list((starts + ends) / 2) if len(starts) == len(chars) else even
    cuts = [fx0, *((a + b) / 2 for a, b in zip(centres, centres[1:])), fx1]
    out = []
    for (_, ch), a, b in zip(chars, cuts, cuts[1:]):
        a, b = max(0, round(a)), max(round(a) + 1, round(b))
        part = ink[:, a:b]
        xs, ys = np.flatnonzero(part.any(axis=0)), np.flatnonzero(part.any(axis=1))
        if xs.size:
            left, top, right, bottom = a + xs[0], fy0 + ys[0], a + xs[-1] + 1, fy0 + ys[-1] + 1
        else:
            left, top, right, bottom = a, fy0, b, fy1
        out.append((ch, Box(x=_mm(x0 + left), y=_mm(y0 + top), w=_mm(right - left), h=_mm(bottom - top))))
    return tuple(out)


def _line_runs(mask: np.ndarray, length: int) -> np.ndarray:
    """Pixels of `mask` on a horizontal or vertical run at least `length` px long."""
    h = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((1, length), np.uint8))
    v = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((length, 1), np.uint8))
    return h | v


def _squares(ink: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) px of every hollow square of ink with a side of TICK_SIDE_MM."""
    _, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    lo, hi = (_px(mm) for mm in TICK_SIDE_MM)
    out = []
    for x, y, w, h, area in stats[1:]:
        if lo <= w <= hi and lo <= h <= hi and abs(w - h) <= 0.2 * max(w, h) and area < 0.4 * w * h:
            if not ink[y + h // 4:y + h - h // 4, x + w // 4:x + w - w // 4].any():
                out.append((int(x), int(y), int(x + w), int(y + h)))
    return out


def _tick_squares(ink: np.ndarray, texts: Sequence[TextLine]) -> list[tuple[int, int, int, int]]:
    """The hollow squares that are tick squares, px: those no text line touches, those in a line the
    engine read as □ (「□女」), and any the same size in the same row as one of these (a □ glyph the
    engine left out of 「□その他（」, a square a line's box cuts into: 「]公務員」)."""
    def touches(sq: tuple[int, int, int, int], t: TextLine) -> bool:
        b = t.box.inset(TEXT_SHRINK_MM)
        return sq[0] < _px(b.x + b.w) and _px(b.x) < sq[2] and sq[1] < _px(b.y + b.h) and _px(b.y) < sq[3]

    def inside_line(sq: tuple[int, int, int, int], t: TextLine) -> bool:
        b = t.box.inset(TEXT_SHRINK_MM)
        x0, y0, x1, y1 = _px(b.x) - 3, _px(b.y) - 3, _px(b.x + b.w) + 3, _px(b.y + b.h) + 3
        return x0 <= sq[0] and sq[2] <= x1 and y0 <= sq[1] and sq[3] <= y1

    def alike(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
        near = _px(SAME_SQUARE_MM)
        return (abs((a[2] - a[0]) - (b[2] - b[0])) <= near and abs((a[3] - a[1]) - (b[3] - b[1])) <= near
                and abs((a[1] + a[3]) - (b[1] + b[3])) <= 2 * near)

    squares = _squares(ink)
    ticks = [sq for sq in squares if not any(touches(sq, t) for t in texts)
             or any(inside_line(sq, t) and any(ch in t.text for ch in TICK_CHARS) for t in texts)]
    for sq in squares:
        if sq not in ticks and any(alike(sq, k) for k in ticks):
            ticks.append(sq)
    return ticks


def find_rules(page: np.ndarray, texts: Sequence[TextLine]) -> np.ndarray:
    """A 0/1 mask of the printed rules: runs of ink at least RULE_MM long, text lifted off first
    (except where a long rule crosses it, and tick squares: `_tick_squares`)."""
    ink = (page < INK_LEVEL).astype(np.uint8)
    lifted = np.zeros(ink.shape, bool)
    for t in texts:
        b = t.box.inset(TEXT_SHRINK_MM)
        lifted[_px(b.y):_px(b.y + b.h), _px(b.x):_px(b.x + b.w)] = True
    for sx0, sy0, sx1, sy1 in _tick_squares(ink, texts):
        lifted[sy0:sy1, sx0:sx1] = False
    long = cv2.dilate(_line_runs(ink, _px(LONG_RULE_MM)), np.ones((5, 5), np.uint8)).astype(bool)
    rules = _line_runs(np.where(lifted & ~long, 0, ink).astype(np.uint8), _px(RULE_MM))
    return cv2.morphologyEx(rules, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))  # corners drawn a pixel apart


def find_holes(page: np.ndarray, rules: np.ndarray) -> list[Hole]:
    """Every white area the rules close, in mm, with the frame of rules around it."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats((rules == 0).astype(np.uint8), connectivity=4)
    _, frames = cv2.connectedComponents(rules, connectivity=8)
    ink = page < INK_LEVEL
    H, W = rules.shape
    found: list[tuple[Box, int, bool]] = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if x == 0 or y == 0 or x + w >= W or y + h >= H or min(w, h) < _px(MIN_HOLE_MM):
            continue  # the paper around everything, or a gap between two rules
        x0, y0, x1, y1 = max(0, x - 2), max(0, y - 2), min(W, x + w + 2), min(H, y + h + 2)
        own = (labels[y0:y1, x0:x1] == i).astype(np.uint8)
        ring = cv2.dilate(own, np.ones((5, 5), np.uint8)).astype(bool) & (own == 0)
        around = frames[y0:y1, x0:x1][ring]
        around = around[around > 0]
        frame = int(np.bincount(around).argmax()) if around.size else 0
        inner = cv2.erode(own, np.ones((7, 7), np.uint8)).astype(bool)
        empty = int((ink[y0:y1, x0:x1] & inner).sum()) <= max(3, area // 2000)
        found.append((Box(x=_mm(x), y=_mm(y), w=_mm(w), h=_mm(h)), frame, empty))
    rows: dict[int, set[int]] = {}
    for box, frame, _ in found:
        rows.setdefault(frame, set()).add(round(box.y / 3))
    return [Hole(box, frame, empty, table=len(rows[frame]) >= 2) for box, frame, empty in found]


def find_dashes(page: np.ndarray, texts: Sequence[TextLine]) -> list[Box]:
    """Printed hyphens (「－」 between boxes, which the text detector passes over), mm: short thin
    horizontal strokes standing alone, not inside a line read as something else (一 of a word)."""
    ink = (page < INK_LEVEL).astype(np.uint8)
    _, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    lo, hi, thick = _px(DASH_MM[0]), _px(DASH_MM[1]), _px(DASH_THICK_MM)
    out = []
    for x, y, w, h, _ in stats[1:]:
        if lo <= w <= hi and h <= thick and w >= 3 * h:
            b = Box(x=_mm(x), y=_mm(y), w=_mm(w), h=_mm(max(h, 1)))
            if not any(_within(b, t.box) and not any(c in t.text for c in HYPHEN_CHARS) for t in texts):
                out.append(b)
    return out


def _within(a: Box, b: Box) -> bool:
    return a.x >= b.x and a.y >= b.y and a.x + a.w <= b.x + b.w and a.y + a.h <= b.y + b.h


def read_vertical(page: np.ndarray, cell: Box, recognizer: Recognizer) -> str:
    """The text printed top to bottom in a narrow cell (「申請者」), read by laying its characters
    side by side: each character is a run of inked rows about as tall as the column is wide."""
    m = 0.5  # mm kept off the cell's rules
    crop = page[_px(cell.y + m):_px(cell.y + cell.h - m), _px(cell.x + m):_px(cell.x + cell.w - m)]
    ink = crop < INK_LEVEL
    cols, rows = np.flatnonzero(ink.any(axis=0)), np.flatnonzero(ink.any(axis=1))
    if not cols.size:
        return ""
    side = int(cols[-1] + 1 - cols[0])
    chars: list[list[int]] = []
    for r in rows:  # rows of one character: within a character's height of its first row
        if chars and r - chars[-1][0] < 1.15 * side:
            chars[-1][1] = r + 1
        else:
            chars.append([int(r), int(r) + 1])
    pad = max(2, side // 4)
    tiles = []
    for top, bottom in chars:
        glyph = crop[top:bottom, cols[0]:cols[-1] + 1]
        extra = max(0, side - glyph.shape[0])
        tiles.append(np.pad(glyph, ((pad + extra // 2, pad + extra - extra // 2), (pad, pad)), constant_values=255))
    height = max(t.shape[0] for t in tiles)
    line = np.hstack([np.pad(t, ((0, height - t.shape[0]), (0, 0)), constant_values=255) for t in tiles])
    return recognizer.recognize([line])[0].text.replace(" ", "")


def draft_page(page: np.ndarray, find_lines: FindLines, recognizer: Recognizer) -> PagePrint:
    """What one page of a blank prints: its holes (group cells read), text lines and hyphens."""
    texts = find_text(page, find_lines, recognizer)
    holes = find_holes(page, find_rules(page, texts))
    groups = {id(h) for h in group_cells(holes)}
    holes = [replace(h, group=read_vertical(page, h.box, recognizer)) if id(h) in groups else h for h in holes]
    return PagePrint(tuple(holes), tuple(texts), tuple(find_dashes(page, texts)))


def draft_form(
    path: Path | str, recognizer: Recognizer, *, find_lines: FindLines | None = None,
    page_size: tuple[float, float] | None = None,
) -> Draft:
    """Propose the fields of a blank form, every page of a PDF (or TIFF), or a scan.

    Args:
        path: the blank as the city prints it.
        recognizer: a line engine that reads the printed labels (rapid or paddle).
        find_lines: a text-line detector; None loads RapidOCR's bundled one.
        page_size: the paper in mm; None takes it from the file (`blank_pages`).
    """
    if find_lines is None:
        from ocr.engines_rapid import load_rapid_det

        find_lines = load_rapid_det(2)
    path = Path(path)
    size, count = blank_pages(path)
    size = page_size or size
    pages = [reference_page(path, size, DPI, n).copy() for n in range(1, count + 1)]
    proposals, left_out = propose([draft_page(p, find_lines, recognizer) for p in pages])
    return Draft(tuple(pages), DPI, size, tuple(proposals), tuple(left_out))
