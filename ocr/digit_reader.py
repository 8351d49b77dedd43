"""A handwritten-digit classifier for one-character cells: the reader whose errors differ.

Both PP-OCR engines are CTC line recognisers of one family, trained on the same kind of data, and
they share their mistakes on real handwriting (DESIGN.md). This reader is a small convolutional
network of another family (two of them, trained on different draws of the examples, averaged in
one ONNX file), trained on other data (MNIST's training writers and UCI's writers, see
`ocr/models/digits-cnn.md`), that looks at one cell at a time and may answer "not a digit" (a
stray mark, a crossed-out digit, another character). It runs on ONNX Runtime; nothing is
downloaded and no training library is needed at run time.

A cell is normalised the way MNIST's digits were: the ink's bounding box scaled so its longer side
is 20 px, then placed in a 28 x 28 frame with its centre of mass at the centre. Unlike MNIST, ink
much smaller than the cell stays small, so a stray tick is not blown up into a "1". Training
(`training/digits.py`) sends its examples through this same function, so the network sees at run
time exactly what it learned from.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ocr.engines import EMPTY_READING, Reading, percentile_u8, to_gray

MODEL_PATH = Path(__file__).parent / "models" / "digits-cnn.onnx"
CLASSES = "0123456789"  # class 10: not a digit
NOT_A_DIGIT = 10
SIDE = 28  # px, the network's input
INK_BOX = 20  # px, the longer side of the ink inside the input (MNIST's convention)
FULL_HEIGHT = 0.45  # ink at least this share of the cell's height fills the 20 px box
INK_CONTRAST = 48  # grey levels below the paper that count as ink
NOISE_FLOOR = 16  # grey levels below the paper that are still paper (scanner noise, JPEG)
MIN_SPECK_SHARE = 0.04  # a blob whose longer side is under this share of the cell height is a speck
BATCH_SIZE = 256


def normalise_cell(crop: np.ndarray) -> np.ndarray | None:
    """A cell crop (dark ink on light paper, any size) as a 28 x 28 float32 image, ink 1.0.

    Specks are dropped; the darkest ink is stretched to 1.0, so faint pencil reads like pen.
    Returns None when the cell holds no ink.
    """
    gray = to_gray(crop)
    paper = (percentile_u8(gray, 90, np.float32) if gray.dtype == np.uint8
             else float(np.percentile(gray.astype(np.float32), 90)))
    gray = gray.astype(np.float32)
    mask = (gray < paper - INK_CONTRAST).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    extent = np.maximum(stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT])
    keep = np.flatnonzero(extent >= max(2.0, MIN_SPECK_SHARE * gray.shape[0])) + 1
    if keep.size == 0:
        return None
    strokes = np.isin(labels, keep)
    ys, xs = np.nonzero(strokes)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    # ink darkness inside the strokes' box, stretched so the darkest ink is 1.0; specks removed
    near = cv2.dilate(strokes.astype(np.uint8), np.ones((3, 3), np.uint8))[y0:y1, x0:x1] > 0
    ink = np.clip(paper - gray[y0:y1, x0:x1] - NOISE_FLOOR, 0, None) * near
    darkest = float(np.percentile(ink[strokes[y0:y1, x0:x1]], 95))
    ink = np.clip(ink / max(darkest, 1.0), 0.0, 1.0)
    h, w = ink.shape
    fill = min(1.0, max(h, w) / (FULL_HEIGHT * gray.shape[0]))
    scale = INK_BOX * fill / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(ink, size, interpolation=cv2.INTER_AREA)
    total = float(small.sum())
    if total <= 0:
        return None
    cy = float((small.sum(axis=1) * np.arange(small.shape[0])).sum() / total)
    cx = float((small.sum(axis=0) * np.arange(small.shape[1])).sum() / total)
    shift = np.float32([[1, 0, SIDE / 2 - 0.5 - cx], [0, 1, SIDE / 2 - 0.5 - cy]])
    return cv2.warpAffine(small, shift, (SIDE, SIDE), flags=cv2.INTER_LINEAR, borderValue=0.0)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class DigitRecognizer:
    """The digit classifier behind the engines' seam: one Reading of at most one digit per cell.

    A cell without ink reads "", and so does a cell the network calls not a digit (the reader
    then marks the inked cell as unread). Confidence is the calibrated probability of the digit
    given; margin is its lead over the next class, "not a digit" included.
    """

    name = "digit"
    cells_only = True  # reads one-digit cells only; `ocr.read` gives it nothing else

    def __init__(self, threads: int = 2, model_path: Path = MODEL_PATH):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
        meta = self._session.get_modelmeta().custom_metadata_map
        self.temperature = float(meta.get("temperature", "1.0"))
        self._input = self._session.get_inputs()[0].name
        self._lock = threading.Lock()

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities (N, 11) for normalised cells (N, 28, 28); class 10 is not a digit."""
        out = []
        for start in range(0, len(images), BATCH_SIZE):
            batch = images[start : start + BATCH_SIZE, None].astype(np.float32)
            with self._lock:
                (logits,) = self._session.run(None, {self._input: batch})
            out.append(softmax(logits, self.temperature))
        return np.concatenate(out) if out else np.zeros((0, len(CLASSES) + 1), np.float32)

    def recognize(self, crops: Sequence[np.ndarray], *, charset: str | None = None) -> list[Reading]:
        """Read each crop as one handwritten digit; charset, if given, narrows the digits allowed."""
        allowed = np.ones(len(CLASSES) + 1, bool)
        if charset is not None:
            allowed[: len(CLASSES)] = [c in charset for c in CLASSES]
        cells = [normalise_cell(c) for c in crops]
        inked = [i for i, c in enumerate(cells) if c is not None]
        out = [EMPTY_READING] * len(crops)
        if not inked:
            return out
        probs = self.probabilities(np.stack([cells[i] for i in inked])) * allowed
        probs /= np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)
        for i, p in zip(inked, probs):
            out[i] = reading_of(p)
        return out


def reading_of(p: np.ndarray) -> Reading:
    """The Reading of one cell's class probabilities (11,)."""
    best = int(p.argmax())
    probabilities = tuple(round(float(x), 6) for x in p)
    if best == NOT_A_DIGIT:
        return Reading("", 0.0, (), 0.0, probabilities=probabilities)
    second = float(np.partition(p, -2)[-2])
    return Reading(CLASSES[best], float(p[best]), (float(p[best]),), float(p[best]) - second,
                   probabilities=probabilities)
