"""Where a run of written characters is cut into one window per character: where a line engine
placed them (`char_cuts`, `char_windows`), or by the ink itself (`Ink`), so that the digit reader
reads each digit alone. A crop's strokes are found once (`Ink.of`) and parted for any span of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ocr.engines import INK_CONTRAST, MIN_SPECK_AREA, Reading, ink_box, percentile_u8, to_bgr, to_gray


def char_windows(crop: np.ndarray, reading: Reading) -> list[np.ndarray] | None:
    """One crop per character of a line reading; None when the reading does not say where its
    characters are (`char_cuts`)."""
    cuts = char_cuts(crop, reading)
    return None if cuts is None else [cut_window(crop, cuts, k) for k in range(len(cuts) - 1)]


def cut_window(crop: np.ndarray, cuts: list[int], k: int) -> np.ndarray:
    """The k-th character's window between `cuts` (at least one column wide)."""
    return crop[:, max(0, cuts[k]) : max(cuts[k] + 1, cuts[k + 1])]


def char_cuts(crop: np.ndarray, reading: Reading) -> list[int] | None:
    """Where a line reading's characters part along the crop (px, one more than its characters);
    None when the reading does not say where its characters are. Each cut starts midway between two
    neighbouring characters' peaks and moves to the emptiest ink column within about half a
    character of there, but not past either peak: CTC peaks sit anywhere on their character, often
    on its right half, so the midpoint alone cuts through digits."""
    box = ink_box(to_bgr(crop))
    if box is None or not reading.text or len(reading.positions) != len(reading.text):
        return None
    x0, y0, x1, y1 = box
    xs = [x0 + p * (x1 - x0) for p in reading.positions]
    gray = to_gray(crop)
    profile = (255.0 - gray[y0:y1].astype(np.float32)).sum(axis=0)  # ink per column
    reach = 0.5 * (x1 - x0) / len(xs)
    cuts = [x0]
    for a, b in zip(xs, xs[1:]):
        # never beyond either peak: a thin 1 close after a 4 would otherwise go to the 4, its window empty
        lo = max(cuts[-1] + 1, round((a + b) / 2 - reach), math.floor(a) + 1)
        hi = min(x1 - 1, round((a + b) / 2 + reach), math.ceil(b) - 1)
        cuts.append(lo + int(np.argmin(profile[lo : hi + 1])) if hi >= lo else max(cuts[-1] + 1, round((a + b) / 2)))
    cuts.append(x1)
    return cuts


DASH_HEIGHT = 0.4  # a stroke lower than this share of the digits' height and at least as wide is a hyphen
COLUMN_OVERLAP = 0.5  # strokes overlapping by this share of the narrower one's width belong to one digit
DASH_TOP = 0.3  # a flat stroke whose middle is above this share of the digits' height is a bar, not a hyphen


