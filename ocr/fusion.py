"""The digit reader's cell probabilities weighed with what the line engines read in the same cell.

The digit reader (`ocr.digit_reader`) gives each inked cell a probability for every digit and for
"not a digit"; the two PP-OCR line engines give one digit each, with their own probability. Alone,
the digit reader's lowest cell probability must reach the vote threshold, so a field whose every
cell all three readers read alike was sent to review for one cell the digit reader gave 0.90 (a 4
written open at the top), though both line engines read the same 4 at 1.00.

Here each cell's digit is chosen on both kinds of evidence (Bayes, the digit reader's calibrated
probabilities as the prior): a line engine's reading of digit d with probability c counts as the
likelihood c for d and (1 - c) / 10 for each other class. Two things keep it honest:
- `line_error`: a line engine's c is never taken above 1 - line_error. PP-OCR returns wrong digits
  at 0.999, so its word alone must never outweigh a digit reader that is sure of another digit.
- `line_weight`: the two line engines are one family trained on the same data and share their
  mistakes, so their likelihoods are multiplied with this exponent each (0.5: two count as one).
- `line_floor`: a line engine's reading below this probability says nothing. Hesitant line
  engines lean the same way as a hesitant digit reader: on held-out training digits, a 9 written
  open at the top was read as 4 by all three readers (line engines at 0.69-0.90, the digit reader
  at 0.57-0.89 with 9 second), and without the floor those 4s became sure.
Cells cut out of a freely written part (`FieldSpec.parts`) are left as the digit reader read them:
the cut itself may be wrong (a written 11 taken as one 1 by every reader), and agreement between
readers cannot see that.

In printed boxes "not a digit" is also weighed at the paper's share (`not_a_digit_weight`, 0.25 by
default, on whether or not the line weighing is): the network learned it from one example in ten,
while a box on paper seldom holds anything but one digit, and it took 0.05-0.4 from clear but bold
digits. Windows cut from free writing keep it as trained, for there it also marks a bad cut.

The result replaces the digit reader's reading of the field, so the vote, the grammar vote and the
line engines' veto (`ocr.decide`) all work on the weighed probabilities.

The line weighing is off by default (`line_weight` 0). On the evaluation set (2026-12-04) it
accepted 5.6 points more of the digit-kind fields, but 3 of the 54 it added were wrong: a 4 or a 0
that the digit reader and both line engines all leaned towards 9 or 6. Its threshold must be certified on a much larger
tuning set before it is turned on (docs/measured.md).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ocr.digit_reader import NOT_A_DIGIT
from ocr.engines import Reading
from schemas.settings import DecisionSettings

CLASSES = NOT_A_DIGIT + 1  # the digit reader's 0-9 and "not a digit"


def line_likelihood(lines: list[Reading | None], cfg: DecisionSettings) -> np.ndarray:
    """The line engines' readings of one cell as a likelihood over the digit reader's classes.
    A cell a line engine read nothing in, something other than one digit, or a digit below
    `cfg.line_floor`, says nothing."""
    out = np.ones(CLASSES)
    for r in lines:
        if r is None or len(r.text) != 1 or not r.text.isdigit() or r.confidence < cfg.line_floor:
            continue
        c = min(r.confidence, 1.0 - cfg.line_error)
        like = np.full(CLASSES, (1.0 - c) / (CLASSES - 1))
        like[int(r.text)] = c
        out *= like**cfg.line_weight
    return out


def fuse_cell(digit: Reading, lines: list[Reading | None], cfg: DecisionSettings, *, boxed: bool) -> Reading:
    """One cell's digit reader reading with its probabilities weighed by the line engines' readings,
    and in a printed box (`boxed`) "not a digit" weighed at the paper's share (`not_a_digit_weight`).
    The digit is the most probable one, or "" when "not a digit" is more probable still."""
    if len(digit.probabilities) != CLASSES:
        return digit
    post = np.asarray(digit.probabilities, dtype=float) * line_likelihood(lines, cfg)
    if boxed:
        post[NOT_A_DIGIT] *= cfg.not_a_digit_weight
    if post.sum() <= 0:
        return digit
    post /= post.sum()
    k = int(post[:NOT_A_DIGIT].argmax())
    ranked = np.sort(post)
    text = str(k) if post[k] >= post[NOT_A_DIGIT] else ""
    conf = float(post[k]) if text else 0.0
    return replace(digit, text=text, confidence=conf, char_confidences=(conf,) if text else (),
                   margin=float(ranked[-1] - ranked[-2]), probabilities=tuple(float(p) for p in post))


def fuse_texts(texts: dict, digit_name: str, unread: str, cfg: DecisionSettings, *, boxed: bool) -> dict:
    """`texts` (engine name -> `ocr.vote.EngineText`) with the digit reader's reading replaced by
    its cell-by-cell weighed one. A line engine with another number of cells than the digit reader
    is left out of the weighing (its cells are not the same cells). `boxed`: the cells are printed
    boxes, one digit each (`ocr.vote.boxed_cells`)."""
    digit = texts.get(digit_name)
    if digit is None or not digit.cells:
        return texts
    n = len(digit.cells)
    lines = [t.cells for name, t in texts.items() if name != digit_name and len(t.cells) == n]
    cells = tuple(None if c is None else fuse_cell(c, [ls[i] for ls in lines], cfg, boxed=boxed)
                  for i, c in enumerate(digit.cells))
    # the field's text spells its inked cells in order between separators (date parts, a phone's hyphens)
    spelled = iter(c.text or unread for c in cells if c is not None)
    text = "".join(next(spelled, ch) if (ch.isdigit() or ch == unread) else ch for ch in digit.text)
    inked = [c for c in cells if c is not None]
    conf = min((c.confidence for c in inked), default=1.0)
    return {**texts, digit_name: replace(digit, text=text, confidence=conf, cells=cells)}
