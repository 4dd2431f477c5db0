"""A paired estimate of a contrast and the three-way non-inferiority decision on it.

The contrast is ``challenger loss - weight * champion loss`` (weight 1 for an
absolute margin, 1 + tolerance for a relative one), so a relative margin is
tested exactly as a linear hypothesis instead of as a ratio of two noisy
numbers. For reading, intervals are reported on the plain difference
``challenger - champion``: the tested interval shifted by the margin, which
leaves the decision unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

PASS, FAIL, INCONCLUSIVE = "PASS", "FAIL", "INCONCLUSIVE"


@dataclass(frozen=True)
class PairedEstimate:
    """The sampling distribution of a contrast: normal (``se``) or bootstrap (``draws``)."""

    method: str
    n: int
    estimate: float
    """Point value of the tested contrast (<= 0 means within the margin)."""
    se: float | None = None
    df: float | None = None
    """Degrees of freedom of a t interval; None for a normal one."""
    draws: Any = None
    """Bootstrap draws of the contrast (a numpy array), for percentile intervals."""

    def shifted(self, by: float) -> PairedEstimate:
        """The same estimate of ``contrast - by`` (an absolute margin moved into the contrast)."""
        from dataclasses import replace

        draws = None if self.draws is None else self.draws - by
        return replace(self, estimate=self.estimate - by, draws=draws)

    def _quantile(self, q: float) -> float:
        from scipy import stats

        return float(stats.norm.ppf(q) if self.df is None else stats.t.ppf(q, self.df))

    def interval(self, level: float) -> tuple[float, float]:
        """Two-sided ``level`` interval of the contrast."""
        tail = (1.0 - level) / 2.0
        if self.draws is not None:
            low, high = np.quantile(self.draws, [tail, 1.0 - tail])
            return float(low), float(high)
        assert self.se is not None
        half = self._quantile(1.0 - tail) * self.se
        return self.estimate - half, self.estimate + half

    def p_value(self) -> float:
        """One-sided p-value of H0 "contrast >= 0" (the challenger is worse than the margin allows)."""
        if self.draws is not None:
            # The share of draws at or beyond the margin: the dual of the percentile interval, so a
            # check passes exactly when its interval (at its Holm level) lies inside the margin. A "+1"
            # correction would put a floor of 1 / (B + 1) under it, which a large Holm family could
            # never get below.
            return float(np.count_nonzero(self.draws >= 0.0) / len(self.draws))
        assert self.se is not None
        if self.se == 0:
            return 0.0 if self.estimate < 0 else 1.0
        from scipy import stats

        z = self.estimate / self.se
        return float(stats.norm.cdf(z) if self.df is None else stats.t.cdf(z, self.df))

    def spread(self) -> float:
        """Standard error of the contrast (from the draws for a bootstrap)."""
        if self.draws is not None:
            return float(np.std(self.draws, ddof=1))
        return float(self.se or 0.0)

    def rows_to_decide(self, level: float) -> int | None:
        """About how many rows would make the interval clear the margin, if the effect stays as seen.

        The standard error falls as 1/sqrt(n); None when the estimate sits on the margin.
        """
        if self.estimate == 0 or self.n == 0:
            return None
        from scipy import stats

        z = float(stats.norm.ppf(1.0 - (1.0 - level) / 2.0))
        needed = self.n * (z * self.spread() / abs(self.estimate)) ** 2
        return max(self.n + 1, math.ceil(needed))


def decide(estimate: PairedEstimate, level: float) -> tuple[str, tuple[float, float]]:
    """PASS when the interval lies inside the margin, FAIL when outside, else INCONCLUSIVE."""
    low, high = estimate.interval(level)
    if high < 0:
        return PASS, (low, high)
    if low > 0:
        return FAIL, (low, high)
    return INCONCLUSIVE, (low, high)
