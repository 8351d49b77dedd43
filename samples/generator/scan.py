"""The simulated scanner of the sample generator: rotation, shift, scale to the scan's dpi, slight
perspective, blur, noise, grey paper, JPEG, optionally upside down."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

DRAW_DPI = 300  # px per inch the filled page is drawn at, before scanning

@dataclass(frozen=True)
class ScanParams:
    """How one page went through the scanner."""

    dpi_out: int
    angle: float  # degrees, counter-clockwise
    shift_mm: tuple[float, float]  # right, down
    corners: tuple[tuple[float, float], ...]  # perspective offsets of the 4 corners, share of the page size
    blur: float  # Gaussian sigma, px at the drawing dpi
    paper: int  # grey level of the paper, 200-245
    black: int  # grey level of solid ink after scanning
    shading: float  # brightness falling off across the page, 0-0.06
    noise: float  # Gaussian noise, grey levels
    jpeg_quality: int
    upside_down: bool
    seed: int  # of the noise and dust


def scan_params(rng: np.random.Generator, *, dpi_out: int, upside_down: bool = False) -> ScanParams:
    """Random scanner settings within what counter scanners and copiers do."""

    def u(lo: float, hi: float) -> float:
        return round(float(rng.uniform(lo, hi)), 4)

    return ScanParams(
        dpi_out=int(dpi_out),
        angle=u(-5, 5) if rng.random() < 0.3 else u(-1.5, 1.5),  # most scans are near straight
        shift_mm=(u(-8, 8), u(-8, 8)),
        corners=tuple((u(-0.01, 0.01), u(-0.01, 0.01)) for _ in range(4)),
        blur=u(0.4, 1.4),
        paper=int(rng.integers(200, 246)),
        black=int(rng.integers(5, 45)),
        shading=u(0, 0.06),
        noise=u(1.5, 6.0),
        jpeg_quality=int(rng.integers(60, 91)),
        upside_down=upside_down,
        seed=int(rng.integers(2**31)),
    )


def _homography(p: ScanParams, w_in: int, h_in: int, dpi_in: float) -> tuple[np.ndarray, tuple[int, int]]:
    s = p.dpi_out / dpi_in
    w, h = round(w_in * s), round(h_in * s)
    src = np.array([[0, 0], [w_in, 0], [w_in, h_in], [0, h_in]], np.float32)
    a = np.deg2rad(p.angle)
    rot = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])  # counter-clockwise on screen
    centre = np.array([w_in / 2, h_in / 2])
    shift = np.array(p.shift_mm) * p.dpi_out / 25.4
    dst = (src - centre) @ rot.T * s + np.array([w / 2, h / 2]) + shift
    dst += np.array(p.corners) * np.array([w, h])
    return cv2.getPerspectiveTransform(src, dst.astype(np.float32)), (w, h)


def apply_scan(image: np.ndarray, p: ScanParams, *, dpi_in: float = DRAW_DPI) -> np.ndarray:
    """Resample, skew, shade, blur, add noise and JPEG artefacts; grey or RGB in, same out."""
    # the blur also keeps thin print lines from aliasing when the scan has fewer dpi
    sigma = max(p.blur, 0.45 * dpi_in / p.dpi_out)
    img = cv2.GaussianBlur(image, (0, 0), sigma)
    # scanner levels: black ink is lifted, white paper turns grey (slightly warm on colour scans)
    tint = (0, 1, 4) if img.ndim == 3 else (0,)
    lut = np.stack([p.black + (p.paper - t - p.black) * np.arange(256) / 255 for t in tint], axis=-1)
    lut = np.clip(lut, 0, 255).astype(np.uint8)
    img = cv2.LUT(img, lut.reshape(1, 256, 3) if img.ndim == 3 else lut.reshape(256))
    lid = tuple([min(255, p.paper + 8)] * 3)  # the scanner lid shows where the page was shifted off
    m, size = _homography(p, image.shape[1], image.shape[0], dpi_in)
    img = cv2.warpPerspective(img, m, size, flags=cv2.INTER_LINEAR, borderValue=lid)
    h, w = img.shape[:2]
    rng = np.random.default_rng(p.seed)
    # sensor noise in 2x2 px grains plus light falling off across the page, added in one pass
    field = rng.standard_normal(((h + 1) // 2, (w + 1) // 2), dtype=np.float32) * p.noise
    field -= p.shading * p.paper * np.linspace(0, 1, field.shape[1], dtype=np.float32)[None, :]
    field = cv2.resize(field, (w, h), interpolation=cv2.INTER_NEAREST)
    img = cv2.add(img, field if img.ndim == 2 else cv2.merge([field] * 3), dtype=cv2.CV_8U)
    for _ in range(int(rng.integers(0, 12))):  # dust on the glass
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.circle(img, c, int(rng.integers(1, 3)), (int(rng.integers(40, 160)),) * 3, -1, cv2.LINE_AA)
    bgr = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, p.jpeg_quality])[1]
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    img = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return cv2.rotate(img, cv2.ROTATE_180) if p.upside_down else img


def scan(
    image: np.ndarray, rng: np.random.Generator, *, dpi_out: int, upside_down: bool = False, dpi_in: float = DRAW_DPI
) -> np.ndarray:
    """Simulate a scanner or photocopier on a page drawn at `dpi_in`; the result is at `dpi_out`."""
    return apply_scan(image, scan_params(rng, dpi_out=dpi_out, upside_down=upside_down), dpi_in=dpi_in)
