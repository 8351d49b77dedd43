"""The part each hole plays on a blank form, and the writing areas they make (see `ocr.draft`).

Input: the holes (white areas closed by printed rules), the printed text lines, read, and the
printed hyphens. Output: one candidate per writing area, walking boxes from the outermost in: a
box whose print says a date is a date; one holding tick squares is a choice (one square: a
checkbox); one holding a row of character boxes (seven split 3 + 4: a postal code), boxes joined
by hyphens (a phone) or boxes of its own gives way to them; any other box is a writing area, or a
label or a suffix once `ocr.draft_labels` has looked at its neighbours. A group's cell (「申請者」
printed downwards) is none of these. All positions are mm from the page's top-left.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from ocr.draft_parts import joined_by_hyphens
from ocr.layout import TICK_MM as LAYOUT_TICK_MM
from schemas.templates import ERAS, Box, FieldKind, FieldSpec

@dataclass(frozen=True)
class Hole:
    """A white area closed by printed rules.

    Attributes:
        box: its white interior, mm.
        frame: which connected set of rules closes it (the cells of one table share a frame).
        empty: nothing is printed inside it.
        table: its frame closes holes in two or more rows: a ruled table, whose cells have no
            box of their own.
        group: a narrow tall cell beside several rows, its text printed vertically (「申請者」): the
            text read there, "" when unread; None for any other hole. Never a field nor a row's label.
    """

    box: Box
    frame: int
    empty: bool
    table: bool = False
    group: str | None = None


@dataclass(frozen=True)
class TextLine:
    """One printed line of text: where it is (mm), what the line engine read there, and each
    character read with its glyph's ink box (mm; spaces left out)."""

    box: Box
    text: str
    glyphs: tuple[tuple[str, Box], ...] = ()


@dataclass(frozen=True)
class Proposal:
    """One proposed field.

    Attributes:
        number: its number in the picture, from 1 in reading order.
        spec: the field as the template would hold it.
        label_read: the printed label the proposal took its name, kind and label from ("" when none).
        printed: text printed inside its writing area (「令和　年　月　日」), "" when none.
        notes: what the person should check, in English, for the YAML's comments.
        marks: the cells or tick boxes inside it, outlined in the picture.
        section: the group or heading it is printed under (「申請者」), "" when none.
    """

    number: int
    spec: FieldSpec
    label_read: str
    printed: str
    notes: tuple[str, ...]
    marks: tuple[Box, ...] = ()
    section: str = ""


@dataclass(frozen=True)
class PagePrint:
    """What one page of a blank prints: the holes its rules close, its text lines, its hyphens."""

    holes: tuple[Hole, ...]
    texts: tuple[TextLine, ...]
    dashes: tuple[Box, ...] = ()


HALF_RULE_MM = 0.15  # a hole's interior grown by this reaches the middle of its rules, where templates put boxes
TABLE_INSET_MM = 0.8  # a table cell with no box of its own is written in this far inside its rules
TICK_SIDE_MM = (2.5, 7.0)  # a tick square's side
TICK_TEXT_MM = 4.0  # an option's text starts within this right of its square...
TICK_OVERLAP_MM = 1.0  # ...or a line's box (wider than its print) reaches this far back over it
TICK_CHARS = "□☐"  # what a line engine reads a tick square as
TICK_LEAD_MM = 3.0  # a line begun this far before a square, not read as □, is the option's text (「その他（」)
CELL_W_MM = (3.0, 14.0)  # one character's box: width...
CELL_H_MM = (4.0, 16.0)  # ...and height
CELL_SAME_MM = 0.8  # the boxes of one row differ by less than this in top, height and width
SHARED_RULE_MM = 1.2  # neighbouring boxes sharing one rule are this close
GROUP_W_MM = 12.0  # a group's cell (「申請者」 printed downwards) is at most this wide...
GROUP_TALL = 2.5  # ...at least this many times as tall as wide, beside two or more rows
POSTAL_GROUPS = (3, 4)  # 〒 [][][] - [][][][]

