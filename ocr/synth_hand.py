"""Real handwriting and seals for the sample generator: paper harder than our fonts make.

`DigitHand` writes every digit with a real handwritten digit image (the benchmark gives it the
MNIST test split, whose writers no reader of ours was trained or tuned on). `stamp_seal` presses a
red 印 over the end of a name, as applicants do.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from ocr.render import load_font, mm_to_px
from schemas.templates import Box

SEAL_FONT = "/usr/share/fonts/opentype/ipaexfont-mincho/ipaexm.ttf"  # Debian fonts-ipaexfont-mincho
SEAL_FALLBACK = "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf"
SEAL_INKS = ((196, 38, 40), (214, 62, 48), (180, 30, 52))  # RGB of 朱肉, vermilion to crimson


class DigitHand:
    """Real handwritten digits by label: each call draws another writer's digit."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        self._images = images
        self._by_label = {d: np.flatnonzero(labels == d) for d in range(10)}

    @classmethod
    def mnist(cls, folder: Path, split: str = "t10k") -> DigitHand:
        """From MNIST's IDX files in `folder` (`t10k-*`: the test split, for reporting only)."""
        with gzip.open(folder / f"{split}-images-idx3-ubyte.gz") as fh:
            images = np.frombuffer(fh.read(), np.uint8, offset=16).reshape(-1, 28, 28)
        with gzip.open(folder / f"{split}-labels-idx1-ubyte.gz") as fh:
            labels = np.frombuffer(fh.read(), np.uint8, offset=8)
        return cls(images, labels)

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


def stamp_seal(page: np.ndarray, box: Box, surname: str, rng: np.random.Generator, dpi: float) -> None:
    """Press a round red seal with the surname's first character over the end of a name's box (RGB page)."""
    k = mm_to_px(1.0, dpi)
    diameter = rng.uniform(10.0, 13.0) * k
    x0, y0, x1, y1 = (round(v * k) for v in (box.x + 1, box.y + 1, box.x + box.w - 1, box.y + box.h - 1))
    written = np.flatnonzero((page[y0:y1, x0:x1].min(axis=2) < 128).any(axis=0))
    end = x0 + (written.max() if written.size else (x1 - x0) // 2)
    cx = end + rng.uniform(-4.0, 5.0) * k  # over the end of the writing or just after it
    cx = min(cx, (box.x + box.w) * k - diameter / 3)
    cy = (box.y + box.h / 2 + rng.normal(0, 0.6)) * k
    size = int(diameter * 1.2)
    seal = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(seal)
    ring = max(2, round(rng.uniform(0.5, 0.9) * k))
    c = size / 2
    draw.ellipse((c - diameter / 2, c - diameter / 2, c + diameter / 2, c + diameter / 2), outline=255, width=ring)
    font_path = SEAL_FONT if Path(SEAL_FONT).exists() else SEAL_FALLBACK
    font = load_font(font_path, max(8, round(diameter * 0.62)))
    draw.text((c, c), surname[:1], fill=255, font=font, anchor="mm")
    alpha = np.asarray(seal, np.float32) / 255.0
    alpha = cv2.warpAffine(alpha, cv2.getRotationMatrix2D((c, c), rng.uniform(-15, 15), 1.0), (size, size))
    # 朱肉 is uneven: pressed harder in places, speckled where the paper took little ink
    alpha *= np.clip(rng.normal(0.85, 0.12, alpha.shape), 0.3, 1.0).astype(np.float32)
    x0, y0 = round(cx - c), round(cy - c)
    region = page[y0 : y0 + size, x0 : x0 + size].astype(np.float32)
    a = alpha[: region.shape[0], : region.shape[1], None]
    ink = np.array(SEAL_INKS[int(rng.integers(len(SEAL_INKS)))], np.float32)
    # seal ink is translucent over pen ink: multiply, as ink on paper does
    page[y0 : y0 + size, x0 : x0 + size] = np.clip(region * (1 - a + a * ink / 255.0), 0, 255).astype(np.uint8)
