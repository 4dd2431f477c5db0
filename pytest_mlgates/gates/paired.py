"""The paired champion gate: champion and challenger re-scored on the same rows, judged by intervals.

Each metric (and each slice of the rows, and the lineage's best champion) is
one test of "the challenger is at most the margin worse". Its verdict is

- PASS when the whole interval of the worsening lies inside the margin,
- FAIL when it lies outside,
- INCONCLUSIVE when it straddles the margin: that fails closed, and says
  about how many rows would decide.

The tests of one gate form one family: Holm's step-down keeps the chance
that any truly-worse comparison passes at (1 - confidence) / 2. The point
rule (re-scored challenger <= champion + margin) is shown beside each verdict.

Pure decisions over arrays (no I/O, no pytest); fixtures/champion.py loads
the models and rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import BOUNDED_SCORES, METRIC_KINDS, ConfigError, Settings, margin_scale, metric_kind
from ..stats.estimate import FAIL, INCONCLUSIVE, PASS, PairedEstimate
from .verdict import Verdict, fmt

SKIPPED = "SKIPPED"
NEEDS_PROBA = ("log_loss", "brier", "roc_auc")


@dataclass(frozen=True)
class MetricRule:
    """One metric's rule: direction, how its margin is sized, and its sanity range."""

    name: str
    kind: str
    greater_is_better: bool
    tolerance: float
    margin: float | None
    scale: str
    """``absolute`` (margin), ``error`` (tolerance x (1 - score)) or ``relative`` (tolerance x loss)."""
    sanity: tuple[float, float] | None = None

    def describe_margin(self) -> str:
        if self.scale == "absolute":
            return f"absolute margin {fmt(self.margin)}"
        if self.scale == "error":
            return f"{fmt(self.tolerance * 100)}% of the champion's error (1 - {self.kind})"
        return f"{fmt(self.tolerance * 100)}% of the champion's {self.kind}"


def metric_rules(settings: Settings) -> list[MetricRule]:
    """The gate's metrics from ``[tool.mlgates.champion.metrics]``, else the primary metric."""
    table = settings.champion.metrics
    if not table:
        table = {settings.metric: None}  # type: ignore[dict-item]
    rules = []
    for name, m in table.items():
        kind = (m.kind if m and m.kind else metric_kind(name))
        if kind not in METRIC_KINDS:
            raise ConfigError(f"the paired champion gate cannot re-score {name!r}: it is not one of "
                              f"{', '.join(METRIC_KINDS)}; name its kind in [tool.mlgates.champion.metrics] "
                              f"({name} = {{ kind = \"mae\" }}), or gate it with assert_non_inferior")
        primary = name == settings.metric
        tolerance = m.tolerance if m and m.tolerance is not None else settings.tolerance
        margin = m.margin if m and m.margin is not None else (settings.absolute_tolerance if primary else None)
        greater = kind in BOUNDED_SCORES
        if primary and settings.greater_is_better != greater:
            raise ConfigError(f"metric {name!r} ({kind}) is {'higher' if greater else 'lower'}-is-better, but "
                              f"[tool.mlgates] greater_is_better = {str(settings.greater_is_better).lower()}")
        scale = margin_scale(name, greater, tolerance, margin or None, bool(m and m.scale == "relative"))
        if kind == "rmse" and scale == "absolute":
            raise ConfigError(f"metric {name!r} (rmse) takes a relative tolerance; for an absolute margin gate "
                              f"on mse instead")
        sanity = tuple(m.sanity) if m and m.sanity else (tuple(settings.sanity[name]) if name in settings.sanity
                                                         else None)
        rules.append(MetricRule(name, kind, greater, tolerance, margin or None, scale, sanity))  # type: ignore[arg-type]
    return rules


@dataclass
class Outputs:
    """What one model said about the evaluation rows."""

    model_id: str
    predict: Any
    """``predict()`` of every row (values or labels)."""
    proba: Any = None
    """Probability of the positive class (binary), the class matrix, or None without predict_proba."""