@dataclass
class Candidate:
    """A writing area on its way to a proposal."""

    box: Box  # the writing area, mm
    anchor: Box  # the interior its label is looked for left of
    kind: FieldKind | None = None  # None: from the label's words
    hole: Hole | None = None  # a plain hole: it may turn out to be a label or a suffix
    lines: list[TextLine] = field(default_factory=list)  # printed inside the writing area
    context: list[TextLine] = field(default_factory=list)  # printed around it in the box that holds it
    label: str = ""
    cells: tuple[Box, ...] = ()
    options: list[tuple[str, Box]] = field(default_factory=list)
    parts: tuple[Box, ...] = ()  # free-written groups of a phone in boxes joined by hyphens
    suffix: str = ""
    notes: list[str] = field(default_factory=list)
    is_label: bool = False
    fixed_label: bool = False  # the label comes from what the boxes are (郵便番号), not from the cell beside
    page: int = 1
    section: str = ""  # the group or heading the field is printed under (「申請者」, 「支給の対象となる児童」)

    @property
    def printed(self) -> str:
        return " ".join(t.text for t in self.lines)


def inside(inner: Box, outer: Box, tol: float = 0.5) -> bool:
    return (inner.x >= outer.x - tol and inner.y >= outer.y - tol
            and inner.x + inner.w <= outer.x + outer.w + tol and inner.y + inner.h <= outer.y + outer.h + tol)


def v_overlap(a: Box, b: Box) -> float:
    """Share of the lower of the two heights that they have in common."""
    return max(0.0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y)) / max(min(a.h, b.h), 1e-6)


def _meets(a: Box, b: Box) -> bool:
    return min(a.x + a.w, b.x + b.w) - max(a.x, b.x) > 0.3 and min(a.y + a.h, b.y + b.h) - max(a.y, b.y) > 0.3


def union(boxes: Sequence[Box]) -> Box:
    x0, y0 = min(b.x for b in boxes), min(b.y for b in boxes)
    x1, y1 = max(b.x + b.w for b in boxes), max(b.y + b.h for b in boxes)
    return Box(x=x0, y=y0, w=x1 - x0, h=y1 - y0)


def _grow(b: Box) -> Box:
    return b.inset(-HALF_RULE_MM)


def _option_label(text: str, over: bool) -> str:
    """An option's words from the line after its square: 「]公務員」 公務員, 「□その他（」 その他 (what
    is written in the brackets is no part of its name). A line begun at the square itself may have
    the square read as 口."""
    text = text.strip().lstrip(TICK_CHARS + "]|[｜" + ("口" if over else "")).strip()
    return re.sub(r"\s*[（(].*$", "", text) or text


def _option_text(tick: Box, texts: Sequence[TextLine]) -> TextLine | None:
    """The text printed right after a tick square; a line the detector began at the square itself
    (read 「□女」, or 「その他（」 with the square left out) counts, without its □."""
    right = tick.x + tick.w
    after = [TextLine(t.box, _option_label(t.text, False)) for t in texts
             if right - TICK_OVERLAP_MM <= t.box.x <= right + TICK_TEXT_MM and v_overlap(t.box, tick) >= 0.5]
    over = [TextLine(t.box, _option_label(t.text, True)) for t in texts
            if t.box.x < right - TICK_OVERLAP_MM and t.box.x + t.box.w > right + 1.0 and inside(tick, t.box, 1.0)
            and (t.text.lstrip()[:1] in TICK_CHARS or t.box.x >= tick.x - TICK_LEAD_MM)]
    return min(after + over, key=lambda t: t.box.x, default=None)


