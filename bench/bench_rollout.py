"""Rollout benchmark (issue 4): breach detected -> 100% of traffic on the champion, and the demo's wall time.

    .venv/bin/python bench/bench_rollout.py [--runs 9] [--bake 2] [--demo]

A local production endpoint serves the champion (a small scikit-learn
pipeline, detached processes as in production). Each run rolls a candidate
out with steps 50% -> 100%; the candidate's server answers every request with
an error, so the 50% step breaches and the rollout rolls back. The step's load
is real locust load through the router (``rollout.users`` users, ``--bake``
seconds). Meanwhile a client thread hammers the endpoint URL with one request
after another and records, for each, when it was sent and which deployment
served it. Per run:

- ``rollback_seconds``: the Rollout's own figure (the traffic change call);
- ``client``: detection (the moment the step's load returned to the Rollout,
  i.e. the figures are in and judged) -> the moment the client first got the
  router's live routing table (``GET /mlgates/config``, polled between its
  requests) saying 100% champion: an upper bound of when routing became
  champion-only, taken outside the Rollout. Every request the client sent
  after that moment is checked to have been served by the champion, and the
  last request served by the candidate is reported against it too;
- ``until_removed``: detection -> ``Rollout.run`` returned (traffic moved,
  the candidate's process stopped, the journal written);
- ``from_last_step_request``: the breaching step's last locust request
  answered -> the client-observed switch, i.e. including the load runner's
  shutdown and hand-back of its samples (what "from the breach" costs end to
  end when the breach is judged on a whole step).

With ``--demo``: the wall time of ``bash scripts/demo.sh`` (``make demo``),
once, with ``.venv/bin`` first on PATH.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_mlgates.records import DeployOptions, Faults
from pytest_mlgates.adapters.local import LocalAdapter  # noqa: E402
from pytest_mlgates.config import RolloutSettings, Settings, TrainingSettings  # noqa: E402
from pytest_mlgates.release.ledger import record_stage  # noqa: E402
from pytest_mlgates.loadtest.runner import bodies_from_rows, run_load  # noqa: E402
from pytest_mlgates.release.rollout import Rollout, StepLoad  # noqa: E402
from pytest_mlgates.serving.demo import TARGET, demo_rows, train_demo_model  # noqa: E402

ENDPOINT = "eta-prod"


class Hammer(threading.Thread):
    """One client sending requests back to back, reading the router's routing table between them.

    Keeps (sent, received, deployment, status) per request and (received, traffic) per table read.
    """

    def __init__(self, url: str, body: dict[str, Any]) -> None:
        super().__init__(daemon=True)
        self.url, self.body = url, body
        self.samples: list[tuple[float, float, str, int]] = []
        self.tables: list[tuple[float, dict[str, int]]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        session = requests.Session()
        while not self.stop.is_set():
            sent = time.monotonic()
            try:
                answer = session.post(self.url + "/invocations", json=self.body, timeout=10)
                self.samples.append((sent, time.monotonic(), answer.headers.get("x-mlgates-deployment", ""),
                                     answer.status_code))
            except requests.RequestException:
                self.samples.append((sent, time.monotonic(), "", 0))
            table = session.get(self.url + "/mlgates/config", timeout=10).json()
            self.tables.append((time.monotonic(), {k: v for k, v in table["traffic"].items() if v}))


def one_run(adapter: LocalAdapter, settings: Settings, candidate: Any, bodies: list[dict[str, Any]],
            bake: float) -> dict[str, float]:
    detected: list[float] = []
    load_ended: list[float] = []

    def load(url: str, seconds: float) -> StepLoad:  # what locust_driver does, keeping the samples' times
        result = run_load(url, bodies, users=settings.rollout.users, spawn_rate=settings.rollout.users,
                          duration=seconds)
        detected.append(time.monotonic())
        wall = time.time()
        # the step's last request answered (locust's wall clock), on the monotonic scale
        load_ended.append(detected[-1] - (wall - max(t + lat / 1000 for t, lat in zip(result.start_times,
                                                                                     result.latencies_ms))))
        by: dict[str, tuple[list[float], list[bool]]] = {}
        for latency, ok, deployment in zip(result.latencies_ms, result.ok, result.deployments):
            lat, oks = by.setdefault(deployment, ([], []))
            lat.append(latency)
            oks.append(ok)
        return StepLoad(by, result.duration_s)

    hammer = Hammer(adapter.get_endpoint(ENDPOINT).url, bodies[0])
    hammer.start()
    try:
        verdict = Rollout(adapter, settings, candidate, load, candidate_faults=Faults(error_rate=1.0)).run(
            steps=[50, 100], bake_seconds=bake)
        returned = time.monotonic()
        time.sleep(0.5)  # keep hammering: every request after the switch must be the champion's
    finally:
        hammer.stop.set()
        hammer.join()
    assert not verdict.passed and verdict.figures["breach_step"] == 50, verdict.message
    switched = next(at for at, traffic in hammer.tables if at > detected[0] and traffic == {"v1": 100})
    assert [t for at, t in hammer.tables if at < detected[0]][-1] == {"v1": 50, "v2": 50}  # split until detection
    after = [s for s in hammer.samples if s[0] > switched]
    assert after and all(s[2] == "v1" and s[3] == 200 for s in after), "a request after the switch was not the champion's"
    last_candidate = max(s[1] for s in hammer.samples if s[2] == "v2")
    return {"rollback_seconds": verdict.figures["rollback_seconds"],
            "client": switched - detected[0],
            "last_candidate_answer": last_candidate - detected[0],
            "until_removed": returned - detected[0],
            "from_last_step_request": switched - load_ended[0],
            "hammer_requests": len(hammer.samples)}


def bench_rollback(runs: int, bake: float) -> None:
    with tempfile.TemporaryDirectory(prefix="mlgates-bench-rollout-") as tmp:
        root = Path(tmp)
        adapter = LocalAdapter(state_dir=root / "state")
        settings = Settings(model_name="eta", root=str(root), state_dir=str(root / "state"),
                            training=TrainingSettings(target=TARGET),
                            rollout=RolloutSettings(steps=[50, 100], bake_seconds=bake, users=4, p99_ms=1000.0,
                                                    endpoint=ENDPOINT))
        models = []
        for i, kwargs in enumerate(({"seed": 1}, {"seed": 2, "target_shift": 0.1}), start=1):
            model = adapter.registry.register("eta", train_demo_model(root / f"m{i}", **kwargs), {"val_mae": 2.0}, {})
            record_stage(adapter, model, "champion_gate", True, "bench", "none" if i == 1 else "1")
            models.append(record_stage(adapter, model, "load_gate", True, "bench"))
        adapter.promote("eta", "1", None)
        champion = adapter.get_model_version("eta", "1")
        adapter.deploy_to_endpoint(ENDPOINT, champion, "v1", DeployOptions(outlive_run=True))
        bodies = bodies_from_rows(demo_rows(200, seed=5).drop(columns=[TARGET]))
        try:
            results = []
            for run in range(runs):
                load_before = os.getloadavg()[0]
                r = one_run(adapter, settings, models[1], bodies, bake)
                results.append(r)
                print(f"run {run + 1}: rollback_seconds {r['rollback_seconds'] * 1000:.1f} ms, client-observed "
                      f"{r['client'] * 1000:.1f} ms (last candidate answer at {r['last_candidate_answer'] * 1000:+.1f} "
                      f"ms), until removed {r['until_removed'] * 1000:.1f} ms, from the step's last request "
                      f"{r['from_last_step_request'] * 1000:.1f} ms "
                      f"({r['hammer_requests']} hammer requests, load {load_before:.2f})", flush=True)
        finally:
            for name in adapter.endpoints.names():
                adapter.delete_endpoint(name)
    for key in ("rollback_seconds", "client", "last_candidate_answer", "until_removed", "from_last_step_request"):
        values = sorted(r[key] * 1000 for r in results)
        print(f"{key}: median {statistics.median(values):.1f} ms, min {values[0]:.1f}, max {values[-1]:.1f} "
              f"(n={len(values)})")


def bench_demo() -> None:
    """``make demo``'s script on a private copy of scripts/ and the example (it deletes the example's state)."""
    import shutil

    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    env = {k: v for k, v in env.items() if not k.startswith(("MLGATES_", "PYTEST_")) and k != "ML_PLATFORM"}
    with tempfile.TemporaryDirectory(prefix="mlgates-bench-demo-") as tmp:
        copy = Path(tmp)
        shutil.copytree(ROOT / "scripts", copy / "scripts")
        shutil.copytree(ROOT / "examples" / "delivery_eta", copy / "examples" / "delivery_eta",
                        ignore=shutil.ignore_patterns(".mlgates", "__pycache__", ".pytest_cache"))
        load_before = os.getloadavg()
        started = time.monotonic()
        proc = subprocess.run(["bash", str(copy / "scripts" / "demo.sh")], env=env, capture_output=True, text=True)
        wall = time.monotonic() - started
    print(proc.stdout[-3000:])
    print(f"demo: exit {proc.returncode}, wall {wall:.1f} s, load average before {load_before[0]:.2f}, "
          f"after {os.getloadavg()[0]:.2f}")
    if proc.returncode:
        print(proc.stderr[-3000:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9, help="rollback runs (0: only the demo)")
    parser.add_argument("--bake", type=float, default=2.0)
    parser.add_argument("--demo", action="store_true", help="also time bash scripts/demo.sh once")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, load average {os.getloadavg()}")
    if args.runs > 0:
        bench_rollback(args.runs, args.bake)
    if args.demo:
        bench_demo()


if __name__ == "__main__":
    main()
