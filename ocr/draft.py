"""Propose a template from a blank form the city prints (`madoguchi forms draft`).

The printed rules are found with OpenCV: long horizontal and vertical runs of ink, after the
printed text has been lifted off so that its strokes (口, 田, 日) are not taken for rules. Every white
area the rules close is a hole: a table's cell, a writing box, one character's box or a tick
square. The printed text lines are found by RapidOCR's bundled detector and read by a line engine
through the Recognizer seam. Then each hole is given its part (`ocr.draft_fields`): a row of
equal small holes side by side (also across a printed hyphen) is a field of characters; an empty
square standing alone with text after it is a tick box; a hole whose print says 年/月/日 or an era
is a date; a hole with text and a writing area right of it is that field's label
(`ocr.draft_labels`, which also names and kinds the fields); any other hole is a writing box.

All positions are mm from the page's top-left.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ocr.engines import Recognizer
from ocr.pages import load_pages
from ocr.render import MM_PER_INCH, reference_page
from ocr.draft_fields import TICK_CHARS, TICK_SIDE_MM, Hole, Proposal, TextLine
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

FindLines = Callable[[np.ndarray], np.ndarray]  # BGR page -> (N, 4, 2) text-line quadrilaterals, px


@dataclass(frozen=True)
class Draft:
    """What `draft_form` found on a blank: the page (grey, at `dpi`), its size and the proposals."""

    page: np.ndarray
    dpi: float
    page_size: tuple[float, float]
    proposals: tuple[Proposal, ...]
    texts: tuple[TextLine, ...]


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


def page_size_of(path: Path) -> tuple[float, float]:
    """The blank's paper in mm: a PDF's page size, a scan's pixels over its dpi; A4 (portrait or
    landscape, by its shape) when a scan does not say its dpi.

    Raises:
        the errors of `ocr.pages.load_pages` for a file that is not a readable PDF or image.
    """
    page = load_pages(path, pdf_dpi=72, max_pages=50)[0]
    h, w = page.image.shape[:2]
    if not page.dpi_from_file:
        return PAGE_SIZES["A4"] if h >= w else PAGE_SIZES["A4"][::-1]
    return snap_page_size(_mm(w, page.dpi), _mm(h, page.dpi))


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
        TextLine(Box(x=_mm(x0), y=_mm(y0), w=_mm(x1 - x0), h=_mm(y1 - y0)), r.text.strip())
        for (x0, y0, x1, y1), r in zip(boxes, readings)
        if r.text.strip()
    ]


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


def find_rules(page: np.ndarray, texts: Sequence[TextLine]) -> np.ndarray:
    """A 0/1 mask of the printed rules: runs of ink at least RULE_MM long, text lifted off first
    (except where a long rule crosses it, and a tick square the detector took into a line that
    the engine read as □: 「□女」)."""
    ink = (page < INK_LEVEL).astype(np.uint8)
    lifted = np.zeros(ink.shape, bool)
    squares = _squares(ink)
    for t in texts:
        b = t.box.inset(TEXT_SHRINK_MM)
        x0, y0, x1, y1 = _px(b.x), _px(b.y), _px(b.x + b.w), _px(b.y + b.h)
        lifted[y0:y1, x0:x1] = True
        if any(ch in t.text for ch in TICK_CHARS):  # its squares are ticks, not 口
            for sx0, sy0, sx1, sy1 in squares:
                if x0 - 3 <= sx0 and sx1 <= x1 + 3 and y0 - 3 <= sy0 and sy1 <= y1 + 3:
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


def draft_form(
    path: Path | str, recognizer: Recognizer, *, find_lines: FindLines | None = None,
    page_size: tuple[float, float] | None = None,
) -> Draft:
    """Propose the fields of a blank form (page one of a PDF, or a scan).

    Args:
        path: the blank as the city prints it.
        recognizer: a line engine that reads the printed labels (rapid or paddle).
        find_lines: a text-line detector; None loads RapidOCR's bundled one.
        page_size: the paper in mm; None takes it from the file (`page_size_of`).
    """
    if find_lines is None:
        from ocr.engines_rapid import load_rapid_det

        find_lines = load_rapid_det(2)
    path = Path(path)
    size = page_size or page_size_of(path)
    page = reference_page(path, size, DPI).copy()
    texts = find_text(page, find_lines, recognizer)
    holes = find_holes(page, find_rules(page, texts))
    return Draft(page, DPI, size, tuple(propose(holes, texts)), tuple(texts))
