"""Sequential rollout steps against the fixed bake (issue 13): breach -> rollback for a 25%-error candidate.

    .venv/bin/python bench/bench_rollout_sequential.py [--runs 3] [--bake 10] [--look 1]

A local production endpoint serves the champion (a small scikit-learn pipeline, detached processes as
in production). Each run rolls out a candidate whose live server fails 25% of its requests, with steps
10% -> 100%, under the same traffic (``rollout.users`` locust users through the router): once with the
fixed bake (``--bake`` seconds, then judged), once sequentially (a look every ``--look`` seconds,
anytime-valid tests of the error rate and the latency SLO). Runs alternate. Per run: the time from the
moment the candidate took 10% of the traffic (the breach starts) to the moment traffic was back on the
champion (``Rollout.run`` returned: traffic moved, candidate removed, journal written), and the
candidate requests that were judged.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_mlgates.adapters.local import LocalAdapter  # noqa: E402
from pytest_mlgates.config import RolloutSettings, Settings, TrainingSettings  # noqa: E402
from pytest_mlgates.fixtures.production import locust_driver  # noqa: E402
from pytest_mlgates.loadtest.runner import bodies_from_rows  # noqa: E402
from pytest_mlgates.records import DeployOptions, Faults  # noqa: E402
from pytest_mlgates.release.ledger import record_stage  # noqa: E402
from pytest_mlgates.release.rollout import Rollout  # noqa: E402
from pytest_mlgates.serving.demo import TARGET, demo_rows, train_demo_model  # noqa: E402

ENDPOINT = "eta-prod"


def one_run(adapter: LocalAdapter, root: Path, candidate_dir: Path, sequential: bool, bake: float, look: float,
            bodies: list) -> dict[str, float]:
    settings = Settings(model_name="eta", root=str(root), state_dir=str(root / "state"),
                        training=TrainingSettings(target=TARGET),
                        rollout=RolloutSettings(steps=[10, 100], bake_seconds=bake, users=4, p99_ms=1000.0,
                                                endpoint=ENDPOINT, sequential=sequential, look_seconds=look,
                                                max_bake_seconds=6 * bake))
    model = adapter.registry.register("eta", candidate_dir, {"val_mae": 2.0}, {})
    record_stage(adapter, model, "champion_gate", True, "bench", "1")
    model = record_stage(adapter, model, "load_gate", True, "bench")
    started: list[float] = []

    def on_step(pct: int) -> None:
        if pct == 10:
            started.append(time.monotonic())

    rollout = Rollout(adapter, settings, model, locust_driver(settings, bodies), on_step=on_step,
                      candidate_faults=Faults(error_rate=0.25))
    try:
        rollout.run()
    except AssertionError:
        pass
    ended = time.monotonic()
    verdict = rollout.verdict
    assert verdict is not None and verdict.figures.get("breach_step") == 10, verdict and verdict.message
    step = verdict.figures["steps"][0]
    return {"seconds": ended - started[0], "requests": step["candidate"]["requests"],
            "looks": step["extra"].get("looks", 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--bake", type=float, default=10.0)
    parser.add_argument("--look", type=float, default=1.0)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, load average {os.getloadavg()}")
    results: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="mlgates-bench-seq-") as tmp:
        root = Path(tmp)
        adapter = LocalAdapter(state_dir=root / "state")
        champion_dir = train_demo_model(root / "m1", seed=1)
        candidate_dir = train_demo_model(root / "m2", seed=2, target_shift=0.1)
        champion = adapter.registry.register("eta", champion_dir, {"val_mae": 2.0}, {})
        record_stage(adapter, champion, "champion_gate", True, "bench", "none")
        adapter.promote("eta", "1", None, {"mlgates.champion_metric.val_mae": "2.0"})
        adapter.deploy_to_endpoint(ENDPOINT, adapter.get_model_version("eta", "1"), "v1",
                                   DeployOptions(outlive_run=True))
        bodies = bodies_from_rows(demo_rows(200, seed=5).drop(columns=[TARGET]))
        try:
            for run in range(args.runs):
                for sequential in (False, True):
                    r = one_run(adapter, root, candidate_dir, sequential, args.bake, args.look, bodies)
                    results[sequential].append(r)
                    print(f"run {run + 1} {'sequential' if sequential else 'fixed bake'}: breach -> rollback "
                          f"{r['seconds']:.2f} s, {r['requests']} candidate requests judged, {r['looks']} looks "
                          f"(load {os.getloadavg()[0]:.2f})", flush=True)
        finally:
            for name in adapter.endpoints.names():
                adapter.delete_endpoint(name)
    fixed = statistics.median(r["seconds"] for r in results[False])
    seq = statistics.median(r["seconds"] for r in results[True])
    print(f"median breach -> rollback: fixed bake {fixed:.2f} s, sequential {seq:.2f} s, ratio fixed / sequential "
          f"{fixed / seq:.1f}x; candidate requests judged: fixed {statistics.median(r['requests'] for r in results[False])}, "
          f"sequential {statistics.median(r['requests'] for r in results[True])}")


if __name__ == "__main__":
    main()
