"""The metric code itself, on small hand-made cases."""

import math

import pytest

from flows.bench.evaluate import Tally, same
from ocr.certify import binomial_upper, certify


def test_error_rate_metric_counts_accepted_wrong_fields():
    """GIVEN one accepted wrong field among accepted ones THEN it counts as an error; review does not."""
    t = Tally()
    t.add("accepted", True, "")
    t.add("accepted", False, "x")
    t.add("needs_review", False, "y")
    d = t.as_dict()
    assert (d["accepted_error"], d["straight_through"], d["accepted_wrong"]) == (0.5, round(2 / 3, 4), 1)


def test_exact_binomial_upper_bound():
    """GIVEN error counts WHEN bounded at 95% THEN 0 of n gives 1 - 0.05^(1/n) (the rule of three), and
    each bound is the p at which seeing that few errors has probability 5%."""
    assert binomial_upper(0, 100) == pytest.approx(1 - 0.05 ** (1 / 100))
    assert binomial_upper(0, 2995) < 0.001 < binomial_upper(0, 2990)  # 0.1% needs about 3,000 clean fields
    assert binomial_upper(3, 545) == pytest.approx(0.01416, abs=2e-5)
    p = binomial_upper(5, 10)
    assert sum(math.comb(10, k) * p**k * (1 - p) ** (10 - k) for k in range(6)) == pytest.approx(0.05, abs=1e-6)
    assert binomial_upper(10, 10) == 1.0 and binomial_upper(0, 0) == 1.0


def test_certified_threshold_stops_at_the_first_threshold_it_cannot_certify():
    """
    GIVEN 4000 right readings scored 0.9-0.99, then one wrong at 0.8 and 4000 right below it
    WHEN certifying 0.1%
    THEN the walk from the top certifies 0.9 (0 of 4000) and stops at 0.8 (1 of 4001 is not shown
         safe), never reaching the lower thresholds where the error would be diluted
    """
    scores = [0.9 + i / 400_000 for i in range(4000)] + [0.8] + [0.5 + i / 100_000 for i in range(4000)]
    wrong = [False] * 4000 + [True] + [False] * 4000
    c = certify(scores, wrong, 0.001)
    assert (c.threshold, c.accepted, c.errors) == (0.9, 4000, 0)
    assert c.upper <= 0.001 and c.coverage == pytest.approx(4000 / 8001)
    assert certify(scores[:100], wrong[:100], 0.001).threshold is None  # too few to show 0.1%


def test_values_compare_as_entered():
    assert same(3500000, 3500000) and same("3500000", 3500000)
    assert same(True, True) and not same(False, None)
    assert same(None, None) and not same("", None) and not same("744-0025", "744-0026")
