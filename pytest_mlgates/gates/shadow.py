"""The shadow gate: does the challenger answer the same requests the way the champion does?

Both models see the same requests (a replay of validation rows, or the
champion's live traffic mirrored to the challenger) and the gate compares
their answers pair by pair:

- regression: the paired differences d = challenger - champion. It passes
  when a TOST equivalence test puts the mean difference within +-margin and
  the one-sided upper confidence bound of the mean absolute difference is
  below the margin (so large errors that cancel out cannot pass);
- classification: the share of identical labels, passing when its one-sided
  Clopper-Pearson lower bound reaches ``min_agreement``;
- both: a request the challenger failed on is a disagreement (classification)
  or counts against the failure allowance ``1 - min_agreement`` (regression),
  and the challenger's median latency may be at most ``max_latency_ratio``
  times the champion's. Requests the champion failed on are left out, and
  said so.

Too few rows to decide is INCONCLUSIVE, which fails: the gate fails closed.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..config import Settings
from .context import conclude, current_settings
from .load import proportion_interval, proportion_upper
from .verdict import Verdict, fmt

TASKS = ("auto", "regression", "classification")


@dataclass
class ShadowResult:
    """The same requests answered by champion and challenger, row by row (None where one failed)."""

    champion_predictions: list[Any]
    challenger_predictions: list[Any]
    champion_latencies_ms: list[float] = field(default_factory=list)
    challenger_latencies_ms: list[float] = field(default_factory=list)
    champion_errors: list[str | None] = field(default_factory=list)
    challenger_errors: list[str | None] = field(default_factory=list)
    champion_id: str = "champion"
    challenger_id: str = "challenger"
    source: str = "replay"
    """'replay' (rows sent to both) or 'mirror' (live traffic copied to the challenger)."""
    champion_probabilities: list[Any] = field(default_factory=list)
    """Class probabilities per row (classifiers with predict_proba; None where not given), else empty."""
    challenger_probabilities: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.champion_predictions) != len(self.challenger_predictions):
            raise ValueError(f"{len(self.champion_predictions)} champion predictions but "
                             f"{len(self.challenger_predictions)} challenger predictions; they must pair up")

    @property
    def rows(self) -> int:
        return len(self.champion_predictions)

    @classmethod
    def from_mirror_records(cls, records: Sequence[dict[str, Any]], champion_id: str = "",
                            challenger_id: str = "") -> ShadowResult:
        """Pairs from a local endpoint's mirror log (``LocalEndpoints.mirror_records``), one per instance."""
        champ: list[Any] = []
        chall: list[Any] = []
        champ_ms: list[float] = []
        chall_ms: list[float] = []
        champ_err: list[str | None] = []
        chall_err: list[str | None] = []
        for rec in records:
            instances = (rec.get("request") or {}).get("instances") if isinstance(rec.get("request"), dict) else None
            size = len(instances) if isinstance(instances, list) else 1
            a, a_err = _predictions(rec.get("status"), rec.get("body"), size)
            b, b_err = _predictions(rec.get("mirror_status"), rec.get("mirror_body"), size)
            champ += a
            chall += b
            champ_err += [a_err] * size
            chall_err += [b_err] * size
            champ_ms += [float(rec.get("ms") or math.nan)] * size
            chall_ms += [float(rec.get("mirror_ms") or math.nan)] * size
        first = records[0] if records else {}
        return cls(champ, chall, champ_ms, chall_ms, champ_err, chall_err,
                   champion_id or str(first.get("deployment", "champion")),
                   challenger_id or str(first.get("mirror", "challenger")), source="mirror")


def _predictions(status: Any, body: Any, size: int) -> tuple[list[Any], str | None]:
    if status != 200:
        message = body.get("error", {}).get("code", "") if isinstance(body, dict) else ""
        return [None] * size, f"HTTP {status} {message}".strip() if status is not None else "no response"
    predictions = body.get("predictions") if isinstance(body, dict) else None
    if not isinstance(predictions, list) or len(predictions) != size:
        return [None] * size, "malformed response"
    return predictions, None