@dataclass
class Evaluation:
    """Both models' outputs on the same rows: everything the paired gate judges."""

    y: Any
    champion: Outputs
    challenger: Outputs
    rows_source: str
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Slice name -> {group value: boolean row mask}."""
    best: Outputs | None = None
    """The best champion the lineage has had, when it is not the current one."""
    best_id: str | None = None

    @property
    def n(self) -> int:
        return len(self.y)


def _loss_value(kind: str, y: np.ndarray, out: np.ndarray) -> float:
    """The loss-scale value of ``kind`` (error = 1 - score for bounded scores)."""
    from ..stats.bootstrap import scores_from_cells, cell_counts
    from ..stats.delong import auc_and_covariance
    from ..stats.paired import per_row_loss

    if kind in ("precision", "recall", "f1"):
        return float(1.0 - scores_from_cells(kind, cell_counts(y, out, out))[0])
    if kind == "roc_auc":
        return float(1.0 - auc_and_covariance(y, out)[0][0])
    loss = float(per_row_loss(kind, y, out).mean())
    if kind == "rmse":
        return math.sqrt(loss)
    if kind == "r2":
        return loss / float(np.var(y))
    return loss


def _score_of(rule: MetricRule, loss: float) -> float:
    return 1.0 - loss if rule.greater_is_better else loss


def _outputs_for(rule: MetricRule, out: Outputs) -> np.ndarray:
    if rule.kind in NEEDS_PROBA:
        if out.proba is None:
            raise ValueError(f"{rule.name} ({rule.kind}) needs probabilities, but {out.model_id} has no "
                             f"predict_proba; gate on accuracy or f1 instead")
        return np.asarray(out.proba)
    return np.asarray(out.predict)


def paired_estimate(rule: MetricRule, y: np.ndarray, champ: np.ndarray, chall: np.ndarray, *,
                    tolerance: float | None = None, resamples: int = 2000, seed: int = 0) -> tuple[PairedEstimate,
                                                                                                   float, float, float]:
    """(estimate of the contrast, champion loss, challenger loss, margin on the loss scale).

    The contrast is ``challenger loss - w x champion loss - absolute margin``, negative when within.
    """
    from ..stats.bootstrap import paired_cell_bootstrap
    from ..stats.delong import paired_auc
    from ..stats.paired import paired_mean, per_row_loss

    tol = rule.tolerance if tolerance is None else tolerance
    absolute = rule.margin if rule.scale == "absolute" else 0.0
    weight = 1.0 if rule.scale == "absolute" else 1.0 + tol
    champ_loss, chall_loss = _loss_value(rule.kind, y, champ), _loss_value(rule.kind, y, chall)
    if rule.kind in ("precision", "recall", "f1"):
        est = paired_cell_bootstrap(rule.kind, y, champ, chall, weight=weight, resamples=resamples, seed=seed)
    elif rule.kind == "roc_auc":
        est = paired_auc(y, champ, chall, weight=weight)
    else:
        scale = float(np.var(y)) if rule.kind == "r2" else 1.0
        w = weight ** 2 if rule.kind == "rmse" else weight  # RMSE_b <= (1+t) RMSE_a  <=>  MSE_b <= (1+t)^2 MSE_a
        est = paired_mean(per_row_loss(rule.kind, y, champ), per_row_loss(rule.kind, y, chall), w, scale)
    margin = absolute if rule.scale == "absolute" else (weight - 1.0) * champ_loss
    return est.shifted(absolute or 0.0), champ_loss, chall_loss, margin


@dataclass
class Check:
    """One test of the family: a metric on a slice (or all rows), against a champion."""

    rule: MetricRule
    slice: str
    against: str
    against_id: str
    rows: int
    estimate: PairedEstimate | None = None
    champion_loss: float = math.nan
    challenger_loss: float = math.nan
    margin: float = math.nan
    tolerance: float = 0.0
    problem: str | None = None
    """Why it cannot be judged (sanity, too few rows); it then fails closed or is skipped."""
    skip: bool = False

    @property
    def test_id(self) -> str:
        return test_id(self.rule.name, self.slice, self.against)


def test_id(metric: str, where: str, against: str) -> str:
    """``metric``, ``metric[slice=value]``, ``metric@lineage-best``: how a check is named in reports."""
    part = "" if where == "all rows" else f"[{where}]"
    return f"{metric}{part}" + ("" if against == "champion" else "@lineage-best")


def plan_checks(rules: Sequence[MetricRule], evaluation: Evaluation, settings: Settings,
                challenger_id: str, champion_id: str, best_id: str | None) -> list[Check]:
    """Every (metric, slice, champion) test of the gate, with its estimate."""
    c = settings.champion
    y = np.asarray(evaluation.y)
    parts: list[tuple[str, Any]] = [("all rows", None)]
    for name, groups in evaluation.groups.items():
        parts += [(f"{name}={value}", mask) for value, mask in groups.items()]
    checks = []
    versus = [("champion", champion_id, evaluation.champion, None)]
    best_id = best_id or evaluation.best_id
    if evaluation.best is not None and best_id:
        versus.append(("lineage best", best_id, evaluation.best, c.lineage_tolerance))
    for rule in rules:
        chall_all = _outputs_for(rule, evaluation.challenger)
        for against, against_id, outputs, tol in versus:
            champ_all = _outputs_for(rule, outputs)
            for where, mask in parts:
                yy, a, b = (y, champ_all, chall_all) if mask is None else (y[mask], champ_all[mask], chall_all[mask])
                check = Check(rule, where, against, against_id, len(yy),
                              tolerance=rule.tolerance if tol is None else tol)
                checks.append(check)
                if mask is not None and len(yy) < c.min_slice_rows:
                    check.problem = f"{len(yy)} rows, fewer than min_slice_rows = {c.min_slice_rows}"
                    check.skip = c.small_slices == "skip"
                    continue
                try:
                    check.estimate, check.champion_loss, check.challenger_loss, check.margin = paired_estimate(
                        rule, yy, a, b, tolerance=check.tolerance, resamples=c.resamples, seed=c.seed)
                except ValueError as exc:
                    check.problem = str(exc)
                    continue
                if rule.sanity and mask is None:
                    low, high = rule.sanity
                    for who, loss in ((against_id, check.champion_loss), (challenger_id, check.challenger_loss)):
                        value = _score_of(rule, loss)
                        if not low <= value <= high:
                            check.problem = (f"{who} {rule.name} = {fmt(value)} on these rows is outside its sanity "
                                             f"range [{fmt(low)}, {fmt(high)}]")
    return checks


def judge(checks: Sequence[Check], confidence: float, challenger_id: str) -> list[Verdict]:
    """One Verdict per check, Holm-corrected across the family."""
    from ..stats.multiplicity import holm

    alpha = (1.0 - confidence) / 2.0
    judged = [ch for ch in checks if ch.estimate is not None and ch.problem is None]
    rejected, adjusted, steps = holm([ch.estimate.p_value() for ch in judged], alpha)  # type: ignore[union-attr]
    holm_of = {id(ch): (r, p, s) for ch, r, p, s in zip(judged, rejected, adjusted, steps)}
    return [_verdict(ch, holm_of.get(id(ch)), len(judged), challenger_id) for ch in checks]


def _verdict(ch: Check, holm_result: tuple[bool, float, float] | None, family: int, challenger_id: str) -> Verdict:
    rule = ch.rule
    figures: dict[str, Any] = {"test": ch.test_id, "metric": rule.name, "kind": rule.kind, "slice": ch.slice, "against": ch.against,
                               "champion": ch.against_id, "challenger": challenger_id, "rows": ch.rows,
                               "family_size": family, "margin_rule": rule.describe_margin()}
    head = f"{ch.test_id}: {challenger_id} vs {ch.against} {ch.against_id} on {ch.slice} ({ch.rows} rows)"
    if ch.problem is not None or ch.estimate is None or holm_result is None:
        word = SKIPPED if ch.skip else (INCONCLUSIVE if "fewer than" in (ch.problem or "") else FAIL)
        figures.update(verdict=word, passed=ch.skip)
        tail = {SKIPPED: "; skipped as configured (small_slices = \"skip\")",
                INCONCLUSIVE: "; more rows of this slice would decide", FAIL: ""}[word]
        return Verdict("champion", ch.skip, f"{head}\n  {word}{'' if ch.skip else ' (fail-closed)'}: "
                       f"{ch.problem}{tail}", figures, {} if ch.skip else {"should_promote": "false"})
    rejected, adjusted_p, step_alpha = holm_result
    level = 1.0 - 2.0 * step_alpha
    est = ch.estimate
    low, high = est.interval(level)
    word = PASS if rejected and high < 0 else (FAIL if low > 0 else INCONCLUSIVE)
    # Shown on the worsening scale (challenger - champion on the loss scale): the tested interval + margin.
    worse_low, worse_high, worse = low + ch.margin, high + ch.margin, est.estimate + ch.margin
    point_ok = worse <= ch.margin
    unit = "MSE" if rule.kind == "rmse" else ("error" if rule.greater_is_better else rule.kind)
    champ_v, chall_v = _score_of(rule, ch.champion_loss), _score_of(rule, ch.challenger_loss)
    figures.update(verdict=word, passed=word == PASS, champion_value=champ_v, challenger_value=chall_v,
                   worsening=worse, interval_low=worse_low, interval_high=worse_high, margin=ch.margin,
                   confidence=level, method=est.method, p_value=est.p_value(), p_holm=adjusted_p,
                   point_rule="pass" if point_ok else "fail")
    lines = [head,
             f"  {rule.name}: champion {fmt(champ_v)}, challenger {fmt(chall_v)}",
             f"  worsening of the {unit} (challenger - champion) = {fmt(worse)}, {level:.2%} interval "
             f"[{fmt(worse_low)}, {fmt(worse_high)}] ({est.method}, Holm over {family} tests, p = {fmt(adjusted_p)})",
             f"  margin {fmt(ch.margin)} ({rule.describe_margin() if ch.tolerance == rule.tolerance or rule.scale == 'absolute' else f'lineage budget {fmt(ch.tolerance * 100)}%'})",
             f"  point rule: {fmt(worse)} <= {fmt(ch.margin)} is {str(point_ok).lower()}"]
    if word == PASS:
        lines.insert(1, "  PASS: the whole interval lies inside the margin")
    elif word == FAIL:
        lines.insert(1, "  FAIL: the whole interval lies outside the margin: the challenger is worse than allowed")
    else:
        rows = est.rows_to_decide(level)
        figures["rows_to_decide"] = rows
        lines.insert(1, f"  INCONCLUSIVE (fail-closed): the interval straddles the margin; about "
                        f"{'an unbounded number of' if rows is None else f'{rows:,}'} rows would decide")
    outputs = {"should_promote": "true" if word == PASS else "false"}
    return Verdict("champion", word == PASS, "\n".join(lines), figures, outputs)


def slice_groups(frame: Any, slices: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Slice name -> {value: boolean mask}; a slice is a column, else a pandas expression of the columns."""
    groups: dict[str, dict[str, Any]] = {}
    for spec in slices:
        if spec in frame.columns:
            values = frame[spec]
        else:
            try:
                values = frame.eval(spec)
            except Exception as exc:  # noqa: BLE001 - pandas raises many kinds; all mean a bad slice
                raise ConfigError(f"[tool.mlgates.champion] slices: {spec!r} is neither a column of the evaluation "
                                  f"rows ({', '.join(map(str, frame.columns[:8]))}...) nor an expression of them: "
                                  f"{exc}") from None
        arr = np.asarray(values)
        groups[spec] = {str(v): arr == v for v in sorted(set(arr.tolist()), key=str)}
    return groups


