"""Where a run of written characters is cut into one window per character: where a line engine
placed them (`char_cuts`, `char_windows`), or by the ink itself (`Ink`), so that the digit reader
reads each digit alone. A crop's strokes are found once (`Ink.of`) and parted for any span of it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

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
    cuts = [x0]
    for a, b in pairwise(xs):
        # never beyond either peak: a thin 1 close after a 4 would otherwise go to the 4, its window empty
        lo, hi = _between(cuts[-1], x1, a, b, (x1 - x0) / len(xs))
        cuts.append(lo + int(np.argmin(profile[lo : hi + 1])) if hi >= lo else max(cuts[-1] + 1, round((a + b) / 2)))
    cuts.append(x1)
    return cuts


Judge = Callable[[list[np.ndarray]], list[float]]  # how surely each window holds one digit, 0-1
JUDGED_CUTS = 12  # columns tried where two digits run together are parted by how surely they read

DASH_HEIGHT = 0.4  # a stroke lower than this share of the digits' height and at least as wide is a hyphen
COLUMN_OVERLAP = 0.5  # strokes overlapping by this share of the narrower one's width belong to one digit
STACKED = 0.5  # neighbouring columns sharing less than this share of the shorter one's rows are one digit's halves (`count`)
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
        return [self._window(col, *self._extent(col), height) for col in columns]

    def heights(self) -> list[int]:
        """The height (px) of each digit's ink, left to right, as `windows` parts the crop."""
        parted = self._columns(None)
        return [] if parted is None else [b - a for a, b in map(self._rows, parted[0])]

    def count(self, span: tuple[int, int]) -> int:
        """How many digits the strokes mostly between these columns (px) part into, as `windows` parts
        them (a hyphen is none, a 5's bar written apart no second), a column standing above or below
        its neighbour counted with it (a 3 written as a top and a bottom half, side by side by less
        than half their width)."""
        parted = self._columns(span)
        if parted is None:
            return 0
        rows = [self._rows(col) for col in parted[0]]
        return 1 + sum(min(b1, d1) - max(b0, d0) > STACKED * min(b1 - b0, d1 - d0)
                       for (b0, b1), (d0, d1) in pairwise(rows))

    def aspect(self) -> float:
        """The width of the crop's ink over its height (0 where there is none), strokes shorter than a
        quarter of the tallest left out (a speck far off in an empty stretch of the box): a digit or a
        kanji is seldom wider than tall, two run together mostly are."""
        strokes = self._strokes()
        if not strokes:
            return 0.0
        ws, hs = self.stats[:, cv2.CC_STAT_WIDTH], self.stats[:, cv2.CC_STAT_HEIGHT]
        tallest = max(hs[k] for k in strokes)
        strokes = [k for k in strokes if max(ws[k], hs[k]) >= tallest / 4]
        (x0, x1), (y0, y1) = self._extent(strokes), self._rows(strokes)
        return (x1 - x0) / max(1, y1 - y0)

    def guided(self, reading: Reading, judge: Judge | None = None) -> tuple[list[np.ndarray], list[bool]] | None:
        """One window per digit of a line reading of the whole crop, cut from the crop's own ink where
        it does not part into as many digits (two run together, a digit written in two pieces side by
        side): each digit goes to the ink column (`_columns`) nearest where the reading placed it, a
        hyphen to the column it lies in (between columns it is a flat stroke, in none); a column
        nothing went to is part of its nearest neighbour (a piece of a digit), one only hyphens went
        to is no digit; a column that took several characters is parted between each two at its
        emptiest ink column, as `char_cuts` parts a line. Where `judge` is given (how surely each of
        some windows holds one digit: the digit reader), a column of exactly two digits is parted
        where both read surest among the columns near that instead (segmentation by recognition: a
        cut through a stroke leaves one unsure, or reads a 4 run into a 1 as a sure 6). Each window
        holds its own column's strokes only, as in `windows`.

        Returns the windows, and for each whether it was cut from ink run together with another
        digit (where the line reading placed them: the digit reader reading it is not wholly a
        reader apart). None where the reading does not say where its characters are, or places a
        digit beside ink it would run into (its places are then no guide; `char_windows` cuts)."""
        parted = self._columns(None)
        if parted is None or not reading.text or len(reading.positions) != len(reading.text):
            return None
        columns, height = parted
        extents = [self._extent(col) for col in columns]
        x0, x1 = self._extent(self._strokes())  # the ink's box, in which the reading placed its characters

        def nearest(x: float) -> int:
            return min(range(len(extents)), key=lambda j: max(extents[j][0] - x, x - extents[j][1], 0.0))

        chars: list[list[tuple[float, str]]] = [[] for _ in columns]  # per column, where the reading placed what
        for ch, p in zip(reading.text, reading.positions):
            x, j = x0 + p * (x1 - x0), nearest(x0 + p * (x1 - x0))
            if ch != "-" or extents[j][0] <= x <= extents[j][1]:  # a hyphen between columns is a flat stroke
                chars[j].append((x, ch))
        merged = {j: list(columns[j]) for j, cs in enumerate(chars) if any(ch != "-" for _, ch in cs)}
        if not merged:
            return None
        for j, cs in enumerate(chars):
            if not cs:  # a piece of a digit: to the nearest column that holds one
                a, b = extents[j]
                merged[min(merged, key=lambda i: max(extents[i][0] - b, a - extents[i][1], 0))] += columns[j]
            # a column only hyphens went to is a hyphen: no digit
        out, joined = [], []
        for j in sorted(merged):
            a, b = self._extent(merged[j])
            xs, cs = [x for x, _ in chars[j]], [ch for _, ch in chars[j]]
            if len(xs) > 1 and not all(a <= x <= b for x in xs):
                return None  # a digit placed beside the ink taken as run into it
            cuts = [a, *(self._part(merged[j], a, b, u, v, (b - a) / len(xs)) for u, v in pairwise(xs)), b]
            if judge is not None and len(cs) == 2 and "-" not in cs:
                cuts[1] = self._judged(merged[j], a, b, xs[0], xs[1], (b - a) / 2, cuts[1], height, judge)
            digits = len(cs) - cs.count("-")
            out += [self._window(merged[j], u, v, height) for u, v, ch in zip(cuts, cuts[1:], cs) if ch != "-"]
            joined += [digits > 1] * digits
        return out, joined

    def _judged(self, strokes: list[int], a: int, b: int, u: float, v: float, width: float, cut: int, height: float,
                judge: Judge) -> int:
        """Where two digits run together between columns a and b (px), placed at u and v by a line
        reading, part so that both read surest: every few columns within half a digit (`width`) of
        midway, not past either place, are tried (`cut`, the emptiest, first), the less sure of the
        two windows scoring each."""
        lo, hi = _between(a, b, u, v, width)
        step = max(1, round((hi - lo) / JUDGED_CUTS))
        tries = [cut, *(x for x in range(lo, hi + 1, step) if x != cut)]
        windows = [w for x in tries for w in (self._window(strokes, a, x, height), self._window(strokes, x, b, height))]
        sure = judge(windows)
        return tries[int(np.argmax([min(sure[2 * k], sure[2 * k + 1]) for k in range(len(tries))]))]

    def _part(self, strokes: list[int], a: int, b: int, u: float, v: float, width: float) -> int:
        """Where two characters run together between columns a and b (px), placed at u and v by a line
        reading, part: the emptiest column of their own ink within half a character (`width`) of
        midway, not past either place."""
        profile = np.isin(self.labels[:, a:b], strokes).sum(axis=0)
        lo, hi = _between(a, b, u, v, width)
        return lo + int(np.argmin(profile[lo - a : hi - a + 1])) if hi >= lo else round((u + v) / 2)

    def _window(self, strokes: list[int], a: int, b: int, height: float) -> np.ndarray:
        """The crop between columns a and b (px), padded by a share of the digits' height, with every
        stroke but these painted paper, and these too outside a to b (a neighbour run into them)."""
        pad = max(1, round(0.15 * height))
        lo, hi = max(0, a - pad), min(self.gray.shape[1], b + pad)
        mine = np.isin(self.labels[:, lo:hi], strokes)
        mine[:, : a - lo] = False
        mine[:, b - lo :] = False
        others = cv2.dilate(((self.labels[:, lo:hi] > 0) & ~mine).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        window = self.gray[:, lo:hi].copy()
        window[others & ~mine] = round(self.paper)
        return window

    def _strokes(self) -> list[int]:
        """The crop's strokes but specks, as `ocr.engines.ink_box` counts them."""
        return [k for k in range(1, len(self.stats))
                if self.stats[k, cv2.CC_STAT_AREA] >= max(MIN_SPECK_AREA, (0.04 * self.gray.shape[0]) ** 2)]

    def _rows(self, strokes: list[int]) -> tuple[int, int]:
        """The top and bottom edge (px) of these strokes together."""
        ys, hs = self.stats[strokes, cv2.CC_STAT_TOP], self.stats[strokes, cv2.CC_STAT_HEIGHT]
        return int(ys.min()), int((ys + hs).max())

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
        strokes = self._strokes()
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


def _between(a: int, b: int, u: float, v: float, width: float) -> tuple[int, int]:
    """The columns where two digits between columns a and b (px), placed at u and v by a line
    reading, may part: within half a digit (`width`) of midway, not past either place."""
    reach = 0.5 * width
    return (max(a + 1, round((u + v) / 2 - reach), math.floor(u) + 1),
            min(b - 1, round((u + v) / 2 + reach), math.ceil(v) - 1))
