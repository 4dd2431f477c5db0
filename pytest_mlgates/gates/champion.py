"""The champion gate: is the challenger no worse than the champion, within tolerance?

Pure decision logic. It fails closed: any metric that is missing, not a
number, not finite or outside its sanity range, an unreadable champion entry,
a comparison of a model with itself, or metrics computed on different
validation rows all fail the gate with a message saying which and why.
"""

from __future__ import annotations

import math
import unittest
from collections.abc import Mapping
from typing import Any

from ..config import BOUNDED_SCORES, NO_CHAMPION_CHOICES, Settings, margin_scale, metric_kind
from ..contract import FINGERPRINT_KEY
from ..records import ModelVersion
from .context import conclude, current_settings
from .verdict import Verdict, fmt

CHAMPION_METRIC_TAG = "mlgates.champion_metric."
"""Tag prefix under which a champion's primary metric is stored when it is promoted."""


def champion_metric_tag(metric: str) -> str:
    return CHAMPION_METRIC_TAG + metric


def _describe(model: ModelVersion | Mapping[str, Any] | None, role: str) -> str:
    if isinstance(model, ModelVersion):
        return model.id
    return role


def _metrics_of(model: ModelVersion | Mapping[str, Any]) -> Mapping[str, Any]:
    return model.metrics if isinstance(model, ModelVersion) else model


def _as_number(value: Any, what: str) -> tuple[float | None, str | None]:
    """(number, None) or (None, why it is unusable)."""
    if value is None:
        return None, f"{what} is missing"
    if isinstance(value, bool):
        return None, f"{what} is {value!r}, not a number"
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None, f"{what} is {value!r}, not a number"
    if not isinstance(value, (int, float)):
        return None, f"{what} is {value!r}, not a number"
    if not math.isfinite(value):
        return None, f"{what} is {value!r}, not a finite number"
    return float(value), None


def _champion_value(champion: ModelVersion | Mapping[str, Any], metric: str) -> tuple[float | None, str | None]:
    """The champion's metric, read explicitly from its registry entry."""
    if isinstance(champion, ModelVersion):
        tag = champion_metric_tag(metric)
        if tag not in champion.tags:
            return None, (
                f"champion {champion.id} has no stored {metric} (tag {tag!r} is missing from its registry entry); "
                f"promote it through mlgates so the metric is recorded, or set the tag by hand"
            )
        return _as_number(champion.tags[tag], f"champion {champion.id} tag {tag!r}")
    return _as_number(champion.get(metric), f"champion {metric}")


def _sanity_problems(metrics: Mapping[str, Any], sanity: Mapping[str, Any], who: str) -> list[str]:
    problems = []
    for key, (low, high) in sanity.items():
        value, why = _as_number(metrics.get(key), f"{who} {key}")
        if why:
            problems.append(why)
        elif not low <= value <= high:  # type: ignore[operator]
            problems.append(f"{who} {key} = {fmt(value)} is outside its sanity range [{fmt(low)}, {fmt(high)}]")
    return problems


