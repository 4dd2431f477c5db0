"""DeLong's interval for the difference of two correlated ROC AUCs on the same rows.

Neither scipy nor statsmodels has it. This is the fast form of Sun and Xu
(2014): three rankings per model (scipy.stats.rankdata) give the structural
components, whose covariance is DeLong's; O(n log n), no resampling (an AUC
bootstrap on a million rows took the earlier attempt 7-25 s).
"""

from __future__ import annotations

import math

import numpy as np

from .estimate import PairedEstimate


def auc_and_covariance(y: np.ndarray, *scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(AUC of each score, DeLong covariance matrix of those AUCs); ``y`` is binary 0/1."""
    from scipy.stats import rankdata

    y = np.asarray(y).astype(bool)
    m, n = int(y.sum()), int((~y).sum())
    if m < 2 or n < 2:
        raise ValueError(f"ROC AUC needs at least 2 positive and 2 negative rows, got {m} and {n}")
    k = len(scores)
    v01 = np.empty((k, m))
    v10 = np.empty((k, n))
    aucs = np.empty(k)
    for i, s in enumerate(scores):
        s = np.asarray(s, dtype=float)
        x, z = s[y], s[~y]
        tx, tz = rankdata(x), rankdata(z)
        t = rankdata(np.concatenate([x, z]))
        aucs[i] = (t[:m].sum() - m * (m + 1) / 2.0) / (m * n)
        v01[i] = (t[:m] - tx) / n
        v10[i] = 1.0 - (t[m:] - tz) / m
    cov = np.atleast_2d(np.cov(v01)) / m + np.atleast_2d(np.cov(v10)) / n
    return aucs, cov


def paired_auc(y: np.ndarray, champion: np.ndarray, challenger: np.ndarray, *,
               weight: float = 1.0) -> PairedEstimate:
    """Normal interval of ``(1 - AUC challenger) - weight * (1 - AUC champion)`` (error scale)."""
    aucs, cov = auc_and_covariance(y, champion, challenger)
    gradient = np.array([weight, -1.0])
    var = float(gradient @ cov @ gradient)
    estimate = float((1.0 - aucs[1]) - weight * (1.0 - aucs[0]))
    return PairedEstimate("DeLong", len(np.asarray(y)), estimate, se=math.sqrt(max(var, 0.0)))
