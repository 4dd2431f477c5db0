"""Statistics benchmark (issue 13): paired intervals and bootstrap on a million rows, beside scipy.

    .venv/bin/python bench/bench_stats.py [--rows 1000000] [--runs 7] [--resamples 1000] [--scipy-runs 1]

- paired t interval of MAE (per-row losses of two models, then the t interval): goal < 0.1 s;
- paired bootstrap of the F1 error difference with 1,000 resamples, over count cells
  (stats/bootstrap.py), beside ``scipy.stats.bootstrap(paired=True, vectorized=True,
  method="percentile")`` on the same rows in the same run: goal < 2 s, >= 10x faster, bounds within 1%;
- DeLong interval of the AUC error difference (stats/delong.py), for the record.

Medians of ``--runs`` (scipy: ``--scipy-runs``, it takes tens of seconds a run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pytest_mlgates.stats.bootstrap import paired_cell_bootstrap  # noqa: E402
from pytest_mlgates.stats.delong import paired_auc  # noqa: E402
from pytest_mlgates.stats.paired import paired_mean, per_row_loss  # noqa: E402


def timed(fn, runs: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(runs):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), out


def f1_error_difference(y: np.ndarray, a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    """(1 - F1 challenger) - (1 - F1 champion) from rows, vectorised for scipy."""
    f1_a = 2 * (y * a).sum(axis) / (y.sum(axis) + a.sum(axis))
    f1_b = 2 * (y * b).sum(axis) / (y.sum(axis) + b.sum(axis))
    return (1 - f1_b) - (1 - f1_a)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--scipy-runs", type=int, default=1)
    args = parser.parse_args()
    import scipy
    from scipy import stats

    print(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, numpy {np.__version__}, scipy "
          f"{scipy.__version__}, load average {os.getloadavg()}")
    rng = np.random.default_rng(0)
    n = args.rows
    y = rng.normal(size=n)
    e = rng.normal(size=n)
    champ, chall = y + e, y + 1.02 * (0.9 * e + 0.436 * rng.normal(size=n))
    t_paired, est = timed(lambda: paired_mean(per_row_loss("mae", y, champ), per_row_loss("mae", y, chall), 1.05),
                          args.runs)
    print(f"paired t interval, MAE, {n:,} rows: median {t_paired * 1000:.1f} ms "
          f"(95% interval {est.interval(0.95)})")

    labels = (rng.random(n) < 0.4).astype(np.int64)
    a = np.where(rng.random(n) < 0.85, labels, 1 - labels)
    b = np.where(rng.random(n) < 0.80, labels, 1 - labels)
    t_ours, ours = timed(lambda: paired_cell_bootstrap("f1", labels, a, b, resamples=args.resamples, seed=1),
                         args.runs)
    low, high = ours.interval(0.95)
    print(f"paired bootstrap (count cells), F1, {n:,} rows, {args.resamples} resamples: median "
          f"{t_ours * 1000:.1f} ms, 95% interval [{low:.6f}, {high:.6f}]")
    t_scipy, ref = timed(lambda: stats.bootstrap((labels, a, b), f1_error_difference, paired=True, vectorized=True,
                                                 n_resamples=args.resamples, method="percentile",
                                                 confidence_level=0.95, random_state=2, batch=50),
                         args.scipy_runs)
    s_low, s_high = ref.confidence_interval.low, ref.confidence_interval.high
    print(f"scipy.stats.bootstrap (paired rows), same data: median {t_scipy:.2f} s, 95% interval "
          f"[{s_low:.6f}, {s_high:.6f}]")
    print(f"speed-up {t_scipy / t_ours:.0f}x; bounds differ by {abs(low - s_low) / abs(s_low):.3%} (low) and "
          f"{abs(high - s_high) / abs(s_high):.3%} (high) of scipy's")

    mu = 1.0
    yy = (rng.random(n) < 0.4).astype(int)
    x = rng.normal(size=n) + mu * yy
    z = 0.8 * (x - mu * yy) + 0.6 * rng.normal(size=n) + 0.95 * yy
    t_delong, d = timed(lambda: paired_auc(yy, x, z, weight=1.05), max(3, args.runs // 2))
    print(f"DeLong, AUC, {n:,} rows: median {t_delong:.2f} s (95% interval {d.interval(0.95)})")


if __name__ == "__main__":
    main()
