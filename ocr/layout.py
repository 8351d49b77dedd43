"""Where each part of a field is printed: one geometry shared by the printer, the sample
generator and the reader, so the three can never disagree.

All values are mm from the page's top-left.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.templates import ERAS, Box, FieldKind, FieldSpec, FormTemplate

TICK_MM = 5.0  # side of a printed tick square
CELL_MM = 7.0  # width of one per-character cell in a wareki date
ERA_MM = 12.0  # width of one era label area (the applicant circles one)
UNIT_MM = 5.5  # width of a printed 年/月/日


@dataclass(frozen=True)
class Rect:
    box: Box
    width: float = 0.3  # line width, mm
    fill: bool = False


@dataclass(frozen=True)
class Text:
    text: str
    x: float
    y: float  # top of the text
    size: float  # character height, mm


@dataclass(frozen=True)
class FieldLayout:
    """The printed parts of one field."""

    spec: FieldSpec
    cells: tuple[Box, ...] = ()  # writing areas read by OCR, in reading order
    ticks: dict[str, Box] = field(default_factory=dict)  # option name -> area checked for ink
    date_parts: dict[str, tuple[Box, ...]] = field(default_factory=dict)  # year/month/day -> cells
    rects: tuple[Rect, ...] = ()
    texts: tuple[Text, ...] = ()
    parts: tuple[Box, ...] = ()  # free-written areas, one short number each (spec.parts), in order


def _label(spec: FieldSpec, label_width: float) -> tuple[Rect, Text, list[Text]]:
    b = spec.box
    cell = Box(x=b.x - label_width, y=b.y, w=label_width, h=b.h)
    size = min(4.0, b.h * 0.4)
    label = Text(spec.label, cell.x + 2.0, b.y + (b.h - size) / 2 - (1.2 if spec.hint else 0), size)
    extra = [Text(spec.hint, cell.x + 2.0, label.y + size + 0.8, 2.2)] if spec.hint else []
    return Rect(cell), label, extra


def _layout_date(spec: FieldSpec) -> tuple[dict[str, Box], dict[str, tuple[Box, ...]], list[Rect], list[Text]]:
    b = spec.box
    size = min(4.0, b.h * 0.4)
    ty = b.y + (b.h - size) / 2
    x = b.x + 2.0
    ticks: dict[str, Box] = {}
    texts: list[Text] = []
    rects: list[Rect] = []
    for era in spec.eras:
        label = ERAS[era]
        texts.append(Text(label, x + (ERA_MM - 2 * size) / 2, ty, size))
        if len(spec.eras) > 1:  # a single era is printed, not chosen
            ticks[era] = Box(x=x, y=b.y + 1.0, w=ERA_MM, h=b.h - 2.0)
        x += ERA_MM
    x += 1.0
    parts: dict[str, tuple[Box, ...]] = {}
    cell_h = min(b.h - 2.0, 9.0)
    cy = b.y + (b.h - cell_h) / 2
    for part, unit in (("year", "年"), ("month", "月"), ("day", "日")):
        cells = tuple(Box(x=x + i * CELL_MM, y=cy, w=CELL_MM, h=cell_h) for i in range(2))
        rects.extend(Rect(c, 0.2) for c in cells)
        parts[part] = cells
        x += 2 * CELL_MM
        texts.append(Text(unit, x + 0.8, ty, size))
        x += UNIT_MM
    return ticks, parts, rects, texts


PART_UNITS = {FieldKind.wareki_date: ("年", "月", "日")}


def _layout_parts(spec: FieldSpec) -> tuple[dict[str, Box], list[Text]]:
    """A field written freely in parts (a city's 「令和　年　月　日」, a phone's 「(　)　－」): the eras'
    names (printed, or where each is circled) and the units or hyphens after the parts. Printed only
    when Madoguchi draws the blank; a `reference` form has its own print."""
    b = spec.box
    size = min(4.0, b.h * 0.4)
    ty = b.y + (b.h - size) / 2
    ticks: dict[str, Box] = {}
    texts: list[Text] = []
    if spec.kind == FieldKind.wareki_date:
        if len(spec.eras) == 1:  # printed before the year, in the room left of it
            label = ERAS[spec.eras[0]]
            room = spec.parts[0].x - b.x - 1.0
            s = min(size, room / len(label))
            texts.append(Text(label, b.x + max(0.5, (room - s * len(label)) / 2 + 0.5), b.y + (b.h - s) / 2, s))
        for opt in spec.options:  # circled: each era's name where it is printed
            ob = opt.box
            assert ob is not None  # checked by FieldSpec
            s = min(size, ob.h * 0.6, ob.w / max(1, len(opt.label)) * 0.9)
            texts.append(Text(opt.label, ob.x + (ob.w - s * len(opt.label)) / 2, ob.y + (ob.h - s) / 2, s))
            ticks[opt.name] = ob
    units = PART_UNITS.get(spec.kind, ("－",) * (len(spec.parts) - 1))
    for part, unit in zip(spec.parts, units):
        texts.append(Text(unit, part.x + part.w + 0.5, ty, size))
    return ticks, texts


def _layout_options(spec: FieldSpec) -> tuple[dict[str, Box], list[Rect], list[Text]]:
    b = spec.box
    ow = b.w / len(spec.options)
    size = min(3.8, b.h * 0.4)
    ticks: dict[str, Box] = {}
    rects: list[Rect] = []
    texts: list[Text] = []
    for i, opt in enumerate(spec.options):
        sq = opt.box or Box(x=b.x + 2.0 + i * ow, y=b.y + (b.h - TICK_MM) / 2, w=TICK_MM, h=TICK_MM)
        ticks[opt.name] = sq
        rects.append(Rect(sq, 0.3))
        texts.append(Text(opt.label, sq.x + sq.w + 1.5, b.y + (b.h - size) / 2, size))
    return ticks, rects, texts


def layout_field(spec: FieldSpec, label_width: float) -> FieldLayout:
    """Compute the printed geometry of one field."""
    frame, label, hint = _label(spec, label_width)
    rects: list[Rect] = [frame, Rect(spec.box)]
    texts: list[Text] = [label, *hint]
    cells: tuple[Box, ...] = ()
    ticks: dict[str, Box] = {}
    parts: dict[str, tuple[Box, ...]] = {}
    b = spec.box
    if spec.parts:
        ticks, t = _layout_parts(spec)
        texts += t
        return FieldLayout(spec, ticks=ticks, parts=spec.parts, rects=tuple(rects), texts=tuple(texts))
    if spec.kind == FieldKind.wareki_date:
        ticks, parts, r, t = _layout_date(spec)
        rects += r
        texts += t
    elif spec.kind == FieldKind.choice:
        ticks, r, t = _layout_options(spec)
        rects += r
        texts += t
    elif spec.kind == FieldKind.checkbox:
        sq = Box(x=b.x + 2.0, y=b.y + (b.h - TICK_MM) / 2, w=TICK_MM, h=TICK_MM)
        ticks = {"checked": sq}
        rects.append(Rect(sq, 0.3))
        size = min(3.5, b.h * 0.4)
        texts.append(Text("該当する場合はチェック", sq.x + TICK_MM + 1.5, b.y + (b.h - size) / 2, size * 0.8))
    else:
        area = b
        if spec.suffix:
            size = min(4.0, b.h * 0.4)
            sw = 2.0 + size * len(spec.suffix)
            area = Box(x=b.x, y=b.y, w=b.w - sw, h=b.h)
            texts.append(Text(spec.suffix, area.x + area.w + 1.0, b.y + (b.h - size) / 2, size))
        if spec.cells:  # where the paper has them
            cells = spec.cells
            rects.extend(Rect(c, 0.2) for c in cells)
        elif spec.char_boxes:
            cells = tuple(area.split(spec.char_boxes))
            rects.extend(Rect(c, 0.2) for c in cells)
        else:
            cells = (area,)
    return FieldLayout(spec, cells, ticks, parts, rects=tuple(rects), texts=tuple(texts))


def layout_form(template: FormTemplate) -> dict[str, FieldLayout]:
    """Geometry of every field of a form, by field name."""
    return {f.name: layout_field(f, template.label_width) for f in template.fields}


CORNER_MM = 5.0  # side of the filled corner marks
CORNER_MARGIN_MM = 8.0


def corner_marks(template: FormTemplate) -> list[Rect]:
    """Filled squares near the four corners; they help registration but it does not need them."""
    w, h = template.page_size
    m, s = CORNER_MARGIN_MM, CORNER_MM
    return [Rect(Box(x=x, y=y, w=s, h=s), fill=True) for x in (m, w - m - s) for y in (m, h - m - s)]


def page_texts(template: FormTemplate) -> list[Text]:
    """The title and static texts of a form; each page of a form of several says which it is."""
    w, h = template.page_size
    size = 6.5
    title = Text(template.title, (w - size * len(template.title)) / 2, 14.0, size)
    texts = [title, *(Text(t.text, t.x, t.y, t.size) for t in template.texts)]
    if template.sheet:
        mark = f"{template.sheet} / {template.pages}"
        texts.append(Text(mark, (w - 2.0 * len(mark)) / 2, h - 12.0, 4.0))
    return texts
