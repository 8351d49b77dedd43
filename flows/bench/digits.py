"""Real handwritten digits (MNIST) in one-box-per-character fields, read and decided exactly as a
form's `digits` field is: the measurement behind the digit thresholds.

Each field is 7 cells of a 9 x 12 mm box row at 300 dpi, one MNIST digit per cell (ink scaled to
about 60% of the cell height, jittered), read cell by cell by every engine.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np

from flows.bench.evaluate import variants
from ocr.certify import binomial_upper
from ocr.charsets import DIGITS
from ocr.decide import DIGIT_READER, UNREAD, EngineText, RawField, decide_field
from ocr.digit_reader import SIDE, normalise_cell
from ocr.engines import Recognizer
from ocr.validate import Context
from samples.generator.hand import read_mnist
from schemas.settings import DecisionSettings
from schemas.templates import FieldSpec

THRESHOLDS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999)
CELL_PX = (106, 142)  # w, h of a 9 x 12 mm cell at 300 dpi
INSET_PX = 7  # the reader's 0.6 mm inset
FIELD = FieldSpec(name="account_number", label="口座番号", kind="digits", char_boxes=7, box=[47, 237, 63, 12])


def load_mnist(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """The MNIST test set: (10000, 28, 28) uint8 white-on-black images and their labels."""
    return read_mnist(folder, "t10k")


def cell_image(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One cell crop as the reader cuts it: dark ink on light paper, jittered, a little noise."""
    import cv2

    w, h = CELL_PX[0] - 2 * INSET_PX, CELL_PX[1] - 2 * INSET_PX
    size = int(h * rng.uniform(0.75, 0.95))  # MNIST's 28 px frame holds a 20 px digit
    ink = cv2.resize(digit, (size, size), interpolation=cv2.INTER_CUBIC)
    cell = np.zeros((h, w), np.float32)
    x = int(np.clip((w - size) // 2 + rng.integers(-8, 9), 0, max(w - size, 0)))
    y = int(np.clip((h - size) // 2 + rng.integers(-8, 9), 0, max(h - size, 0)))
    ink = ink[: h - y, : w - x]
    cell[y : y + ink.shape[0], x : x + ink.shape[1]] = ink
    paper = rng.uniform(225, 250)
    out = paper - cell / 255.0 * (paper - rng.uniform(10, 60)) + rng.normal(0, 4, cell.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def measure(engines: list[Recognizer], mnist: Path, *, fields: int, seed: int, alone: int | None = None) -> dict:
    """Read `fields` 7-digit fields with every engine once, then decide them with each engine
    alone and with all combined: exact rate, and straight-through rate and errors among accepted
    fields as the digits threshold moves (agreement and the digit count are always required). The
    digit reader is also measured alone on the first `alone` test digits (None: all 10,000)."""
    images, labels = load_mnist(mnist)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(labels), size=(fields, FIELD.char_boxes))
    crops = [cell_image(images[i], rng) for i in picks.ravel()]
    readings = {e.name: e.recognize(crops, charset=DIGITS) for e in engines}
    no_threshold = DecisionSettings(thresholds={"digits": 0.0}, vote_thresholds={"digits": 0.0},
                                    min_readers=1)  # each engine alone too
    ctx = Context(today=date(2026, 11, 27), values={})
    rows: dict[str, list[tuple[bool, bool, float]]] = {v: [] for v in variants(list(readings))}
    for f, idx in enumerate(picks):
        truth = "".join(str(labels[i]) for i in idx)
        cells = range(f * FIELD.char_boxes, (f + 1) * FIELD.char_boxes)
        texts = {}
        for name, rs in readings.items():
            text = "".join(rs[c].text or UNREAD for c in cells)
            texts[name] = EngineText(text, min(rs[c].confidence if rs[c].text else 0.0 for c in cells),
                                     tuple(rs[c] for c in cells))
        for variant, names in variants(list(readings)).items():
            raw = RawField(FIELD, {n: texts[n] for n in names}, has_ink=True)
            result = decide_field(raw, no_threshold, ctx)
            rows[variant].append((result.status.value == "accepted", result.value == truth, result.confidence))
    report = {
        "fields": fields,
        "digits_per_field": FIELD.char_boxes,
        "seed": seed,
        "variants": {v: {"exact": round(sum(ok for _, ok, _ in r) / fields, 4), "curve": curve(r, fields)}
                     for v, r in rows.items()},
    }
    digit = next((e for e in engines if e.name == DIGIT_READER), None)
    if digit is not None:
        report["digit_reader_alone"] = reader_alone(digit, images[:alone], labels[:alone], rng)
    return report


COVERAGE_THRESHOLDS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 0.9995, 0.9999)


def reader_alone(digit, images: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> dict:
    """The digit reader on every digit of the MNIST test split, each drawn into a cell: its error
    when it must answer every cell (the best digit, "not a digit" ignored), and the error among the
    cells it accepts as the probability threshold rises (a refusal or "not a digit" is not accepted)."""
    cells = [cell_image(img, rng) for img in images]
    readings = digit.recognize(cells, charset=DIGITS)
    norm = [normalise_cell(c) for c in cells]
    forced = digit.probabilities(np.stack([n if n is not None else np.zeros((SIDE, SIDE), np.float32) for n in norm]))
    forced_wrong = int((forced[:, :10].argmax(axis=1) != labels).sum())
    out = {"cells": len(labels), "forced_error": round(forced_wrong / len(labels), 5), "forced_wrong": forced_wrong,
           "curve": []}
    for t in COVERAGE_THRESHOLDS:
        kept = [r.text == str(y) for r, y in zip(readings, labels) if r.text and r.confidence >= t]
        wrong = len(kept) - sum(kept)
        out["curve"].append({"threshold": t, "coverage": round(len(kept) / len(labels), 5), "accepted_wrong": wrong,
                             "accepted_error": round(wrong / max(len(kept), 1), 6),
                             "accepted_error_95_upper": round(binomial_upper(wrong, len(kept)), 6)})
    return out


def curve(rows: list[tuple[bool, bool, float]], total: int) -> list[dict]:
    """Straight-through rate and errors among accepted as the threshold moves.

    `rows` are (accepted with no threshold, right, confidence) per field."""
    out = []
    for t in THRESHOLDS:
        kept = [ok for agreed, ok, c in rows if agreed and c >= t]
        wrong = sum(not k for k in kept)
        out.append({"threshold": t, "straight_through": round(len(kept) / max(total, 1), 4),
                    "accepted_wrong": wrong, "accepted_error": round(wrong / max(len(kept), 1), 5),
                    "accepted_error_95_upper": round(binomial_upper(wrong, len(kept)), 5)})
    return out