def paired_verdicts(evaluation: Evaluation, settings: Settings, challenger_id: str, champion_id: str,
                    best_id: str | None = None) -> list[Verdict]:
    """Every test of the paired gate, judged as one Holm family."""
    checks = plan_checks(metric_rules(settings), evaluation, settings, challenger_id, champion_id, best_id)
    verdicts = judge(checks, settings.champion.confidence, challenger_id)
    for v in verdicts:
        v.figures["rows_source"] = evaluation.rows_source
    return verdicts


def assert_paired_non_inferior(evaluation: Evaluation, *, challenger_id: str = "challenger",
                               champion_id: str = "champion", best_id: str | None = None,
                               settings: Settings | None = None) -> list[Verdict]:
    """Raise AssertionError unless every metric and slice PASSes; returns the verdicts."""
    __tracebackhide__ = True
    from .context import conclude, current_settings

    verdicts = paired_verdicts(evaluation, current_settings(settings), challenger_id, champion_id, best_id)
    failed = [v for v in verdicts if not v.passed]
    summary = Verdict("champion", not failed, "\n".join(v.message for v in failed or verdicts),
                      {"tests": len(verdicts), "failed": len(failed)},
                      {"should_promote": "false" if failed else "true"})
    conclude(summary)
    return verdicts


def verdict_for(verdicts: Sequence[Verdict], name: str) -> Verdict:
    """The verdict of one test id (``metric``, ``metric[slice=value]``, ``metric@lineage-best``)."""
    for v in verdicts:
        if v.figures.get("test") == name:
            return v
    raise KeyError(name)


def lineage_best(versions: Sequence[Any], metric: str, greater_is_better: bool,
                 tag_prefix: str) -> tuple[Any, float] | None:
    """The version that was champion with the best stored ``metric`` (tags ``<prefix><metric>``), or None."""
    best = None
    for version in versions:
        raw = version.tags.get(tag_prefix + metric)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            continue
        if not math.isfinite(value):
            continue
        if best is None or (value > best[1] if greater_is_better else value < best[1]):
            best = (version, value)
    return best


__all__ = ["Check", "Evaluation", "MetricRule", "Outputs", "assert_paired_non_inferior", "lineage_best",
           "metric_rules", "paired_estimate", "paired_verdicts", "slice_groups", "verdict_for"]
