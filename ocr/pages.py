"""Load the pages of a scan (PDF, TIFF, PNG, JPEG) as grayscale images.

The file type is decided by its first bytes, never by its name. Every way a file can be bad is
reported as one of the errors in `ocr.errors`, so the flow can quarantine it with a reason.

A colour page loses its red ink on the way to grayscale (赤色ドロップアウト): seals (朱肉) and red
pen become paper, so a seal pressed over a name is never read as a character of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pikepdf
from pdf2image import convert_from_path, pdfinfo_from_path
from pdf2image.exceptions import (
    PDFInfoNotInstalledError,
    PDFPageCountError,
    PDFPopplerTimeoutError,
    PDFSyntaxError,
    PopplerNotInstalledError,
)
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from ocr.errors import (
    CorruptFileError,
    EmptyFileError,
    EncryptedPdfError,
    PopplerMissingError,
    TooManyPagesError,
    UnsupportedFileError,
)

DEFAULT_IMAGE_DPI = 300.0  # assumed when an image file carries no usable resolution
MIN_DPI, MAX_DPI = 50.0, 1200.0  # outside this, a resolution tag is junk (JFIF's 1x1, 72 by default is kept)
DARKEST_SHARE = 0.005  # the darkest 0.5% of a page is taken to be ink...
STRETCH_BELOW = 200  # ...and stretched to black when lighter than this (faint copies, pencil)
PDF_TIMEOUT_S = 120  # per page; poppler can spin forever on some broken files
# Red dropout works on redness = R - max(G, B) (grey levels): 0 for black, grey, pencil and blue
# ink, 130-200 for seal paste and red ballpoint, 40-80 for pink and for the anti-aliased fringe of red.
RED_CAST = 24  # redness up to this is a scanner's warm cast or JPEG chroma noise at a black stroke
RED_GAIN = 2.0  # grey levels a pixel is lightened by per unit of redness beyond RED_CAST
RED_INK = 48  # redness from which a pixel counts as red ink in PageImage.red_dropped
PAPER_PERCENTILE = 0.75  # of a page's grey levels: the paper (most of a form is paper)
COLOUR_MODES = ("RGB", "RGBA", "RGBX", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV")

MAGIC = {
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpeg": (b"\xff\xd8\xff",),
    "tiff": (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"),  # classic and BigTIFF
}


@dataclass(frozen=True)
class PageImage:
    """One page of a scan.

    Attributes:
        image: grayscale uint8, white paper is 255.
        dpi: resolution in pixels per inch (the PDF render dpi, the image's tag, or a guess).
        index: 0-based page number in the file.
        source: the file the page came from.
        dpi_from_file: False when `dpi` is the 300 dpi guess for an image without a usable tag;
            registration then estimates the scale from the page size.
        red_dropped: share of the page's pixels (0..1) that were red ink and became paper; 0.0
            for a page without colour.
    """

    image: np.ndarray
    dpi: float
    index: int
    source: Path
    dpi_from_file: bool = True
    red_dropped: float = 0.0


def sniff(path: Path) -> str:
    """The file type from its magic bytes: "pdf", "tiff", "png" or "jpeg".

    Raises:
        EmptyFileError: the file has no bytes.
        UnsupportedFileError: any other content.
    """
    with open(path, "rb") as fh:
        head = fh.read(1024)
    if not head:
        raise EmptyFileError(source=path)
    if b"%PDF-" in head:  # the spec lets a PDF header start anywhere in the first 1024 bytes
        return "pdf"
    for kind, magics in MAGIC.items():
        if head.startswith(magics):
            return kind
    raise UnsupportedFileError(f"starts with {head[:8]!r}", source=path)


def load_pages(path: Path | str, *, pdf_dpi: int = 300, max_pages: int = 20) -> list[PageImage]:
    """All pages of a scan file as grayscale images.

    Args:
        path: a PDF, TIFF (one or more pages), PNG or JPEG file.
        pdf_dpi: resolution at which PDF pages are rendered.
        max_pages: more pages than this raises TooManyPagesError before anything is rendered.

    Raises:
        EmptyFileError, UnsupportedFileError, CorruptFileError, EncryptedPdfError,
        TooManyPagesError, PopplerMissingError.
    """
    path = Path(path)
    kind = sniff(path)
    if kind == "pdf":
        return list(_pdf_pages(path, pdf_dpi, max_pages))
    return list(_image_pages(path, max_pages))


def _check_pdf_encryption(path: Path) -> None:
    """Raise EncryptedPdfError when the PDF needs a password to open.

    A PDF with only an owner password (printing/copying restrictions) opens and renders fine.
    """
    try:
        with pikepdf.open(path):
            pass
    except pikepdf.PasswordError as exc:
        raise EncryptedPdfError(str(exc), source=path) from exc
    except pikepdf.PdfError:
        pass  # broken beyond qpdf's repair; poppler gives the verdict below


def _pdf_page_count(path: Path) -> int:
    try:
        info = pdfinfo_from_path(str(path), timeout=PDF_TIMEOUT_S)
    except (PDFInfoNotInstalledError, PopplerNotInstalledError) as exc:
        raise PopplerMissingError(str(exc), source=path) from exc
    except (PDFPageCountError, PDFSyntaxError, PDFPopplerTimeoutError) as exc:
        raise CorruptFileError(str(exc).strip(), source=path) from exc
    pages = int(info.get("Pages", 0) or 0)
    if pages < 1:
        raise CorruptFileError("no pages", source=path)
    return pages


def _pdf_pages(path: Path, dpi: int, max_pages: int) -> Iterator[PageImage]:
    _check_pdf_encryption(path)
    pages = _pdf_page_count(path)
    if pages > max_pages:
        raise TooManyPagesError(pages, max_pages, source=path)
    for number in range(1, pages + 1):  # one page at a time keeps memory bounded
        try:
            images = convert_from_path(
                str(path), dpi=dpi, first_page=number, last_page=number, timeout=PDF_TIMEOUT_S
            )  # in colour, so that red ink can be dropped
        except (PDFInfoNotInstalledError, PopplerNotInstalledError) as exc:
            raise PopplerMissingError(str(exc), source=path) from exc
        except (PDFPageCountError, PDFSyntaxError, PDFPopplerTimeoutError) as exc:
            raise CorruptFileError(str(exc).strip(), source=path, page=number - 1) from exc
        if len(images) != 1:
            raise CorruptFileError("poppler rendered no image", source=path, page=number - 1)
        gray, red = _to_gray(images[0])
        yield PageImage(gray, float(dpi), number - 1, path, red_dropped=red)


def _image_pages(path: Path, max_pages: int) -> Iterator[PageImage]:
    try:
        with Image.open(path) as img:
            frames = getattr(img, "n_frames", 1)
            if frames > max_pages:
                raise TooManyPagesError(frames, max_pages, source=path)
            for index, frame in enumerate(ImageSequence.Iterator(img)):
                dpi = _file_dpi(frame)
                gray, red = _to_gray(ImageOps.exif_transpose(frame))
                yield PageImage(gray, dpi or DEFAULT_IMAGE_DPI, index, path, dpi_from_file=dpi is not None,
                                red_dropped=red)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        # Pillow reports truncated and malformed data as OSError/SyntaxError/ValueError
        if isinstance(exc, FileNotFoundError):
            raise
        raise CorruptFileError(f"{type(exc).__name__}: {exc}", source=path) from exc


def _file_dpi(img: Image.Image) -> float | None:
    """Horizontal resolution from PNG pHYs, JFIF/EXIF or TIFF tags, if plausible."""
    dpi = img.info.get("dpi")
    if dpi is None and "resolution" in img.info and img.info.get("resolution_unit") == 3:  # per cm
        dpi = tuple(float(r) * 2.54 for r in img.info["resolution"])
    if not dpi:
        return None
    try:
        value = float(dpi[0]) if isinstance(dpi, (tuple, list)) else float(dpi)
    except (TypeError, ValueError):
        return None
    return value if MIN_DPI <= value <= MAX_DPI else None


def _to_gray(img: Image.Image) -> tuple[np.ndarray, float]:
    """Any Pillow mode as contiguous grayscale uint8 (transparent areas become white paper), red
    ink dropped from a colour image; and the share of pixels that were red ink."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        return np.ascontiguousarray(np.clip(arr * (255.0 / top), 0, 255).astype(np.uint8)), 0.0
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        return np.ascontiguousarray(np.clip(arr, 0, 255).astype(np.uint8)), 0.0
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(paper, rgba)
    colour = img.mode in COLOUR_MODES
    gray = img if img.mode == "L" else img.convert("L")
    gray = np.ascontiguousarray(np.asarray(gray, dtype=np.uint8))
    if not colour:
        return gray, 0.0
    rgb = np.asarray(img if img.mode == "RGB" else img.convert("RGB"), dtype=np.uint8)
    return drop_red(gray, rgb)


def drop_red(gray: np.ndarray, rgb: np.ndarray) -> tuple[np.ndarray, float]:
    """Turn red, vermilion and pink ink into paper on a grayscale page (赤色ドロップアウト).

    Args:
        gray: the page's luminance, uint8.
        rgb: the same page in colour, uint8 H x W x 3.

    Returns:
        The page with red ink lightened up to the paper's grey level, and the share of pixels
        that were red ink (0..1). A pixel is lightened by how much redder it is than its own grey,
        not set to white, so a black stroke crossing a seal keeps its darkness (it has no redness
        of its own; JPEG's blurred colour adds a little at its edges), while black, blue and
        pencil ink, and pages without colour, are left exactly as they were.
    """
    r, g, b = cv2.split(rgb)
    redness = cv2.subtract(r, cv2.max(g, b))  # saturates at 0: green, blue and grey are never red
    lift = cv2.multiply(cv2.subtract(redness, RED_CAST), RED_GAIN)  # uint8, saturating
    red_ink = cv2.countNonZero(cv2.threshold(redness, RED_INK - 1, 255, cv2.THRESH_BINARY)[1])
    if not cv2.countNonZero(lift):
        return gray, red_ink / gray.size
    # never lighter than the paper: a white seal on grey paper would look like ink to
    # normalise_background, which divides by the brightest grey around
    hist = cv2.calcHist([gray], [0], None, [256], [0, 256]).ravel()
    paper = int(np.searchsorted(np.cumsum(hist), PAPER_PERCENTILE * gray.size))
    out = cv2.min(cv2.add(gray, lift), cv2.max(gray, paper))
    return out, red_ink / gray.size


def normalise_background(img: np.ndarray, dpi: float) -> np.ndarray:
    """Divide by the paper's brightness so grey, uneven backgrounds become white (uint8 in, uint8 out)."""
    # estimated at a quarter of the size: the paper's brightness varies slowly
    quarter = cv2.resize(img, (max(1, img.shape[1] // 4), max(1, img.shape[0] // 4)), interpolation=cv2.INTER_AREA)
    k = 2 * max(1, round(3.0 * (dpi / 4) / 25.4)) + 1  # px at quarter size: a 6 mm window, wider than any stroke
    paper = cv2.dilate(quarter, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    paper = cv2.blur(paper, (k, k))
    paper = cv2.resize(paper, img.shape[::-1], interpolation=cv2.INTER_LINEAR)
    out = cv2.divide(img, np.maximum(paper, 1), scale=255.0)  # saturates at 255
    # faint copies and pencil: stretch so the darkest ink is black; a blank page stays as it is
    hist = cv2.calcHist([out], [0], None, [256], [0, 256]).ravel()
    darkest = int(np.searchsorted(np.cumsum(hist), DARKEST_SHARE * out.size))
    if 0 < darkest < STRETCH_BELOW:
        lut = np.clip((np.arange(256) - darkest) * (255.0 / (255 - darkest)), 0, 255).astype(np.uint8)
        out = cv2.LUT(out, lut)
    return out
