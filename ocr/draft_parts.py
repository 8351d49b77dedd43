"""Where a value written freely in pieces goes on a city's blank (see `ocr.draft`): the gaps before
the printed 年, 月 and 日 of 「令和　　年　　月　　日」 and the era words to circle, the groups of a
phone number between printed brackets and hyphens, and boxes joined by printed hyphens. All
positions are mm from the page's top-left.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.templates import ERAS, Box

GLYPH_GAP_MM = 0.6  # a part keeps this far from the printed characters beside it
EDGE_MM = 0.5  # ...and from the box's edge where nothing is printed before it
ERA_PAD_MM = (1.5, 2.0)  # a circled era's box reaches this far beyond its printed word (across, up and down)
ERA_PART_MM = 0.3  # between an era's box and the part after it
MIN_PART_MM = 3.0  # a narrower gap is no place to write a number
LAST_PART_MAX = 1.5  # a phone's last part, open to its right, is at most this many times the widest other
HYPHENS = "－ー-‐−―"
OPENING, CLOSING = "（(", "）)"
JOIN_GAP_MM = (1.0, 20.0)  # boxes joined by a hyphen are this far apart
JOIN_SAME_MM = 0.8  # ...and differ by less than this in top and height
JOIN_MIN_W_MM = 8.0  # ...each wider than a character's box

Glyph = tuple[str, Box]


def _right(b: Box) -> float:
    return b.x + b.w


def _span(box: Box, left: float, right: float) -> Box | None:
    """The box's full height between left and right, None when too narrow to write in."""
    return Box(x=left, y=box.y, w=right - left, h=box.h) if right - left >= MIN_PART_MM else None


def glyphs_inside(box: Box, glyphs: Sequence[Glyph], dashes: Sequence[Box]) -> list[Glyph]:
    """The printed characters in a box, left to right, with a printed hyphen the text detector
    passed over as 「－」."""
    def within(b: Box) -> bool:
        cx, cy = b.x + b.w / 2, b.y + b.h / 2
        return box.x <= cx <= _right(box) and box.y <= cy <= box.y + box.h

    out = [g for g in glyphs if within(g[1])]
    for d in dashes:
        if within(d) and not any(b.x < _right(d) and d.x < _right(b) for _, b in out):
            out.append(("－", d))
    return sorted(out, key=lambda g: g[1].x)


def date_parts(box: Box, glyphs: Sequence[Glyph]) -> tuple[tuple[Box, ...], tuple[str, ...], list[Glyph]] | None:
    """A date written freely: the year, month and day parts (the gaps before the printed 年, 月 and
    日, the box's full height), the eras printed (keys, in order) and, when two or more are printed
    to be circled, each era's box around its printed word. None when 年 月 日 are not all printed."""
    chars = "".join(c for c, _ in glyphs)
    units, start = [], 0
    for unit in "年月日":
        k = chars.find(unit, start)
        if k < 0:
            return None
        units.append(k)
        start = k + 1
    words = sorted((chars.index(ja), key) for key, ja in ERAS.items() if 0 <= chars.find(ja) < units[0])
    eras = tuple(key for _, key in words)
    era_boxes: list[tuple[str, Box]] = []
    ends: dict[int, float] = {}  # glyph index -> where the part after it may start
    if len(words) >= 2:
        for at, key in words:
            era_boxes.append((key, _era_box(box, glyphs, at, at + len(ERAS[key]))))
            ends[at + len(ERAS[key]) - 1] = _right(era_boxes[-1][1]) + ERA_PART_MM
    parts = []
    for k in units:
        before = glyphs[k - 1][1] if k else None
        left = box.x + EDGE_MM if before is None else max(_right(before) + GLYPH_GAP_MM, ends.get(k - 1, 0.0))
        part = _span(box, left, glyphs[k][1].x - GLYPH_GAP_MM)
        if part is None:
            return None
        parts.append(part)
    return tuple(parts), eras, era_boxes


def _era_box(box: Box, glyphs: Sequence[Glyph], first: int, end: int) -> Box:
    """The box around a printed era word (glyphs first..end-1), grown so that a circle drawn round it
    falls inside: ERA_PAD_MM, less where it would reach half way to the print beside it."""
    word = [b for _, b in glyphs[first:end]]
    x0, x1 = min(b.x for b in word), max(_right(b) for b in word)
    y0, y1 = min(b.y for b in word), max(b.y + b.h for b in word)
    pad, vpad = ERA_PAD_MM
    left_room = (x0 - _right(glyphs[first - 1][1])) / 2 if first else x0 - box.x - 0.2
    right_room = (glyphs[end][1].x - x1) / 2 if end < len(glyphs) else _right(box) - x1 - 0.2
    x0, x1 = x0 - min(pad, left_room), x1 + min(pad, right_room)
    y0, y1 = max(box.y + 0.2, y0 - vpad), min(box.y + box.h - 0.2, y1 + vpad)
    return Box(x=x0, y=y0, w=x1 - x0, h=y1 - y0)


def phone_parts(box: Box, glyphs: Sequence[Glyph]) -> tuple[Box, ...] | None:
    """A phone number written in one box around printed brackets and hyphens: 「（　）　－　」 or
    「　－　－　」 gives its two or three groups; None when the print is neither."""
    seps = [(c, b) for c, b in glyphs if c in OPENING + CLOSING + HYPHENS]
    kinds = "".join("(" if c in OPENING else ")" if c in CLOSING else "-" for c, _ in seps)
    if kinds == "()-":
        spans = [(_right(seps[0][1]), seps[1][1].x), (_right(seps[1][1]), seps[2][1].x)]
        last = _right(seps[2][1])
    elif kinds in ("-", "--"):
        spans = [(box.x, seps[0][1].x)] + [(_right(a[1]), b[1].x) for a, b in zip(seps, seps[1:])]
        last = _right(seps[-1][1])
    else:
        return None
    after = [b.x for _, b in glyphs if b.x > last]
    end = min([*after, _right(box) + GLYPH_GAP_MM - EDGE_MM])
    widest = max(b - a for a, b in spans)
    spans.append((last, min(end, last + LAST_PART_MAX * widest)))
    parts = [_span(box, a + GLYPH_GAP_MM, b - GLYPH_GAP_MM) for a, b in spans]
    return None if any(p is None for p in parts) else tuple(parts)  # type: ignore[misc]


def joined_by_hyphens(boxes: Sequence[Box], dashes: Sequence[Box]) -> list[list[int]]:
    """Rows of two or three boxes joined by printed hyphens (a phone's 「[　]－[　]－[　]」), as
    indices into boxes, left to right."""
    order = sorted(range(len(boxes)), key=lambda i: boxes[i].x)
    rows: list[list[int]] = []
    for i in order:
        b = boxes[i]
        if b.w < JOIN_MIN_W_MM:
            continue
        row = rows[-1] if rows else None
        if row is not None and _hyphen_between(boxes[row[-1]], b, dashes):
            row.append(i)
        else:
            rows.append([i])
    return [r for r in rows if 2 <= len(r) <= 3]


def _hyphen_between(a: Box, b: Box, dashes: Sequence[Box]) -> bool:
    gap = b.x - _right(a)
    if not JOIN_GAP_MM[0] <= gap <= JOIN_GAP_MM[1] or abs(a.y - b.y) > JOIN_SAME_MM or abs(a.h - b.h) > JOIN_SAME_MM:
        return False
    return any(_right(a) <= d.x and _right(d) <= b.x and a.y <= d.y + d.h / 2 <= a.y + a.h for d in dashes)
