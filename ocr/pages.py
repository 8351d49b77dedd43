"""Load the pages of a scan (PDF, TIFF, PNG, JPEG) as grayscale images.

The file type is decided by its first bytes, never by its name. Every way a file can be bad is
reported as one of the errors in `ocr.errors`, so the flow can quarantine it with a reason; that
includes hostile files. Sizes are checked from headers before anything is decoded (an image's
declared size, each PDF page's size from pdfinfo at the render dpi), page counts before anything is
rendered, poppler runs under a deadline per file, and an exception no decoder was expected to
raise still becomes an error with a reason (DecoderFailedError), never a crashed worker.

A colour page loses its red ink on the way to grayscale (赤色ドロップアウト): seals (朱肉) and red
pen become paper, so a seal pressed over a name is never read as a character of it.
"""

from __future__ import annotations

import io
import math
import os
import re
import struct
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pikepdf
from PIL import Image, ImageOps, UnidentifiedImageError

from ocr.errors import (
    CorruptFileError,
    DecoderFailedError,
    EmptyFileError,
    EncryptedPdfError,
    FileTooLargeError,
    LoadTimeoutError,
    MadoguchiError,
    PageShapeError,
    PageTooLargeError,
    PopplerMissingError,
    TooManyPagesError,
    UnsupportedFileError,
)

DEFAULT_IMAGE_DPI = 300.0  # assumed when an image file carries no usable resolution
MIN_DPI, MAX_DPI = 50.0, 1200.0  # outside this, a resolution tag is junk (JFIF's 1x1, 72 by default is kept)
DARKEST_SHARE = 0.005  # the darkest 0.5% of a page is taken to be ink...
STRETCH_BELOW = 200  # ...and stretched to black when lighter than this (faint copies, pencil)
DEFAULT_MAX_PIXELS = 100_000_000  # per page; the settings' ocr.max_megapixels
DEFAULT_MAX_FILE_PIXELS = 400_000_000  # all pages of a file; ocr.max_file_megapixels
DEFAULT_TIMEOUT_S = 120.0  # poppler's time for one PDF, all calls together; ocr.load_timeout_seconds
# A page's shape: registration cannot work on a thumbnail or a strip (a 1 x 5000 px image broke
# OpenCV's feature pyramid), and no paper form is four times longer than wide.
MIN_SIDE_PX = 64
MAX_ASPECT = 4.0
PTS_PER_INCH = 72.0
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
PIL_FORMAT = {"png": "PNG", "jpeg": "JPEG", "tiff": "TIFF"}  # the one Pillow plugin a sniffed file may reach
# What Pillow raises for truncated and malformed data (TypeError: a TIFF frame without its size,
# "Missing dimensions"); anything else from a decoder becomes DecoderFailedError.
PILLOW_BAD_DATA = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, struct.error, TypeError)


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


@dataclass(frozen=True)
class Limits:
    """What one file may cost before it is refused: pages, pixels, poppler's time."""

    max_pages: int = 20
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_file_pixels: int = DEFAULT_MAX_FILE_PIXELS
    timeout_s: float = DEFAULT_TIMEOUT_S


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


def load_pages(path: Path | str, *, pdf_dpi: int = 300, max_pages: int = 20,
               max_pixels: int = DEFAULT_MAX_PIXELS, max_file_pixels: int = DEFAULT_MAX_FILE_PIXELS,
               timeout_s: float = DEFAULT_TIMEOUT_S) -> list[PageImage]:
    """All pages of a scan file as grayscale images.

    Args:
        path: a PDF, TIFF (one or more pages), PNG or JPEG file.
        pdf_dpi: resolution at which PDF pages are rendered.
        max_pages: more pages than this raises TooManyPagesError before anything is rendered.
        max_pixels: a page larger than this (from its header, or its PDF size at `pdf_dpi`) raises
            PageTooLargeError before it is decoded; `max_file_pixels` the same for all pages together.
        timeout_s: poppler's time for one PDF, all its calls together.

    Raises:
        EmptyFileError, UnsupportedFileError, CorruptFileError (DecoderFailedError for an exception
        no decoder was expected to raise), EncryptedPdfError, TooManyPagesError, PageTooLargeError,
        FileTooLargeError, PageShapeError, LoadTimeoutError, PopplerMissingError.
    """
    path = Path(path)
    limits = Limits(max_pages, max_pixels, max_file_pixels, timeout_s)
    try:
        kind = sniff(path)
        if kind == "pdf":
            return list(_pdf_pages(path, pdf_dpi, limits))
        return list(_image_pages(path, kind, limits))
    except (MadoguchiError, FileNotFoundError):
        raise
    except Exception as exc:  # noqa: BLE001 - a decoder fed hostile bytes may raise anything: quarantine, not crash
        raise DecoderFailedError(f"{type(exc).__name__}: {exc}", source=path) from exc


def check_page_size(width: int, height: int, limits: Limits, *, source: Path, page: int) -> None:
    """Raise PageTooLargeError or PageShapeError for a page that must not be decoded."""
    if width * height > limits.max_pixels:
        raise PageTooLargeError(width, height, limits.max_pixels, source=source, page=page)
    if min(width, height) < MIN_SIDE_PX or max(width, height) > MAX_ASPECT * min(width, height):
        raise PageShapeError(width, height, source=source, page=page)


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


