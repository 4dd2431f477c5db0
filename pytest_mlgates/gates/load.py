"""The load gate: does the endpoint meet its latency and error SLO, and do the data show it?

A pass needs evidence, not luck. "p99 < X" is a claim about a quantile: it
holds when fewer than 1% of requests take X or longer, so the gate counts the
requests at or above X and runs an exact one-sided binomial test against 1%.
With no request above X, 299 requests are the fewest that support the claim
at 95% confidence (0.99^299 < 0.05); with fewer, or with a borderline count,
the gate fails as INCONCLUSIVE and says how many requests it would take. The
error rate is judged the same way (Clopper-Pearson upper bound below the
limit). Percentiles are nearest-rank (an observed latency, never an
interpolation), and the p99 interval is the distribution-free order-statistic
interval. Zero requests never pass.

Latencies are every request's own (failed ones included: a slow timeout is
slow), measured by the load generator to the microsecond, not locust's
rounded statistics.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..config import Settings
from .context import conclude, current_settings
from .verdict import Verdict, fmt

MAX_NEEDED = 100_000_000


@dataclass
class LoadResult:
    """What a load test measured: every request's latency and outcome, plus where it was aimed."""

    latencies_ms: list[float]
    """Every request's latency in milliseconds, in start order."""
    ok: list[bool]
    """Per request: True when it succeeded (same order as ``latencies_ms``)."""
    errors: dict[str, int] = field(default_factory=dict)
    """Failure kinds and their counts, e.g. ``{"HTTP 500 InjectedFault": 12}``."""
    duration_s: float = 0.0
    """From the first request's start to the last request's end."""
    target: str = ""
    users: int = 0
    statuses: list[int] = field(default_factory=list)
    start_times: list[float] = field(default_factory=list)
    deployments: list[str] = field(default_factory=list)
    """Per request: the deployment that answered (by the adapter's ``served_by`` rule), "" if unknown."""
    output: str = ""
    """The tail of the load generator's output, for messages."""

    @classmethod
    def from_samples(
        cls,
        latencies_ms: Iterable[float],
        failed: Iterable[bool] | None = None,
        errors: Mapping[str, int] | None = None,
        duration_s: float | None = None,
        target: str = "",
    ) -> LoadResult:
        """Build a result from latencies measured by any tool (``failed`` defaults to all succeeded)."""
        lat = [float(x) for x in latencies_ms]
        fails = [bool(x) for x in failed] if failed is not None else [False] * len(lat)
        if len(fails) != len(lat):
            raise ValueError(f"{len(lat)} latencies but {len(fails)} failure flags")
        n_failed = sum(fails)
        errs = dict(errors) if errors else ({"failed": n_failed} if n_failed else {})
        if duration_s is None:
            duration_s = sum(lat) / 1000.0
        return cls(latencies_ms=lat, ok=[not f for f in fails], errors=errs, duration_s=duration_s, target=target)

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    @property
    def failures(self) -> int:
        return self.ok.count(False)

    @property
    def error_rate(self) -> float:
        """Failures / requests (0.0 when there were no requests; the gate still refuses to pass then)."""
        return self.failures / self.requests if self.requests else 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile (``q`` in 0..100): an observed latency; NaN with no requests."""
        if not self.latencies_ms:
            return math.nan
        ordered = sorted(self.latencies_ms)
        rank = max(1, math.ceil(q / 100.0 * len(ordered)))
        return ordered[min(rank, len(ordered)) - 1]

    @property
    def p50_ms(self) -> float:
        return self.percentile(50)

    @property
    def p90_ms(self) -> float:
        return self.percentile(90)

    @property
    def p95_ms(self) -> float:
        return self.percentile(95)

    @property
    def p99_ms(self) -> float:
        return self.percentile(99)

    @property
    def max_ms(self) -> float:
        return max(self.latencies_ms) if self.latencies_ms else math.nan

    def summary(self) -> dict[str, Any]:
        """The figures of the run as plain numbers (for reports and JSON)."""
        return {"requests": self.requests, "failures": self.failures, "error_rate": self.error_rate,
                "rps": self.rps, "duration_s": self.duration_s, "p50_ms": self.p50_ms, "p90_ms": self.p90_ms,
                "p95_ms": self.p95_ms, "p99_ms": self.p99_ms, "max_ms": self.max_ms, "errors": dict(self.errors),
                "target": self.target, "users": self.users}

    def __repr__(self) -> str:
        return (f"LoadResult(requests={self.requests}, failures={self.failures}, rps={self.rps:.1f}, "
                f"p50_ms={self.p50_ms:.2f}, p99_ms={self.p99_ms:.2f}, max_ms={self.max_ms:.2f}, "
                f"target={self.target!r})")


# -- statistics -------------------------------------------------------------------
def quantile_interval(sorted_values: Sequence[float], q: float, confidence: float) -> tuple[float, float]:
    """Distribution-free two-sided interval of the ``q`` quantile from order statistics (inf when unbounded)."""
    from scipy.stats import binom

    n = len(sorted_values)
    alpha = 1.0 - confidence
    lo_rank = int(binom.ppf(alpha / 2, n, q))  # 1-based rank of the lower bound
    hi_rank = int(binom.ppf(1 - alpha / 2, n, q)) + 1
    low = sorted_values[lo_rank - 1] if lo_rank >= 1 else -math.inf
    high = sorted_values[hi_rank - 1] if hi_rank <= n else math.inf
    return low, high


def exceedance_p_value(exceed: int, n: int, q: float) -> float:
    """P-value of "the q quantile is below the threshold" given ``exceed`` of ``n`` at or above it."""
    from scipy.stats import binom

    return float(binom.cdf(exceed, n, 1.0 - q))


def proportion_interval(k: int, n: int, confidence: float) -> tuple[float, float]:
    """Two-sided Clopper-Pearson interval of a proportion."""
    from scipy.stats import beta

    alpha = 1.0 - confidence
    low = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return low, high


def proportion_upper(k: int, n: int, confidence: float) -> float:
    """One-sided Clopper-Pearson upper bound of a proportion."""
    from scipy.stats import beta

    return 1.0 if k >= n else float(beta.ppf(confidence, k + 1, n - k))


def _needed(supported: Any, n: int, rate: float) -> int | None:
    """Fewest requests at the observed ``rate`` for which ``supported(k, N)`` holds (None if beyond reach)."""
    def ok(total: int) -> bool:
        return bool(supported(math.floor(rate * total), total))

    low = high = max(n, 1)
    while not ok(high):
        low, high = high + 1, high * 2
        if high > MAX_NEEDED:
            return None
    while low < high:
        mid = (low + high) // 2
        if ok(mid):
            high = mid
        else:
            low = mid + 1
    return high


def _check_threshold(name: str, value: Any, upper: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"assert_slo: {name} must be a positive number, got {value!r}; "
                         f"set it in the call or in [tool.mlgates.load]")
    if upper is not None and value >= upper:
        raise ValueError(f"assert_slo: {name} must be below {upper:g}, got {value!r}")
    return float(value)


def _ms(value: float) -> str:
    if math.isinf(value):
        return "unbounded" if value > 0 else "-inf"
    return f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"


def _pct(value: float) -> str:
    return f"{value * 100:.4g}%"


def evaluate_slo(
    result: LoadResult,
    *,
    p99_ms: float,
    max_error_rate: float,
    confidence: float = 0.95,
    extra_quantiles: Mapping[float, float] | None = None,
    label: str = "",
) -> Verdict:
    """The load verdict as data (never raises for bad measurements; it fails closed instead)."""
    _check_threshold("p99_ms", p99_ms)
    _check_threshold("max_error_rate", max_error_rate, upper=1.0)
    _check_threshold("confidence", confidence, upper=1.0)
    thresholds = {0.99: float(p99_ms)}
    for q, limit in (extra_quantiles or {}).items():
        thresholds[float(q)] = _check_threshold(f"p{q * 100:g}_ms", limit)
    n = result.requests
    alpha = 1.0 - confidence
    who = label or result.target or "the endpoint"
    figures: dict[str, Any] = {"target": who, "requests": n, "failures": result.failures,
                               "p99_threshold_ms": p99_ms, "max_error_rate": max_error_rate,
                               "confidence": confidence, "rps": result.rps, "duration_s": result.duration_s,
                               "users": result.users, "errors": dict(result.errors)}
    if n == 0:
        figures["status"] = "inconclusive"
        tail = f"\n--- load generator output ---\n{result.output}" if result.output else ""
        return Verdict("load", False, (
            f"load gate INCONCLUSIVE (fails closed) for {who}: no request completed, so nothing supports "
            f"p99 < {fmt(p99_ms)} ms or error rate < {_pct(max_error_rate)}. Check that the endpoint is "
            f"reachable and the load ran (duration, users).{tail}"), figures)

    ordered = sorted(result.latencies_ms)
    figures.update(p50_ms=result.p50_ms, p90_ms=result.p90_ms, p95_ms=result.p95_ms, p99_ms=result.p99_ms,
                   max_ms=result.max_ms, error_rate=result.error_rate)
    failed: list[str] = []
    unsure: list[str] = []
    lines: list[str] = []
    for q, limit in sorted(thresholds.items(), reverse=True):
        name = f"p{q * 100:g}"
        observed = result.percentile(q * 100)
        low, high = quantile_interval(ordered, q, confidence)
        exceed = sum(1 for x in ordered if x >= limit)
        p_value = exceedance_p_value(exceed, n, q)
        allowed = 1.0 - q
        figures.update({f"{name}_ci_ms": [low, high], f"{name}_exceedances": exceed,
                        f"{name}_p_value": p_value})
        line = (f"latency {name}: {_ms(observed)} ({confidence:.0%} CI {_ms(low)} - {_ms(high)}), "
                f"threshold < {fmt(limit)} ms; {exceed} of {n} requests ({_pct(exceed / n)}) took "
                f">= {fmt(limit)} ms, at most {_pct(allowed)} may; one-sided binomial p = {p_value:.4g} "
                f"(needs <= {alpha:.3g})")
        lines.append(line)
        if exceed / n > allowed:
            failed.append(f"{name} {_ms(observed)} is not below the {fmt(limit)} ms threshold")
        elif p_value > alpha:
            need = _needed(lambda k, total: exceedance_p_value(k, total, q) <= alpha, n, exceed / n)
            how = (f"at least {need} requests would be needed at the observed rate ({exceed} above)"
                   if need else "the observed rate is too close to the limit for any practical run")
            figures[f"{name}_needed_requests"] = need
            unsure.append(f"{n} requests cannot show {name} < {fmt(limit)} ms at {confidence:.0%} confidence: "
                          f"{how}; run longer or with more users")

    k = result.failures
    e_low, e_high = proportion_interval(k, n, confidence)
    e_upper = proportion_upper(k, n, confidence)
    figures.update(error_rate_ci=[e_low, e_high], error_rate_upper=e_upper)
    lines.append(f"error rate: {_pct(k / n)} ({k} of {n}; {confidence:.0%} CI {_pct(e_low)} - {_pct(e_high)}, "
                 f"one-sided upper bound {_pct(e_upper)}), threshold < {_pct(max_error_rate)}")
    if k / n >= max_error_rate:
        failed.append(f"error rate {_pct(k / n)} is not below {_pct(max_error_rate)}")
    elif e_upper >= max_error_rate:
        need = _needed(lambda kk, total: proportion_upper(kk, total, confidence) < max_error_rate, n, k / n)
        how = (f"at least {need} requests would be needed at the observed rate" if need
               else "the observed rate is too close to the limit for any practical run")
        figures["error_rate_needed_requests"] = need
        unsure.append(f"{n} requests cannot show an error rate < {_pct(max_error_rate)} at "
                      f"{confidence:.0%} confidence: {how}")
    lines.append(f"p50 {_ms(result.p50_ms)}, p90 {_ms(result.p90_ms)}, p95 {_ms(result.p95_ms)}, "
                 f"max {_ms(result.max_ms)}; {n} requests in {result.duration_s:.1f} s ({result.rps:.1f} req/s)"
                 + (f", {result.users} users" if result.users else ""))
    if result.errors:
        top = sorted(result.errors.items(), key=lambda kv: -kv[1])
        lines.append("errors: " + "; ".join(f"{kind} x {count}" for kind, count in top[:8])
                     + (f"; ... {len(top) - 8} more kinds" if len(top) > 8 else ""))
    if failed:
        status, head = "failed", f"load gate FAILED for {who}: " + "; ".join(failed)
    elif unsure:
        status, head = "inconclusive", f"load gate INCONCLUSIVE (fails closed) for {who}: " + "; ".join(unsure)
    else:
        status, head = "passed", (f"load gate passed for {who}: p99 < {fmt(p99_ms)} ms and error rate < "
                                  f"{_pct(max_error_rate)} at {confidence:.0%} confidence")
    figures["status"] = status
    return Verdict("load", status == "passed", head + "\n  " + "\n  ".join(lines), figures)


def assert_slo(
    result: LoadResult,
    p99_ms: float | None = None,
    max_error_rate: float | None = None,
    *,
    confidence: float | None = None,
    p95_ms: float | None = None,
    p50_ms: float | None = None,
    label: str = "",
    settings: Settings | None = None,
) -> Verdict:
    """Raise AssertionError unless the data show p99 < ``p99_ms`` and error rate < ``max_error_rate``.

    Unset arguments default to ``[tool.mlgates.load]``. Too few requests to
    decide is a failure (INCONCLUSIVE) that says how many are needed; a
    threshold that is not a positive number is a ValueError (a usage error).
    """
    if not isinstance(result, LoadResult):
        raise TypeError(f"assert_slo needs a LoadResult (from the load_test fixture or LoadResult.from_samples), "
                        f"got {type(result).__name__}")
    s = current_settings(settings)
    extra = {q: v for q, v in ((0.95, p95_ms), (0.5, p50_ms)) if v is not None}
    verdict = evaluate_slo(
        result,
        p99_ms=s.load.p99_ms if p99_ms is None else p99_ms,
        max_error_rate=s.load.max_error_rate if max_error_rate is None else max_error_rate,
        confidence=s.load.confidence if confidence is None else confidence,
        extra_quantiles=extra,
        label=label,
    )
    return conclude(verdict)

