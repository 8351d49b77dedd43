"""Synthetic samples: blank forms filled in by a simulated hand and run through a simulated
scanner, each with a truth file, for tests and for calibrating the reader.

The page is drawn at DRAW_DPI on the printed form (`render_page`), then resampled to the scan's
dpi. Truth values come from `samples.generator.values.fill_values`.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import date
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from ocr.layout import FieldLayout, layout_form
from ocr.render import load_font, mm_to_px, render_page
from samples.generator.hand import DigitHand
from samples.generator.seal import seal_over_writing
from samples.generator.scan import DRAW_DPI, ScanParams, apply_scan, scan, scan_params
from samples.generator.values import fill_values, to_wareki
from schemas.templates import Box, FieldKind, FormTemplate

__all__ = [
    "DRAW_DPI", "FORMATS", "ScanParams", "apply_scan", "draw_filled", "draw_form", "fill_values", "generate", "scan",
    "scan_params",
]

FORMATS = ("png", "jpg", "pdf", "tif")
FONT_DIR = Path("/usr/share/fonts/truetype")  # Debian fonts-kiloji, fonts-klee
HAND_FONTS = (
    "kiloji/kiloji.ttf", "kiloji/kiloji_b.ttf", "kiloji/kiloji_p.ttf", "kiloji/kiloji_d.ttf",
    "klee/KleeOne-Regular.ttf", "klee/KleeOne-SemiBold.ttf",
)
INKS = (  # RGB of a ballpoint's line: black, blue-black, blue
    ((28, 28, 32), 0.7), ((30, 38, 80), 0.2), ((35, 55, 150), 0.1),
)
MARKS = ("tick", "tick", "tick", "cross", "fill")
CLEAR_MM = 0.8  # writing keeps this far from a box line


@dataclass(frozen=True)
class Pen:
    """One writer's habits, fixed for a document."""

    font: str
    stroke: int  # extra stroke width, px
    ink: tuple[int, int, int]  # RGB
    line_px: int  # width of ticks and circles, px
    slant: float  # horizontal shear, x per y
    size: float  # character height as a share of the box height
    spacing: float  # extra advance between characters, share of the character width
    mark: str  # how a choice is marked: tick | cross | fill
    digits: DigitHand | None = None  # writes digits with real handwritten ones instead of the font


SPACING = (-0.05, 0.12)  # the range writers' extra advance between characters is drawn from


def _pen(rng: np.random.Generator, dpi: float, spacing: tuple[float, float] = SPACING) -> Pen:
    font = str(FONT_DIR / HAND_FONTS[rng.integers(len(HAND_FONTS))])
    ink = INKS[rng.choice(len(INKS), p=[w for _, w in INKS])][0]
    dark = rng.uniform(0.6, 1.3)  # how hard the pen presses
    # a thicker pen; the fine-line font always gets one, the bold one never
    extra_mm = 0.08 if "kiloji_d" in font else 0.0 if "kiloji_b" in font else float(rng.choice([0.0, 0.0, 0.06]))
    return Pen(
        font=font,
        stroke=round(mm_to_px(extra_mm, dpi)),
        ink=tuple(int(np.clip(c * dark, 0, 255)) for c in ink),
        line_px=max(2, round(mm_to_px(rng.uniform(0.35, 0.6), dpi))),
        slant=rng.uniform(-0.12, 0.08),
        size=rng.uniform(0.52, 0.66),
        spacing=rng.uniform(*spacing),
        mark=MARKS[rng.integers(len(MARKS))],
    )


@dataclass
class _Glyph:
    alpha: np.ndarray  # float32 0..1, cropped to the ink
    x: float  # px, top-left of `alpha` on the page
    y: float


