"""Read every field of a registered page with every engine: crops in, RawField out.

All crops go to each line engine in one call, each decoded under its own character set, so engines
batch them (the digit reader gets its cells per character set). A
reader of single digits (`cells_only`) is given the one-character cells of digit fields, and the
digits of a free-written phone number, of a field written freely in parts (a city's
「令和　年　月　日」) and of an address's numbering (`ocr.address`), cut apart by their own ink where
it parts into the digits the line engines counted, else where the line engines placed them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from ocr.address import DIGITS, digit_groups, digit_left_out, numbering_digits, numbering_runs
from ocr.charsets import charset_for
from ocr.cuts import Ink, Judge, char_cuts, char_windows, cut_window
from ocr.decide import ADDRESS_CHECKS, TICK_KINDS, UNREAD, EngineText, RawField
from ocr.engines import Reading, Recognizer
from ocr.fields import crop_cells, crop_free, ink_ratio, is_empty, split_at_gap
from ocr.layout import FieldLayout, layout_form
from ocr.seal import check_seal
from ocr.validate import phone_number
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


@dataclass(frozen=True)
class _Cell:
    field: str
    group: str  # "" for a whole field, else the date part (year/month/day)
    crop: np.ndarray | None  # None: the cell holds no ink


DATE_PARTS = ("year", "month", "day")


def _part_names(fl: FieldLayout) -> tuple[str, ...]:
    return DATE_PARTS if fl.spec.kind == FieldKind.wareki_date else tuple(str(i) for i in range(len(fl.parts)))


def _separator(fl: FieldLayout) -> str:
    """Between a field's parts in an engine's text: a date's "YY|MM|DD", a phone's groups, a name's gap."""
    if fl.spec.kind == FieldKind.wareki_date:
        return "|"
    return "-" if fl.parts else " "


