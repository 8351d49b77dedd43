"""Load the pages of a scan (PDF, TIFF, PNG, JPEG) as grayscale images.

The file type is decided by its first bytes, never by its name. Every way a file can be bad is
reported as one of the errors in `ocr.errors`, so the flow can quarantine it with a reason.
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
    """

    image: np.ndarray
    dpi: float
    index: int
    source: Path
    dpi_from_file: bool = True


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
                str(path), dpi=dpi, first_page=number, last_page=number, grayscale=True, timeout=PDF_TIMEOUT_S
            )
        except (PDFInfoNotInstalledError, PopplerNotInstalledError) as exc:
            raise PopplerMissingError(str(exc), source=path) from exc
        except (PDFPageCountError, PDFSyntaxError, PDFPopplerTimeoutError) as exc:
            raise CorruptFileError(str(exc).strip(), source=path, page=number - 1) from exc
        if len(images) != 1:
            raise CorruptFileError("poppler rendered no image", source=path, page=number - 1)
        yield PageImage(_to_gray(images[0]), float(dpi), number - 1, path)


def _image_pages(path: Path, max_pages: int) -> Iterator[PageImage]:
    try:
        with Image.open(path) as img:
            frames = getattr(img, "n_frames", 1)
            if frames > max_pages:
                raise TooManyPagesError(frames, max_pages, source=path)
            for index, frame in enumerate(ImageSequence.Iterator(img)):
                dpi = _file_dpi(frame)
                gray = _to_gray(ImageOps.exif_transpose(frame))
                yield PageImage(gray, dpi or DEFAULT_IMAGE_DPI, index, path, dpi_from_file=dpi is not None)
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


def _to_gray(img: Image.Image) -> np.ndarray:
    """Any Pillow mode as contiguous grayscale uint8 (transparent areas become white paper)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        return np.ascontiguousarray(np.clip(arr * (255.0 / top), 0, 255).astype(np.uint8))
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        return np.ascontiguousarray(np.clip(arr, 0, 255).astype(np.uint8))
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(paper, rgba)
    if img.mode != "L":
        img = img.convert("L")
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


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
