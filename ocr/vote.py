"""The digit reader's vote on a field it read cell by cell, weighed against the line engines.

Every inked cell needs the digit reader's digit backed by at least one line engine's reading of
the same cell (but one the digit reader reads very surely alone), and the field's score is the digit
reader's lowest probability over its cells (`cell_vote`); under a field's grammar (postal codes,
dates) the cells are weighed together first (`grammar_vote`). Where every reader read the same digit
in every cell and the cells are the field's own digits (`unanimous`, `counted_cells`), the decision
holds the score to a lower bar.
`ocr.decide` applies the thresholds; this module only counts the evidence. What the readers read
of a field (`RawField`, each engine's `EngineText`) is defined here too, as the vote reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ocr.engines import Reading
from ocr.grammar import NOT_A_DIGIT, grammar_reading, has_grammar
from ocr.validate import BANK_FIELD, Context
from schemas.templates import FieldKind, FieldSpec

DIGIT_READER = "digit"  # the engine name of ocr.digit_reader.DigitRecognizer


@dataclass(frozen=True)
class EngineText:
    """One engine's reading of a whole field; a date is "YY|MM|DD" (its three parts' cells)."""

    text: str
    confidence: float
    cells: tuple[Reading | None, ...] = ()  # per writing cell, None where the cell holds no ink
    widths: tuple[int, ...] = ()  # inked cells in each part (a date's year, month and day)
    # per cell: cut from ink run together with another digit, where a line engine placed them (ocr.cuts.Ink.guided)
    run_together: tuple[bool, ...] = ()
    # per cell: a date's part read as one digit from ink wider than tall (two run together, read as one)
    wide: tuple[bool, ...] = ()


@dataclass(frozen=True)
class RawField:
    """Everything read from one field, before any decision."""

    spec: FieldSpec
    texts: dict[str, EngineText] = field(default_factory=dict)
    ink: dict[str, float] = field(default_factory=dict)  # tick square / era area -> ink share
    has_ink: bool = False  # ink in the writing cells
    flags: tuple[str, ...] = ()  # reasons for review found while reading (a seal over the field)


@dataclass(frozen=True)
class Vote:
    """What the digit reader says of a field it read cell by cell.

    Attributes:
        backed: every inked cell's digit was read the same by at least one line engine, but for at
            most `ALONE_CELLS` the digit reader read surely enough alone (`cell_vote`'s `alone`).
        score: the digit reader's lowest probability over the inked cells (0.0 if a cell is not a digit).
        sure_cells: for each inked cell, the digit the reader gives with at least `sure` probability,
            or None; a line reading that differs in one of these cells is contradicted.
    """

    backed: bool
    score: float
    sure_cells: tuple[str | None, ...]


# a line engine reading another digit in a cell this surely stands against the vote there, unless the
# caller says otherwise (the decision passes `DecisionSettings.opposed`)
OPPOSED = 0.5


def cell_vote(texts: dict[str, EngineText], sure: float = 1.0, invalid: frozenset[str] = frozenset(),
              overrule: float = 1.01, opposed: float = OPPOSED, alone: float = 1.01) -> Vote | None:
    """The digit reader's vote on a field, or None when it did not read this field cell by cell.
    Line engines in `invalid` read no valid value, so they may back a cell but not stand against one;
    where the digit reader's probability reaches `overrule`, a line engine that backs its digit
    outweighs one that reads another (two readers of different families against one); below it, a
    line engine reading another digit with probability `opposed` or more stands against the vote
    there. Where it reaches `alone`, the digit reader's digit stands in one cell of the field with no
    line engine behind it (`ALONE_CELLS`), if none stands against it there and its whole reading is
    valid (not in `invalid`)."""
    digit = texts.get(DIGIT_READER)
    if digit is None or not digit.cells:
        return None
    others = _line_cells(texts, invalid)
    valid = DIGIT_READER not in invalid  # only a valid value may lean on the digit reader alone
    backing, scores, sure_cells = [], [], []
    for i, d in enumerate(digit.cells):
        sure_cells.append(d.text if d is not None and d.text and d.confidence >= sure else None)
        if d is None:
            continue
        scores.append(d.confidence if d.text else 0.0)
        backing.append(bool(d.text) and _backing(i, d.text, others, len(digit.cells), opposed, d.confidence >= overrule,
                                                 valid and d.confidence >= alone))
    return Vote(_all_backed(backing), min(scores, default=1.0), tuple(sure_cells))


def line_engines(texts: dict[str, EngineText]) -> list[str]:
    """The line engines among a field's readers (every one but the digit reader), in their order."""
    return [name for name in texts if name != DIGIT_READER]


def _line_cells(texts: dict[str, EngineText], invalid: frozenset[str]) -> list[tuple[tuple[Reading | None, ...], bool]]:
    """Each line engine's cells, and whether it may stand against the vote (its reading is valid)."""
    return [(texts[name].cells, name not in invalid) for name in line_engines(texts)]


# cells of a field in which the digit reader's digit, read at `alone` or more, stands with no line engine
# reading it: one (two unbacked cells are a field the line engines read another way, not one slip)
ALONE_CELLS = 1


def _backing(i: int, digit: str, others: list[tuple[tuple[Reading | None, ...], bool]], n: int,
             opposed: float = OPPOSED, majority: bool = False, sure_alone: bool = False) -> bool | None:
    """True when some line engine read `digit` in cell i, and none whose whole reading is a valid
    value read another digit there with probability `opposed` or more (one engine's 1 against the
    other's sure 7 is no backing; a 6 where every phone number has its leading 0 stands for nothing);
    with `majority`, one reading it outweighs one reading another. None where no line engine backs it
    but the digit reader is sure enough alone (`sure_alone`) and none stands against it; else False."""
    there = [(o[i], may) for o, may in others if len(o) == n and o[i] is not None and o[i].text]
    against = any(may and c.text != digit and c.confidence >= opposed for c, may in there)
    if any(c.text == digit for c, _ in there) and (majority or not against):
        return True
    return None if sure_alone and not against else False


def alone_bar(texts: dict[str, EngineText], invalid: frozenset[str], alone: float, lines_invalid: float) -> float:
    """The digit reader's bar for a cell no line engine backs: `alone`, or `lines_invalid` if lower where
    every line engine's reading is no valid value and the digit reader's is (each line engine is wrong
    somewhere, none stands for another digit)."""
    lines = line_engines(texts)
    if lines and DIGIT_READER in texts and DIGIT_READER not in invalid and set(lines) <= invalid:
        return min(alone, lines_invalid)
    return alone


def _all_backed(backing: list[bool | None]) -> bool:
    """True when every cell is backed, but for at most `ALONE_CELLS` the digit reader is sure of alone."""
    return False not in backing and backing.count(None) <= ALONE_CELLS


def grammar_vote(raw: RawField, era: str | None, ctx: Context, sure: float,
                 invalid: frozenset[str] = frozenset(), opposed: float = OPPOSED,
                 alone: float = 1.01) -> tuple[Vote, str] | None:
    """The digit reader's vote on a field read under its grammar (`ocr.grammar`: the postal master,
    the dates the field may hold), and the value it chooses; None when the kind has no grammar, or
    some inked cell may be no digit at all (its "not a digit" probability above 1 - `sure`). A cell
    stands alone (`cell_vote`) where both the grammar's posterior of its digit and the digit reader's
    own probability of it reach `alone` (the posterior alone leaves "not a digit" out)."""
    digit = raw.texts.get(DIGIT_READER)
    if digit is None or not digit.cells or not has_grammar(raw.spec):
        return None
    inked = [i for i, c in enumerate(digit.cells) if c is not None]
    cells = [digit.cells[i] for i in inked]
    if not cells or any(len(c.probabilities) <= NOT_A_DIGIT or c.probabilities[NOT_A_DIGIT] > 1 - sure
                        for c in cells):
        return None
    bank = ctx.values.get(BANK_FIELD)
    g = grammar_reading(raw.spec, [np.asarray(c.probabilities) for c in cells], digit.widths, era, ctx.today,
                        bank=None if bank is None else str(bank))
    if g is None:
        return None
    others = _line_cells(raw.texts, invalid)
    backed = _all_backed([_backing(i, d, others, len(digit.cells), opposed,
                                   sure_alone=min(p, float(digit.cells[i].probabilities[int(d)])) >= alone)
                          for i, d, p in zip(inked, g.digits, g.posteriors)])
    sure_cells: list[str | None] = [None] * len(digit.cells)
    for i, d, p in zip(inked, g.digits, g.posteriors):
        sure_cells[i] = d if p >= sure else None
    return Vote(backed, min(g.posteriors), tuple(sure_cells)), g.value


def counted_cells(spec: FieldSpec) -> bool:
    """True where the digit reader's cells are the field's own digits, counted by the form or by the
    value's format: one digit per printed box, or a phone number (its numbering fixes how many digits
    it has, so a digit dropped in the cut leaves no valid number). A date written freely is neither:
    11日 cut as one 1 is still a day."""
    return spec.kind == FieldKind.phone or boxed_cells(spec)


def boxed_cells(spec: FieldSpec) -> bool:
    """True where the digit reader's cells are printed boxes, one digit each, not windows cut from
    freely written ink (where a cut may hold two digits run together, or a piece of a neighbour)."""
    return not spec.parts and (bool(spec.char_boxes) or spec.kind == FieldKind.wareki_date)


def unsure_in(text: EngineText, flags: tuple[bool, ...], bar: float) -> bool:
    """True where a cell flagged (`EngineText.run_together`, `EngineText.wide`) is read below `bar`, or
    as nothing."""
    return any(f and (c is None or not c.text or c.confidence < bar) for c, f in zip(text.cells, flags))


def unanimous(texts: dict[str, EngineText]) -> bool:
    """True when every line engine read the very digit the digit reader read in each inked cell,
    and nothing in a cell the digit reader found empty."""
    digit = texts[DIGIT_READER]
    lines = [texts[name].cells for name in line_engines(texts)]
    return bool(lines) and all(len(c) == len(digit.cells) for c in lines) and all(
        (d is None and all(c[i] is None for c in lines))
        or (d is not None and bool(d.text) and all(c[i] is not None and c[i].text == d.text for c in lines))
        for i, d in enumerate(digit.cells))


def contradicted(line: EngineText, vote: Vote) -> bool:
    """True when the digit reader is sure of another digit than this line engine in some cell."""
    return len(line.cells) == len(vote.sure_cells) and any(
        s is not None and c is not None and c.text != s for c, s in zip(line.cells, vote.sure_cells))