def _cells_of(fl: FieldLayout, flat: np.ndarray, reference: np.ndarray, dpi: float) -> list[_Cell]:
    name = fl.spec.name
    if fl.parts:  # each part one short number written freely: a line engine reads it whole
        crops = [crop_free(flat, reference, box, dpi) for box in fl.parts]
        return [_Cell(name, part, None if is_empty(c, dpi) else c) for part, c in zip(_part_names(fl), crops)]
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
    spelled, doubts = _spell_free_digits(layouts, cells, by_field, per_engine, engines)
    for name in (n for n, fl in layouts.items() if fl.spec.kind == FieldKind.name_kanji):
        if any(_dropped_kanji(cells[i].crop, [r[i] for r in per_engine.values() if i in r]) for i in by_field[name]):
            doubts[name] = (*doubts.get(name, ()), "char_count_doubt")
    raws = []
    for name, fl in layouts.items():
        ink = {k: ink_ratio(flat, reference, box, dpi) for k, box in fl.ticks.items()}
        idx = by_field.get(name, [])
        fcells = [cells[i] for i in idx]
        texts = {} if fl.spec.kind in TICK_KINDS else {
            e.name: _join(fcells, per_engine[e.name], idx, _separator(fl)) for e in engines if _reads(e, fl, box_readers)
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


FREE_DIGIT_KINDS = (FieldKind.phone,)  # written freely in one box: digits and hyphens
# a date's part read as one digit whose ink is wider than tall by more than this may be two run together
# and read as one by every reader (21日 read 2日): it is accepted only where the digit reader is sure
# (settings `wide_digit`). Tuning forms, held-out MNIST training digits: see `DecisionSettings.wide_digit`.
WIDE_DIGIT = 1.0


def free_written(fl: FieldLayout) -> bool:
    """True when the field's digits are written freely, not one per box: a phone number in one box,
    or any field written in parts."""
    return bool(fl.parts) or (fl.spec.kind in FREE_DIGIT_KINDS and len(fl.cells) == 1)


def _by_digit(readings: list[Reading | None], sep: str) -> EngineText:
    """A line engine's readings of a field's free-written crops (parts; None where a part holds no
    ink) as one cell per digit (hyphens are no cells), so readings that differ only in the hyphens
    they saw are compared digit by digit."""
    inked = [r for r in readings if r is not None]
    cells = tuple(Reading(ch, c, (c,), r.margin)
                  for r in inked for ch, c in zip(r.text, r.char_confidences) if ch != "-")
    widths = tuple(0 if r is None else len(r.text.replace("-", "")) for r in readings)
    text = sep.join("" if r is None else r.text for r in readings) if inked else ""
    return EngineText(text, min((r.confidence for r in inked), default=1.0), cells, widths)


@dataclass(frozen=True)
class _Plan:
    """How a free-written field's digits are cut for the digit reader."""

    field: str
    sep: str
    readings: list[list[Reading | None]]  # per line engine, per crop (None: the crop holds no ink)
    cutters: list[Reading | None]  # per crop: the line reading whose positions cut it
    windows: list[list[np.ndarray]]  # per crop, one window per digit of its cutter
    joined: list[list[bool]]  # per crop, per window: cut from ink run together with another digit (Ink.guided)
    wide: list[bool]  # per crop: a date's part read as one digit from ink wider than tall (WIDE_DIGIT)


def _plan(name: str, fl: FieldLayout, fcells: list[_Cell], idx: list[int], per_engine, lines,
          judge: Judge | None = None) -> _Plan | str | None:
    """The cut of one free-written field; "engines_disagree" when the line engines read every inked
    crop as digits but count them differently in one and its ink does not part into as many digits
    as the longer reading (the digit reader would have nothing to vote on, and an agreement left
    would be 04 against 4); None when some crop was not read as digits at all. A phone number in one
    box counted apart is cut by the count that makes a number in the plan, where only one does
    (`_numbered_count`). Each crop is cut from its own ink where it parts into the digits counted
    (`Ink.windows`), else from its ink columns where the line engine that saw the most hyphens
    placed its characters, digits run together parted where `judge` (the digit reader) reads both
    surest (`Ink.guided`), else where that engine placed them (`char_windows`)."""
    readings = [[None if c.crop is None else per_engine[e.name].get(i) for c, i in zip(fcells, idx)] for e in lines]
    cutters: list[Reading | None] = []
    windows: list[list[np.ndarray]] = []
    joined: list[list[bool]] = []
    wide: list[bool] = []
    counted_apart = False
    for k, cell in enumerate(fcells):
        if cell.crop is None:
            cutters.append(None)
            windows.append([])
            joined.append([])
            wide.append(False)
            continue
        rs = [r[k] for r in readings]
        if not all(r and r.text and set(r.text) <= set("0123456789-") for r in rs):
            return None
        counts = [len(r.text.replace("-", "")) for r in rs]
        ink, count = Ink.of(cell.crop), max(counts)
        own = ink.windows(count)
        if len(set(counts)) != 1 and own is None:
            count = _numbered_count(fl, rs, counts)
            if count is None:
                counted_apart = True
                continue
            own = ink.windows(count)
        # where the engines count apart and the ink parts into as many digits as the longer reading
        # (one engine ran two like digits together, as CTC does with 11), the longer one cuts; where
        # it does not, a phone number's reading that is a number in the plan (`_numbered_count`)
        cutter = max((r for r, n in zip(rs, counts) if n == count), key=lambda r: r.text.count("-"))
        run_together = None
        if own is None:  # the ink does not part so: its columns, as the cutter placed its digits in them
            own, run_together = ink.guided(cutter, judge) or (None, None)
        ws = char_windows(cell.crop, cutter) if own is None else None
        if own is None and ws is None:
            return None
        cutters.append(cutter)
        windows.append(own if own is not None else [w for ch, w in zip(cutter.text, ws) if ch != "-"])
        joined.append(run_together or [False] * len(windows[-1]))
        wide.append(fl.spec.kind == FieldKind.wareki_date and len(windows[-1]) == 1 and ink.aspect() > WIDE_DIGIT)
    if counted_apart:
        return "engines_disagree" if fl.parts else None
    if not any(c is not None for c in cutters):
        return None
    return _Plan(name, _separator(fl), readings, cutters, windows, joined, wide)


def _numbered_count(fl: FieldLayout, readings: list[Reading], counts: list[int]) -> int | None:
    """How many digits a phone number written in one box has, where the line engines count them apart
    and the readings of one count alone are numbers in the numbering plan (paddle's 0833-411-6889, 11
    digits after a four-digit area code, against rapid's 0833-41-6889; 090-9459-141 against
    090-9459-1141); None otherwise. A reading that is no number has a digit too many or too few."""
    if fl.spec.kind != FieldKind.phone or fl.parts:
        return None
    valid = {n for r, n in zip(readings, counts) if phone_number(r.text.replace("-", "")) is not None}
    return valid.pop() if len(valid) == 1 else None


def _spell_free_digits(layouts, cells, by_field, per_engine, engines) -> tuple[dict[str, dict[str, EngineText]],
                                                                             dict[str, tuple[str, ...]]]:
    """For free-written digit fields whose digits the line engines count alike crop by crop (the
    hyphens they saw may differ), or apart where the ink parts into the longer count or only one
    count makes a phone number, the digit reader's reading of each digit, cut as `_plan` says; and
    each line engine's reading split per digit to match.

    Returns field -> engine -> EngineText, and field -> reasons for review found here: for a field
    written in parts, the line engines counting a part's digits differently; for a date, the digit
    reader finding no digit in a window cut for one (two digits run together, read by both as one)."""
    digit = next((e for e in engines if getattr(e, "cells_only", False)), None)
    lines = [e for e in engines if not getattr(e, "cells_only", False)]
    if digit is None or not lines:
        return {}, {}
    plans: list[_Plan] = []
    doubts: dict[str, tuple[str, ...]] = {}

    def judge(windows: list[np.ndarray]) -> list[float]:  # two digits run together part where both read surest
        return [r.confidence if r.text else 0.0 for r in digit.recognize(windows, charset="0123456789")]

    for name, fl in layouts.items():
        idx = by_field.get(name, [])
        if not free_written(fl) or not idx:
            continue
        plan = _plan(name, fl, [cells[i] for i in idx], idx, per_engine, lines, judge)
        if isinstance(plan, str):
            doubts[name] = (plan,)
        elif plan is not None:
            plans.append(plan)
    addresses = [a for name, fl in layouts.items() if numbered_address(fl) and by_field.get(name)
                 and (a := _address_plan(name, cells[by_field[name][0]], by_field[name][0], per_engine, lines))]
    crops = [w for p in plans for ws in p.windows for w in ws] + [w for a in addresses for w in a.windows]
    read = iter(digit.recognize(crops, charset="0123456789") if crops else [])
    out: dict[str, dict[str, EngineText]] = {}
    for p in plans:
        per_digit: list[Reading] = []
        texts: list[str] = []
        for cutter, ws in zip(p.cutters, p.windows):
            mine = [next(read) for _ in ws]
            per_digit += mine
            spelled = iter(mine)
            texts.append("" if cutter is None else
                         "".join("-" if ch == "-" else (next(spelled).text or UNREAD) for ch in cutter.text))
        out[p.field] = {e.name: _by_digit(r, p.sep) for e, r in zip(lines, p.readings)}
        widths = tuple(len(ws) for ws in p.windows)
        out[p.field][digit.name] = EngineText(p.sep.join(texts), min((r.confidence if r.text else 0.0 for r in per_digit),
                                                                      default=1.0), tuple(per_digit), widths,
                                              tuple(j for js in p.joined for j in js),
                                              tuple(w for ws, w in zip(p.windows, p.wide) for _ in ws))
        # a date's 11 read as 1 is still a month; a phone number short of a digit is no number in the plan
        if layouts[p.field].spec.kind == FieldKind.wareki_date and any(not r.text for r in per_digit):
            doubts[p.field] = ("char_count_doubt",)
    for a in addresses:
        if a.left_out:  # a digit the line engines dropped stands apart in the ink: the digit reader reads no window for it
            doubts[a.field] = ("char_count_doubt",)
        mine = [next(read) for _ in a.windows]
        text = list(a.cutter.text)
        for i, r in zip(a.spots, mine):
            text[i] = r.text or UNREAD
        out[a.field] = {digit.name: EngineText("".join(text), min(r.confidence if r.text else 0.0 for r in mine),
                                               tuple(mine), digit_groups(a.cutter.text))}
    return out, doubts


def numbered_address(fl: FieldLayout) -> bool:
    """True for an address written in one box and checked against the postal master, whose
    numbering's digits the digit reader reads (`ocr.address`)."""
    return bool(set(fl.spec.validators) & set(ADDRESS_CHECKS)) and not fl.parts and len(fl.cells) == 1


@dataclass(frozen=True)
class _AddressPlan:
    field: str
    cutter: Reading  # the line reading whose positions cut the digits apart
    spots: list[int]  # where in its text the numbering's digits are
    windows: list[np.ndarray]  # one per digit
    left_out: bool = False  # a run's ink parts into more digits than the line engines read there (`digit_left_out`)


def _address_plan(name: str, cell: _Cell, i: int, per_engine, lines) -> _AddressPlan | None:
    """The cut of an address's numbering, where every line engine reads one and all count its digits
    alike (a 1 read as / counted as a digit); None otherwise."""
    rs = [per_engine[e.name].get(i) for e in lines]
    if cell.crop is None or not all(r is not None and r.text for r in rs):
        return None
    spots = [numbering_digits(r.text) for r in rs]
    if not spots[0] or len({len(s) for s in spots}) != 1:
        return None
    # a cutter that read every digit as one, else any: positions are as good either way
    usable = [(r, s) for r, s in zip(rs, spots) if len(r.positions) == len(r.text)]
    usable.sort(key=lambda rs_: not all(rs_[0].text[k] in DIGITS for k in rs_[1]))
    if not usable:
        return None
    cutter, mine = usable[0]
    cuts = char_cuts(cell.crop, cutter)
    if cuts is None:
        return None
    windows, ink = [], Ink.of(cell.crop)
    for run in numbering_runs(cutter.text):  # each run cut from its own ink where it parts so, else at the cuts
        own = ink.windows(len(run), span=(cuts[run[0]], cuts[run[-1] + 1]))
        windows += own if own is not None else [cut_window(cell.crop, cuts, k) for k in run]
    return _AddressPlan(name, cutter, mine, windows, any(digit_left_out(cell.crop, ink, r) for r, _ in usable))

