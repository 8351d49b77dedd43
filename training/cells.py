"""Training examples for the digit reader: real handwritten digits drawn into cells as a scan shows them.

Each example goes through the reader's own path: a digit's ink is drawn into a cell of a size our
forms have (at 300 dpi, as the reader crops it), with a stroke width, slant, pen darkness, paper,
blur, noise, JPEG and left-over box lines of its own; then `ocr.fields.remove_box_lines` and
`ocr.digit_reader.normalise_cell` turn it into the 28 x 28 input, exactly as at run time.

Negatives (class 10, "not a digit") are what else lands in a digit cell: another character, a
scribble, a crossed-out digit, two digits squeezed into one cell.
"""

from __future__ import annotations

import glob
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from ocr.charsets import jis_x0208
from ocr.digit_reader import NOT_A_DIGIT, normalise_cell
from ocr.fields import remove_box_lines
from ocr.render import load_font

FONT_DIR = Path("/usr/share/fonts/truetype")  # Debian fonts-kiloji, fonts-klee
HAND_FONTS = ("kiloji/kiloji.ttf", "kiloji/kiloji_b.ttf", "kiloji/kiloji_p.ttf", "klee/KleeOne-Regular.ttf",
              "klee/KleeOne-SemiBold.ttf")
# characters a digit could honestly be taken for; they are never shown as "not a digit"
LOOKALIKES = set("〇○Ｏ口ロ回一丨｜ーノ乙己こコっつフワクケ了ろるヲムよらちしレリりハルヒ七九十人入八")
CELL_H = (112, 136)  # px at 300 dpi: 12 mm boxes less the 0.6 mm insets, and some play
CELL_W = ((62, 80), (84, 124), (140, 280))  # date cells (7 mm), digit boxes (9-10 mm), one wide box
CELL_W_P = (0.3, 0.55, 0.15)


def _hand_font(rng: np.random.Generator):
    """One of the handwriting fonts at 64 px (cached by `load_font`)."""
    return load_font(str(FONT_DIR / HAND_FONTS[int(rng.integers(len(HAND_FONTS)))]), 64)


def font_digits(per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Digits in Debian's handwriting fonts, as ink (float 0-1, 96 x 96): the Japanese hand's 1 with
    a flag and 7 with a hook, which MNIST's American writers seldom make (without them a flagged 1
    was read as 7 at 0.8-0.9)."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label in range(10):
        for _ in range(per_class):
            font = _hand_font(rng)
            img = Image.new("L", (96, 96), 0)
            ImageDraw.Draw(img).text((20, 8), str(label), fill=255, font=font, stroke_width=int(rng.integers(0, 3)),
                                     stroke_fill=255)
            images.append(np.asarray(img, np.float32) / 255.0)
            labels.append(label)
    return np.stack(images), np.asarray(labels, np.int64)


def load_digits(data: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every training source as (ink images as float32 0-1, labels); sizes differ by source."""
    parts = [np.load(f) for f in sorted(glob.glob(str(data / "mnist" / "train" / "mnist_train_*.npz")))]
    if not parts:
        raise FileNotFoundError(f"no MNIST training files under {data / 'mnist' / 'train'}")
    mx = np.concatenate([p["x"] for p in parts]).astype(np.float32) / 255.0
    my = np.concatenate([p["y"] for p in parts]).astype(np.int64)
    opt = np.load(data / "digits-uci" / "optdigits_orig_32x32.npz")
    sem = np.load(data / "digits-uci" / "semeion_16x16.npz")
    return {
        "mnist_train": (mx[:55000], my[:55000]),
        "mnist_val": (mx[55000:], my[55000:]),  # held out for calibration, never trained on
        "optdigits_train": (np.concatenate([opt["x_tra"], opt["x_cv"]]).astype(np.float32),
                            np.concatenate([opt["y_tra"], opt["y_cv"]]).astype(np.int64)),
        "optdigits_windep": (opt["x_windep"].astype(np.float32), opt["y_windep"].astype(np.int64)),
        "semeion_train": (sem["x"][:1280].astype(np.float32), sem["y"][:1280].astype(np.int64)),
        "semeion_val": (sem["x"][1280:].astype(np.float32), sem["y"][1280:].astype(np.int64)),
        "font_digits": font_digits(300, 7),
    }


def _trim(ink: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(ink > 0.15)
    if ys.size == 0:
        return ink
    return ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def _stroke(ink: np.ndarray, rng: np.random.Generator, height: int) -> np.ndarray:
    """Resize the ink to `height` px and give it a pen of its own (thin ballpoint to felt tip)."""
    h, w = ink.shape
    width = max(2, round(w * height / h * rng.uniform(0.8, 1.2)))
    big = np.clip(cv2.resize(ink, (width, height), interpolation=cv2.INTER_LINEAR), 0, 1)
    # MNIST's strokes, scaled to a cell, are about 1 mm wide; ballpoint is 0.3-0.7 mm (4-8 px)
    k = int(rng.choice([-5, -5, -3, -3, 0, 0, 3]))
    while k:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (abs(k), abs(k)))
        thinned = (cv2.erode if k < 0 else cv2.dilate)(big, kernel)
        if k > 0 or thinned.sum() > 0.35 * big.sum():  # a thinner pen, never a broken digit
            return thinned
        k += 2
    return big


def _affine(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = ink.shape
    pad = max(h, w) // 3
    ink = cv2.copyMakeBorder(ink, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0.0)
    angle, shear = rng.uniform(-12, 12), rng.uniform(-0.3, 0.3)
    m = cv2.getRotationMatrix2D((ink.shape[1] / 2, ink.shape[0] / 2), angle, 1.0)
    m[0, 1] += shear
    m[0, 2] -= shear * ink.shape[0] / 2
    return _trim(cv2.warpAffine(ink, m, ink.shape[::-1], flags=cv2.INTER_LINEAR))


def draw_cell(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A cell crop (uint8, dark on light) holding `ink` (float 0-1) as a scan of a form shows it."""
    ch = int(rng.integers(*CELL_H))
    lo, hi = CELL_W[rng.choice(3, p=CELL_W_P)]
    cw = int(rng.integers(lo, hi))
    ink = _affine(_trim(ink), rng)
    ink = _stroke(ink, rng, max(8, round(ch * rng.uniform(0.4, 0.92))))
    if ink.shape[1] > cw - 4:
        ink = cv2.resize(ink, (cw - 4, max(4, round(ink.shape[0] * (cw - 4) / ink.shape[1]))))
    if ink.shape[0] > ch - 4:
        ink = cv2.resize(ink, (max(4, round(ink.shape[1] * (ch - 4) / ink.shape[0])), ch - 4))
    cell = np.zeros((ch, cw), np.float32)
    y = int(rng.integers(0, ch - ink.shape[0] + 1))
    x = int(rng.integers(0, cw - ink.shape[1] + 1))
    cell[y : y + ink.shape[0], x : x + ink.shape[1]] = ink
    paper = rng.uniform(205, 252)
    dark = rng.uniform(0, paper - 70) if rng.random() < 0.85 else rng.uniform(paper - 110, paper - 60)  # pencil
    gray = paper - np.clip(cell, 0, 1) * (paper - dark)
    if rng.random() < 0.35:
        gray = _box_line_remnants(gray, rng)
    if rng.random() < 0.6:
        gray = cv2.GaussianBlur(gray, (0, 0), rng.uniform(0.3, 1.3))
    gray += rng.normal(0, rng.uniform(0.5, 6), gray.shape)
    out = np.clip(gray, 0, 255).astype(np.uint8)
    if rng.random() < 0.4:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(50, 95))])
        out = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    return remove_box_lines(out, 300.0)


