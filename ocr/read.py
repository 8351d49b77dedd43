"""Read every field of a registered page with every engine: crops in, RawField out.

All crops that share a character set go to each engine in one call, so engines batch them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ocr.charsets import charset_for
from ocr.decide import TICK_KINDS, UNREAD, EngineText, RawField
from ocr.engines import Reading, Recognizer
from ocr.fields import crop_cells, ink_ratio, is_empty, split_at_gap
from ocr.layout import FieldLayout, layout_form
from ocr.seal import check_seal
from schemas.templates import FieldKind, FormTemplate

NAME_KINDS = (FieldKind.name_kanji, FieldKind.kana)


@dataclass(frozen=True)
class _Cell:
    field: str
    group: str  # "" for a whole field, else the date part (year/month/day)
    crop: np.ndarray | None  # None: the cell holds no ink


def _cells_of(fl: FieldLayout, flat: np.ndarray, dpi: float) -> list[_Cell]:
    name = fl.spec.name
    if fl.spec.kind == FieldKind.wareki_date:
        out = []
        for part, boxes in fl.date_parts.items():
            sub = FieldLayout(fl.spec, cells=boxes)
            out += [_Cell(name, part, None if is_empty(c, dpi) else c) for c in crop_cells(flat, sub, dpi)]
        return out
    crops = crop_cells(flat, fl, dpi)
    if fl.spec.kind in NAME_KINDS and len(crops) == 1 and not is_empty(crops[0], dpi):
        # family and given name are read apart, so the space between them is certain
        parts = zip(("family", "given"), split_at_gap(crops[0], dpi))
        return [_Cell(name, part, None if is_empty(c, dpi) else c) for part, c in parts]
    return [_Cell(name, "", None if is_empty(c, dpi) else c) for c in crops]


def _join(cells: list[_Cell], readings: dict[int, Reading], idx: list[int], sep: str) -> EngineText:
    """One engine's text of a field from its cells, parts (date parts, family and given name)
    separated by `sep`."""
    parts: dict[str, str] = {}
    confs: list[float] = []
    for i, cell in zip(idx, cells):
        if cell.crop is None:
            parts.setdefault(cell.group, "")
            continue
        r = readings[i]
        parts[cell.group] = parts.get(cell.group, "") + (r.text or UNREAD)
        confs.append(r.confidence if r.text else 0.0)
    return EngineText(sep.join(parts.values()), min(confs, default=1.0))


def read_page(
    flat: np.ndarray,
    reference: np.ndarray,
    template: FormTemplate,
    engines: Sequence[Recognizer],
    dpi: float,
) -> list[RawField]:
    """Read all fields of a flattened page (registered to `template`, at `dpi`).

    `reference` is the blank form at the same dpi; tick boxes are judged by ink beyond its print.
    """
    layouts = layout_form(template)
    cells: list[_Cell] = []
    by_field: dict[str, list[int]] = defaultdict(list)
    flags: dict[str, tuple[str, ...]] = {}
    for name, fl in layouts.items():
        if fl.spec.kind in TICK_KINDS:
            continue
        page = flat
        if fl.spec.kind == FieldKind.name_kanji and len(fl.cells) == 1:  # where people press their seal
            page, reason = check_seal(flat, reference, fl.cells[0], dpi)
            flags[name] = (reason,) if reason else ()
        for c in _cells_of(fl, page, dpi):
            by_field[name].append(len(cells))
            cells.append(c)
    # one recognize call per (engine, charset)
    groups: dict[str | None, list[int]] = defaultdict(list)
    for i, c in enumerate(cells):
        if c.crop is not None:
            groups[charset_for(layouts[c.field].spec.kind)].append(i)
    per_engine: dict[str, dict[int, Reading]] = {e.name: {} for e in engines}
    for charset, idx in groups.items():
        crops = [cells[i].crop for i in idx]
        for eng in engines:
            per_engine[eng.name].update(zip(idx, eng.recognize(crops, charset=charset)))
    raws = []
    for name, fl in layouts.items():
        ink = {k: ink_ratio(flat, reference, box, dpi) for k, box in fl.ticks.items()}
        idx = by_field.get(name, [])
        fcells = [cells[i] for i in idx]
        texts = {} if fl.spec.kind in TICK_KINDS else {
            e.name: _join(fcells, per_engine[e.name], idx, "|" if fl.spec.kind == FieldKind.wareki_date else " ")
            for e in engines
        }
        raws.append(RawField(fl.spec, texts, ink, has_ink=any(c.crop is not None for c in fcells),
                             flags=flags.get(name, ())))
    return raws
