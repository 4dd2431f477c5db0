"""Holm's step-down correction across the metrics and slices of one gate.

The adjusted p-values come from statsmodels; the per-test level (which
interval each test is judged and shown with) is Holm's step alpha for its rank.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def holm(p_values: Sequence[float], alpha: float) -> tuple[list[bool], list[float], list[float]]:
    """(rejected, adjusted p-values, per-test alpha) for one-sided tests at family-wise ``alpha``."""
    m = len(p_values)
    if m == 0:
        return [], [], []
    from statsmodels.stats.multitest import multipletests

    reject, adjusted, _, _ = multipletests(np.asarray(p_values, dtype=float), alpha=alpha, method="holm")
    order = np.argsort(p_values, kind="stable")
    step = np.empty(m)
    step[order] = alpha / (m - np.arange(m))
    return [bool(r) for r in reject], [float(p) for p in adjusted], [float(a) for a in step]
