"""Real handwritten digits for the sample generator: paper harder than our fonts make.

`DigitHand` writes every digit with a real handwritten digit image (the benchmark gives it the
MNIST test split, whose writers no reader of ours was trained or tuned on).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import cv2
import numpy as np


def read_mnist(folder: Path, split: str = "t10k") -> tuple[np.ndarray, np.ndarray]:
    """MNIST's IDX files in `folder`: (N, 28, 28) uint8 white-on-black images and their labels.
    `t10k` is the test split: for reporting only, never for training or tuning."""
    with gzip.open(folder / f"{split}-images-idx3-ubyte.gz") as fh:
        images = np.frombuffer(fh.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(folder / f"{split}-labels-idx1-ubyte.gz") as fh:
        labels = np.frombuffer(fh.read(), np.uint8, offset=8)
    return images, labels


HELD_OUT_FROM = 55_000  # training/cells.py trains the digit reader on MNIST training digits before this


class DigitHand:
    """Real handwritten digits by label: each call draws another writer's digit."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        self._images = images
        self._by_label = {d: np.flatnonzero(labels == d) for d in range(10)}

    @classmethod
    def mnist(cls, folder: Path, split: str = "t10k") -> DigitHand:
        """From MNIST's IDX files in `folder` (see `read_mnist`)."""
        return cls(*read_mnist(folder, split))

    @classmethod
    def held_out(cls, folder: Path) -> DigitHand:
        """The 5,000 MNIST training digits the digit reader was not trained on (55,000-59,999 in
        `folder`/train/mnist_train_5.npz): other writers than the test split's, for tuning."""
        part = np.load(folder / "train" / "mnist_train_5.npz")
        keep = part["idx"] >= HELD_OUT_FROM
        return cls(part["x"][keep], part["y"][keep])

    def alpha(self, digit: str, height: float, rng: np.random.Generator) -> np.ndarray:
        """One handwritten `digit` as ink alpha (float 0-1) cropped to its ink, `height` px tall,
        with a ballpoint's stroke rather than MNIST's felt tip."""
        pick = self._by_label[int(digit)]
        img = self._images[pick[int(rng.integers(len(pick)))]].astype(np.float32) / 255.0
        ys, xs = np.nonzero(img > 0.1)
        img = img[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        h = max(4, round(height))
        w = max(2, round(img.shape[1] * h / img.shape[0]))
        big = np.clip(cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC), 0, 1)
        k = int(rng.choice([0, 3, 5])) if h > 40 else 0  # MNIST's strokes scaled up are about 1 mm wide
        if k:
            thin = cv2.erode(big, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
            if thin.sum() > 0.4 * big.sum():
                big = thin
        return big