@dataclass(frozen=True)
class Ink:
    """A crop's strokes (connected dark pixels), found once; `windows` parts any span of them into
    digits."""

    gray: np.ndarray
    paper: float
    labels: np.ndarray
    stats: np.ndarray

    @classmethod
    def of(cls, crop: np.ndarray) -> Ink:
        gray = to_gray(crop)
        gray = gray if gray.dtype == np.uint8 else np.clip(gray, 0, 255).astype(np.uint8)
        paper = percentile_u8(gray, 90)
        _, labels, stats, _ = cv2.connectedComponentsWithStats((gray < paper - INK_CONTRAST).astype(np.uint8),
                                                               connectivity=8)
        return cls(gray, paper, labels, stats)

    def windows(self, count: int, span: tuple[int, int] | None = None) -> list[np.ndarray] | None:
        """`count` windows of a free-written run of digits, cut from its own ink; None unless the ink
        parts into exactly `count` digits. `span`: only the strokes mostly between these columns (px)
        are the run's (an address's numbering between the characters around it).

        Strokes that overlap side by side are one digit (a 5's bar written apart); a short flat stroke
        beside the digits is a hyphen or a dash written low like an underscore, and is no digit. Each
        window holds its own digit's strokes only, everything else painted paper, so a neighbour's
        edge or a hyphen never shares a digit's window, whatever the line engines' positions say
        (they put a cut inside a hyphen, or two digits in one window where they saw one dash of two)."""
        parted = self._columns(span) if count >= 1 else None
        if parted is None or len(parted[0]) != count:
            return None
        columns, height = parted
        pad = max(1, round(0.15 * height))
        near = np.ones((3, 3), np.uint8)
        out = []
        for col in columns:
            a, b = self._extent(col)
            a, b = max(0, a - pad), min(self.gray.shape[1], b + pad)
            mine = np.isin(self.labels[:, a:b], col)
            others = cv2.dilate(((self.labels[:, a:b] > 0) & ~mine).astype(np.uint8), near) > 0
            window = self.gray[:, a:b].copy()
            window[others & ~mine] = round(self.paper)
            out.append(window)
        return out

    def _extent(self, strokes: list[int]) -> tuple[int, int]:
        """The left and right edge (px) of these strokes together."""
        xs, ws = self.stats[strokes, cv2.CC_STAT_LEFT], self.stats[strokes, cv2.CC_STAT_WIDTH]
        return int(xs.min()), int((xs + ws).max())

    def _columns(self, span: tuple[int, int] | None) -> tuple[list[list[int]], float] | None:
        """The strokes of each digit, left to right, and the digits' usual height (px); None where
        there is no ink."""
        stats = self.stats
        xs, ys = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
        ws, hs = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
        strokes = [k for k in range(1, len(stats))
                   if stats[k, cv2.CC_STAT_AREA] >= max(MIN_SPECK_AREA, (0.04 * self.gray.shape[0]) ** 2)]
        if span is not None:  # a neighbour's stroke reaching into the span is not the run's
            inside = np.bincount(self.labels[:, max(0, span[0]) : span[1]].ravel(), minlength=len(stats))
            strokes = [k for k in strokes if inside[k] > stats[k, cv2.CC_STAT_AREA] / 2]
        if not strokes:
            return None
        tallest = max(hs[k] for k in strokes)
        big = [k for k in strokes if hs[k] >= tallest / 2]
        height = float(np.median([hs[k] for k in big]))
        top = float(np.median([ys[k] for k in big]))  # the digits' band, from their strokes' tops and bottoms
        bottom = float(np.median([ys[k] + hs[k] for k in big]))

        def overlap(k: int, a: int, b: int) -> float:  # share of the narrower of stroke k and [a, b) in common
            return (min(xs[k] + ws[k], b) - max(xs[k], a)) / max(1, min(ws[k], b - a))

        def gap(k: int, col: list[int]) -> int:
            a, b = self._extent(col)
            return max(a - xs[k] - ws[k], xs[k] - b, 0)

        flat = [k for k in strokes if hs[k] < DASH_HEIGHT * height and ws[k] >= hs[k]]
        columns: list[list[int]] = []
        for k in sorted((k for k in strokes if k not in flat), key=lambda k: xs[k]):
            if columns and overlap(k, *self._extent(columns[-1])) >= COLUMN_OVERLAP:
                columns[-1].append(k)
            else:
                columns.append([k])
        if not columns:
            return None
        for k in flat:  # a flat stroke over a digit is part of it (a 5's or 7's bar written apart)
            best = max(columns, key=lambda col: overlap(k, *self._extent(col)))
            if overlap(k, *self._extent(best)) >= COLUMN_OVERLAP:
                best.append(k)
            elif ys[k] + hs[k] / 2 < top + DASH_TOP * (bottom - top):  # a bar at the top beside a digit: a 5's
                min(columns, key=lambda col: gap(k, col)).append(k)
            # else a hyphen, or a dash written low like an underscore: no digit
        return columns, height


def ink_windows(crop: np.ndarray, count: int, span: tuple[int, int] | None = None) -> list[np.ndarray] | None:
    """`Ink.windows` of a crop whose strokes are needed once."""
    return Ink.of(crop).windows(count, span)
