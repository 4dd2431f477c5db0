"""Exact paired intervals for mean-decomposable metrics (MAE, MSE/RMSE, log loss, Brier, error rate).

A mean-decomposable metric is the mean of a per-row loss, so the paired
difference of two models scored on the same rows is the mean of the per-row
differences, and its interval is the t interval of that mean: no resampling,
one pass over the rows (well under 0.1 s for a million rows; bench/bench_stats.py).
"""

from __future__ import annotations

import math

import numpy as np

from .estimate import PairedEstimate

DECOMPOSABLE = ("mae", "mse", "rmse", "log_loss", "brier", "accuracy", "r2")
"""Metric kinds judged by a per-row loss (accuracy by its error indicator, R² by its squared error)."""

_EPS = 1e-15


def _labels_of(pred: np.ndarray) -> np.ndarray:
    """Class labels from labels, a probability of the positive class, or a matrix of class probabilities."""
    if pred.ndim == 2:
        return pred.argmax(axis=1)
    if pred.dtype.kind == "f" and np.all((pred >= 0) & (pred <= 1)) and not np.all(np.isin(pred, (0.0, 1.0))):
        return (pred >= 0.5).astype(int)
    return pred


def per_row_loss(kind: str, y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """The loss each row contributes to ``kind`` (lower is better for every kind)."""
    y = np.asarray(y)
    pred = np.asarray(pred)
    if kind == "mae":
        return np.abs(y - pred)
    if kind in ("mse", "rmse", "r2"):
        return (y - pred) ** 2
    if kind == "accuracy":
        return (_labels_of(pred) != y).astype(float)
    if kind == "log_loss":
        if pred.ndim == 2:
            p = pred[np.arange(len(y)), y.astype(int)]
        else:
            p = np.where(y == 1, pred, 1.0 - pred)
        return -np.log(np.clip(p, _EPS, 1.0))
    if kind == "brier":
        if pred.ndim == 2:
            onehot = np.zeros_like(pred, dtype=float)
            onehot[np.arange(len(y)), y.astype(int)] = 1.0
            return ((pred - onehot) ** 2).sum(axis=1)
        return (pred - y) ** 2
    raise ValueError(f"{kind!r} is not a mean-decomposable metric; use one of {', '.join(DECOMPOSABLE)}")


def paired_mean(champion_loss: np.ndarray, challenger_loss: np.ndarray, weight: float = 1.0,
                scale: float = 1.0) -> PairedEstimate:
    """t interval of mean(challenger - weight * champion) / scale over the same rows."""
    d = (np.asarray(challenger_loss, dtype=float) - weight * np.asarray(champion_loss, dtype=float)) / scale
    n = len(d)
    if n < 2:
        raise ValueError(f"a paired interval needs at least 2 rows, got {n}")
    mean = float(d.mean())
    se = float(d.std(ddof=1)) / math.sqrt(n)
    return PairedEstimate("paired t", n, mean, se=se, df=n - 1)