def compare(
    challenger: ModelVersion | Mapping[str, Any],
    champion: ModelVersion | Mapping[str, Any] | None,
    *,
    metric: str,
    greater_is_better: bool,
    tolerance: float,
    absolute_tolerance: float = 0.0,
    sanity: Mapping[str, Any] | None = None,
    no_champion: str = "promote",
    job_name: str | None = None,
    scale: str = "",
) -> Verdict:
    """Decide the champion gate; never raises for bad data, returns a failing verdict.

    A known bounded score (AUC, accuracy, F1, ...) takes its relative tolerance on its error, 1 - score;
    another higher-is-better metric needs an absolute tolerance or ``scale="relative"`` (ConfigError).
    """
    margin_scale(metric, greater_is_better, tolerance, absolute_tolerance or None, scale == "relative")  # sizable?
    error_scale = greater_is_better and scale != "relative" and metric_kind(metric) in BOUNDED_SCORES
    if no_champion not in NO_CHAMPION_CHOICES:
        raise ValueError(f"no_champion must be one of {', '.join(NO_CHAMPION_CHOICES)}, got {no_champion!r}")
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be a finite number >= 0, got {tolerance!r}")
    chall_id = _describe(challenger, "challenger")
    chall_metrics = _metrics_of(challenger)
    direction = "higher is better" if greater_is_better else "lower is better"
    outputs: dict[str, str] = {"should_promote": "false"}
    if job_name:
        outputs["job_name"] = job_name
    if isinstance(challenger, ModelVersion):
        outputs["model_version"] = challenger.version
    figures: dict[str, Any] = {"metric": metric, "direction": direction, "tolerance": tolerance,
                               "challenger": chall_id, "champion": _describe(champion, "champion")
                               if champion is not None else None}

    def verdict(passed: bool, message: str) -> Verdict:
        outputs["should_promote"] = "true" if passed else "false"
        figures["passed"] = passed
        return Verdict("champion", passed, message, figures, outputs)

    problems: list[str] = []
    chall_value, why = _as_number(chall_metrics.get(metric), f"challenger {chall_id} {metric}")
    if why:
        problems.append(why)
    else:
        figures["challenger_value"] = chall_value
        outputs[f"challenger_{metric}"] = fmt(chall_value)
    problems += _sanity_problems(chall_metrics, sanity or {}, f"challenger {chall_id}")

    if champion is None:
        if problems:
            return verdict(False, "champion gate FAILED (fail-closed), no champion yet:\n  " + "\n  ".join(problems))
        if no_champion == "fail":
            return verdict(False, f"champion gate FAILED: there is no champion for {chall_id} to be compared "
                                  f"with and no_champion = 'fail'. Promote a first version by hand "
                                  f"(mlgates promote) or set no_champion = 'promote'.")
        figures["first_deployment"] = True
        message = (f"FIRST DEPLOYMENT: no champion exists, so {chall_id} ({metric} = {fmt(chall_value)}) "
                   f"passes the champion gate by the no_champion = '{no_champion}' rule")
        if no_champion == "skip":
            outputs["should_promote"] = "false"
            figures["passed"] = None
            return Verdict("champion", True, message.replace("passes the champion gate", "is not compared"),
                           figures, outputs)
        return verdict(True, message)

    champ_id = _describe(champion, "champion")
    champ_value, why = _champion_value(champion, metric)
    if why:
        problems.append(why)
    else:
        figures["champion_value"] = champ_value
        outputs[f"champion_{metric}"] = fmt(champ_value)
        low_high = (sanity or {}).get(metric)
        if low_high and not low_high[0] <= champ_value <= low_high[1]:  # type: ignore[operator]
            problems.append(f"champion {champ_id} {metric} = {fmt(champ_value)} is outside its sanity range "
                            f"[{fmt(low_high[0])}, {fmt(low_high[1])}]")
    if isinstance(challenger, ModelVersion) and isinstance(champion, ModelVersion):
        if (challenger.name, challenger.version) == (champion.name, champion.version):
            problems.append(f"challenger and champion are the same version {chall_id}; a model cannot be compared "
                            f"with itself")
        elif challenger.sha256 and challenger.sha256 == champion.sha256:
            problems.append(f"challenger {chall_id} and champion {champ_id} have the same artifact sha256 "
                            f"{challenger.sha256[:12]}...; this is the same model registered twice")
    fp_chall = chall_metrics.get(FINGERPRINT_KEY)
    fp_champ = _metrics_of(champion).get(FINGERPRINT_KEY)
    if fp_chall and fp_champ and fp_chall != fp_champ:
        problems.append(f"the metrics were computed on different validation rows ({FINGERPRINT_KEY} "
                        f"{fp_chall} for {chall_id} vs {fp_champ} for {champ_id}); retrain both on the same "
                        f"validation split before comparing")
    if problems:
        return verdict(False, f"champion gate FAILED (fail-closed) for {chall_id} vs {champ_id}:\n  "
                       + "\n  ".join(problems))

    assert chall_value is not None and champ_value is not None
    base = 1.0 - champ_value if error_scale else abs(champ_value)
    allowed_change = max(tolerance * base, absolute_tolerance)
    sign = -1.0 if greater_is_better else 1.0
    limit = champ_value + sign * allowed_change
    passed = chall_value >= limit if greater_is_better else chall_value <= limit
    relative = (chall_value - champ_value) / abs(champ_value) if champ_value else None
    figures.update(limit=limit, allowed_change=allowed_change, relative_change=relative)
    op = ">=" if greater_is_better else "<="
    base_text = f"(1 - {fmt(champ_value)})" if error_scale else f"|{fmt(champ_value)}|"
    arithmetic = (f"limit = {fmt(champ_value)} {'-' if greater_is_better else '+'} max({fmt(tolerance)} x "
                  f"{base_text}, {fmt(absolute_tolerance)}) = {fmt(limit)}; "
                  f"{fmt(chall_value)} {op} {fmt(limit)} is {str(passed).lower()}")
    head = "champion gate passed" if passed else "champion gate FAILED: the challenger is worse than allowed"
    return verdict(passed, (
        f"{head}\n  challenger {chall_id}: {metric} = {fmt(chall_value)}\n"
        f"  champion   {champ_id}: {metric} = {fmt(champ_value)}\n"
        f"  rule: {direction}, tolerance {fmt(tolerance * 100)}% of "
        f"{'the error (1 - score)' if error_scale else 'the champion'} (absolute floor {fmt(absolute_tolerance)})\n"
        f"  {arithmetic}"))


def assert_non_inferior(
    challenger: ModelVersion | Mapping[str, Any],
    champion: ModelVersion | Mapping[str, Any] | None,
    metric: str | None = None,
    tolerance: float | None = None,
    *,
    greater_is_better: bool | None = None,
    absolute_tolerance: float | None = None,
    sanity: Mapping[str, Any] | None = None,
    no_champion: str | None = None,
    job_name: str | None = None,
    settings: Settings | None = None,
) -> Verdict:
    """Raise AssertionError unless the challenger is within tolerance of the champion.

    Unset arguments default to ``[tool.mlgates]``. With no champion, follows
    ``no_champion``: promote (passes, said loudly), fail, or skip the test.
    """
    __tracebackhide__ = True
    s = current_settings(settings)
    verdict = compare(
        challenger,
        champion,
        metric=metric or s.metric,
        greater_is_better=s.greater_is_better if greater_is_better is None else greater_is_better,
        tolerance=s.tolerance if tolerance is None else tolerance,
        absolute_tolerance=s.absolute_tolerance if absolute_tolerance is None else absolute_tolerance,
        sanity=s.sanity if sanity is None else sanity,
        no_champion=no_champion or s.no_champion,
        job_name=job_name,
    )
    conclude(verdict)
    if champion is None and verdict.figures.get("passed") is None:
        raise unittest.SkipTest(verdict.message)  # pytest reports it as a skip; gates never import pytest
    return verdict
