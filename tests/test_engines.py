"""Contract tests for the OCR engines in ocr/engines.py: every engine, the same assertions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from ocr.engines import NullRecognizer, Reading, Recognizer, decode_ctc, percentile_u8
from ocr.readers import ENGINES, load_engines

KLEE = Path("/usr/share/fonts/truetype/klee/KleeOne-Regular.ttf")  # handwriting-like
GOTHIC = Path("/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf")
DIGITS = "0123456789"


def render_line(text: str, font: Path, size: int = 40, pad: int = 12) -> np.ndarray:
    """Dark text on white, one line, as a grayscale uint8 array."""
    if not font.exists():
        pytest.skip(f"font {font} is not installed (apt-get install fonts-klee fonts-ipaexfont)")
    face = ImageFont.truetype(str(font), size)
    left, top, right, bottom = face.getbbox(text)
    img = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 255)
    ImageDraw.Draw(img).text((pad - left, pad - top), text, font=face, fill=0)
    return np.array(img)


def render_cell(char: str, font: Path, side: int = 64) -> np.ndarray:
    """One character centred in a square cell, the way a one-box-per-character form crops it."""
    line = render_line(char, font, size=int(side * 0.6), pad=0)
    cell = np.full((side, side), 255, np.uint8)
    y, x = (side - line.shape[0]) // 2, (side - line.shape[1]) // 2
    cell[y : y + line.shape[0], x : x + line.shape[1]] = line
    return cell


def assert_well_formed(reading: Reading) -> None:
    assert 0.0 <= reading.confidence <= 1.0
    assert 0.0 <= reading.margin <= 1.0
    assert len(reading.char_confidences) == len(reading.text)
    assert all(0.0 <= c <= 1.0 for c in reading.char_confidences)
    if reading.text:
        assert reading.confidence == pytest.approx(min(reading.char_confidences))
    else:
        assert reading.confidence == 0.0 and reading.margin == 0.0


@pytest.fixture(params=["paddle", "rapid"])
def engine(request: pytest.FixtureRequest, engines: list[Recognizer]) -> Recognizer:
    """Each real engine, from the session-scoped `engines` of conftest.py (loaded once)."""
    return {e.name: e for e in engines}[request.param]


@pytest.mark.slow
def test_engine_reads_rendered_fields_and_obeys_the_contract(engine: Recognizer) -> None:
    """
    GIVEN a real engine and crops of known text (digits, katakana, a kanji name, a single
          digit in a square cell, blank crops), grayscale and BGR
    WHEN they are recognised in one call, unrestricted and restricted to digits
    THEN the text is read exactly (the gap inside a name is not read as a space), every
         Reading is well formed, the digits-only decode returns only digits, and blank crops
         read as nothing
    """
    fields = {
        "0123456789": render_line("0123456789", GOTHIC),
        "744-8585": render_line("744-8585", KLEE),
        "ヤマダタロウ": render_line("ヤマダ タロウ", KLEE),
        "山田太郎": render_line("山田 太郎", KLEE),
        "7": render_cell("7", KLEE),
    }
    blanks = [np.full((64, 64), 255, np.uint8), np.full((48, 300, 3), 255, np.uint8)]
    crops = [np.stack([c] * 3, axis=-1) if i % 2 else c for i, c in enumerate(fields.values())]

    readings = engine.recognize(crops + blanks)
    digits_only = engine.recognize(crops + blanks, charset=DIGITS)

    assert len(readings) == len(digits_only) == len(crops) + len(blanks)
    for reading in readings + digits_only:
        assert_well_formed(reading)
    texts = [r.text for r in readings[: len(fields)]]
    assert texts == list(fields)
    assert all(r.confidence > 0.5 for r in readings[: len(fields)])
    assert all(set(r.text) <= set(DIGITS) for r in digits_only)
    assert [r.text for r in digits_only[:2]] == ["0123456789", "7448585"]
    assert digits_only[4].text == "7"
    for blank in readings[-2:] + digits_only[-2:]:
        assert blank.text == "" or blank.confidence < 0.3


@pytest.fixture(params=["paddle", "rapid", "digit"])
def cell_engine(request: pytest.FixtureRequest, engines: list[Recognizer]) -> Recognizer:
    """Every real engine that reads one-digit cells: both line engines and the digit reader."""
    return {e.name: e for e in engines}[request.param]


@pytest.mark.slow
def test_every_engine_reads_one_digit_cells_and_obeys_the_contract(cell_engine: Recognizer) -> None:
    """
    GIVEN a real engine and one-digit cells 0-9 in a handwriting-like font, grayscale and BGR, and
          blank cells
    WHEN they are recognised in one call restricted to digits
    THEN each digit is read, every Reading is well formed, and blank cells read as nothing
    """
    cells = [render_cell(d, KLEE, side=96) for d in DIGITS]
    cells = [np.stack([c] * 3, axis=-1) if i % 2 else c for i, c in enumerate(cells)]
    blanks = [np.full((96, 96), 255, np.uint8), np.full((120, 90, 3), 250, np.uint8)]

    readings = cell_engine.recognize(cells + blanks, charset=DIGITS)

    assert len(readings) == len(cells) + len(blanks)
    for reading in readings:
        assert_well_formed(reading)
    assert [r.text for r in readings[: len(cells)]] == list(DIGITS)
    assert all(r.text == "" for r in readings[len(cells) :])


def test_null_engine_obeys_the_same_shape() -> None:
    """
    GIVEN the null engine, built by name like the real ones
    WHEN it reads three crops of different shapes, with and without a charset
    THEN it returns one empty, well-formed Reading per crop, in order
    """
    assert set(ENGINES) == {"paddle", "rapid", "digit", "null"}
    (null,) = load_engines(["null"])
    assert isinstance(null, NullRecognizer) and null.name == "null"
    crops = [np.full((48, 200), 255, np.uint8), np.zeros((64, 64, 3), np.uint8), np.ones((10, 5))]

    for readings in (null.recognize(crops), null.recognize(crops, charset=DIGITS)):
        assert readings == [Reading("", 0.0, (), 0.0)] * 3
        for reading in readings:
            assert_well_formed(reading)
    with pytest.raises(KeyError, match="choose from"):
        load_engines(["tesseract"])


def test_restricted_decode_zeroes_other_classes_and_renormalises() -> None:
    """
    GIVEN per-timestep probabilities where a letter beats a digit at one timestep
    WHEN they are decoded unrestricted and restricted to digits
    THEN the unrestricted decode keeps the letter, the restricted one reads the digit with its
         probability renormalised over digits + blank, and repeats/blanks collapse as in CTC
    """
    characters = ["blank", "1", "7", "l", " "]
    probs = np.array(
        [
            [0.1, 0.8, 0.05, 0.05, 0.0],  # 1
            [0.1, 0.7, 0.1, 0.1, 0.0],  # 1 again: collapsed
            [0.9, 0.05, 0.05, 0.0, 0.0],  # blank
            [0.1, 0.3, 0.1, 0.5, 0.0],  # l, or 1 among digits
            [0.1, 0.1, 0.1, 0.1, 0.6],  # space, or blank when space is not allowed
        ]
    )
    allowed = np.array([True, True, True, False, False])

    unrestricted = decode_ctc(probs, characters, None)
    digits = decode_ctc(probs, characters, allowed)

    assert unrestricted.text == "1l "
    assert unrestricted.char_confidences == pytest.approx((0.8, 0.5, 0.6))
    assert unrestricted.margin == pytest.approx(0.2)  # l 0.5 vs 1 0.3
    assert digits.text == "11"
    assert digits.char_confidences == pytest.approx((0.8 / 0.95, 0.3 / 0.5))
    assert digits.confidence == pytest.approx(0.6)
    assert digits.margin == pytest.approx((0.3 - 0.1) / 0.5)


def test_one_pass_over_every_charset_reads_as_one_call_per_charset(engine: Recognizer) -> None:
    """
    GIVEN digit cells, kana cells and lines of digits, katakana and kanji, shuffled together
    WHEN read in one pass, each crop under its own charset, and again one call per charset
    THEN every reading is the same: lines are batched only with their own charset's, and cells,
         padded alike, may share batches whatever their charset
    """
    from ocr.charsets import charset_for
    from schemas.templates import FieldKind

    digits, kana, kanji = (charset_for(k) for k in (FieldKind.digits, FieldKind.kana, FieldKind.name_kanji))
    crops = [(render_cell(d, KLEE), digits) for d in "3816"] + [(render_cell(k, KLEE), kana) for k in "アキヤ"] + [
        (render_line("0833411234", KLEE), digits), (render_line("ヤマダ ハナコ", KLEE), kana),
        (render_line("ヤマモト タロウ", KLEE), kana), (render_line("山口県下松市大字末武上", GOTHIC), kanji),
        (render_line("山田 花子", GOTHIC), kanji), (render_line("744", KLEE), digits)]
    order = np.random.default_rng(0).permutation(len(crops))
    mixed = engine.recognize_each([crops[i][0] for i in order], [crops[i][1] for i in order])
    for reading, i in zip(mixed, order):
        alone = engine.recognize([c for c, cs in crops if cs == crops[i][1]], charset=crops[i][1])
        same_charset = [j for j, (_, cs) in enumerate(crops) if cs == crops[i][1]]
        apart = alone[same_charset.index(i)]
        assert (reading.text, reading.positions) == (apart.text, apart.positions)
        assert reading.char_confidences == pytest.approx(apart.char_confidences, abs=1e-4)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_histogram_percentile_is_numpys_to_the_last_bit(dtype: type) -> None:
    # crops' paper level: a cheaper route to the same number, so no reading may change by it
    rng = np.random.default_rng(7)
    arrays = [np.zeros((1, 1), np.uint8), np.full((3, 5), 200, np.uint8), np.array([[0, 255]], np.uint8)]
    for _ in range(300):
        h, w = rng.integers(1, 120, 2)
        arrays.append(np.clip(rng.normal(rng.integers(60, 250), 40, (h, w)), 0, 255).astype(np.uint8))
    for a in arrays:
        for q in (90, 95, 50, 12.5):
            assert percentile_u8(a, q, dtype) == float(np.percentile(a.astype(dtype), q)), (a.shape, q)