def _glyph(ch: str, em: float, pen: Pen, rng: np.random.Generator) -> tuple[np.ndarray, float, float, float]:
    """One handwritten character: alpha cropped to its ink, the ink's offset from the pen position
    (left edge, top of the em box) and the advance, in px."""
    if pen.digits is not None and ch in "0123456789":
        alpha = pen.digits.alpha(ch, em * rng.uniform(0.66, 0.8), rng)
        return alpha, 0.06 * em, 0.12 * em, alpha.shape[1] + 0.15 * em
    px = max(8, round(em))
    font = load_font(pen.font, px)
    size = 3 * px
    im = Image.new("L", (size, size), 0)
    ImageDraw.Draw(im).text((px, px), ch, fill=255, font=font, stroke_width=pen.stroke, stroke_fill=255)
    adv = font.getlength(ch)
    scale = rng.uniform(0.9, 1.1) * em / px
    angle = np.deg2rad(rng.uniform(-4.0, 4.0))
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    # rotate and scale about the glyph's centre, then shear (the writer's slant)
    lin = np.array([[1.0, pen.slant], [0.0, 1.0]]) @ np.array([[c, -s], [s, c]])
    centre = np.array([px + adv / 2, 1.5 * px])
    m = np.hstack([lin, (centre - lin @ centre)[:, None]])
    alpha = cv2.warpAffine(np.asarray(im), m, (size, size), flags=cv2.INTER_LINEAR)
    ys, xs = np.nonzero(alpha > 8)
    if len(xs) == 0:
        return np.zeros((0, 0), np.float32), 0.0, 0.0, adv * scale
    crop = alpha[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float32) / 255.0
    return crop, xs.min() - px, ys.min() - px, adv * scale


def _box_px(b: Box, dpi: float, inset_mm: float = 0.0) -> tuple[float, float, float, float]:
    """x0, y0, x1, y1 in px."""
    k = mm_to_px(1.0, dpi)
    return ((b.x + inset_mm) * k, (b.y + inset_mm) * k, (b.x + b.w - inset_mm) * k, (b.y + b.h - inset_mm) * k)


def _clamp(g: _Glyph, area: tuple[float, float, float, float]) -> None:
    """Move a glyph so its ink lies inside `area` (it is shrunk beforehand, so it fits)."""
    h, w = g.alpha.shape
    g.x = min(max(g.x, area[0]), area[2] - w)
    g.y = min(max(g.y, area[1]), area[3] - h)


def _line(text: str, box: Box, pen: Pen, rng: np.random.Generator, dpi: float) -> list[_Glyph]:
    """Glyphs of a text written left to right in one box, left-aligned after a small margin."""
    area = _box_px(box, dpi, CLEAR_MM)
    k = mm_to_px(1.0, dpi)
    em = box.h * k * pen.size * rng.uniform(0.93, 1.07)
    for _ in range(4):
        glyphs, x = [], 0.0
        for ch in text:
            if ch.isspace():
                x += em * rng.uniform(0.4, 0.9)
                continue
            alpha, dx, dy, adv = _glyph(ch, em, pen, rng)
            jitter = rng.normal(0, 0.03 * em, 2)
            if alpha.size:
                glyphs.append(_Glyph(alpha, x + dx + jitter[0], dy + jitter[1]))
            x += adv * (1 + pen.spacing + rng.uniform(-0.05, 0.05))
        left = min(g.x for g in glyphs)
        right = max(g.x + g.alpha.shape[1] for g in glyphs)
        top = min(g.y for g in glyphs)
        bottom = max(g.y + g.alpha.shape[0] for g in glyphs)
        room_w = area[2] - area[0] - mm_to_px(1.0, dpi)
        room_h = area[3] - area[1]
        fit = min(room_w / (right - left), room_h / (bottom - top))
        if fit >= 1.0:
            break
        em *= fit * 0.97  # people write smaller when the box is short
    margin = mm_to_px(rng.uniform(0.5, 2.5), dpi)
    dx = area[0] + margin - left
    free = room_h - (bottom - top)
    dy = area[1] + free * rng.uniform(0.3, 0.7) - top
    for g in glyphs:
        g.x += dx
        g.y += dy
        _clamp(g, area)
    return glyphs