def _ticks(holes: Sequence[Hole], texts: Sequence[TextLine]) -> list[Hole]:
    """Empty squares standing alone (no other hole in their frame) with text right after them."""
    per_frame = Counter(h.frame for h in holes)
    lo, hi = TICK_SIDE_MM
    return [h for h in holes
            if lo <= h.box.w <= hi and lo <= h.box.h <= hi and abs(h.box.w - h.box.h) <= 0.2 * max(h.box.w, h.box.h)
            and h.empty and per_frame[h.frame] == 1 and _option_text(h.box, texts) is not None]


def _continues(a: Box, b: Box, texts: Sequence[TextLine], holes: Sequence[Hole]) -> bool:
    """b is the next character box after a: same size and row, sharing a rule or across a gap of
    at most two boxes that holds no text and no other box (a printed hyphen is not text)."""
    if abs(a.y - b.y) > CELL_SAME_MM or abs(a.h - b.h) > CELL_SAME_MM or abs(a.w - b.w) > CELL_SAME_MM:
        return False
    gap = b.x - (a.x + a.w)
    if gap < -0.5 or gap > 2 * a.w:
        return False
    if gap <= SHARED_RULE_MM:
        return True
    between = Box(x=a.x + a.w, y=a.y, w=gap, h=a.h)
    return not any(_meets(t.box, between) for t in texts) and not any(
        _meets(h.box, between) and not inside(between, h.box) for h in holes)


def _runs(holes: Sequence[Hole], texts: Sequence[TextLine]) -> list[list[Hole]]:
    """Rows of two or more equal, empty, character-sized holes side by side."""
    def cell_shaped(h: Hole) -> bool:
        b = h.box
        return (h.empty and CELL_W_MM[0] <= b.w <= CELL_W_MM[1] and CELL_H_MM[0] <= b.h <= CELL_H_MM[1]
                and b.w <= 1.4 * b.h)

    runs: list[list[Hole]] = []
    for c in sorted(filter(cell_shaped, holes), key=lambda h: h.box.x):
        for run in runs:
            if _continues(run[-1].box, c.box, texts, holes):
                run.append(c)
                break
        else:
            runs.append([c])
    return [r for r in runs if len(r) >= 2]


def is_date(printed: str) -> bool:
    """Print inside a box that makes it a date: an era, or 年 and 月 apart (not the label 生年月日)."""
    return bool(re.search(r"年\s+\S*\s*月", printed)) or any(era in printed for era in ERAS.values())


def printed_eras(printed: str) -> tuple[str, ...]:
    found = sorted((printed.index(ja), key) for key, ja in ERAS.items() if ja in printed)
    return tuple(key for _, key in found)


def _choice(area: Box, anchor: Box, ticks: Sequence[Hole], texts: Sequence[TextLine]) -> Candidate:
    """A choice from two or more tick squares; a checkbox from one (its box placed so that the
    template's own square, LAYOUT_TICK_MM wide and 2 mm in from the box's left, falls on it)."""
    options = []
    for t in sorted(ticks, key=lambda h: h.box.x):
        line = _option_text(t.box, texts)
        options.append((line.text if line else "", _grow(t.box)))
    if len(options) > 1:
        return Candidate(area, anchor, FieldKind.choice, options=options)
    text, sq = options[0]
    x = sq.x - 2.0
    box = Box(x=x, y=sq.y + sq.h / 2 - area.h / 2, w=area.x + area.w - x, h=area.h)
    notes = [f"checkbox; printed after its square: 「{text}」"]
    if abs(sq.w - LAYOUT_TICK_MM) > 0.6:
        notes.append(f"its square is {sq.w:.1f} mm; Madoguchi looks for a tick in a {LAYOUT_TICK_MM:g} mm one")
    return Candidate(box, anchor, FieldKind.checkbox, cells=(sq,), notes=notes)


