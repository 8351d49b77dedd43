"""Real handwritten digits (MNIST, from ../shared/data/mnist) through the per-cell digit reading."""

from pathlib import Path

import pytest

from tests.conftest import REPO

MNIST = REPO.parent / "shared" / "data" / "mnist"


@pytest.mark.skipif(not (MNIST / "t10k-images-idx3-ubyte.gz").exists(), reason="MNIST test set not in ../shared/data")
def test_real_handwritten_digits_are_read_cell_by_cell(engines):
    """GIVEN 30 seven-digit fields of real handwriting WHEN read like a form's digit boxes THEN most
    are read exactly, most fields get agreeing readings, and the default accepts no wrong field."""
    from flows.bench.digits import measure
    from schemas.settings import DecisionSettings

    report = measure(engines, Path(MNIST), fields=30, seed=5)["variants"]["combined"]
    assert report["exact"] >= 0.7
    assert report["curve"][0]["straight_through"] >= 0.6  # agreeing and 7 digits, at any confidence
    default = DecisionSettings().thresholds["digits"]
    at_default = next(row for row in report["curve"] if row["threshold"] == default)
    assert at_default["accepted_wrong"] == 0