def _in_cell(ch: str, cell: Box, pen: Pen, rng: np.random.Generator, dpi: float) -> list[_Glyph]:
    """One character centred, roughly, in its printed box."""
    area = _box_px(cell, dpi, CLEAR_MM)
    k = mm_to_px(1.0, dpi)
    em = min(cell.h, cell.w * 1.25) * k * (pen.size + 0.12) * rng.uniform(0.96, 1.04)
    alpha, _, _, _ = _glyph(ch, em, pen, rng)
    if alpha.size == 0:
        return []
    fit = min((area[2] - area[0]) / alpha.shape[1], (area[3] - area[1]) / alpha.shape[0])
    if fit < 1.0:
        alpha = cv2.resize(alpha, None, fx=fit * 0.98, fy=fit * 0.98, interpolation=cv2.INTER_AREA)
    h, w = alpha.shape
    cx = (area[0] + area[2]) / 2 + rng.normal(0, 0.05 * cell.w * k)
    cy = (area[1] + area[3]) / 2 + rng.normal(0, 0.04 * cell.h * k)
    g = _Glyph(alpha, cx - w / 2, cy - h / 2)
    _clamp(g, area)
    return [g]


def _ink(page: np.ndarray, glyphs: Sequence[_Glyph], pen: Pen, rng: np.random.Generator) -> None:
    """Blend glyphs onto the RGB page in the pen's ink, with a little pressure variation."""
    ink = np.array(pen.ink, np.float32)
    for g in glyphs:
        x, y = round(g.x), round(g.y)
        h, w = g.alpha.shape
        a = (g.alpha * rng.uniform(0.82, 1.0))[..., None]
        region = page[y : y + h, x : x + w].astype(np.float32)
        page[y : y + h, x : x + w] = (region * (1 - a) + ink * a).astype(np.uint8)


def _stroke(page: np.ndarray, pts_mm: np.ndarray, pen: Pen, dpi: float) -> None:
    pts = np.round(pts_mm * mm_to_px(1.0, dpi) * 16).astype(np.int32)  # 4 bits of sub-pixel
    cv2.polylines(page, [pts], False, pen.ink, pen.line_px, cv2.LINE_AA, shift=4)