def detect_task(predictions: Sequence[Any]) -> str:
    """'classification' for labels (strings, booleans, whole-number ints), else 'regression'."""
    values = [p for p in predictions if p is not None]
    if values and all(isinstance(p, (str, bool)) or (isinstance(p, int)) for p in values):
        return "classification"
    return "regression"


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _needed_rows(supported: Any, n: int, rate: float) -> int | None:
    total = max(n, 1)
    while not supported(math.floor(rate * total + 1e-9), total):
        total *= 2
        if total > 10_000_000:
            return None
    low = max(total // 2, n)
    while low < total:
        mid = (low + total) // 2
        if supported(math.floor(rate * mid + 1e-9), mid):
            total = mid
        else:
            low = mid + 1
    return total


def evaluate_shadow(
    result: ShadowResult,
    *,
    task: str = "auto",
    margin: float | None = None,
    min_agreement: float = 0.95,
    max_latency_ratio: float | None = 2.0,
    confidence: float = 0.95,
    max_probability_shift: float = 0.05,
) -> Verdict:
    """The shadow verdict as data; raises ValueError only for unusable arguments.

    For classifiers whose both sides gave class probabilities, the mean per-row shift of the
    probabilities (total variation distance) must also be shown below ``max_probability_shift``:
    two models can agree on every label while one of them has lost its calibration or ranking.
    """
    from scipy.stats import beta, t

    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if not (0 < confidence < 1):
        raise ValueError(f"confidence must be within (0, 1), got {confidence!r}")
    if not (0 < min_agreement <= 1):
        raise ValueError(f"min_agreement must be within (0, 1], got {min_agreement!r}")
    if max_latency_ratio is not None and not max_latency_ratio > 0:
        raise ValueError(f"max_latency_ratio must be a positive number, got {max_latency_ratio!r}")
    alpha = 1.0 - confidence
    who = f"challenger {result.challenger_id} vs champion {result.champion_id}"
    champ_ok = [i for i, p in enumerate(result.champion_predictions)
                if p is not None and (not result.champion_errors or not result.champion_errors[i])]
    n = len(champ_ok)
    kind = detect_task([result.champion_predictions[i] for i in champ_ok]) if task == "auto" else task
    figures: dict[str, Any] = {"challenger": result.challenger_id, "champion": result.champion_id, "task": kind,
                               "rows": result.rows, "compared": n, "source": result.source,
                               "champion_failures": result.rows - n, "confidence": confidence}
    failed: list[str] = []
    unsure: list[str] = []
    lines: list[str] = [f"{result.rows} requests ({result.source}); {n} answered by the champion"
                        + (f", {result.rows - n} champion failures left out" if result.rows - n else "")]
    if n == 0:
        figures["status"] = "inconclusive"
        return Verdict("shadow", False, f"shadow gate INCONCLUSIVE (fails closed) for {who}: the champion answered "
                       f"none of the {result.rows} requests, so there is nothing to compare against", figures)

    def answered(i: int) -> bool:
        p = result.challenger_predictions[i]
        err = result.challenger_errors[i] if result.challenger_errors else None
        return p is not None and not err and (kind == "classification" or _finite(p))

    chall_failed = [i for i in champ_ok if not answered(i)]
    figures["challenger_failures"] = len(chall_failed)
    if chall_failed:
        kinds: dict[str, int] = {}
        for i in chall_failed:
            key = (result.challenger_errors[i] if result.challenger_errors else None) or "no prediction"
            kinds[key] = kinds.get(key, 0) + 1
        lines.append(f"challenger failed on {len(chall_failed)} of {n} requests: "
                     + "; ".join(f"{k} x {v}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])))

    if kind == "classification":
        agree = sum(1 for i in champ_ok if answered(i)
                    and result.challenger_predictions[i] == result.champion_predictions[i])
        rate = agree / n
        low, high = proportion_interval(agree, n, confidence)
        lower = 0.0 if agree == 0 else float(beta.ppf(alpha, agree, n - agree + 1))
        figures.update(agreement=rate, agreement_ci=[low, high], agreement_lower=lower,
                       min_agreement=min_agreement)
        lines.append(f"agreement: {rate:.2%} ({agree} of {n} identical labels, challenger failures count as "
                     f"disagreements; {confidence:.0%} CI {low:.2%} - {high:.2%}, one-sided lower bound "
                     f"{lower:.2%}), required >= {min_agreement:.2%}")
        _probability_shift(result, champ_ok, answered, max_probability_shift, confidence, figures, lines,
                           failed, unsure)
        if rate < min_agreement:
            failed.append(f"agreement {rate:.2%} is below the required {min_agreement:.2%}")
        elif lower < min_agreement:
            def supported(k: int, total: int) -> bool:
                return k > 0 and float(beta.ppf(alpha, k, total - k + 1)) >= min_agreement
            need = _needed_rows(supported, n, rate)
            figures["needed_rows"] = need
            unsure.append(f"{n} rows cannot show agreement >= {min_agreement:.2%} at {confidence:.0%} confidence"
                          + (f"; about {need} rows would at the observed rate" if need else
                             "; the observed rate is too close to the requirement"))
    else:
        pairs = [(float(result.champion_predictions[i]), float(result.challenger_predictions[i]))
                 for i in champ_ok if answered(i)]
        m = len(pairs)
        if margin is None or margin == 0:
            base = statistics.fmean(float(result.champion_predictions[i]) for i in champ_ok
                                    if _finite(result.champion_predictions[i])) if n else 0.0
            margin = 0.05 * abs(base)
            figures["margin_rule"] = "5% of |mean champion prediction|"
            if margin == 0:
                raise ValueError("the champion's mean prediction is 0, so the default margin (5% of it) is 0; "
                                 "pass margin= or set [tool.mlgates.shadow] margin")
        if not (math.isfinite(margin) and margin > 0):
            raise ValueError(f"margin must be a positive number, got {margin!r}")
        figures["margin"] = margin
        if m < 2:
            unsure.append(f"only {m} paired predictions; at least 2 (and realistically dozens) are needed")
        else:
            diffs = [b - a for a, b in pairs]
            absd = [abs(d) for d in diffs]
            mean_d = statistics.fmean(diffs)
            mad = statistics.fmean(absd)
            sd = statistics.stdev(diffs)
            sd_abs = statistics.stdev(absd)
            df = m - 1
            if sd > 0:
                se = sd / math.sqrt(m)
                p_low = float(t.sf((mean_d + margin) / se, df))
                p_high = float(t.cdf((mean_d - margin) / se, df))
                p_tost = max(p_low, p_high)
                half = float(t.ppf(1 - alpha, df)) * se
            else:
                p_tost = 0.0 if abs(mean_d) < margin else 1.0
                half = 0.0
            mad_upper = mad + float(t.ppf(confidence, df)) * sd_abs / math.sqrt(m)
            figures.update(mean_difference=mean_d, mean_abs_difference=mad, mad_upper=mad_upper,
                           tost_p_value=p_tost, mean_difference_ci=[mean_d - half, mean_d + half],
                           max_abs_difference=max(absd))
            lines.append(f"paired differences (challenger - champion) over {m} rows: mean {fmt(mean_d)} "
                         f"({1 - 2 * alpha:.0%} CI {fmt(mean_d - half)} .. {fmt(mean_d + half)}), "
                         f"TOST p = {p_tost:.4g} for equivalence within +-{fmt(margin)} (needs <= {alpha:.3g})")
            lines.append(f"mean absolute difference {fmt(mad)} (one-sided {confidence:.0%} upper bound "
                         f"{fmt(mad_upper)}), margin {fmt(margin)}; largest {fmt(max(absd))}")
            if mad >= margin:
                failed.append(f"mean absolute difference {fmt(mad)} is not within the margin {fmt(margin)}")
            elif abs(mean_d) >= margin:
                failed.append(f"mean difference {fmt(mean_d)} is not within +-{fmt(margin)}")
            elif p_tost > alpha or mad_upper >= margin:
                unsure.append(f"{m} rows cannot show equivalence within +-{fmt(margin)} at {confidence:.0%} "
                              f"confidence (TOST p = {p_tost:.3g}, MAD upper bound {fmt(mad_upper)}); "
                              f"send more rows")
        allowance = 1.0 - min_agreement
        k = len(chall_failed)
        upper = proportion_upper(k, n, confidence)
        figures.update(challenger_failure_rate=k / n, challenger_failure_upper=upper,
                       failure_allowance=allowance)
        if k:
            if k / n >= allowance or allowance == 0:
                failed.append(f"the challenger failed on {k} of {n} requests ({k / n:.2%}); at most "
                              f"{allowance:.2%} (1 - min_agreement) may fail")
            elif upper >= allowance:
                unsure.append(f"{k} challenger failures in {n} rows cannot show a failure rate below "
                              f"{allowance:.2%} at {confidence:.0%} confidence")

    both = [i for i in champ_ok if answered(i)]
    champ_lat = [result.champion_latencies_ms[i] for i in both
                 if i < len(result.champion_latencies_ms) and math.isfinite(result.champion_latencies_ms[i])]
    chall_lat = [result.challenger_latencies_ms[i] for i in both
                 if i < len(result.challenger_latencies_ms) and math.isfinite(result.challenger_latencies_ms[i])]
    if champ_lat and chall_lat:
        ratio = statistics.median(chall_lat) / max(statistics.median(champ_lat), 1e-9)
        figures.update(latency_ratio=ratio, champion_p50_ms=statistics.median(champ_lat),
                       challenger_p50_ms=statistics.median(chall_lat), max_latency_ratio=max_latency_ratio)
        lines.append(f"median latency: challenger {statistics.median(chall_lat):.2f} ms vs champion "
                     f"{statistics.median(champ_lat):.2f} ms, ratio {ratio:.2f}"
                     + (f" (at most {fmt(max_latency_ratio)})" if max_latency_ratio else ""))
        if max_latency_ratio and ratio > max_latency_ratio:
            failed.append(f"the challenger is {ratio:.2f}x slower (median) than the champion; at most "
                          f"{fmt(max_latency_ratio)}x is allowed")
    elif max_latency_ratio:
        lines.append("latency ratio: not measured (no latencies given)")
    if failed:
        status, head = "failed", f"shadow gate FAILED for {who}: " + "; ".join(failed)
    elif unsure:
        status, head = "inconclusive", f"shadow gate INCONCLUSIVE (fails closed) for {who}: " + "; ".join(unsure)
    else:
        status, head = "passed", f"shadow gate passed for {who} ({kind})"
    figures["status"] = status
    return Verdict("shadow", status == "passed", head + "\n  " + "\n  ".join(lines), figures)


def _probability_shift(result: ShadowResult, rows: Sequence[int], answered: Any, limit: float, confidence: float,
                       figures: dict[str, Any], lines: list[str], failed: list[str], unsure: list[str]) -> None:
    """Judge the mean total-variation shift of class probabilities, where both sides gave them."""
    from scipy.stats import t

    a_all, b_all = result.champion_probabilities, result.challenger_probabilities
    pairs = [(a_all[i], b_all[i]) for i in rows if i < len(a_all) and i < len(b_all) and answered(i)
             and isinstance(a_all[i], list) and isinstance(b_all[i], list) and len(a_all[i]) == len(b_all[i])]
    if len(pairs) < 2:
        return
    shifts = [0.5 * sum(abs(float(x) - float(y)) for x, y in zip(a, b)) for a, b in pairs]
    m = len(shifts)
    mean = statistics.fmean(shifts)
    upper = mean + float(t.ppf(confidence, m - 1)) * statistics.stdev(shifts) / math.sqrt(m)
    figures.update(probability_shift=mean, probability_shift_upper=upper, probability_rows=m,
                   max_probability_shift=limit)
    lines.append(f"probabilities: mean shift {fmt(mean)} (total variation per row over {m} rows; one-sided "
                 f"{confidence:.0%} upper bound {fmt(upper)}), at most {fmt(limit)}")
    if mean >= limit:
        failed.append(f"the class probabilities moved by {fmt(mean)} on average (at most {fmt(limit)})")
    elif upper >= limit:
        unsure.append(f"{m} rows cannot show a probability shift below {fmt(limit)} at {confidence:.0%} "
                      f"confidence (upper bound {fmt(upper)}); send more rows")


def assert_shadow_agreement(
    result: ShadowResult | None = None,
    *,
    champion_predictions: Sequence[Any] | None = None,
    challenger_predictions: Sequence[Any] | None = None,
    task: str | None = None,
    margin: float | None = None,
    min_agreement: float | None = None,
    max_latency_ratio: float | None = None,
    confidence: float | None = None,
    settings: Settings | None = None,
) -> Verdict:
    """Raise AssertionError unless the challenger's answers are equivalent to the champion's.

    Pass the ``shadow_test`` fixture's result, or two prediction lists. Unset
    arguments default to ``[tool.mlgates.shadow]`` (margin 0 there means 5% of
    the champion's mean prediction) and ``[tool.mlgates] task``.
    """
    if result is None:
        if champion_predictions is None or challenger_predictions is None:
            raise TypeError("assert_shadow_agreement needs a ShadowResult or both champion_predictions and "
                            "challenger_predictions")
        result = ShadowResult(list(champion_predictions), list(challenger_predictions))
    elif not isinstance(result, ShadowResult):
        raise TypeError(f"assert_shadow_agreement needs a ShadowResult (from the shadow_test fixture), got "
                        f"{type(result).__name__}")
    s = current_settings(settings)
    sh = s.shadow
    verdict = evaluate_shadow(
        result,
        task=task or s.task,
        margin=margin if margin is not None else (sh.margin or None),
        min_agreement=sh.min_agreement if min_agreement is None else min_agreement,
        max_latency_ratio=sh.max_latency_ratio if max_latency_ratio is None else max_latency_ratio,
        confidence=sh.confidence if confidence is None else confidence,
        max_probability_shift=sh.max_probability_shift,
    )
    return conclude(verdict)
