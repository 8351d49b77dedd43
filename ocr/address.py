"""An address's numbering read digit by digit, and the town before it taken from the postal master.

The line engines read an address whole. Its numbering (「3丁目11番1号」, 「2376番地13」) is digits
between a few fixed words, and there the two PP-OCR engines share their mistakes: a 1 read as /,
11 as 1. So each digit of the numbering is cut out where a line engine placed it (`ocr.read`) and
read by the digit reader; the vote on those digits is counted as for a phone number written freely
(`ocr.vote.cell_vote`). The digit reader reads no town, so the town before its numbering is one a
line engine read, and only one that the address's check confirms (the town of the postal code
accepted beside it, or for an address without one, a town both line engines read alike).

A digit both line engines dropped is often missed by the digit reader too (the window cut for one 1
of 11 holds that one, the other falls into 番's), so the numbering's spacing is checked as well
(`numbering_doubt`), and so is its ink: a 1 standing apart after the town's last kanji, or written
against the 番 after it, dropped by every reader, is ink the numbering has no digit for (`digit_left_out`).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import numpy as np

from ocr.cuts import Ink, char_cuts
from ocr.engines import Reading, ink_box, to_bgr

DIGITS = "0123456789"
ONE_LOOKALIKES = "/／|｜lｌIＩ丨ノ"  # what the line engines make of a handwritten 1 (the digit reader says which)
NUMBERING_CHARS = frozenset(DIGITS + ONE_LOOKALIKES + "丁目番地号の-ー−")


def numbering_start(text: str) -> int | None:
    """Where an address's numbering begins: the first digit (or a stroke read for a 1) from which
    only numbering is written to the end; None when the address ends in no digit."""
    start = None
    for i in range(len(text) - 1, -1, -1):
        if text[i] not in NUMBERING_CHARS:
            break
        if text[i] in DIGITS or text[i] in ONE_LOOKALIKES:
            start = i
    return start


def numbering_digits(text: str) -> list[int]:
    """The positions in `text` of its numbering's digits (strokes read for a 1 included)."""
    start = numbering_start(text)
    if start is None:
        return []
    return [i for i in range(start, len(text)) if text[i] in DIGITS or text[i] in ONE_LOOKALIKES]


def numbering_runs(text: str) -> list[list[int]]:
    """The positions of the numbering's digits, run by run: 「…3丁目11番1号」's 3, then 11, then 1."""
    runs: list[list[int]] = []
    for i in numbering_digits(text):
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def digit_groups(text: str) -> tuple[int, ...]:
    """Digits in each run of the numbering: 「3丁目11番1号」 -> (1, 2, 1)."""
    return tuple(len(run) for run in numbering_runs(text))


def numbering_cells(reading: Reading) -> tuple[Reading, ...] | None:
    """A line engine's whole-address reading as one cell per numbering digit, for the digit vote (a
    stroke read where a digit stands is a 1 there); None when its characters' probabilities are not
    known one by one."""
    if len(reading.char_confidences) != len(reading.text):
        return None
    text, confs = reading.text, reading.char_confidences
    return tuple(Reading("1" if text[i] in ONE_LOOKALIKES else text[i], confs[i], (confs[i],), reading.margin)
                 for i in numbering_digits(text))


def with_town(digit_text: str, line_texts: list[str], fails: Callable[[str], bool], pinned: bool) -> str | None:
    """The digit reader's numbering after a town some line engine read, where exactly one such
    address passes the field's checks (`fails` is True for one that does not) and every line engine
    counts as many characters before the numbering (a digit read as a kanji, 「西豊井名18番地」 for
    西豊井818番地, is ink the numbering would lose). With `pinned` (the check holds the town to the
    postal code's), one line engine's town is enough; else the line engines must read the same town.
    None otherwise: the digit reader's numbering has no town. The digit reader's text is the line
    reading it was cut from with its digits spelled ("?" where it saw none), so its numbering starts
    where the line engines' does."""
    starts = [numbering_start(t) for t in line_texts]
    if not starts or None in starts or len(set(starts)) != 1 or numbering_start(digit_text) is None:
        return None
    numbering = digit_text[starts[0]:]
    towns = {t[:s] for t, s in zip(line_texts, starts)}
    valid = {c for c in (town + numbering for town in towns) if not fails(c)}
    return valid.pop() if len(valid) == 1 and (pinned or len(towns) == 1) else None


WIDE_NUMBERING = 1.5  # a gap in an address's numbering this many times the line's usual one had a digit in it
# ...and the ink after the last character's peak (counted twice), where peaks sit less exactly: on tuning
# data (seeds 424242-424244) correct readings' last peaks left 1.50-1.54 there, each held back at 1.5
# (10-11 addresses a set), and digits dropped at the end 2.2-2.9
WIDE_NUMBERING_END = 1.6


def numbering_doubt(reading: Reading) -> bool:
    """True when an address's numbering (from the character before its first digit to the end of
    the ink) leaves room for a digit the line engines dropped: 「米川9番地」 for 米川94番地,
    「瀬戸1354番地」 for 1354番地11 (on held-out training digits, every accepted wrong address was one
    of these). The end counts twice, as in `spacing_doubt`, against its own bar."""
    p, t = reading.positions, reading.text
    first = next((i for i, ch in enumerate(t) if ch.isdigit()), None)
    if first is None or len(p) != len(t) or len(p) < 3:
        return False
    gaps = [b - a for a, b in pairwise(p)]
    usual = sorted(gaps)[len(gaps) // 2]
    inner = gaps[max(first - 1, 0):]
    return usual > 0 and (max(inner, default=0.0) >= WIDE_NUMBERING * usual
                          or 2 * (1 - p[-1]) >= WIDE_NUMBERING_END * usual)


# a numbering's run is counted from this share of the way from the character before it to the cut
# between them (`digit_left_out`): nearer that character's place, its own strokes count (川's third)
LEFT_OUT_FROM = 0.8
# ...and to this share of the way from the cut after it to the next character's place (番, 号, 丁):
# a 1 written against 番 falls on 番's side of the cut
LEFT_OUT_TO = 0.4


def digit_left_out(crop: np.ndarray, ink: Ink, reading: Reading) -> bool:
    """True where a run of the numbering's digits, its ink taken from most of the way back to the
    character before it (`LEFT_OUT_FROM` of the way from that character's place to the cut) and a
    little way on towards the character after it (`LEFT_OUT_TO`), parts into more digits than the
    reading has there (`Ink.count`): a 1 standing apart after the town's last kanji, dropped by every
    reader (温見1645番地 read 645, 2丁目14番 read 4), or one written against 番 (山田1641番地 read 164)."""
    cuts = char_cuts(crop, reading)
    box = ink_box(to_bgr(crop))
    if cuts is None or box is None:
        return False
    x0, x1 = box[0], box[2]
    place = [x0 + p * (x1 - x0) for p in reading.positions]
    for run in numbering_runs(reading.text):
        if run[0] == 0:
            continue
        start = round(place[run[0] - 1] + LEFT_OUT_FROM * (cuts[run[0]] - place[run[0] - 1]))
        end = cuts[run[-1] + 1]
        if run[-1] + 1 < len(place):
            end = round(end + LEFT_OUT_TO * (place[run[-1] + 1] - end))
        if ink.count((start, end)) > len(run):
            return True
    return False