def _curve(p0, p1, rng: np.random.Generator, bow: float, n: int = 12) -> np.ndarray:
    """A slightly bowed stroke from p0 to p1 (mm)."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    mid = (p0 + p1) / 2 + rng.normal(0, bow, 2)
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) ** 2 * p0 + 2 * t * (1 - t) * mid + t**2 * p1


def _mark(page: np.ndarray, sq: Box, pen: Pen, rng: np.random.Generator, dpi: float) -> None:
    """Tick, cross or scribble in a tick square."""

    def at(u: float, v: float) -> tuple[float, float]:
        return sq.x + sq.w * (u + rng.normal(0, 0.05)), sq.y + sq.h * (v + rng.normal(0, 0.05))

    if pen.mark == "tick":
        a, b, c = at(0.15, 0.5), at(0.42, 0.85), at(0.95, 0.0)
        _stroke(page, np.vstack([_curve(a, b, rng, 0.1), _curve(b, c, rng, 0.3)]), pen, dpi)
    elif pen.mark == "cross":
        _stroke(page, _curve(at(0.15, 0.15), at(0.85, 0.85), rng, 0.2), pen, dpi)
        _stroke(page, _curve(at(0.85, 0.15), at(0.15, 0.85), rng, 0.2), pen, dpi)
    else:
        n = int(rng.integers(8, 14))
        us = np.linspace(0.12, 0.88, n)
        pts = [at(u, 0.15 if i % 2 == 0 else 0.85) for i, u in enumerate(us)]
        _stroke(page, np.array(pts), pen, dpi)


def _circle(page: np.ndarray, area: Box, pen: Pen, rng: np.random.Generator, dpi: float) -> None:
    """A hand-drawn ellipse around a printed era name; its ends overlap or fall just short."""
    cx = area.x + area.w / 2 + rng.normal(0, 0.3)
    cy = area.y + area.h / 2 + rng.normal(0, 0.2)
    rx, ry = area.w / 2 * rng.uniform(0.85, 0.98), area.h / 2 * rng.uniform(0.72, 0.92)
    start = rng.uniform(0, 2 * np.pi)
    t = start + np.linspace(0, 2 * np.pi * rng.uniform(0.97, 1.1), 64)
    wobble = 1 + 0.03 * np.sin(3 * t + rng.uniform(0, 6)) + np.linspace(0, rng.uniform(-0.06, 0.06), 64)
    pts = np.stack([cx + rx * wobble * np.cos(t), cy + ry * wobble * np.sin(t)], axis=1)
    _stroke(page, pts, pen, dpi)


def _date(
    page: np.ndarray, fl: FieldLayout, value: str, pen: Pen, rng: np.random.Generator, dpi: float
) -> list[_Glyph]:
    """Circle the era; write era year, month and day in their two cells each. A one-digit number
    goes in the right cell with the left one blank (`　4`), as most people write it. On a form with
    free parts (「令和　年　月　日」) each number is written freely in its part."""
    d = date.fromisoformat(value)
    era, year = to_wareki(d)
    if era in fl.ticks:
        _circle(page, fl.ticks[era], pen, rng, dpi)
    if fl.parts:
        return [g for part, n in zip(fl.parts, (year, d.month, d.day)) for g in _line(str(n), part, pen, rng, dpi)]
    glyphs: list[_Glyph] = []
    for part, number in (("year", year), ("month", d.month), ("day", d.day)):
        cells = fl.date_parts[part]
        text = str(number)
        for ch, cell in zip(text, cells[len(cells) - len(text) :]):
            glyphs += _in_cell(ch, cell, pen, rng, dpi)
    return glyphs


def _field(page: np.ndarray, fl: FieldLayout, value: object, pen: Pen, rng: np.random.Generator, dpi: float) -> None:
    kind = fl.spec.kind
    if value is None or value is False:
        return
    if kind == FieldKind.checkbox:
        _mark(page, fl.ticks["checked"], pen, rng, dpi)
        return
    if kind == FieldKind.choice:
        _mark(page, fl.ticks[str(value)], pen, rng, dpi)
        return
    if kind == FieldKind.wareki_date:
        _ink(page, _date(page, fl, str(value), pen, rng, dpi), pen, rng)
        return
    text = str(value)
    if fl.parts:  # a phone's groups in their parts; with two parts the second holds the rest, hyphen and all
        groups = text.split("-")
        n = len(fl.parts)
        groups = groups[: n - 1] + ["-".join(groups[n - 1 :])] if len(groups) >= n else groups
        _ink(page, [g for part, t in zip(fl.parts, groups) for g in _line(t, part, pen, rng, dpi)], pen, rng)
        return
    if len(fl.cells) > 1:
        if kind == FieldKind.postal_code:
            text = text.replace("-", "")
        if len(text) > len(fl.cells):
            raise ValueError(f"{fl.spec.name}: {text!r} does not fit {len(fl.cells)} boxes")
        # amounts are right-aligned in their boxes, other digits fill them from the left
        start = len(fl.cells) - len(text) if kind == FieldKind.amount else 0
        glyphs = [g for i, ch in enumerate(text) for g in _in_cell(ch, fl.cells[start + i], pen, rng, dpi)]
    elif kind in (FieldKind.digits, FieldKind.amount) and len(text) == 1:
        glyphs = _in_cell(text, fl.cells[0], pen, rng, dpi)
    else:
        glyphs = _line(text, fl.cells[0], pen, rng, dpi)
    _ink(page, glyphs, pen, rng)


def draw_form(
    template: FormTemplate, values: dict[str, object], rng: np.random.Generator, dpi: float = DRAW_DPI,
    *, digits: DigitHand | None = None, seal: np.random.Generator | None = None, spacing: tuple[float, float] = SPACING,
) -> list[np.ndarray]:
    """Every page of the printed form filled in by hand: RGB uint8 at `dpi`, one writer (font,
    ink, pen) per document.

    With `digits`, every digit is a real handwritten one; with `seal`, a red 印 is pressed over the
    end of the first name written; `spacing`, the range the writer's extra advance between characters
    (share of a character) is drawn from."""
    pen = replace(_pen(rng, dpi, spacing), digits=digits)
    out = []
    for page_form in template.page_forms():
        blank = render_page(page_form, dpi)
        page = np.repeat(blank[..., None], 3, axis=2)
        layouts = layout_form(page_form)
        for name, fl in layouts.items():
            _field(page, fl, values.get(name), pen, rng, dpi)
        names = [fl.spec for n, fl in layouts.items() if fl.spec.kind == FieldKind.name_kanji and values.get(n)]
        if seal is not None and names:
            family = str(values[names[0].name]).split(" ")[0]
            seal_over_writing(page, blank, names[0].box, family, dpi, rng=seal,
                              diameter_mm=seal.uniform(10.0, 14.0), overlap_mm=seal.uniform(-4.0, 4.0))
            seal = None  # one seal per document
        out.append(page)
    return out


def draw_filled(
    template: FormTemplate, values: dict[str, object], rng: np.random.Generator, dpi: float = DRAW_DPI,
    *, digits: DigitHand | None = None, seal: np.random.Generator | None = None,
) -> np.ndarray:
    """A form of one page (or one page of a form, `page_of`) filled in by hand: see `draw_form`."""
    if template.pages > 1 and not template.sheet:
        raise ValueError(f"{template.id} has {template.pages} pages: use draw_form")
    return draw_form(template, values, rng, dpi, digits=digits, seal=seal)[0]


def _png(img: np.ndarray, dpi: int) -> bytes:
    """PNG bytes with a pHYs chunk; OpenCV's encoder is faster than Pillow's on noisy scans
    but writes no resolution."""
    bgr = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    # Huffman-only deflate is fastest and, on grey scans, also smallest
    strategy = cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY if img.ndim == 2 else cv2.IMWRITE_PNG_STRATEGY_DEFAULT
    opts = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, strategy]
    data = cv2.imencode(".png", bgr, opts)[1].tobytes()
    ppm = round(dpi / 0.0254)  # pixels per metre
    body = b"pHYs" + struct.pack(">IIB", ppm, ppm, 1)
    chunk = struct.pack(">I", 9) + body + struct.pack(">I", zlib.crc32(body))
    end_ihdr = 8 + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC
    return data[:end_ihdr] + chunk + data[end_ihdr:]


def _save_pages(imgs: Sequence[np.ndarray], path: Path, dpi: int) -> None:
    """Write the pages of one document into one file (PDF or TIFF when there are several)."""
    if len(imgs) == 1:
        _save(imgs[0], path, dpi)
        return
    first, *rest = (Image.fromarray(i) for i in imgs)
    if path.suffix == ".pdf":
        first.save(path, "PDF", resolution=float(dpi), save_all=True, append_images=rest)
    elif path.suffix == ".tif":
        first.save(path, compression="tiff_lzw", dpi=(dpi, dpi), save_all=True, append_images=rest)
    else:
        raise ValueError(f"{path.name}: a file of several pages is a PDF or a TIFF")


def _save(img: np.ndarray, path: Path, dpi: int) -> None:
    """Write an image with its dpi in the metadata, so the reader knows the scale."""
    ext = path.suffix.lstrip(".")
    if ext == "png":
        path.write_bytes(_png(img, dpi))
        return
    im = Image.fromarray(img)
    if ext == "jpg":
        im.save(path, quality=92, dpi=(dpi, dpi))
    elif ext == "tif":
        im.save(path, compression="tiff_lzw", dpi=(dpi, dpi))
    elif ext == "pdf":
        im.save(path, "PDF", resolution=float(dpi))
    else:
        raise ValueError(f"unknown sample format {ext!r}; use one of {FORMATS}")


def generate(
    template: FormTemplate,
    count: int,
    seed: int,
    out_dir: Path,
    formats: Sequence[str] = ("png",),
    *,
    dpi: int | None = None,
    upside_down_rate: float = 0.0,
    grey_rate: float = 0.6,
    digits: DigitHand | None = None,
    seal_rate: float = 0.0,
    first: int = 0,
    spacing: tuple[float, float] = SPACING,
) -> list[Path]:
    """Write `count` filled and scanned forms with their truth files; the same seed gives the same files.

    Args:
        template: the form to fill in.
        count: number of pages.
        seed: makes the run reproducible; page i depends only on (seed, form id, i).
        out_dir: where `<form>-s<seed>-<i:03d>.<ext>` and `<stem>.truth.json` go.
        formats: any of png, jpg, pdf, tif; each page is written once per format.
        dpi: scan resolution; None picks 200, 300 or 400 (or anything between) per page.
        upside_down_rate: share of pages fed into the scanner upside down.
        grey_rate: share of pages scanned in greyscale rather than colour.
        digits: real handwritten digits to write every digit with (see `DigitHand`).
        seal_rate: share of pages with a red seal pressed over the applicant's name.
        first: the first page to write; those before it are skipped, the rest are as they would be
            (to write again one page of a run, `first=i, count=i + 1`).
        spacing: the range each writer's extra advance between characters is drawn from, as a share
            of a character (-0.32 to -0.18: most digits written freely run into their neighbours).

    Returns:
        The image paths written, page by page in the order of `formats`.
    """
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ValueError(f"unknown sample formats {bad}; use {FORMATS}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for i in range(first, count):
        seq = np.random.SeedSequence([seed, zlib.crc32(template.id.encode()), i])
        r_values, r_draw, r_scan, r_seal = (np.random.default_rng(s) for s in seq.spawn(4))
        values = fill_values(template, r_values)
        sealed = seal_rate > 0 and r_seal.random() < seal_rate
        pages = draw_form(template, values, r_draw, DRAW_DPI, digits=digits, seal=r_seal if sealed else None,
                          spacing=spacing)
        choices = [200, 300, 400, int(r_scan.integers(200, 401))]
        dpi_out = dpi or int(r_scan.choice(choices, p=[0.35, 0.35, 0.1, 0.2]))
        grey = r_scan.random() < grey_rate
        params = [scan_params(r_scan, dpi_out=dpi_out, upside_down=bool(r_scan.random() < upside_down_rate))]
        for r_page in map(np.random.default_rng, seq.spawn(len(pages) - 1)):  # each sheet lies its own way
            params.append(scan_params(r_page, dpi_out=dpi_out, upside_down=params[0].upside_down))
        imgs = [apply_scan(cv2.cvtColor(pg, cv2.COLOR_RGB2GRAY) if grey else pg, pp) for pg, pp in zip(pages, params)]
        stem = f"{template.id}-s{seed}-{i:03d}"
        # PNG and JPEG hold one page: a form of several is written as a PDF instead
        exts = formats if len(pages) == 1 else list(dict.fromkeys("pdf" if e in ("png", "jpg") else e for e in formats))
        for ext in exts:
            path = out_dir / f"{stem}.{ext}"
            _save_pages(imgs, path, dpi_out)
            written.append(path)
        truth = {"form": template.id, "fields": values, "scan": asdict(params[0]), "seal": sealed,
                 "real_digits": digits is not None}
        if len(pages) > 1:
            truth["scans"] = [asdict(pp) for pp in params]
        (out_dir / f"{stem}.truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1), encoding="utf-8")
    return written
