"""Homographies as 3 x 3 arrays in edge-convention coordinates (0.0 at a pixel's left edge): how a
registration's map stretches, turns and moves the page, and the same map for OpenCV's warps."""

from __future__ import annotations

import math

import numpy as np


def scales(h: np.ndarray, at: tuple[float, float]) -> tuple[float, float, float]:
    """Singular values (largest first) of the homography's Jacobian at a point, and its angle in degrees."""
    x, y = at
    den = h[2, 0] * x + h[2, 1] * y + h[2, 2]
    u, v = (h[0, 0] * x + h[0, 1] * y + h[0, 2]) / den, (h[1, 0] * x + h[1, 1] * y + h[1, 2]) / den
    jac = (h[:2, :2] - np.outer([u, v], h[2, :2])) / den
    s = np.linalg.svd(jac, compute_uv=False)
    angle = math.degrees(math.atan2(jac[1, 0] - jac[0, 1], jac[0, 0] + jac[1, 1]))
    return float(s[0]), float(s[1]), angle


def scale(s: float) -> np.ndarray:
    return np.diag([s, s, 1.0])


def translate(x: float, y: float) -> np.ndarray:
    return np.array([[1.0, 0.0, x], [0.0, 1.0, y], [0.0, 0.0, 1.0]])


def edge_to_index(m: np.ndarray) -> np.ndarray:
    """A map between edge-convention coordinates as a map between pixel indices (for cv2.warp*)."""
    return translate(-0.5, -0.5) @ m @ translate(0.5, 0.5)