def _box_line_remnants(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What a misregistered box line leaves along a cell's edges: thin dark runs, not always whole."""
    h, w = gray.shape
    for _ in range(int(rng.integers(1, 3))):
        thick, off = int(rng.integers(1, 5)), int(rng.integers(0, 5))
        level = rng.uniform(20, 120)
        a = int(rng.integers(0, w // 3)) if rng.random() < 0.5 else 0
        edge = rng.integers(4)
        if edge == 0:
            gray[off : off + thick, a:] = level
        elif edge == 1:
            gray[h - off - thick : h - off, a:] = level
        elif edge == 2:
            gray[a * h // max(w, 1) :, off : off + thick] = level
        else:
            gray[:, w - off - thick : w - off] = level
    return gray


@lru_cache(maxsize=1)
def _negative_chars() -> str:
    chars = [c for c in jis_x0208() if c not in LOOKALIKES and not c.isascii() and not c.isspace()]
    kana = [c for c in chars if "\u3041" <= c <= "\u30f6"]
    kanji = [c for c in chars if "\u4e00" <= c <= "\u9fff"]
    return "".join(kana + kanji[:2965])  # JIS level 1 kanji come first in JIS order


def _glyph(rng: np.random.Generator) -> np.ndarray:
    chars = _negative_chars()
    ch = chars[int(rng.integers(len(chars)))]
    font = _hand_font(rng)
    img = Image.new("L", (96, 96), 0)
    ImageDraw.Draw(img).text((16, 8), ch, fill=255, font=font)
    return np.asarray(img, np.float32) / 255.0


def _scribble(rng: np.random.Generator) -> np.ndarray:
    img = np.zeros((64, 64), np.float32)
    pts = rng.integers(4, 60, size=(int(rng.integers(5, 10)), 2)).astype(np.int32)
    cv2.polylines(img, [pts], False, 1.0, int(rng.integers(2, 5)))
    return img


def _crossed(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    img = cv2.resize(_trim(digit), (48, 64))
    for _ in range(int(rng.integers(2, 4))):
        y0, y1 = rng.integers(0, 64, 2)
        cv2.line(img, (0, int(y0)), (47, int(y1)), 1.0, int(rng.integers(2, 5)))
    return img


def _two(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = cv2.resize(_trim(a), (20, 28)), cv2.resize(_trim(b), (20, 28))
    return np.concatenate([a, np.zeros((28, 3), np.float32), b], axis=1)


def negative_ink(digits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Something other than one digit, as ink."""
    pick = lambda: digits[int(rng.integers(len(digits)))]  # noqa: E731
    kind = rng.choice(4, p=[0.5, 0.15, 0.15, 0.2])
    if kind == 0:
        return _glyph(rng)
    if kind == 1:
        return _scribble(rng)
    if kind == 2:
        return _crossed(pick(), rng)
    return _two(pick(), pick())


def make_examples(images: np.ndarray, labels: np.ndarray, copies: int, negatives: int,
                  seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`copies` drawn cells per digit plus `negatives` not-a-digit cells, normalised to (N, 28, 28) uint8.

    A cell whose ink the normaliser does not find (too faint, all specks) is left out: at run time
    such a cell is read as empty before the network sees it.
    """
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    jobs = [(images[i], int(labels[i])) for _ in range(copies) for i in range(len(images))]
    jobs += [(None, NOT_A_DIGIT)] * negatives
    for ink, label in jobs:
        cell = draw_cell(negative_ink(images, rng) if ink is None else ink, rng)
        norm = normalise_cell(cell)
        if norm is None:
            continue
        xs.append(np.round(norm * 255).astype(np.uint8))
        ys.append(label)
    return np.stack(xs), np.asarray(ys, np.int64)
