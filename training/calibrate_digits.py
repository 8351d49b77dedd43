"""Certify the digit-vote thresholds on held-out handwriting: `make calibrate-digits`.

Every held-out digit (the 5,000 MNIST training digits the digit reader was not trained on, UCI
optdigits' 13 writer-independent writers and semeion's held-out part) is drawn once into a cell
(`training.cells.draw_cell`, the harder of our two cell renderers) and read by every engine. Fields
of each digit kind are then made of disjoint runs of these cells, as many cells as the built-in
forms give that kind, and decided with `ocr.decide.decide_field`. For each kind, `ocr.certify`
finds the lowest digit-reader score whose error among accepted fields has a 95% upper bound
within the target. The digit reader's cell probabilities are first weighed with the line engines'
readings of the same cells, as the decision weighs them (`ocr.fusion`). Prints a table and writes JSON; the defaults in
`schemas.settings.DecisionSettings.vote_thresholds` are copied from it.
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path

import numpy as np

from ocr.certify import certify
from ocr.charsets import DIGITS
from ocr.decide import DIGIT_READER, UNREAD, EngineText, cell_vote, unanimous
from ocr.engines import EMPTY_READING
from ocr.fusion import fuse_texts
from ocr.readers import load_engines
from schemas.settings import Settings
from training.cells import draw_cell, load_digits

SEED = 20261201
HELD_OUT = ("mnist_val", "optdigits_windep", "semeion_val")
CELLS_PER_FIELD = {"postal_code": 7, "digits": 7, "amount": 6, "wareki_date": 6}  # as on the built-in forms
TARGETS = (0.001, 0.002, 0.005, 0.01, 0.02)
DECISION = Settings().decision  # MADOGUCHI_DECISION__* as the reader takes them
CURVE = (0.5, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999)


def draw_cells(data: Path, limit: int | None = None) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Every held-out digit (the first `limit` of each source) drawn into a cell once: the crops,
    their digits and the name of each one's source, in one fixed order that mixes writers and sources."""
    sources = load_digits(data)
    rng = np.random.default_rng(SEED)
    crops, truth, source = [], [], []
    for name in HELD_OUT:
        x, y = sources[name]
        for img, label in zip(x[:limit], y[:limit]):
            crops.append(draw_cell(img, rng))
            truth.append(int(label))
            source.append(name)
    order = rng.permutation(len(crops))  # fields mix writers and sources
    return [crops[i] for i in order], np.asarray(truth)[order], np.asarray(source)[order]


def read_cells(data: Path, engines: list[str], limit: int | None = None) -> tuple[np.ndarray, dict[str, list]]:
    """Truth and each engine's Reading of every held-out digit (the first `limit` of each source)
    drawn into a cell once."""
    crops, truth, _ = draw_cells(data, limit)
    readers = load_engines(engines)
    return truth, {r.name: r.recognize(crops, charset=DIGITS) for r in readers}


def field_rows(truth: np.ndarray, readings: dict[str, list], cells: int) -> list[tuple[bool, float, bool, bool]]:
    """(backed by a line engine cell by cell, score, right, every reader read the same digit in every
    cell) per field of `cells` disjoint cells."""
    rows = []
    for start in range(0, len(truth) - cells + 1, cells):
        span = range(start, start + cells)
        texts = {name: EngineText("".join(rs[i].text or "?" for i in span), 0.0,
                                  tuple(rs[i] if rs[i].text else EMPTY_READING for i in span))
                 for name, rs in readings.items()}
        # weighed with the line engines' cells as the decision weighs them (ocr.fusion)
        texts = fuse_texts(texts, DIGIT_READER, UNREAD, DECISION, boxed=True)  # one digit drawn in each cell
        vote = cell_vote(texts, opposed=DECISION.opposed, alone=DECISION.alone["digits"])  # as the decision counts
        right = texts[DIGIT_READER].text == "".join(str(truth[i]) for i in span)
        rows.append((vote.backed, vote.score, right, unanimous(texts)))
    return rows


def unanimous_point(rows: list[tuple[bool, float, bool, bool]], vote: float, threshold: float) -> dict:
    """Fields accepted, and wrong among them, with the vote at `vote` and, where every reader read
    the same digit in every cell, at `threshold` (`unanimous_thresholds`)."""
    accepted = [(b and s >= vote) or (u and s >= threshold) for b, s, _, u in rows]
    return {"threshold": threshold, "accepted": sum(accepted),
            "wrong": sum(a and not ok for a, (_, _, ok, _) in zip(accepted, rows))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--engines", default="paddle,rapid,digit")
    parser.add_argument("--out", type=Path, default=Path("bench/calibrate-digits.json"))
    parser.add_argument("--limit", type=int, default=None, help="digits per source, for a quick look")
    args = parser.parse_args(argv)
    truth, readings = read_cells(args.data, args.engines.split(","), args.limit)
    digit = readings[DIGIT_READER]
    cell_right = np.array([r.text == str(t) for r, t in zip(digit, truth)])
    report = {"cells": int(len(truth)), "digit_reader_cell_error": round(1 - float(cell_right.mean()), 5),
              "seed": SEED, "made": date.today().isoformat(), "kinds": {}}
    print(f"{len(truth)} held-out cells; digit reader alone wrong on {1 - cell_right.mean():.3%} (forced, incl. not-a-digit)")
    for kind, cells in CELLS_PER_FIELD.items():
        rows = field_rows(truth, readings, cells)
        backed = [(s, not ok) for b, s, ok, _ in rows if b]
        vote = DECISION.vote_thresholds.get(kind, 0.95)
        out = {"fields": len(rows), "backed": len(backed), "backed_wrong": sum(w for _, w in backed),
               "wrong_scores": sorted((round(s, 5) for s, w in backed if w), reverse=True), "targets": {},
               "curve": [{"threshold": t, "accepted": sum(s >= t for s, _ in backed),
                          "wrong": sum(w for s, w in backed if s >= t)} for t in CURVE],
               "unanimous_curve": [unanimous_point(rows, vote, t) for t in CURVE if t <= vote]}
        for target in TARGETS:
            c = certify([s for s, _ in backed], [w for _, w in backed], target,
                        candidates=[round(x, 4) for x in np.linspace(0.5, 0.9999, 200)])
            out["targets"][str(target)] = {"threshold": c.threshold, "accepted": c.accepted,
                                           "share_of_fields": round(c.accepted / max(len(rows), 1), 4),
                                           "errors": c.errors, "upper": None if c.upper is None else round(c.upper, 5)}
            print(f"{kind:12s} {cells} cells, {len(rows)} fields, target {target:.1%}: threshold {c.threshold}, "
                  f"accepted {c.accepted} ({c.accepted / max(len(rows), 1):.1%}), wrong {c.errors}, "
                  f"95% upper {c.upper if c.upper is None else f'{c.upper:.3%}'}")
        for r in out["unanimous_curve"]:
            print(f"{kind:12s} vote at {vote} or every reader alike at {r['threshold']}: accepted {r['accepted']} "
                  f"({r['accepted'] / max(len(rows), 1):.1%}), wrong {r['wrong']}")
        report["kinds"][kind] = out
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
