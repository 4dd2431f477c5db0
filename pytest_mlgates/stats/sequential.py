"""Anytime-valid evidence on a rate (errors, requests over the latency SLO) for rollout steps.

A beta-mixture sequential probability ratio test (Robbins' mSPRT), read as a
confidence sequence: after ``n`` requests with ``k`` events,

    M_n(p) = B(a + k, b + n - k) / B(a, b) / (p^k (1 - p)^(n - k))

is a nonnegative martingale under rate ``p``, so by Ville's inequality
P(M_n(p) >= 1/alpha for some n) <= alpha however often one looks. The set
{p : M_n(p) < 1/alpha} is therefore a confidence sequence (an interval:
log M_n is convex in p). A step breaches as soon as the whole sequence lies
above the threshold, and is clear as soon as it lies below: peeking after
every request keeps the error rates at alpha, where a fixed-sample test
looked at repeatedly would not. Neither scipy nor statsmodels has it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BREACH, CLEAR, UNDECIDED = "breach", "clear", "inconclusive"
PRIOR = (0.5, 0.5)
"""Beta mixing prior (Jeffreys): decides clear breaches within tens of requests."""


def log_mixture_ratio(events: np.ndarray | int, n: np.ndarray | int, p: float,
                      prior: tuple[float, float] = PRIOR) -> np.ndarray:
    """log M_n(p), vectorised over ``events`` and ``n``."""
    from scipy.special import betaln

    a, b = prior
    k = np.asarray(events, dtype=float)
    t = np.asarray(n, dtype=float)
    return betaln(a + k, b + t - k) - betaln(a, b) - k * math.log(p) - (t - k) * math.log1p(-p)


def decide_rate(events: np.ndarray | int, n: np.ndarray | int, threshold: float, alpha: float,
                prior: tuple[float, float] = PRIOR) -> np.ndarray:
    """``breach``/``clear``/``inconclusive`` for "rate <= threshold", vectorised."""
    k = np.asarray(events, dtype=float)
    t = np.asarray(n, dtype=float)
    strong = log_mixture_ratio(k, t, threshold, prior) >= math.log(1.0 / alpha)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(t > 0, k / np.maximum(t, 1), threshold)
    return np.where(strong & (rate > threshold), BREACH, np.where(strong & (rate < threshold), CLEAR, UNDECIDED))


def confidence_sequence(events: int, n: int, alpha: float,
                        prior: tuple[float, float] = PRIOR) -> tuple[float, float]:
    """The (1 - alpha) confidence sequence for the rate after ``n`` requests with ``events`` events."""
    if n == 0:
        return 0.0, 1.0
    from scipy.optimize import brentq

    level = math.log(1.0 / alpha)
    f = lambda p: float(log_mixture_ratio(events, n, p, prior)) - level  # noqa: E731
    centre = min(max(events / n, 1e-12), 1 - 1e-12)
    low = 0.0 if events == 0 or f(1e-12) < 0 else brentq(f, 1e-12, centre)
    high = 1.0 if events == n or f(1 - 1e-12) < 0 else brentq(f, centre, 1 - 1e-12)
    return float(low), float(high)


def requests_to_decide(events: int, n: int, threshold: float, alpha: float, cap: int = 10_000_000) -> int | None:
    """About how many requests in all would decide, if the rate stays as seen (None: it sits on the threshold)."""
    rate = events / n if n else 0.0
    if rate == threshold:
        return None
    t = max(n, 1)
    while t <= cap:
        if decide_rate(round(rate * t), t, threshold, alpha) != UNDECIDED:
            break
        t = math.ceil(t * 1.25) + 1
    else:
        return None
    low = max(n, 1)
    while low < t:  # the smallest count that decides, between the last two tried
        mid = (low + t) // 2
        if decide_rate(round(rate * mid), mid, threshold, alpha) != UNDECIDED:
            t = mid
        else:
            low = mid + 1
    return int(t)


@dataclass(frozen=True)
class RateEvidence:
    """What one rule of a step has seen and concluded (for messages and step figures)."""

    what: str
    events: int
    n: int
    threshold: float
    alpha: float
    verdict: str
    low: float
    high: float
    log_evidence: float
    """log M_n(threshold): the evidence against the threshold, decided at log(1/alpha)."""

    @classmethod
    def of(cls, what: str, events: int, n: int, threshold: float, alpha: float) -> RateEvidence:
        verdict = str(decide_rate(events, n, threshold, alpha)) if n else UNDECIDED
        low, high = confidence_sequence(events, n, alpha)
        return cls(what, events, n, threshold, alpha, verdict, low, high,
                   float(log_mixture_ratio(events, n, threshold)) if n else 0.0)

    def describe(self) -> str:
        return (f"{self.what} {self.events}/{self.n} (confidence sequence [{self.low:.2%}, {self.high:.2%}] at "
                f"{1 - self.alpha:.1%}, limit {self.threshold:.2%}, evidence e^{self.log_evidence:.1f} vs "
                f"1/alpha = {1 / self.alpha:g}): {self.verdict}")
