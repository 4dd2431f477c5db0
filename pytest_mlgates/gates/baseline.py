"""The smoke gate's check: a sane model that beats a trivial baseline.

The baseline is what a model that learned nothing would score on the same
rows: the mean of the target for regression (scored by mean absolute error),
the majority class for classification (scored by accuracy).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..config import Settings
from .context import conclude, current_settings
from .verdict import Verdict, fmt


def infer_task(target: np.ndarray) -> str:
    """"classification" for labels (strings, booleans, few integer values), else "regression"."""
    if target.dtype.kind in "OUSb":
        return "classification"
    if target.dtype.kind in "iu" and len(np.unique(target)) <= max(2, min(20, len(target) // 10)):
        return "classification"
    return "regression"


def _predict(model: Any, features: Any) -> np.ndarray:
    return np.asarray(model.predict(features))


def evaluate_against_baseline(model: Any, rows: Any, target: str, task: str = "auto") -> Verdict:
    """Score ``model`` and the trivial baseline on ``rows`` (a DataFrame holding ``target``)."""
    if target not in rows.columns:
        raise ValueError(f"the rows have no target column {target!r}; set [tool.mlgates.training] target "
                         f"to the label column (columns: {', '.join(map(str, rows.columns))})")
    y = rows[target].to_numpy()
    features = rows.drop(columns=[target])
    task = infer_task(y) if task == "auto" else task
    figures: dict[str, Any] = {"rows": len(rows), "task": task}
    problems: list[str] = []
    try:
        pred = _predict(model, features)
    except Exception as exc:  # noqa: BLE001 - any failure to predict fails the gate
        return Verdict("baseline", False, f"smoke gate FAILED: predict() raised {type(exc).__name__}: {exc}", figures)
    if pred.ndim != 1 and not (pred.ndim == 2 and pred.shape[1] == 1):
        problems.append(f"predict() returned shape {pred.shape}; expected one prediction per row ({len(rows)},)")
    elif pred.size != len(rows):
        problems.append(f"predict() returned {pred.size} predictions for {len(rows)} rows")
    pred = pred.reshape(-1) if not problems else pred
    if not problems and task == "regression":
        if pred.dtype.kind not in "iuf":
            problems.append(f"predict() returned {pred.dtype} values; a regression model must return numbers")
        elif not np.all(np.isfinite(pred)):
            problems.append(f"predict() returned {int(np.sum(~np.isfinite(pred)))} non-finite predictions")
    if not problems and task == "classification":
        unknown = set(np.unique(pred).tolist()) - set(np.unique(y).tolist())
        if unknown:
            problems.append(f"predict() returned labels never seen in the target: {sorted(map(str, unknown))[:5]}")
    if problems:
        return Verdict("baseline", False, "smoke gate FAILED: the model is not sane:\n  " + "\n  ".join(problems), figures)

    if task == "regression":
        y = y.astype(float)
        model_score = float(np.mean(np.abs(pred.astype(float) - y)))
        baseline_score = float(np.mean(np.abs(np.mean(y) - y)))
        passed, name, op = model_score < baseline_score, "MAE (lower is better)", "<"
        baseline_name = f"predict the mean {fmt(float(np.mean(y)))}"
    else:
        values, counts = np.unique(y, return_counts=True)
        majority = values[np.argmax(counts)]
        model_score = float(np.mean(pred == y))
        baseline_score = float(np.mean(majority == y))
        passed, name, op = model_score > baseline_score, "accuracy (higher is better)", ">"
        label = majority.item() if hasattr(majority, "item") else majority  # 'no' or 1, not np.str_('no')
        baseline_name = f"predict the majority class {label!r}"
    figures.update(model_score=model_score, baseline_score=baseline_score, score=name)
    verdict_word = "passed" if passed else "FAILED: the model does not beat a trivial baseline"
    message = (f"smoke gate {verdict_word}\n  model    {name} = {fmt(model_score)} on {len(rows)} rows\n"
               f"  baseline {name} = {fmt(baseline_score)} ({baseline_name})\n"
               f"  rule: model {op} baseline: {fmt(model_score)} {op} {fmt(baseline_score)} is {str(passed).lower()}")
    return Verdict("baseline", passed, message, figures)


def assert_beats_baseline(
    model: Any, rows: Any, target: str | None = None, task: str | None = None, settings: Settings | None = None
) -> Verdict:
    """Raise AssertionError unless ``model`` is sane and beats the trivial baseline on ``rows``.

    ``model`` is anything with ``predict(DataFrame)`` (a fitted estimator, or
    the ``smoke_model`` fixture); ``target`` defaults to the configured label.
    """
    __tracebackhide__ = True
    s = current_settings(settings)
    target = target or s.training.target
    if not target:
        raise ValueError("assert_beats_baseline needs the label column: pass target= or set "
                         "[tool.mlgates.training] target")
    return conclude(evaluate_against_baseline(model, rows, target, task or s.task))
