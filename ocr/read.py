"""Read every field of a registered page with every engine: crops in, RawField out.

All crops go to each line engine in one call, each decoded under its own character set, so engines
batch them (the digit reader gets its cells per character set). A
reader of single digits (`cells_only`) is given the one-character cells of digit fields, and the
digits of a free-written phone number, of a field written freely in parts (a city's
「令和　年　月　日」) and of an address's numbering (`ocr.address`), cut apart as `ocr.spell` says.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence

import numpy as np

from ocr.charsets import charset_for
from ocr.cuts import Ink
from ocr.decide import TICK_KINDS, UNREAD, EngineText, RawField
from ocr.engines import Reading, Recognizer
from ocr.fields import crop_cells, crop_free, ink_ratio, is_empty, split_at_gap
from ocr.layout import FieldLayout, layout_form
from ocr.seal import check_seal
from ocr.spell import Cell, separator, spell_free_digits
from schemas.templates import FieldKind, FormTemplate

NAME_KINDS = (FieldKind.name_kanji, FieldKind.kana)
# kinds whose cells hold one digit each where the form prints one box per character
DIGIT_CELL_KINDS = (FieldKind.digits, FieldKind.postal_code, FieldKind.amount, FieldKind.wareki_date)


def one_digit_cells(fl: FieldLayout) -> bool:
    """True when every writing cell of the field holds exactly one digit."""
    spec = fl.spec
    if spec.kind == FieldKind.wareki_date:
        return bool(fl.date_parts)
    return spec.kind in DIGIT_CELL_KINDS and bool(spec.char_boxes) and len(fl.cells) == spec.char_boxes


def _reads(engine: Recognizer, fl: FieldLayout, box_readers: Collection[str] | None = None) -> bool:
    """True where `engine` reads the field: the digit reader only one-digit boxes, and of the line
    engines only `box_readers` (all when None) read those."""
    if getattr(engine, "cells_only", False):
        return one_digit_cells(fl)
    return box_readers is None or engine.name in box_readers or not one_digit_cells(fl)


DATE_PARTS = ("year", "month", "day")


def _part_names(fl: FieldLayout) -> tuple[str, ...]:
    return DATE_PARTS if fl.spec.kind == FieldKind.wareki_date else tuple(str(i) for i in range(len(fl.parts)))


def _cells_of(fl: FieldLayout, flat: np.ndarray, reference: np.ndarray, dpi: float) -> list[Cell]:
    name = fl.spec.name
    if fl.parts:  # each part one short number written freely: a line engine reads it whole
        crops = [crop_free(flat, reference, box, dpi) for box in fl.parts]
        return [Cell(name, part, None if is_empty(c, dpi) else c) for part, c in zip(_part_names(fl), crops)]
    if fl.spec.kind == FieldKind.wareki_date:
        out = []
        for part, boxes in fl.date_parts.items():
            sub = FieldLayout(fl.spec, cells=boxes)
            out += [Cell(name, part, None if is_empty(c, dpi) else c) for c in crop_cells(flat, sub, dpi)]
        return out
    crops = crop_cells(flat, fl, dpi)
    if fl.spec.kind in NAME_KINDS and len(crops) == 1 and not is_empty(crops[0], dpi):
        # family and given name are read apart, so the space between them is certain
        parts = zip(("family", "given"), split_at_gap(crops[0], dpi))
        return [Cell(name, part, None if is_empty(c, dpi) else c) for part, c in parts]
    return [Cell(name, "", None if is_empty(c, dpi) else c) for c in crops]


def _join(cells: list[Cell], readings: dict[int, Reading], idx: list[int], sep: str) -> EngineText:
    """One engine's text of a field from its cells, parts (date parts, family and given name)
    separated by `sep`; each cell's own reading kept (None for a cell without ink)."""
    parts: dict[str, str] = {}
    widths: dict[str, int] = {}
    confs: list[float] = []
    per_cell: list[Reading | None] = []
    for i, cell in zip(idx, cells):
        widths.setdefault(cell.group, 0)
        if cell.crop is None:
            parts.setdefault(cell.group, "")
            per_cell.append(None)
            continue
        r = readings[i]
        parts[cell.group] = parts.get(cell.group, "") + (r.text or UNREAD)
        widths[cell.group] += 1
        confs.append(r.confidence if r.text else 0.0)
        per_cell.append(r)
    text = sep.join(parts.values()) if confs else ""  # no ink: nothing read (not "--" for a phone in parts)
    return EngineText(text, min(confs, default=1.0), tuple(per_cell), tuple(widths.values()))


