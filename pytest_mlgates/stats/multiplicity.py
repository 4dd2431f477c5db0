"""Holm's step-down correction across the metrics and slices of one gate.

statsmodels' ``multipletests(method="holm")`` gives the same adjusted
p-values (a test checks it), but costs ~30 ms a call on this machine, most of
it in argument handling; a gate's family is judged in microseconds here, and
the simulation tests judge thousands of families. The per-test level (which
interval each test is judged and shown with) is Holm's step alpha for its rank.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def holm(p_values: Sequence[float], alpha: float) -> tuple[list[bool], list[float], list[float]]:
    """(rejected, adjusted p-values, per-test alpha) for one-sided tests at family-wise ``alpha``."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    if m == 0:
        return [], [], []
    order = np.argsort(p, kind="stable")
    factors = m - np.arange(m)
    adjusted_sorted = np.minimum(1.0, np.maximum.accumulate(p[order] * factors))
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    step = np.empty(m)
    step[order] = alpha / factors
    reject = adjusted <= alpha
    return [bool(r) for r in reject], [float(v) for v in adjusted], [float(a) for a in step]
