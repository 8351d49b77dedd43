"""Real handwritten digits (MNIST, from ../shared/data/mnist) through the per-cell digit reading."""

from pathlib import Path

import pytest

from tests.conftest import REPO

MNIST = REPO.parent / "shared" / "data" / "mnist"


@pytest.mark.skipif(not (MNIST / "t10k-images-idx3-ubyte.gz").exists(), reason="MNIST test set not in ../shared/data")
def test_real_handwritten_digits_are_read_cell_by_cell(engines):
    """GIVEN 30 seven-digit fields of real handwriting WHEN read like a form's digit boxes by all three
    readers THEN most are read exactly, most fields have every cell backed by a second reader, the
    default accepts no wrong field, and the digit reader alone errs on at most 2% of 300 digits."""
    from flows.bench.digits import measure
    from schemas.settings import DecisionSettings

    measured = measure(engines, Path(MNIST), fields=30, seed=5, alone=300)
    report = measured["variants"]["combined"]
    assert report["exact"] >= 0.9
    assert report["curve"][0]["straight_through"] >= 0.8  # every cell backed, at any confidence
    default = DecisionSettings().vote_thresholds["digits"]
    at_default = min(report["curve"], key=lambda row: abs(row["threshold"] - default))
    assert at_default["accepted_wrong"] == 0
    assert measured["digit_reader_alone"]["forced_error"] <= 0.02
