"""`make calibrate-digits`' fields made of held-out cells, and the unanimity rule's curve on them."""

import numpy as np

from ocr.engines import Reading
from training.calibrate_digits import field_rows, unanimous_point


def cell(digit: str, conf: float) -> Reading:
    return Reading(digit, conf, (conf,), conf)


def test_unanimous_fields_are_counted_with_the_lower_bar_and_wrong_ones_stay_wrong():
    """
    GIVEN three two-cell fields: all readers alike with the digit reader at 0.92 (right); the digit
          reader at 0.92 with one line engine reading another digit (right); all alike at 0.92 but
          the truth another digit (wrong)
    WHEN made into rows and counted with the vote at 0.95 and unanimity at 0.9, and at 0.95
    THEN unanimity accepts the first and the third (one wrong); the second is not unanimous; at 0.95
         none is accepted
    """
    truth = np.array([1, 2, 3, 4, 5, 6])
    digit = [cell("1", 0.99), cell("2", 0.92), cell("3", 0.92), cell("4", 0.99), cell("5", 0.99), cell("7", 0.92)]
    paddle = [cell("1", 0.9), cell("2", 0.9), cell("3", 0.9), cell("4", 0.9), cell("5", 0.9), cell("7", 0.9)]
    rapid = [cell("1", 0.9), cell("2", 0.9), cell("8", 0.9), cell("4", 0.9), cell("5", 0.9), cell("7", 0.9)]
    rows = field_rows(truth, {"paddle": paddle, "rapid": rapid, "digit": digit}, 2)
    assert [(u, ok) for _, _, ok, u in rows] == [(True, True), (False, True), (True, False)]
    assert unanimous_point(rows, 0.95, 0.9) == {"threshold": 0.9, "accepted": 2, "wrong": 1}
    assert unanimous_point(rows, 0.95, 0.95) == {"threshold": 0.95, "accepted": 0, "wrong": 0}