def read_page(
    flat: np.ndarray,
    reference: np.ndarray,
    template: FormTemplate,
    engines: Sequence[Recognizer],
    dpi: float,
    box_readers: Collection[str] | None = None,
) -> list[RawField]:
    """Read all fields of a flattened page (registered to `template`, at `dpi`).

    `reference` is the blank form at the same dpi; tick boxes are judged by ink beyond its print.
    Where a digit reader is among `engines`, only the line engines in `box_readers` (all when None)
    read the one-digit boxes it reads (settings: `ocr.box_readers`); where there is no digit reader,
    or none of `box_readers` runs, every line engine reads them.
    """
    lines = {e.name for e in engines if not getattr(e, "cells_only", False)}
    if len(lines) == len(engines) or not lines & set(box_readers or ()):
        box_readers = None
    layouts = layout_form(template)
    cells: list[Cell] = []
    by_field: dict[str, list[int]] = defaultdict(list)
    flags: dict[str, tuple[str, ...]] = {}
    for name, fl in layouts.items():
        if fl.spec.kind in TICK_KINDS:
            continue
        page = flat
        if fl.spec.kind == FieldKind.name_kanji and len(fl.cells) == 1:  # where people press their seal
            page, reason = check_seal(flat, reference, fl.cells[0], dpi)
            flags[name] = (reason,) if reason else ()
        for c in _cells_of(fl, page, reference, dpi):
            by_field[name].append(len(cells))
            cells.append(c)
    # one recognize call per engine where it reads each crop with its own charset, else per (engine, charset)
    charsets = {i: charset_for(layouts[c.field].spec.kind) for i, c in enumerate(cells) if c.crop is not None}
    groups: dict[str | None, list[int]] = defaultdict(list)
    for i, charset in charsets.items():
        groups[charset].append(i)
    per_engine: dict[str, dict[int, Reading]] = {e.name: {} for e in engines}
    for eng in engines:
        if hasattr(eng, "recognize_each"):
            mine = [i for i in charsets if _reads(eng, layouts[cells[i].field], box_readers)]
            readings = eng.recognize_each([cells[i].crop for i in mine], [charsets[i] for i in mine]) if mine else []
            per_engine[eng.name].update(zip(mine, readings))
            continue
        for charset, idx in groups.items():
            mine = [i for i in idx if _reads(eng, layouts[cells[i].field], box_readers)]
            if mine:
                per_engine[eng.name].update(zip(mine, eng.recognize([cells[i].crop for i in mine], charset=charset)))
    spelled, doubts = spell_free_digits(layouts, cells, by_field, per_engine, engines)
    for name in (n for n, fl in layouts.items() if fl.spec.kind == FieldKind.name_kanji):
        if any(_dropped_kanji(cells[i].crop, [r[i] for r in per_engine.values() if i in r]) for i in by_field[name]):
            doubts[name] = (*doubts.get(name, ()), "char_count_doubt")
    raws = []
    for name, fl in layouts.items():
        ink = {k: ink_ratio(flat, reference, box, dpi) for k, box in fl.ticks.items()}
        idx = by_field.get(name, [])
        fcells = [cells[i] for i in idx]
        texts = {} if fl.spec.kind in TICK_KINDS else {
            e.name: _join(fcells, per_engine[e.name], idx, separator(fl)) for e in engines if _reads(e, fl, box_readers)
        }
        texts.update(spelled.get(name, {}))
        raws.append(RawField(fl.spec, texts, ink, has_ink=any(c.crop is not None for c in fcells),
                             flags=flags.get(name, ()) + doubts.get(name, ())))
    return raws


# a kanji name's part whose ink is wider than this many heights per character the longest line reading
# found there holds one they dropped (一宏 read 宏, 小野 read 野, written close: 1.49-1.62; parts read whole
# on tuning forms, 1.01 at the median, 1.29 at the 99th percentile, 心 alone 1.31)
WIDE_KANJI = 1.4


def _dropped_kanji(crop: np.ndarray | None, readings: list[Reading]) -> bool:
    """True where a kanji name's part is wider than the characters read there would fill, even the
    longest reading's (`WIDE_KANJI`): a flat 一 or a small 小 run into its neighbour, the rest a name."""
    most = max((len(r.text.replace(" ", "")) for r in readings), default=0)
    return crop is not None and most > 0 and Ink.of(crop).aspect() > WIDE_KANJI * most