def _run(run: Sequence[Hole], anchor: Box | None, context: list[TextLine]) -> Candidate:
    """A row of character boxes; seven split 3 + 4 (around a printed hyphen, a 〒 before them) are a
    postal code, whatever the cell beside says (住所 then labels the address under it)."""
    cells = tuple(_grow(h.box) for h in run)
    c = Candidate(union(cells), anchor or union([h.box for h in run]), cells=cells, context=list(context))
    wide = [i for i, (a, b) in enumerate(zip(run, run[1:]), start=1) if b.box.x - a.box.x - a.box.w > SHARED_RULE_MM]
    if len(run) == sum(POSTAL_GROUPS) and wide == [POSTAL_GROUPS[0]]:
        c.kind, c.label, c.fixed_label = FieldKind.postal_code, "郵便番号", True
        c.notes.append("seven boxes split 3 + 4: a postal code")
    return c


def _joined(boxes: Sequence[Hole], anchor: Box | None, context: list[TextLine]) -> Candidate:
    """Boxes joined by printed hyphens: one phone number written in parts, one in each box."""
    parts = tuple(h.box for h in boxes)
    area = union([_grow(b) for b in parts])
    return Candidate(area, anchor or area, FieldKind.phone, context=list(context), parts=parts,
                     notes=[f"{len(parts)} boxes joined by printed hyphens: one phone number, a part in each"])


def group_cells(holes: Sequence[Hole]) -> list[Hole]:
    """Narrow tall cells of a table beside two or more of its rows: a group's name printed downwards
    (「申請者」 beside 住所, 氏名, 電話番号), never a field nor one row's label."""
    def beside(g: Hole, h: Hole) -> bool:
        return (h is not g and h.frame == g.frame and 0 <= h.box.x - (g.box.x + g.box.w) <= SHARED_RULE_MM
                and h.box.y >= g.box.y - 0.5 and h.box.y + h.box.h <= g.box.y + g.box.h + 0.5)

    return [g for g in holes if g.table and g.box.w <= GROUP_W_MM and g.box.h >= GROUP_TALL * g.box.w
            and sum(beside(g, h) for h in holes) >= 2]


class _Tree:
    """Which hole, tick, row of character boxes and text line lies directly inside which box."""

    def __init__(self, boxes: Sequence[Hole], ticks: Sequence[Hole], runs: Sequence[list[Hole]],
                 texts: Sequence[TextLine]):
        self.boxes = list(boxes)
        self.kids: dict[int | None, dict[str, list]] = {}
        for b in boxes:
            self._add(self._parent(b.box, b), "boxes", b)
        for t in ticks:
            self._add(self._parent(t.box), "ticks", t)
        for r in runs:
            self._add(self._parent(union([h.box for h in r])), "runs", r)
        for t in texts:
            self._add(self._parent(t.box), "texts", t)

    def _parent(self, box: Box, itself: Hole | None = None) -> int | None:
        around = [i for i, h in enumerate(self.boxes)
                  if h is not itself and inside(box, h.box) and h.box.w * h.box.h > box.w * box.h * 1.01]
        return min(around, key=lambda i: self.boxes[i].box.w * self.boxes[i].box.h, default=None)

    def _add(self, parent: int | None, what: str, item: object) -> None:
        self.kids.setdefault(parent, {"boxes": [], "ticks": [], "runs": [], "texts": []})[what].append(item)

    def of(self, parent: int | None) -> dict[str, list]:
        return self.kids.get(parent, {"boxes": [], "ticks": [], "runs": [], "texts": []})


