"""Every reader by name: the two PP-OCR line engines, the digit reader and the null engine for dry runs.

A plain dict, so `MADOGUCHI_OCR__ENGINES` picks readers without string lookups into modules. It
lives apart from `ocr.engines` because the digit reader builds on that module's `Reading`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ocr.digit_reader import DigitRecognizer
from ocr.engines import NullRecognizer, PaddleRecognizer, RapidRecognizer, Recognizer

ENGINES: dict[str, Callable[..., Recognizer]] = {
    "paddle": PaddleRecognizer,
    "rapid": RapidRecognizer,
    "digit": DigitRecognizer,
    "null": NullRecognizer,
}


def load_engines(names: Sequence[str], threads: int = 2) -> list[Recognizer]:
    """Build the named engines, in order; unknown names raise KeyError listing the known ones."""
    unknown = [n for n in names if n not in ENGINES]
    if unknown:
        raise KeyError(f"unknown OCR engine(s) {unknown}; choose from {sorted(ENGINES)}")
    return [ENGINES[n](threads=threads) for n in names]