def _poppler(command: list[str], path: Path, limits: Limits, until: float, page: int | None = None) -> bytes:
    """Run pdfinfo or pdftoppm on `path` within what is left of the file's time; its stdout."""
    left = until - time.monotonic()
    if left <= 0:
        raise LoadTimeoutError(limits.timeout_s, f"before {command[0]}", source=path, page=page)
    try:  # an absolute path: a file named "-f.pdf" must not be taken for an option
        done = subprocess.run([*command, os.path.abspath(path)], capture_output=True, timeout=left, check=False)
    except FileNotFoundError as exc:
        raise PopplerMissingError(f"{command[0]} not found (apt-get install poppler-utils)", source=path) from exc
    except subprocess.TimeoutExpired as exc:  # run() has killed it
        raise LoadTimeoutError(limits.timeout_s, f"{command[0]} still running", source=path, page=page) from exc
    if done.returncode != 0 or not done.stdout:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise CorruptFileError(f"{command[0]} exit {done.returncode}: " + " / ".join(said[-3:]), source=path, page=page)
    return done.stdout


_PAGES = re.compile(rb"^Pages:\s+(\d+)\s*$", re.M)
_SIZE = re.compile(rb"^Page\s+(\d+) size:\s+([0-9.eE+-]+) x ([0-9.eE+-]+) pts", re.M)
_ROT = re.compile(rb"^Page\s+(\d+) rot:\s+(-?\d+)", re.M)


def _pdf_page_sizes(path: Path, dpi: int, limits: Limits, until: float) -> list[tuple[int, int]]:
    """Each page's size in pixels at `dpi` (as rendered: crop box, rotation), from pdfinfo, with the
    page count checked first: a PDF of hundreds of pages is refused without rendering any."""
    out = _poppler(["pdfinfo", "-f", "1", "-l", str(limits.max_pages)], path, limits, until)
    # the last match: document metadata (a title) is printed before pdfinfo's own lines
    counts = _PAGES.findall(out)
    pages = int(counts[-1]) if counts else 0
    if pages < 1:
        raise CorruptFileError("pdfinfo found no pages", source=path)
    if pages > limits.max_pages:
        raise TooManyPagesError(pages, limits.max_pages, source=path)
    sizes = {int(n): (w, h) for n, w, h in _SIZE.findall(out)}
    turns = {int(n): int(r) for n, r in _ROT.findall(out)}
    px = []
    for number in range(1, pages + 1):
        if number not in sizes:
            raise CorruptFileError("pdfinfo gives no page size", source=path, page=number - 1)
        try:
            w, h = (math.ceil(float(v) * dpi / PTS_PER_INCH) for v in sizes[number])
        except (ValueError, OverflowError) as exc:
            raise CorruptFileError(f"page size {sizes[number]!r}", source=path, page=number - 1) from exc
        if turns.get(number, 0) % 180 == 90:
            w, h = h, w
        check_page_size(w, h, limits, source=path, page=number - 1)
        px.append((w, h))
    if (total := sum(w * h for w, h in px)) > limits.max_file_pixels:
        raise FileTooLargeError(total, limits.max_file_pixels, source=path)
    return px


def _pdf_pages(path: Path, dpi: int, limits: Limits) -> Iterator[PageImage]:
    until = time.monotonic() + limits.timeout_s
    _check_pdf_encryption(path)
    for index, (w, h) in enumerate(_pdf_page_sizes(path, dpi, limits, until)):  # one at a time: memory bounded
        # the crop box is what pdfinfo measured and what a viewer shows (the media box may be metres
        # around it); -W/-H bound the raster to that size even if poppler were to disagree with itself
        ppm = _poppler(["pdftoppm", "-r", str(dpi), "-f", str(index + 1), "-l", str(index + 1), "-singlefile",
                        "-cropbox", "-W", str(w + 2), "-H", str(h + 2)], path, limits, until, page=index)
        try:
            with Image.open(io.BytesIO(ppm), formats=["PPM"]) as img:  # in colour, so that red ink can be dropped
                gray, red = _to_gray(img)
        except Image.DecompressionBombError as exc:  # Pillow's own limit, when the setting is above it
            raise PageTooLargeError(w, h, limits.max_pixels, str(exc), source=path, page=index) from exc
        except PILLOW_BAD_DATA as exc:
            raise CorruptFileError(f"pdftoppm's image: {type(exc).__name__}: {exc}", source=path, page=index) from exc
        yield PageImage(gray, float(dpi), index, path, red_dropped=red)


def _frame_count(img: Image.Image, limit: int, path: Path) -> int:
    """Frames (TIFF pages), counted one by one and never past `limit`: Pillow's n_frames walks
    every frame first, and a small TIFF can chain a hundred thousand of them."""
    n = 1
    try:
        while True:
            img.seek(n)
            n += 1
            if n > limit:
                raise TooManyPagesError(None, limit, source=path)
    except EOFError:
        pass
    img.seek(0)
    return n


def _image_pages(path: Path, kind: str, limits: Limits) -> Iterator[PageImage]:
    try:
        with Image.open(path, formats=[PIL_FORMAT[kind]]) as img:
            frames = _frame_count(img, limits.max_pages, path)
            sizes = []
            for index in range(frames):  # every frame's declared size before any is decoded
                img.seek(index)
                check_page_size(*img.size, limits, source=path, page=index)
                sizes.append(img.size[0] * img.size[1])
            if sum(sizes) > limits.max_file_pixels:
                raise FileTooLargeError(sum(sizes), limits.max_file_pixels, source=path)
            for index in range(frames):
                img.seek(index)
                dpi = _file_dpi(img)
                gray, red = _to_gray(ImageOps.exif_transpose(img))
                yield PageImage(gray, dpi or DEFAULT_IMAGE_DPI, index, path, dpi_from_file=dpi is not None,
                                red_dropped=red)
    except Image.DecompressionBombError as exc:  # Pillow's own limit, when it is below ours
        raise PageTooLargeError(None, None, limits.max_pixels, str(exc), source=path) from exc
    except PILLOW_BAD_DATA as exc:
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