def candidates(holes: Sequence[Hole], texts: Sequence[TextLine], dashes: Sequence[Box] = ()) -> list[Candidate]:
    """Every writing area, walking boxes from the outermost in; group cells and their print left out."""
    groups = [h for h in holes if h.group is not None]
    holes = [h for h in holes if h.group is None]
    texts = [t for t in texts if not any(inside(t.box, g.box, 1.0) for g in groups)]
    ticks = _ticks(holes, texts)
    runs = _runs([h for h in holes if h not in ticks], texts)
    in_runs = {id(h) for r in runs for h in r}
    boxes = [h for h in holes if h not in ticks and id(h) not in in_runs]
    tree = _Tree(boxes, ticks, runs, texts)
    out: list[Candidate] = []

    def inner(kids: dict[str, list], anchor: Box | None, context: list[TextLine]) -> None:
        """Rows of character boxes, boxes joined by hyphens and boxes of their own inside one box."""
        bare = [b for b in kids["boxes"] if b.empty and not any(tree.of(boxes.index(b)).values())]
        joined = [[bare[i] for i in row] for row in joined_by_hyphens([b.box for b in bare], dashes)]
        singles = [b for b in kids["boxes"] if not any(b in row for row in joined)]
        alone = len(kids["runs"]) + len(joined) + len(singles) == 1
        for r in kids["runs"]:
            out.append(_run(r, anchor if alone else None, context))
        for row in joined:
            out.append(_joined(row, anchor if alone else None, context))
        for b in singles:
            visit(boxes.index(b), anchor if alone and anchor else b.box, context)

    def visit(i: int, anchor: Box, context: list[TextLine]) -> None:
        h, kids = boxes[i], tree.of(i)
        lines = in_reading_order(kids["texts"])
        area = h.box.inset(TABLE_INSET_MM) if h.table else _grow(h.box)
        if is_date(" ".join(t.text for t in lines)):
            out.append(Candidate(area, anchor, FieldKind.wareki_date, lines=lines, context=context,
                                 cells=tuple(_grow(c.box) for r in kids["runs"] for c in r)))
        elif kids["ticks"]:
            out.append(_choice(area, anchor, kids["ticks"], texts))
            out[-1].lines = lines
        elif kids["runs"] or kids["boxes"]:
            inner(kids, anchor, context + lines)
        else:
            out.append(_plain(h, area, anchor, lines, context))

    top = tree.of(None)
    inner(top, None, [])
    for group in _tick_rows(top["ticks"]):
        area = union([t.box for t in group] + [t.box for g in group if (t := _option_text(g.box, texts))]).inset(-1.5)
        out.append(_choice(area, area, group, texts))
    return out


def _plain(h: Hole, area: Box, anchor: Box, lines: list[TextLine], context: list[TextLine]) -> Candidate:
    """A box with nothing but print in it: a writing area, or a label or suffix once its neighbours
    are known. A word or two printed at a table cell's right end (印) ends its writing area."""
    notes = [f"a table's cell without a box of its own: the box is the cell, {TABLE_INSET_MM:g} mm inside its rules"]
    tail = [t for t in lines if t.box.x > area.x + area.w / 2 and len(t.text.replace(" ", "")) <= 2]
    if h.table and tail and len(tail) == len(lines):
        x = min(g.x for t in tail for g in ([b for _, b in t.glyphs] or [t.box])) - 1.0
        area = Box(x=area.x, y=area.y, w=x - area.x, h=area.h)
        notes.append(f"it ends before 「{' '.join(t.text for t in tail)}」 printed at the cell's right end")
    return Candidate(area, anchor, hole=h, lines=lines, context=context, notes=notes if h.table else [])


T = TypeVar("T", bound="TextLine | Candidate")


def in_reading_order(lines: Sequence[T], row_mm: float = 2.0) -> list[T]:
    """Text lines (or anything with a `box`) by row (tops within `row_mm`), left to right within a row."""
    rows: list[list[T]] = []
    for t in sorted(lines, key=lambda t: t.box.y):
        if rows and t.box.y - rows[-1][0].box.y <= row_mm:
            rows[-1].append(t)
        else:
            rows.append([t])
    return [t for row in rows for t in sorted(row, key=lambda t: t.box.x)]


def _tick_rows(ticks: Sequence[Hole]) -> list[list[Hole]]:
    """Tick squares outside any box, grouped by the row they stand in."""
    rows: list[list[Hole]] = []
    for t in sorted(ticks, key=lambda h: (h.box.y, h.box.x)):
        if rows and v_overlap(rows[-1][0].box, t.box) >= 0.5:
            rows[-1].append(t)
        else:
            rows.append([t])
    return rows
