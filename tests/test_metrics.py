"""The metric code itself, on small hand-made cases."""

from flows.bench.evaluate import Tally, same, wilson_upper


def test_error_rate_metric_counts_accepted_wrong_fields():
    """GIVEN one accepted wrong field among accepted ones THEN it counts as an error; review does not."""
    t = Tally()
    t.add("accepted", True, "")
    t.add("accepted", False, "x")
    t.add("needs_review", False, "y")
    d = t.as_dict()
    assert (d["accepted_error"], d["straight_through"], d["accepted_wrong"]) == (0.5, round(2 / 3, 4), 1)


def test_confidence_interval_at_zero_errors_is_not_zero():
    assert wilson_upper(0, 100) > 0.03
    assert wilson_upper(0, 3000) < 0.0013
    assert wilson_upper(5, 10) > 0.5 > wilson_upper(1, 10)


def test_values_compare_as_entered():
    assert same(3500000, 3500000) and same("3500000", 3500000)
    assert same(True, True) and not same(False, None)
    assert same(None, None) and not same("", None) and not same("744-0025", "744-0026")
