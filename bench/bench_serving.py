"""Serving benchmark (issue 3): local endpoint latency for a small scikit-learn model at 100 req/s.

    .venv/bin/python bench/bench_serving.py [--runs 5] [--seconds 10] [--rps 100]

A ColumnTransformer (StandardScaler + OneHotEncoder) + Ridge pipeline, one
row per request, is served by a local endpoint (router process + model
server process). Locust sends a steady ``--rps`` for ``--seconds`` (20 users,
Poisson arrivals at the given mean rate, as independent clients send) through the endpoint URL and, separately, straight to
the model server; the model's own ``predict`` on one-row DataFrames is timed
in-process for comparison. Reported: median over ``--runs`` of p50 / p99 of
each, the same for the time spent inside the model server's handler (so
queueing can be told apart from work), and the overhead (endpoint p99 -
in-process predict p99).
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_mlgates.adapters.local import LocalAdapter  # noqa: E402
from pytest_mlgates.loadtest.runner import bodies_from_rows, run_load  # noqa: E402
from pytest_mlgates.serving.demo import FEATURES, TARGET, demo_rows, train_demo_model  # noqa: E402


def in_process(model_dir: Path, rows: list[dict], n: int = 1000) -> tuple[float, float]:
    import joblib
    import pandas as pd

    model = joblib.load(model_dir / "model.joblib")
    times = []
    for i in range(n):
        start = time.perf_counter()
        model.predict(pd.DataFrame.from_records([rows[i % len(rows)]], columns=list(FEATURES)))
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return times[n // 2], times[int(0.99 * n) - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rps", type=float, default=100.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        adapter = LocalAdapter(state_dir=Path(tmp) / "state")
        folder = train_demo_model(Path(tmp) / "m")
        model = adapter.registry.register("eta", folder, {"val_mae": 1.0}, {})
        ep = adapter.deploy_to_endpoint("bench-serving", model, "blue")
        deployment = adapter.endpoints.record("bench-serving")["deployments"]["blue"]["url"]
        frame = demo_rows(500, seed=8).drop(columns=[TARGET])
        bodies = bodies_from_rows(frame)
        rows = json.loads(frame.to_json(orient="records"))
        figures: dict[str, list[tuple[float, float, float, int]]] = collections.defaultdict(list)
        try:
            for _ in range(args.runs):
                for label, url in (("endpoint", ep.url), ("model server", deployment)):
                    requests.get(deployment + "/mlgates/latencies?reset=1", timeout=10)
                    r = run_load(url, bodies, users=20, spawn_rate=100, duration=args.seconds, rps=args.rps)
                    figures[label].append((r.p50_ms, r.p99_ms, r.rps, r.failures))
                    server = sorted(ms for _, ms, _ in requests.get(deployment + "/mlgates/latencies",
                                                                    timeout=10).json()["latencies"])
                    figures[f"{label} run, time inside the model server's handler"].append(
                        (server[len(server) // 2], server[int(0.99 * len(server)) - 1], 0.0, 0))
                p50, p99 = in_process(folder, rows)
                figures["in-process predict"].append((p50, p99, 0.0, 0))
        finally:
            adapter.delete_endpoint("bench-serving")
    for label, runs in figures.items():
        p50 = statistics.median(r[0] for r in runs)
        p99 = statistics.median(r[1] for r in runs)
        rate = statistics.median(r[2] for r in runs)
        fails = sum(r[3] for r in runs)
        extra = f", achieved {rate:.1f} req/s, {fails} failures" if rate else ""
        print(f"{label}: p50 {p50:.2f} ms, p99 {p99:.2f} ms (median of {len(runs)} runs; "
              f"p99 per run {[round(r[1], 1) for r in runs]}){extra}")
    overhead = statistics.median(r[1] for r in figures["endpoint"]) - statistics.median(
        r[1] for r in figures["in-process predict"])
    print(f"overhead at {args.rps:g} req/s: endpoint p99 - in-process predict p99 = {overhead:.2f} ms")


if __name__ == "__main__":
    main()
