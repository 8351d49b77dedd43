"""Identify which form a page is and register it to that form's template.

Each template's blank form is rendered once at `reference_dpi` and described by ORB features.
A page is scaled to about the same dpi, matched against every reference (ratio test, MAGSAC
homography), and every plausible candidate is then checked densely: how much of the form's print
is found on the page, and how much of the page's ink outside the writing areas is the form's
print. The three forms share their table style, so the dense check, not the feature count,
decides; a small margin between the best two is refused. The winner is refined by matching
small patches of print (box corners, labels) around their predicted places, which brings
field boxes to within a few tenths of a millimetre.

Homographies here map template millimetres to page pixels in the pixel-edge convention of
`ocr.render.mm_to_px`: pixel (i, j) covers [i, i+1) x [j, j+1) and has its centre at i + 0.5.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from ocr.errors import BlankPageError, UnknownFormError
from ocr.homography import edge_to_index, scale, scales, translate
from ocr.layout import layout_form
from ocr.pages import PageImage, normalise_background
from ocr.render import MM_PER_INCH, box_px, render_page
from schemas.templates import FormTemplate

INK_LEVEL = 170  # grey level below which a background-normalised pixel is ink
BLANK_INK_SHARE = 0.0003  # share of ink pixels below which a page is blank
REFERENCE_FEATURES = 2000  # ORB features per blank form; matching cost grows with the product
PAGE_FEATURES = 1500
MIN_INLIERS = 25  # feature inliers a candidate needs to be considered at all
MIN_SCORE = 0.70  # dense match score the best form needs
MIN_MARGIN = 0.08  # best score minus the second best
NEAR_MM = 0.8  # tolerance of the dense check
EDGE_MM = 6.0  # page ink this close to the page's edge is not judged (scanner borders, shadows)
MAX_TILT_DEG = 12.0  # rotation allowed around 0 and 180 degrees
MAX_ANISOTROPY = 1.12  # ratio of the two scale factors (shear, stretch)
PATCH_MM = 10.0  # side of a refinement patch
SEARCH_MM = 2.5  # how far a patch may move in refinement
MIN_PATCH_CORR = 0.55  # normalised correlation a refinement patch needs to be trusted


@dataclass(frozen=True)
class Registration:
    """Where a template sits on a page.

    Attributes:
        template: the identified form.
        homography: 3x3, template mm -> page px (pixel-edge convention, see module docstring).
        inliers: feature matches consistent with the homography.
        score: 0..1, dense agreement between the page and the form's print after refinement.
        upside_down: the page was scanned rotated by about 180 degrees.
        second_best: (form id, score) of the runner-up, for logs; None when only one was tried.
    """

    template: FormTemplate
    homography: np.ndarray
    inliers: int
    score: float
    upside_down: bool
    second_best: tuple[str, float] | None = None

    def to_page(self, mm_points: np.ndarray | list) -> np.ndarray:
        """Map (N, 2) points in template mm to page px (pixel-edge convention)."""
        pts = np.asarray(mm_points, dtype=np.float64).reshape(-1, 1, 2)
        return cv2.perspectiveTransform(pts, self.homography).reshape(-1, 2)

    @property
    def page_dpi(self) -> float:
        """The scan's true resolution, measured from the homography at the page centre."""
        w, h = self.template.page_size
        s1, s2, _ = scales(self.homography, (w / 2, h / 2))
        return math.sqrt(s1 * s2) * MM_PER_INCH

    def warp(self, page_image: np.ndarray, dpi: float, *, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
        """The page resampled into template coordinates: same size as render_page(template, dpi).

        Areas outside the scan come out white.
        """
        w_mm, h_mm = self.template.page_size
        size = (round(w_mm * dpi / MM_PER_INCH), round(h_mm * dpi / MM_PER_INCH))
        m = edge_to_index(self.homography @ scale(MM_PER_INCH / dpi))
        flags = interpolation | cv2.WARP_INVERSE_MAP
        return cv2.warpPerspective(page_image, m, size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=255)


@dataclass(frozen=True)
class _Reference:
    """A blank form prepared for matching, at the reference dpi."""

    template: FormTemplate
    dpi: float
    image: np.ndarray  # blank form, uint8
    points_mm: np.ndarray  # (N, 2) feature positions
    descriptors: np.ndarray
    ink: np.ndarray  # bool, the form's print
    near_ink: np.ndarray  # bool, print dilated by NEAR_MM
    judged: np.ndarray  # bool, where page ink must be print: not where applicants write, not the edges
    patches: np.ndarray  # (M, 2) refinement patch centres, reference px (index convention)


@dataclass(frozen=True)
class _PreparedPage:
    small: np.ndarray  # background-normalised page at about the reference dpi
    to_small: np.ndarray  # 3x3, page px -> small px (edge convention)
    keypoints: np.ndarray  # (N, 2), small px (edge convention)
    descriptors: np.ndarray | None


@dataclass(frozen=True)
class _Candidate:
    form_id: str
    homography: np.ndarray  # template mm -> small px
    inliers: int
    score: float


def identify_and_register(
    page: PageImage,
    templates: Mapping[str, FormTemplate],
    *,
    form_id: str | None = None,
    reference_dpi: float = 100,
) -> Registration:
    """Find which form the page is and where it lies on the page.

    Args:
        page: a loaded page.
        templates: the known forms by id (of a form of several pages, its first page is matched).
        form_id: when given, skip identification and only register to this form.
        reference_dpi: resolution of matching; 100 dpi is enough for 0.5 mm.

    Raises:
        BlankPageError: no ink on the page at all.
        UnknownFormError: no known form matches well enough, or two match about equally.
    """
    if form_id is not None:
        if form_id not in templates:
            raise KeyError(f"unknown form id {form_id!r}")
        templates = {form_id: templates[form_id]}
    if not templates:
        raise ValueError("no templates to match against")
    refs = {fid: _reference(t.page_forms()[0], float(reference_dpi)) for fid, t in templates.items()}
    some = next(iter(templates.values()))
    prepared = _prepare(page, _guess_dpi(page, some.page_size), float(reference_dpi))
    candidates = sorted(
        (c for fid, ref in refs.items() if (c := _candidate(fid, ref, prepared)) is not None),
        key=lambda c: c.score,
        reverse=True,
    )
    _check_identified(page, candidates)
    best = candidates[0]
    ref = refs[best.form_id]
    h_small = _refine(best.homography, ref, prepared.small)
    score = _dense_score(h_small, ref, prepared.small)
    if score < best.score - 0.02:  # refinement went astray (e.g. patches hidden by writing)
        h_small, score = best.homography, best.score
    h_page = np.linalg.inv(prepared.to_small) @ h_small
    w, hh = ref.template.page_size
    second = (candidates[1].form_id, round(candidates[1].score, 4)) if len(candidates) > 1 else None
    return Registration(
        template=ref.template,
        homography=h_page / h_page[2, 2],
        inliers=best.inliers,
        score=float(score),
        upside_down=abs(scales(h_page, (w / 2, hh / 2))[2]) > 90,
        second_best=second,
    )


def _check_identified(page: PageImage, candidates: list[_Candidate]) -> None:
    if not candidates:
        reason = "no form matched (too few consistent features)"
    elif candidates[0].score < MIN_SCORE:
        reason = f"best match {candidates[0].form_id} scored {candidates[0].score:.2f} < {MIN_SCORE}"
    elif len(candidates) > 1 and candidates[0].score - candidates[1].score < MIN_MARGIN:
        (a, b) = candidates[:2]
        reason = f"ambiguous: {a.form_id} {a.score:.2f} vs {b.form_id} {b.score:.2f}"
    else:
        return
    raise UnknownFormError(reason, source=page.source, page=page.index)


def _orb(n: int) -> cv2.ORB:
    return cv2.ORB_create(nfeatures=n, scaleFactor=1.25, nlevels=6, edgeThreshold=19, patchSize=19, fastThreshold=12)


@lru_cache(maxsize=32)
def _reference(template: FormTemplate, dpi: float) -> _Reference:
    # rendered finer and area-averaged, as a scanner sees print: line positions then agree with a
    # scan at any dpi to a few hundredths of a mm (a direct 100 dpi raster snaps lines to pixels)
    fine = render_page(template, dpi * 3)
    w_mm, h_mm = template.page_size
    size = (round(w_mm * dpi / MM_PER_INCH), round(h_mm * dpi / MM_PER_INCH))
    image = cv2.resize(fine, size, interpolation=cv2.INTER_AREA)
    kps, desc = _orb(REFERENCE_FEATURES).detectAndCompute(image, None)
    pts_px = np.array([k.pt for k in kps], dtype=np.float64) + 0.5
    ink = image < INK_LEVEL
    near = _dilate(ink, _mm_px(NEAR_MM, dpi))
    writing = np.zeros_like(ink)
    for fl in layout_form(template).values():
        for box in (*fl.cells, *fl.parts, *fl.ticks.values(), *(c for cells in fl.date_parts.values() for c in cells)):
            x0, y0, x1, y1 = box_px(box.inset(-1.5), dpi, image.shape)
            writing[y0:y1, x0:x1] = True
    edge = _mm_px(EDGE_MM, dpi)
    judged = np.zeros_like(ink)
    judged[edge:-edge, edge:-edge] = True
    judged &= ~writing
    return _Reference(
        template=template,
        dpi=dpi,
        image=image,
        points_mm=pts_px * (MM_PER_INCH / dpi),
        descriptors=desc,
        ink=ink,
        near_ink=near,
        judged=judged,
        patches=_patch_centres(image, writing, dpi),
    )


def _patch_centres(image: np.ndarray, writing: np.ndarray, dpi: float) -> np.ndarray:
    """Places where printed structure pins a patch down in both directions (corners, glyphs)."""
    half = _mm_px(PATCH_MM / 2, dpi) + _mm_px(SEARCH_MM, dpi)
    mask = np.zeros(image.shape, np.uint8)
    mask[half:-half, half:-half] = 255
    shrunk = cv2.erode(writing.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=_mm_px(1.5, dpi))
    mask[shrunk > 0] = 0  # inside writing areas handwriting would dominate the patch
    blurred = cv2.GaussianBlur(image, (0, 0), 1.0)
    corners = cv2.goodFeaturesToTrack(
        blurred, maxCorners=80, qualityLevel=0.02, minDistance=_mm_px(12, dpi), mask=mask, blockSize=7
    )
    return np.empty((0, 2)) if corners is None else corners.reshape(-1, 2)


def _guess_dpi(page: PageImage, page_size_mm: tuple[float, float]) -> float:
    """The page's dpi: its tag if consistent with an A4-ish scan, else from the image size."""
    long_px = max(page.image.shape)
    size_dpi = long_px / max(page_size_mm) * MM_PER_INCH
    if page.dpi_from_file and 0.75 <= page.dpi / size_dpi <= 1.35:
        return page.dpi
    return size_dpi


def _prepare(page: PageImage, page_dpi: float, ref_dpi: float) -> _PreparedPage:
    img = page.image
    size = (max(1, round(img.shape[1] * ref_dpi / page_dpi)), max(1, round(img.shape[0] * ref_dpi / page_dpi)))
    shrink = size[0] < img.shape[1]
    small = cv2.resize(img, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    small = normalise_background(small, ref_dpi)
    ink = small < INK_LEVEL
    ink = cv2.morphologyEx(ink.astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    if ink.mean() < BLANK_INK_SHARE:
        raise BlankPageError(f"ink share {ink.mean():.5f}", source=page.source, page=page.index)
    kps, desc = _orb(PAGE_FEATURES).detectAndCompute(small, None)
    pts = np.array([k.pt for k in kps], dtype=np.float64).reshape(-1, 2) + 0.5
    # cv2.resize maps edge coordinates exactly by the ratio of the actual sizes
    to_small = np.diag([size[0] / img.shape[1], size[1] / img.shape[0], 1.0])
    return _PreparedPage(small=small, to_small=to_small, keypoints=pts, descriptors=desc)


def _candidate(form_id: str, ref: _Reference, page: _PreparedPage) -> _Candidate | None:
    """Feature-match one reference; None when it does not fit at all."""
    if page.descriptors is None or len(page.descriptors) < MIN_INLIERS:
        return None
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(page.descriptors, ref.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.8 * p[1].distance]
    if len(good) < MIN_INLIERS:
        return None
    src = ref.points_mm[[m.trainIdx for m in good]]
    dst = page.keypoints[[m.queryIdx for m in good]]
    thresh = 3.0 * ref.dpi / 100.0  # small px
    h, mask = cv2.findHomography(src, dst, cv2.USAC_MAGSAC, thresh, maxIters=5000, confidence=0.999)
    if h is None or int(mask.sum()) < MIN_INLIERS or not _plausible(h, ref):
        # features on part of the page only (a form printed on its upper half) leave a homography's
        # perspective free, and it may fit them bent: then the page as a scanner moves it, turned,
        # shifted and scaled, which `_refine` straightens afterwards (a tuning scan matched 215
        # features to a bent fit scoring 0.37; this fit matched 244 and scored 1.0)
        a, mask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=thresh,
                                              maxIters=5000, confidence=0.999)
        h = None if a is None else np.vstack([a, [0.0, 0.0, 1.0]])
    if h is None:
        return None
    inliers = int(mask.sum())
    if inliers < MIN_INLIERS or not _plausible(h, ref):
        return None
    return _Candidate(form_id, h, inliers, _dense_score(h, ref, page.small))


def _plausible(h: np.ndarray, ref: _Reference) -> bool:
    """Scale near the reference dpi, little shear or stretch, upright or upside down, convex."""
    w, hh = ref.template.page_size
    expected = ref.dpi / MM_PER_INCH
    s1, s2, angle = scales(h, (w / 2, hh / 2))
    if not (0.6 * expected < s2 <= s1 < 1.6 * expected) or s1 / s2 > MAX_ANISOTROPY:
        return False
    tilt = min(abs(angle), abs(180 - abs(angle)))
    if tilt > MAX_TILT_DEG:
        return False
    corners = np.array([[0, 0], [w, 0], [w, hh], [0, hh]], np.float64).reshape(-1, 1, 2)
    quad = cv2.perspectiveTransform(corners, h).reshape(-1, 2).astype(np.float32)
    return bool(cv2.isContourConvex(quad))


def _dense_score(h: np.ndarray, ref: _Reference, small: np.ndarray) -> float:
    """F1 of print found on the page and page ink (outside writing areas) explained by print."""
    flat = _flatten_small(h, ref, small)
    ink = flat < INK_LEVEL
    near_page = _dilate(ink, _mm_px(NEAR_MM, ref.dpi))
    recall = near_page[ref.ink].mean()
    outside = ink & ref.judged
    total = outside.sum()
    precision = ref.near_ink[outside].sum() / total if total else 0.0
    if recall + precision == 0:
        return 0.0
    return float(2 * recall * precision / (recall + precision))


def _flatten_small(h: np.ndarray, ref: _Reference, small: np.ndarray) -> np.ndarray:
    m = edge_to_index(h @ scale(MM_PER_INCH / ref.dpi))
    return cv2.warpPerspective(
        small, m, ref.image.shape[::-1], flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderValue=255
    )


def _refine(h: np.ndarray, ref: _Reference, small: np.ndarray) -> np.ndarray:
    """Correct the homography by matching print patches of the reference on the flattened page."""
    for search_mm in (SEARCH_MM, SEARCH_MM / 2):
        flat = _flatten_small(h, ref, small)
        found = _match_patches(ref, flat, search_mm)
        if len(found) < 8:
            return h
        src, dst = found[:, 0:2], found[:, 2:4]  # reference px -> flattened px, both index coords
        corr, mask = cv2.findHomography(src, dst, cv2.RANSAC, 1.0)
        if corr is None or mask.sum() < 8:
            return h
        # flattened index px -> mm is the same map as reference index px -> mm
        to_mm = scale(MM_PER_INCH / ref.dpi) @ translate(0.5, 0.5)
        h = h @ to_mm @ corr @ np.linalg.inv(to_mm)
        h = h / h[2, 2]
    return h


def _match_patches(ref: _Reference, flat: np.ndarray, search_mm: float) -> np.ndarray:
    """(K, 4) rows of reference point (x, y) and where it was found on the flattened page."""
    half = _mm_px(PATCH_MM / 2, ref.dpi)
    reach = _mm_px(search_mm, ref.dpi)
    ref_img = ref.image
    rows = []
    for cx, cy in ref.patches:
        x, y = int(round(cx)), int(round(cy))
        tpl = ref_img[y - half : y + half + 1, x - half : x + half + 1]
        win = flat[y - half - reach : y + half + reach + 1, x - half - reach : x + half + reach + 1]
        if win.shape[0] < tpl.shape[0] + 2 or win.shape[1] < tpl.shape[1] + 2 or tpl.std() < 1:
            continue
        res = cv2.matchTemplate(win, tpl, cv2.TM_CCOEFF_NORMED)
        _, peak, _, (px, py) = cv2.minMaxLoc(res)
        if peak < MIN_PATCH_CORR or not (0 < px < res.shape[1] - 1 and 0 < py < res.shape[0] - 1):
            continue
        dx = px + _subpixel(res[py, px - 1 : px + 2]) - reach
        dy = py + _subpixel(res[py - 1 : py + 2, px]) - reach
        rows.append((x, y, x + dx, y + dy))
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


def _subpixel(v: np.ndarray) -> float:
    """Offset of a parabola's peak through three samples, in -0.5..0.5."""
    denom = v[0] - 2 * v[1] + v[2]
    return 0.0 if denom >= 0 else float(np.clip(0.5 * (v[0] - v[2]) / denom, -0.5, 0.5))


def _mm_px(mm: float, dpi: float) -> int:
    return max(1, round(mm * dpi / MM_PER_INCH))


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask.astype(np.uint8), k) > 0
