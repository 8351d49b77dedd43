"""`make compare-digits`: a new digit model judged against the shipped one on the same held-out cells."""

import json
from pathlib import Path

import numpy as np
import pytest

from ocr.digit_reader import MODEL_PATH
from ocr.engines import EMPTY_READING, Reading
from schemas.settings import DecisionSettings
from training.compare_digits import boxed_probabilities, cell_curve, format_reports, list_cells, main, wrong_cells

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def probs(digit: int, p: float, not_a_digit: float = 0.0) -> list[float]:
    row = [(1.0 - p - not_a_digit) / 9] * 10 + [not_a_digit]
    row[digit] = p
    return row


def test_cells_are_counted_most_probable_first_and_only_where_they_may_be_accepted():
    """
    GIVEN four cells: a right 3 at 0.99, a wrong 5 (a 6 written) at 0.98, a right 7 at 0.97, a right 1 at 0.5
    WHEN curved alone, and with the wrong 5 unbacked (no line engine read it)
    THEN alone: one cell is kept before the first wrong one, three at 0.95 with that one wrong;
         backed: the three backed cells are kept before any wrong one, two at 0.95, none wrong
    """
    p = np.array([probs(3, 0.99), probs(5, 0.98), probs(7, 0.97), probs(1, 0.5)])
    truth = np.array([3, 6, 7, 1])
    alone = cell_curve(p, truth)
    assert alone["forced_wrong"] == 0.25
    assert alone["before_wrong"][0] == 0.25 and alone["before_wrong"][2] == 1.0
    assert alone["at"][0.95] == [0.75, 1]
    backed = cell_curve(p, truth, np.array([True, False, True, True]))
    assert backed["before_wrong"][0] == 0.75
    assert backed["at"][0.95] == [0.5, 0]


def test_the_cells_read_wrong_surely_are_listed_with_what_every_reader_read_there():
    """
    GIVEN five cells: a right 3 at 0.99; a 5 at 0.98 where a 6 is labelled, backed by a line engine; a 7 at
          0.97 where a 1 is labelled, backed by none; a 2 at 0.6 where an 8 is labelled; and a second model
          that reads the labelled 6 right and is sure of the 8 as 2
    WHEN each model's wrong cells are listed (backed, at 0.9 or more) and put side by side
    THEN the first lists the 5 only, the second the 2 only; the listing holds both cells with both
         models' readings and the line engines', and the text shows them one row each
    """
    truth = np.array([3, 6, 1, 8])
    first = np.array([probs(3, 0.99), probs(5, 0.98), probs(7, 0.97), probs(2, 0.6)])
    second = np.array([probs(3, 0.99), probs(6, 0.97), probs(7, 0.97), probs(2, 0.95)])
    backed = np.array([True, True, False, True])
    assert wrong_cells(first, truth, backed) == [1]
    assert wrong_cells(second, truth, backed) == [3]
    reports = [{"model": name, "sources": {"all": {"alone": cell_curve(p, truth)}}, "wrong_cells": wrong_cells(p, truth, backed)}
               for name, p in (("a.onnx", first), ("b.onnx", second))]
    lines = {"rapid": [Reading(t, 0.9, (0.9,), 0.8) for t in "3572"]}
    cells = list_cells(reports, [first, second], truth, np.array(["mnist_val"] * 4), lines)
    assert [(c["cell"], c["label"], c["models"], c["lines"]) for c in cells] == [
        (1, 6, [[5, 0.98], [6, 0.97]], {"rapid": "5"}), (3, 8, [[2, 0.6], [2, 0.95]], {"rapid": "2"})]
    text = format_reports(reports, cells)
    assert "1 mnist_val, labelled 6; rapid 5" in text and "5 at 0.980" in text and "6 at 0.970" in text
    assert "3 mnist_val, labelled 8; rapid 2" in text and "2 at 0.950" in text


def test_not_a_digit_is_weighed_as_in_a_printed_box_and_an_empty_cell_is_never_accepted():
    """
    GIVEN a 6 at 0.88 with "not a digit" 0.12, and a cell the reader found empty
    WHEN weighed at 0.25 (the decision's default) and at 1
    THEN the 6 clears 0.95 only when weighed; the empty cell has no digit above 0
    """
    cells = [Reading("6", 0.88, (0.88,), 0.76, probabilities=tuple(probs(6, 0.88, 0.12))), EMPTY_READING]
    weighed = boxed_probabilities(cells, DecisionSettings())
    trained = boxed_probabilities(cells, DecisionSettings(not_a_digit_weight=1.0))
    assert weighed[0, 6] >= 0.95 > trained[0, 6]
    assert weighed[1, :10].max() == 0.0
    assert cell_curve(weighed, np.array([6, 0]))["at"][0.95] == [0.5, 0]


@pytest.mark.skipif(not (DATA / "mnist" / "train").is_dir(), reason="needs ../shared/data")
def test_the_shipped_model_against_itself_reads_the_same_cells_the_same(tmp_path, capsys):
    """
    GIVEN the shipped model as the candidate too, and 20 held-out digits of each source drawn into cells
    WHEN compared without line engines
    THEN both columns are the same, and every source is reported with its cell count
    """
    out = tmp_path / "compare.json"
    assert main([str(MODEL_PATH), "--data", str(DATA), "--limit", "20", "--engines", "", "--out", str(out)]) == 0
    shipped, candidate = json.loads(out.read_text())
    assert shipped["sources"] == candidate["sources"]
    assert {k: v["alone"]["cells"] for k, v in shipped["sources"].items()} == {
        "all": 60, "mnist_val": 20, "optdigits_windep": 20, "semeion_val": 20}
    assert "mnist_val (20 cells)" in capsys.readouterr().out


def test_a_missing_model_is_refused_by_name(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([str(tmp_path / "nothing.onnx"), "--data", str(DATA)])
    assert "no model at" in capsys.readouterr().err
