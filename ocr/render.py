"""Print a blank form from its template: as a raster page (the reference the reader registers
scans against, and the paper the sample generator writes on) or as a printable PDF."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from pdf2image import convert_from_path
from PIL import Image, ImageDraw, ImageFont, ImageOps

from ocr.layout import Rect, Text, corner_marks, layout_form, page_texts
from ocr.pages import normalise_background
from schemas.templates import Box, FormTemplate

PRINT_FONT = Path("/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf")  # Debian fonts-ipaexfont-gothic
MM_PER_INCH = 25.4


class FontMissingError(RuntimeError):
    """The Japanese print font is not installed."""


def mm_to_px(mm: float, dpi: float) -> float:
    return mm * dpi / MM_PER_INCH


def box_px(box: Box, dpi: float, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """A box in mm as pixel bounds (x0, y0, x1, y1) clipped to an image of `shape`."""
    f = dpi / MM_PER_INCH
    x0, y0 = max(0, round(box.x * f)), max(0, round(box.y * f))
    x1, y1 = min(shape[1], round((box.x + box.w) * f)), min(shape[0], round((box.y + box.h) * f))
    return x0, y0, max(x0, x1), max(y0, y1)


def primitives(template: FormTemplate) -> tuple[list[Rect], list[Text]]:
    """Everything printed on the blank form."""
    rects: list[Rect] = corner_marks(template)
    texts: list[Text] = page_texts(template)
    for fl in layout_form(template).values():
        rects.extend(fl.rects)
        texts.extend(fl.texts)
    return rects, texts


@lru_cache(maxsize=256)
def load_font(path: str, px: int) -> ImageFont.FreeTypeFont:
    if not Path(path).exists():
        raise FontMissingError(f"font not found: {path} (apt-get install fonts-ipaexfont)")
    return ImageFont.truetype(path, px)


def render_page(template: FormTemplate, dpi: float = 150, font: Path = PRINT_FONT) -> np.ndarray:
    """The blank form as a grayscale uint8 image (white paper, black print) at `dpi`: the city's own
    print when the template names a `reference`, else drawn from the template. A form of several
    pages is rendered one page at a time (`template.page_of(n)`)."""
    if template.pages > 1 and not template.sheet:
        raise ValueError(f"{template.id} has {template.pages} pages: render template.page_of(n)")
    if template.reference is not None:
        return reference_page(template.reference, template.page_size, dpi, template.sheet or 1).copy()
    w_mm, h_mm = template.page_size
    img = Image.new("L", (round(mm_to_px(w_mm, dpi)), round(mm_to_px(h_mm, dpi))), 255)
    draw = ImageDraw.Draw(img)
    rects, texts = primitives(template)
    for r in rects:
        b = r.box
        lw = max(1, round(mm_to_px(r.width, dpi)))
        draw.rectangle(
            [mm_to_px(b.x, dpi), mm_to_px(b.y, dpi), mm_to_px(b.x + b.w, dpi), mm_to_px(b.y + b.h, dpi)],
            outline=0,
            width=lw,
            fill=0 if r.fill else None,
        )
    for t in texts:
        px = max(6, round(mm_to_px(t.size, dpi)))
        draw.text((mm_to_px(t.x, dpi), mm_to_px(t.y, dpi)), t.text, fill=0, font=load_font(str(font), px))
    return np.asarray(img)


PAPER_LEVEL = 200  # on a scanned blank, lighter than this (after flattening the paper) is paper


@lru_cache(maxsize=16)
def reference_page(path: Path, page_size: tuple[float, float], dpi: float, page: int = 1) -> np.ndarray:
    """A city's blank form (page `page` of a PDF or a multi-page TIFF, or a scan) as `render_page`
    draws one: grayscale at `dpi`, stretched to the template's page size, the paper made white and
    its specks dropped."""
    w, h = round(mm_to_px(page_size[0], dpi)), round(mm_to_px(page_size[1], dpi))
    if path.suffix.lower() == ".pdf":
        pages = convert_from_path(str(path), dpi=dpi, first_page=page, last_page=page, grayscale=True)
        if not pages:
            raise ValueError(f"{path.name} has no page {page}")
        img = pages[0]
    else:
        with Image.open(path) as im:
            if page > getattr(im, "n_frames", 1):
                raise ValueError(f"{path.name} has no page {page}")
            im.seek(page - 1)
            img = ImageOps.exif_transpose(im).convert("L")
    gray = np.asarray(img.resize((w, h), Image.Resampling.LANCZOS) if img.size != (w, h) else img)
    flat = normalise_background(np.ascontiguousarray(gray), dpi)
    out = np.where(flat < PAPER_LEVEL, flat, 255).astype(np.uint8)
    out.setflags(write=False)  # cached: callers get copies
    return out


def render_pdf(template: FormTemplate, out: Path, font: Path = PRINT_FONT) -> Path:
    """Write the blank form as a vector PDF for printing; a template with a `reference` prints that
    (a PDF as it is, a scan as one page of the template's size)."""
    if template.reference is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        if template.reference.suffix.lower() == ".pdf":
            out.write_bytes(template.reference.read_bytes())
        else:
            pages = [Image.fromarray(reference_page(template.reference, template.page_size, 300.0, n))
                     for n in range(1, template.pages + 1)]
            pages[0].save(out, "PDF", resolution=300.0, save_all=True, append_images=pages[1:])
        return out
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    if not font.exists():
        raise FontMissingError(f"font not found: {font} (apt-get install fonts-ipaexfont)")
    pdfmetrics.registerFont(TTFont("MadoguchiPrint", str(font)))
    w_mm, h_mm = template.page_size
    c = canvas.Canvas(str(out), pagesize=(w_mm * mm, h_mm * mm))
    c.setTitle(template.title)
    for page in template.page_forms():
        rects, texts = primitives(page)
        for r in rects:
            b = r.box
            c.setLineWidth(r.width * mm)
            c.rect(b.x * mm, (h_mm - b.y - b.h) * mm, b.w * mm, b.h * mm, fill=1 if r.fill else 0)
        for t in texts:
            c.setFont("MadoguchiPrint", t.size * mm)
            # PIL draws from the top of the text box, reportlab from the baseline (~0.88 of the em)
            c.drawString(t.x * mm, (h_mm - t.y - t.size * 0.88) * mm, t.text)
        c.showPage()
    c.save()
    return out
