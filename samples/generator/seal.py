"""A personal seal (印影) pressed on a page, for samples and tests: a ring with a surname inside,
in 朱肉 red on a colour page or in grey on a greyscale one."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from ocr.render import PRINT_FONT, load_font, mm_to_px
from schemas.templates import Box

SEAL_RED = (200, 40, 40)  # RGB of 朱肉 (vermilion seal paste), as pressed on white paper
RIM_MM = 0.9  # width of a seal's rim; a ballpoint's line is 0.3-0.6 mm


def seal_alpha(diameter_mm: float, text: str, dpi: float, *, square: bool = False) -> np.ndarray:
    """Coverage (float32 0..1) of a seal impression: a round (or rounded-square) rim with `text`
    stacked top to bottom inside, as on a 認印."""
    d = round(mm_to_px(diameter_mm, dpi))
    rim = max(2, round(mm_to_px(RIM_MM, dpi)))
    im = Image.new("L", (d, d), 0)
    draw = ImageDraw.Draw(im)
    box = (rim // 2, rim // 2, d - 1 - rim // 2, d - 1 - rim // 2)
    if square:
        draw.rounded_rectangle(box, radius=d // 8, outline=255, width=rim)
    else:
        draw.ellipse(box, outline=255, width=rim)
    chars = text[:3]
    em = round((d - 4 * rim) * (0.78 if len(chars) == 1 else 0.9 / len(chars)))
    font = load_font(str(PRINT_FONT), max(6, em))
    y = (d - em * len(chars)) / 2
    for ch in chars:
        w = font.getlength(ch)
        draw.text(((d - w) / 2, y), ch, fill=255, font=font, stroke_width=max(1, rim // 4), stroke_fill=255)
        y += em
    return np.asarray(im, np.float32) / 255.0


def press_seal(
    page: np.ndarray,
    centre_mm: tuple[float, float],
    diameter_mm: float,
    text: str,
    dpi: float,
    *,
    colour: tuple[int, int, int] = SEAL_RED,
    square: bool = False,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Press a seal on an RGB (or grey) uint8 page drawn at `dpi`; returns the seal's coverage mask
    (bool, page-sized). Seal paste darkens what is under it (multiplied), so writing below shows
    through; the impression is uneven, as paste is."""
    rng = rng or np.random.default_rng(0)
    alpha = seal_alpha(diameter_mm, text, dpi, square=square)
    alpha *= rng.uniform(0.75, 1.0, alpha.shape).astype(np.float32)  # paste is never even
    d = alpha.shape[0]
    x0 = round(mm_to_px(centre_mm[0], dpi) - d / 2)
    y0 = round(mm_to_px(centre_mm[1], dpi) - d / 2)
    region = page[y0 : y0 + d, x0 : x0 + d].astype(np.float32)
    a = alpha[: region.shape[0], : region.shape[1]]
    if page.ndim == 3:
        tint = np.array(colour, np.float32) / 255.0
        a = a[..., None]
    else:  # a grey copy of the seal: its colour's luminance
        tint = np.float32((0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]) / 255.0)
    page[y0 : y0 + d, x0 : x0 + d] = (region * (1 - a + a * tint)).astype(np.uint8)
    mask = np.zeros(page.shape[:2], bool)
    mask[y0 : y0 + d, x0 : x0 + d] = alpha[: region.shape[0], : region.shape[1]] > 0.5
    return mask


def seal_over_writing(
    page: np.ndarray,
    blank: np.ndarray,
    cell: Box,
    text: str,
    dpi: float,
    *,
    diameter_mm: float = 15.0,
    overlap_mm: float = 3.0,
    **kwargs,
) -> np.ndarray:
    """Press a seal where people press theirs: on the end of what was written in `cell` (mm),
    its centre `overlap_mm` before the last ink. `blank` is the unfilled form at the same dpi, so
    the printed box is not taken for writing. Returns the seal's mask, as `press_seal`."""
    k = mm_to_px(1.0, dpi)
    x0, y0, x1, y1 = (round(v * k) for v in (cell.x, cell.y, cell.x + cell.w, cell.y + cell.h))
    ink = page[y0:y1, x0:x1]
    ink = (ink.min(axis=2) if ink.ndim == 3 else ink) < 128
    cols = np.flatnonzero((ink & (blank[y0:y1, x0:x1] > 200)).any(axis=0))
    end_mm = (x0 + (cols[-1] if cols.size else 0)) / k
    return press_seal(page, (end_mm - overlap_mm, cell.y + cell.h / 2), diameter_mm, text, dpi, **kwargs)
