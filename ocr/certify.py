"""Thresholds with a certified error bound: accept a field kind's readings only above a score
whose error among accepted readings is at most a target, with 95% confidence.

The procedure is Learn-then-Test with fixed-sequence testing (Angelopoulos et al., 2021) on an
exact binomial (Clopper-Pearson) upper bound: candidate thresholds are tested from the strictest
down, and the walk stops at the first one whose bound exceeds the target. Testing in a fixed order
and stopping at the first failure keeps the chance of certifying any threshold whose true error is
above the target at most `delta`, however many thresholds are tried; taking the best of all
thresholds instead would not. Thresholds that too few readings reach to pass even with no error are
skipped before the walk; that depends on the scores alone, not on which readings were wrong.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def binomial_upper(errors: int, n: int, delta: float = 0.05) -> float:
    """Exact one-sided (1 - delta) upper bound on an error rate seen as `errors` in `n` (Clopper-Pearson)."""
    if n <= 0:
        return 1.0
    if errors >= n:
        return 1.0
    if errors == 0:
        return 1.0 - delta ** (1.0 / n)
    lo, hi = errors / n, 1.0
    for _ in range(60):  # bisection on P(X <= errors | n, p) = delta, decreasing in p
        mid = (lo + hi) / 2
        if _binomial_cdf(errors, n, mid) > delta:
            lo = mid
        else:
            hi = mid
    return hi


def _binomial_cdf(k: int, n: int, p: float) -> float:
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0 if k < n else 1.0
    lp, lq = math.log(p), math.log1p(-p)
    terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq for i in range(k + 1)]
    top = max(terms)
    return math.exp(top) * sum(math.exp(t - top) for t in terms)


@dataclass(frozen=True)
class Certified:
    """The outcome of certifying one field kind's threshold.

    Attributes:
        threshold: the lowest score certified, or None when not even the strictest candidate is.
        accepted: calibration readings at or above it.
        errors: wrong readings among those.
        upper: the (1 - delta) upper bound of the error among accepted readings at `threshold`.
        total: calibration readings in all.
    """

    threshold: float | None
    accepted: int
    errors: int
    upper: float | None
    total: int

    @property
    def coverage(self) -> float:
        return self.accepted / self.total if self.total else 0.0


def certify(scores: Sequence[float], wrong: Sequence[bool], max_error: float, delta: float = 0.05,
            candidates: Sequence[float] | None = None) -> Certified:
    """The lowest threshold whose accepted readings (score >= threshold) have an error bound <= max_error.

    Args:
        scores: one acceptance score per calibration reading (higher is surer), 0.0-1.0.
        wrong: whether that reading was wrong.
        max_error: the error rate the accepted readings may have, e.g. 0.001.
        delta: the chance allowed that the certificate is wrong (0.05: 95% confidence).
        candidates: thresholds to walk down, strictest first is not required (they are sorted);
            default: every distinct score.
    """
    pairs = sorted(zip(scores, wrong), key=lambda p: -p[0])
    steps = sorted(set(candidates if candidates is not None else scores), reverse=True)
    best = Certified(None, 0, 0, None, len(pairs))
    n = errors = 0
    for t in steps:
        while n < len(pairs) and pairs[n][0] >= t:
            errors += bool(pairs[n][1])
            n += 1
        if binomial_upper(0, n, delta) > max_error:
            continue  # too few readings to pass even without an error: depends on scores alone, not tested
        upper = binomial_upper(errors, n, delta)
        if upper > max_error:
            break
        best = Certified(float(t), n, errors, upper, len(pairs))
    return best
