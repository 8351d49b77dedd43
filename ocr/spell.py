"""The digit reader's windows in free writing: how the digits of a field written freely are cut.

A phone number written in one box, a field written in parts (a city's 「令和　年　月　日」) and an
address's numbering (`ocr.address`) hold digits the line engines read as a line. Here each digit
is cut apart for the digit reader, by its own ink where it parts into the digits the line engines
counted, else where they placed them, and each line reading is split per digit to match, so the
decision (`ocr.decide`) can vote digit by digit as it does on printed boxes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ocr.address import DIGITS, digit_groups, digit_left_out, numbering_digits, numbering_runs
from ocr.cuts import Ink, Judge, char_cuts, char_windows, cut_window
from ocr.decide import ADDRESS_CHECKS, UNREAD, EngineText
from ocr.engines import Reading
from ocr.layout import FieldLayout
from ocr.validate import phone_number
from schemas.templates import FieldKind


@dataclass(frozen=True)
class Cell:
    field: str
    group: str  # "" for a whole field, else the date part (year/month/day)
    crop: np.ndarray | None  # None: the cell holds no ink



def separator(fl: FieldLayout) -> str:
    """Between a field's parts in an engine's text: a date's "YY|MM|DD", a phone's groups, a name's gap."""
    if fl.spec.kind == FieldKind.wareki_date:
        return "|"
    return "-" if fl.parts else " "


FREE_DIGIT_KINDS = (FieldKind.phone,)  # written freely in one box: digits and hyphens
# a date's part read as one digit whose ink is wider than tall by more than this may be two run together
# and read as one by every reader (21日 read 2日): it is accepted only where the digit reader is sure
# (settings `wide_digit`). Tuning forms, held-out MNIST training digits: see `DecisionSettings.wide_digit`.
WIDE_DIGIT = 1.0
# a date's part every line engine reads as one digit, whose ink parts into two columns the shorter of which is
# at least this share of the taller's height, holds that digit twice (`_doubled`). Tuning seeds 424242-424244
# (held-out MNIST training digits), every part all line engines read as one digit and whose ink parts in two: the
# six 11s read 1, 0.75-0.98; single digits, 0.12, 0.18 (specks) and 0.5 (a 9's tail, read 1 at 0.996 alone).
DOUBLED_TALL = 0.6


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


def _plan(name: str, fl: FieldLayout, fcells: list[Cell], idx: list[int], per_engine, lines,
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
        if own is None and (twice := _doubled(fl, rs, ink)) is not None:  # 11 read as 1 by every line engine
            rs, own = twice
            for line, r in zip(readings, rs):
                line[k] = r
            counts, count = [2] * len(rs), 2
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
    return _Plan(name, separator(fl), readings, cutters, windows, joined, wide)


def _doubled(fl: FieldLayout, readings: list[Reading], ink: Ink) -> tuple[list[Reading], list[np.ndarray]] | None:
    """A date's part every line engine reads as the same one digit, whose ink parts into two digits
    of about one height (`DOUBLED_TALL`): the same digit written twice (11月, 22日), which a line
    engine's decode gives once where no blank falls between the two. Each reading with its digit
    twice, and the two windows; None otherwise (the digit reader still reads each window itself, and
    the decision votes on both)."""
    if fl.spec.kind != FieldKind.wareki_date or len({r.text for r in readings}) != 1 or len(readings[0].text) != 1:
        return None
    heights = ink.heights()
    if len(heights) != 2 or min(heights) < DOUBLED_TALL * max(heights):
        return None
    own = ink.windows(2)
    if own is None:
        return None
    return [Reading(r.text * 2, r.confidence, r.char_confidences * 2, r.margin) for r in readings], own


def _numbered_count(fl: FieldLayout, readings: list[Reading], counts: list[int]) -> int | None:
    """How many digits a phone number written in one box has, where the line engines count them apart
    and the readings of one count alone are numbers in the numbering plan (paddle's 0833-411-6889, 11
    digits after a four-digit area code, against rapid's 0833-41-6889; 090-9459-141 against
    090-9459-1141); None otherwise. A reading that is no number has a digit too many or too few."""
    if fl.spec.kind != FieldKind.phone or fl.parts:
        return None
    valid = {n for r, n in zip(readings, counts) if phone_number(r.text.replace("-", "")) is not None}
    return valid.pop() if len(valid) == 1 else None


def spell_free_digits(layouts, cells, by_field, per_engine, engines) -> tuple[dict[str, dict[str, EngineText]],
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


def _address_plan(name: str, cell: Cell, i: int, per_engine, lines) -> _AddressPlan | None:
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

