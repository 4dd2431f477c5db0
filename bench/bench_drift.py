"""Benchmark of the drift gate: 1,000,000 rows x 50 features, reference vs current.

Goal (issue 6): under 2 s on the 2-core CI machine. Run:

    .venv/bin/python bench/bench_drift.py [--rows 1000000] [--features 50] [--repeat 5]

Prints the median and the spread of several warm runs (the first run, which
also imports scipy and pandas, is reported separately) for two frames:
all-numeric features, and a mix of 40 numeric and 10 categorical ones. The
current frame has drift in a fifth of the features, so the failure path
(table of the worst features) is what is timed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_frames(rows: int, features: int, categorical: int, seed: int = 0, strings: bool = False):  # noqa: ANN201
    import pandas as pd

    rng = np.random.default_rng(seed)
    ref: dict[str, np.ndarray] = {}
    cur: dict[str, np.ndarray] = {}
    numeric = features - categorical
    for i in range(numeric):
        shift = 0.3 if i % 5 == 0 else 0.0
        if i % 3 == 0:  # integer-valued, heavy ties
            ref[f"n{i}"] = rng.poisson(3.0, rows)
            cur[f"n{i}"] = rng.poisson(3.0 + shift, rows)
        else:
            ref[f"n{i}"] = rng.normal(0.0, 1.0, rows)
            cur[f"n{i}"] = rng.normal(shift, 1.0, rows)
    levels = np.array([f"level_{k}" for k in range(8)], dtype=object)
    for j in range(categorical):
        p = np.full(8, 1 / 8)
        q = p if j % 5 else np.array([0.3, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
        wrap = (lambda v: v) if strings else pd.Categorical
        ref[f"c{j}"] = wrap(levels[rng.choice(8, rows, p=p)])
        cur[f"c{j}"] = wrap(levels[rng.choice(8, rows, p=q)])
    return pd.DataFrame(ref), pd.DataFrame(cur)


def time_gate(ref, cur, repeat: int) -> tuple[float, list[float]]:  # noqa: ANN001
    from pytest_mlgates.config import Settings
    from pytest_mlgates.gates.drift import assert_no_drift

    def once() -> float:
        start = time.perf_counter()
        try:
            assert_no_drift(ref, cur, settings=Settings())
        except AssertionError:
            pass
        return time.perf_counter() - start

    first = once()
    return first, [once() for _ in range(repeat)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, cpus {os.cpu_count()}")
    for categorical, strings in ((0, False), (10, False), (10, True)):
        ref, cur = make_frames(args.rows, args.features, categorical, strings=strings)
        first, runs = time_gate(ref, cur, args.repeat)
        kind = "object-dtype strings" if strings else "category dtype"
        label = (f"{args.rows:,} rows x {args.features} features ({args.features - categorical} numeric, "
                 f"{categorical} categorical{', ' + kind if categorical else ''})")
        print(f"{label}: median {statistics.median(runs):.3f} s, min {min(runs):.3f} s, max {max(runs):.3f} s "
              f"over {len(runs)} warm runs; first run {first:.3f} s")


if __name__ == "__main__":
    main()
